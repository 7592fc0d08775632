"""Budgets: the one writer of ``Budget`` and ``BudgetAlert``, and the check that alerts a company once a period.

When it runs: after every settlement of spend entries commits (``after_commit``, the last call of
``billing.services.entries.settle``), for the companies and months whose charged spend moved, and after a budget
is saved (a lowered budget may be crossed already). It is in the write path rather than a periodic job because
it costs one indexed query for companies without a budget, and the alert then goes out with the message that
crossed the threshold instead of up to a minute later.

Once per period, under concurrency: the alert is a row with a unique key (company, period, period start), so of
any number of writers crossing it at once exactly one creates it. Its e-mail is claimed by a conditional UPDATE
of ``emailed_at`` (only one claimer sends), sent through Django's e-mail backend and released when sending fails,
so the next check (the next charged message, or a saved budget) tries again. A process that dies between the
claim and the send loses that e-mail: at most once, never twice.
"""

import datetime as dt
import logging
import smtplib
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing import budget_mail, selectors
from billing.models import Budget, BudgetAlert, Currency, SpendEntry, SpendMonthTotal
from companies.models import Company

logger = logging.getLogger(__name__)
MONTHLY = Budget.Period.MONTHLY
# What a failed send raises that trying later can fix: the SMTP server refused, or could not be reached.
SEND_ERRORS = (smtplib.SMTPException, OSError)


def set_budget(
    *,
    company: Company,
    amount: Decimal,
    currency: str = Currency.USD,
    alert_threshold_percent: int = 80,
    contact_email: str = "",
    period: str = MONTHLY,
) -> Budget:
    """Give ``company`` its budget for ``period`` (or change it); returns it. The check follows on commit."""
    budget, _ = Budget.objects.update_or_create(
        company=company,
        period=period,
        defaults={
            "amount": amount,
            "currency": currency,
            "alert_threshold_percent": alert_threshold_percent,
            "contact_email": contact_email,
        },
    )
    transaction.on_commit(lambda: check_budgets(company_ids=[company.pk]), robust=True)
    return budget


def remove_budget(*, budget: Budget) -> None:
    """Delete a budget and its alerts: the company is no longer warned."""
    budget.delete()


def after_commit(entries: Iterable[SpendEntry]) -> None:
    """Check the budgets of the companies whose charged spend these entries moved, once the caller commits."""
    months = sorted(
        {(e.company_id, e.day.replace(day=1)) for e in entries if e.stage == SpendEntry.Stage.DELIVERED and e.amount}
    )
    if months:
        transaction.on_commit(lambda: check_budgets(months=months), robust=True)


def check_budgets(*, company_ids: Iterable[int] = (), months: Iterable[tuple[int, dt.date]] = ()) -> list[BudgetAlert]:
    """Alert every budget crossed this month (of ``company_ids``) or in ``months`` (company id, first day) that has
    not been alerted yet, and e-mail the alerts not e-mailed yet; returns the period's alerts of those budgets."""
    wanted = {(company_id, month) for company_id, month in months}
    wanted |= {(company_id, selectors.today_for(company_id).replace(day=1)) for company_id in company_ids}
    if not wanted:
        return []
    budgets = {
        budget.company_id: budget
        for budget in Budget.objects.filter(company_id__in={c for c, _ in wanted}, period=MONTHLY).select_related(
            "company"
        )
    }
    wanted = {(c, m) for c, m in wanted if c in budgets}
    if not wanted:
        return []
    existing = {
        (alert.company_id, alert.period_start): alert
        for alert in BudgetAlert.objects.filter(
            company_id__in={c for c, _ in wanted}, period=MONTHLY, period_start__in={m for _, m in wanted}
        )
    }
    alerts = []
    for company_id, month in sorted(wanted):
        budget = budgets[company_id]
        alert = existing.get((company_id, month)) or _cross(budget, month)
        if alert is not None:
            if alert.emailed_at is None:
                _email(alert, budget)
            alerts.append(alert)
    return alerts


def _charged(budget: Budget, month: dt.date) -> Decimal:
    """What Meta has charged the company in ``month``, in the budget's currency (the month totals)."""
    rows = SpendMonthTotal.objects.filter(company_id=budget.company_id, month=month, currency=budget.currency)
    return rows.aggregate(spent=Sum("delivered_amount"))["spent"] or Decimal(0)


def _cross(budget: Budget, month: dt.date) -> BudgetAlert | None:
    """The period's alert if the charged spend has reached the threshold (made now, or by a concurrent writer)."""
    spent = _charged(budget, month)
    if budget.amount <= 0 or not spent or spent < budget.threshold_amount:
        return None
    alert, created = BudgetAlert.objects.get_or_create(
        company_id=budget.company_id,
        period=budget.period,
        period_start=month,
        defaults={
            "budget": budget,
            "currency": budget.currency,
            "amount": budget.amount,
            "threshold_percent": budget.alert_threshold_percent,
            "spent": spent,
            "crossed_at": timezone.now(),
        },
    )
    if created:
        logger.info("Company %s crossed %s%% of its budget for %s", budget.company_id, alert.threshold_percent, month)
    return alert


def _email(alert: BudgetAlert, budget: Budget) -> None:
    """Send the alert's e-mail if this caller claims it; a failure releases the claim for the next check."""
    recipients = budget_mail.recipients(budget)
    if not recipients:
        error = "No billing contact e-mail on the budget and no ISP admin with an e-mail address."
        if alert.email_error != error:
            BudgetAlert.objects.filter(pk=alert.pk).update(email_error=error)
            alert.email_error = error
        return
    now = timezone.now()
    if not BudgetAlert.objects.filter(pk=alert.pk, emailed_at__isnull=True).update(emailed_at=now):
        return  # another writer claimed it
    try:
        budget_mail.send_alert(alert, budget=budget, recipients=recipients)
    except Exception as exc:
        # Released whatever went wrong, so the e-mail is not lost; only what a retry can fix is swallowed.
        error = f"{type(exc).__name__}: {exc}"[:300]
        BudgetAlert.objects.filter(pk=alert.pk).update(emailed_at=None, email_error=error)
        if not isinstance(exc, SEND_ERRORS):
            raise
        logger.warning("Budget alert %s not e-mailed (%s); the next check tries again", alert.pk, type(exc).__name__)
        return
    BudgetAlert.objects.filter(pk=alert.pk).update(emailed_to=", ".join(recipients)[:500], email_error="")
    alert.emailed_at, alert.emailed_to, alert.email_error = now, ", ".join(recipients)[:500], ""
