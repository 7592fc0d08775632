"""Billing reminders ("régua de cobrança"): open invoices notified by themselves on days set per company.

A company lists days relative to the due date (``[-3, 0, 3]``: three days before, on the day, three
days late) and the hour of its day they go. Once a day from that hour in its time zone, the ERP is
asked for the open invoices falling on those days; each invoice is asked again just before it goes (a
bill paid this morning is not sent), and the (invoice, step) pair is written in the same transaction
as the messages, so a step is sent at most once whatever the retries.
"""

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from companies.erp import base as erp
from companies.erp.registry import erp_for
from companies.models import Company
from config.masking import mask_text
from notifications.models import Notice, ReminderRun, ReminderStep
from notifications.notices.services import company_today, send_bills

logger = logging.getLogger(__name__)

# A run that started this long ago and never finished (a worker died, the ERP was down) is tried again.
STALE_RUN = dt.timedelta(minutes=30)


@dataclass
class Outcome:
    sent: int = 0
    paid: int = 0
    already: int = 0
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.sent} sent, {self.paid} paid meanwhile, {self.already} already sent"
        return f"{text}; failed: {'; '.join(self.failed)}"[:300] if self.failed else text


def is_due(company: Company, *, now: dt.datetime) -> bool:
    """Whether the company's reminders should run now: it has steps, an ERP, and its hour has come today."""
    if not company.is_active or not company.billing_reminder_days or not company.erp_system:
        return False
    local = now.astimezone(zoneinfo.ZoneInfo(company.timezone))
    return local.hour >= company.billing_reminder_hour


def _claim(company: Company, day: dt.date, now: dt.datetime) -> ReminderRun | None:
    """This day's run for the company, unless it finished or another one is going."""
    try:
        with transaction.atomic():
            return ReminderRun.objects.create(company=company, day=day, started_at=now)
    except IntegrityError:
        pass
    stale = ReminderRun.objects.filter(
        company=company, day=day, finished_at__isnull=True, started_at__lte=now - STALE_RUN
    )
    run = stale.first()
    if run is None or not stale.filter(pk=run.pk).update(started_at=now):
        return None
    return run


def run_for_company(company: Company, *, now: dt.datetime | None = None) -> ReminderRun | None:
    """Send today's reminders of ``company`` (its calendar); None when they were done or are being done."""
    now = now or timezone.now()
    today = company_today(company, now=now)
    run = _claim(company, today, now)
    if run is None:
        return None
    steps = {today - dt.timedelta(days=days): days for days in company.billing_reminder_days}
    try:
        adapter = erp_for(company, cached=False)
        invoices = adapter.list_open_invoices_due(min(steps), max(steps))
    except erp.ErpUnavailable as exc:  # left unfinished: tried again after STALE_RUN
        run.outcome = f"ERP unavailable, will try again: {exc}"[:300]
        run.save(update_fields=["outcome"])
        return run
    except erp.ErpError as exc:
        logger.warning("Reminders of company %s: %s", company.pk, mask_text(str(exc)))
        run.outcome, run.finished_at = str(exc)[:300], timezone.now()
        run.save(update_fields=["outcome", "finished_at"])
        return run
    outcome = Outcome()
    for invoice in invoices:
        if (days := steps.get(invoice.due_date)) is not None:
            _remind(company, adapter, invoice, days, outcome)
    run.outcome, run.finished_at = str(outcome), timezone.now()
    run.save(update_fields=["outcome", "finished_at"])
    return run


def _remind(company: Company, adapter: erp.ErpAdapter, invoice: erp.Invoice, days: int, outcome: Outcome) -> None:
    if ReminderStep.objects.filter(company=company, invoice_id=invoice.id, days=days).exists():
        outcome.already += 1
        return
    try:
        current = {i.id: i for i in adapter.list_open_invoices(invoice.customer_code)}.get(invoice.id)
        customer = adapter.find_customer_by_code(invoice.customer_code) if current else None
    except erp.ErpError as exc:
        outcome.failed.append(f"{invoice.id}: {exc}")
        return
    try:
        with transaction.atomic():
            step = ReminderStep.objects.create(
                company=company, invoice_id=invoice.id, days=days, due_date=invoice.due_date
            )
            if current is None or customer is None:
                step.outcome = "paid or no longer open" if current is None else "customer not found"
                outcome.paid += current is None
            else:
                step.notice = send_bills(
                    company=company, kind=Notice.Kind.REMINDER, customer=customer, invoices=[current]
                )
                step.outcome = "sent"
                outcome.sent += 1
            step.save(update_fields=["notice", "outcome"])
    except IntegrityError:  # done meanwhile by another run
        outcome.already += 1


def run_due(*, now: dt.datetime | None = None) -> int:
    """Every company whose reminder hour has come: returns how many ran."""
    now = now or timezone.now()
    ran = 0
    for company in Company.objects.filter(status=Company.Status.ACTIVE).exclude(billing_reminder_days=[]):
        if is_due(company, now=now) and run_for_company(company, now=now) is not None:
            ran += 1
    return ran
