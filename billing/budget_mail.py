"""The budget alert's e-mail: who gets it and what it says (figures and a link, never a secret of the company)."""

import calendar

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from billing import selectors
from billing.models import Budget, BudgetAlert
from companies.models import Member


def recipients(budget: Budget) -> list[str]:
    """The budget's billing contact, or else the company's ISP admins that have an e-mail address."""
    if budget.contact_email:
        return [budget.contact_email]
    emails = (
        Member.objects.filter(company_id=budget.company_id, role=Member.Role.ISP_ADMIN, user__is_active=True)
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    return sorted(set(emails))


def money(amount, currency: str) -> str:
    return f"{currency} {amount:,.2f}"


def subject(alert: BudgetAlert, *, company_name: str) -> str:
    month = f"{calendar.month_name[alert.period_start.month]} {alert.period_start.year}"
    return f"[Ponte] {company_name}: {alert.threshold_percent}% of the WhatsApp budget for {month} reached"


def body(alert: BudgetAlert, *, budget: Budget) -> str:
    company = budget.company
    month = f"{calendar.month_name[alert.period_start.month]} {alert.period_start.year}"
    lines = [
        f"What Meta has charged {company.name} for WhatsApp messages in {month} has reached "
        f"{alert.percent_spent}% of its monthly budget.",
        "",
        f"Charged so far (delivered messages, as Meta reported them): {money(alert.spent, alert.currency)}",
        f"Monthly budget: {money(alert.amount, alert.currency)} "
        f"(alert at {alert.threshold_percent}%: {money(alert.amount * alert.threshold_percent / 100, alert.currency)})",
    ]
    if selectors.today_for(company.pk).replace(day=1) == alert.period_start:
        for forecast in selectors.get_forecast(company_id=company.pk):
            if forecast.currency == alert.currency:
                lines.append(
                    f"Month-end forecast: {money(forecast.month_end, forecast.currency)} (what is charged, awaiting "
                    f"delivery and queued so far, per day elapsed, times {forecast.days_in_month} days)"
                )
    change_budget = reverse("admin:billing_budget_change", args=[budget.pk])
    lines += [
        "",
        f"The spend panel: {settings.PUBLIC_URL}{reverse('admin:billing_spend_panel')}",
        f"The budget and its threshold: {settings.PUBLIC_URL}{change_budget}",
        "",
        "This alert is sent once per month. Figures are in the currency Meta bills the company in; Meta's invoice",
        "is the final word.",
    ]
    return "\n".join(lines)


def send_alert(alert: BudgetAlert, *, budget: Budget, recipients: list[str]) -> None:
    """Send the alert through Django's e-mail backend (raises what the backend raises)."""
    send_mail(
        subject(alert, company_name=budget.company.name),
        body(alert, budget=budget),
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )
