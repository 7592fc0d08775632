"""Budgets: set in the admin by an ISP admin for its company, shown as a gauge on the panel, and crossed once a
period: one alert (a notice on the panel and the index) and one e-mail, however many messages or writers cross it."""

import functools
import smtplib
import threading
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, connections
from django.urls import reverse

from billing.models import Budget, BudgetAlert, SpendEntry
from billing.services import budgets, entries
from companies import members, services
from companies.models import Member
from tests.billing.conftest import cloud_message, utc
from tests.billing.test_panel import NOW, PANEL, delivered, isp_admin_client
from tests.factories import CloudChannelFactory, CompanyFactory

pytestmark = pytest.mark.django_db

BUDGET_ADD = reverse("admin:billing_budget_add")
CONTACT = "financeiro@provedor.example"
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need a database with row locks (PostgreSQL)"
)


class RefusingBackend(BaseEmailBackend):
    """An SMTP server that hangs up, as Django's SMTP backend reports it."""

    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.fixture
def channel(db):
    with time_machine.travel(NOW, tick=False):
        yield CloudChannelFactory(company=CompanyFactory(name="qqalpha Internet"))


def charge(channel, django_capture_on_commit_callbacks, *, times: int = 1, month: int = 11, day: int = 19) -> None:
    """``times`` marketing templates delivered (0.0625 each), the after-commit hooks run as in production."""
    for hour in range(times):
        with django_capture_on_commit_callbacks(execute=True):
            delivered(channel, on=utc(2026, month, day, 10 + hour), template="promo")


def budget_of(channel, django_capture_on_commit_callbacks, **fields) -> Budget:
    values = {"amount": Decimal("0.10"), "alert_threshold_percent": 80, "contact_email": CONTACT, **fields}
    with django_capture_on_commit_callbacks(execute=True):
        return budgets.set_budget(company=channel.company, **values)


def test_crossing_the_threshold_alerts_and_e_mails_once(channel, django_capture_on_commit_callbacks):
    budget_of(channel, django_capture_on_commit_callbacks)  # alert at 0.08
    charge(channel, django_capture_on_commit_callbacks)  # 0.0625
    assert not BudgetAlert.objects.exists()
    assert mail.outbox == []

    charge(channel, django_capture_on_commit_callbacks)  # 0.125: crossed
    alert = BudgetAlert.objects.get()
    assert (alert.period_start.isoformat(), alert.spent) == ("2026-11-01", Decimal("0.125"))
    assert alert.threshold_percent == 80
    assert alert.emailed_at is not None
    assert alert.emailed_to == CONTACT
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [CONTACT]

    charge(channel, django_capture_on_commit_callbacks, times=3)  # and on, past the budget itself
    budget_of(channel, django_capture_on_commit_callbacks, amount=Decimal("0.20"))  # saved again
    assert BudgetAlert.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_new_month_is_a_new_period_with_its_own_alert(channel, django_capture_on_commit_callbacks):
    budget_of(channel, django_capture_on_commit_callbacks)
    charge(channel, django_capture_on_commit_callbacks, times=2)
    with time_machine.travel(utc(2026, 12, 3, 15), tick=False):
        charge(channel, django_capture_on_commit_callbacks, times=2, month=12, day=3)
    assert [a.period_start.isoformat() for a in BudgetAlert.objects.order_by("period_start")] == [
        "2026-11-01",
        "2026-12-01",
    ]
    assert len(mail.outbox) == 2


def test_a_lowered_budget_already_crossed_alerts_when_saved(channel, django_capture_on_commit_callbacks):
    budget_of(channel, django_capture_on_commit_callbacks, amount=Decimal("100"))
    charge(channel, django_capture_on_commit_callbacks, times=2)
    assert not BudgetAlert.objects.exists()
    budget_of(channel, django_capture_on_commit_callbacks, amount=Decimal("0.15"))
    assert BudgetAlert.objects.get().spent == Decimal("0.125")
    assert len(mail.outbox) == 1


def test_estimates_and_undelivered_messages_do_not_cross_a_budget(channel, django_capture_on_commit_callbacks):
    budget_of(channel, django_capture_on_commit_callbacks, amount=Decimal("0.01"), alert_threshold_percent=50)
    queued = cloud_message(channel, template="promo", status="queued", at=utc(2026, 11, 19, 10))
    with django_capture_on_commit_callbacks(execute=True):
        entries.settle(queued=[entries.Queued(message_id=queued.pk, at=utc(2026, 11, 19, 10), category="marketing")])
    assert not BudgetAlert.objects.exists()


def test_a_failed_e_mail_is_kept_and_sent_by_the_next_check(channel, django_capture_on_commit_callbacks, settings):
    budget_of(channel, django_capture_on_commit_callbacks)
    settings.EMAIL_BACKEND = "tests.billing.test_panel_budget.RefusingBackend"
    charge(channel, django_capture_on_commit_callbacks, times=2)
    alert = BudgetAlert.objects.get()
    assert alert.emailed_at is None
    assert alert.email_error == "SMTPServerDisconnected: Connection unexpectedly closed"

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    charge(channel, django_capture_on_commit_callbacks)
    alert.refresh_from_db()
    assert (alert.emailed_at is not None, alert.email_error, len(mail.outbox)) == (True, "", 1)
    charge(channel, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1


def test_without_a_billing_contact_the_company_isp_admins_are_e_mailed(channel, django_capture_on_commit_callbacks):
    for username, role, email in (
        ("ana", Member.Role.ISP_ADMIN, "ana@provedor.example"),
        ("caio", Member.Role.ISP_ADMIN, ""),
        ("bruno", Member.Role.AGENT, "bruno@provedor.example"),
    ):
        members.create_member_user(
            company=channel.company, role=role, username=username, password="x-unused-password-1", email=email
        )
    budget_of(channel, django_capture_on_commit_callbacks, contact_email="")
    charge(channel, django_capture_on_commit_callbacks, times=2)
    assert [message.to for message in mail.outbox] == [["ana@provedor.example"]]


def test_the_e_mail_says_the_figures_and_links_and_carries_no_secret(channel, django_capture_on_commit_callbacks):
    company = channel.company
    company.chatwoot_api_token = "chatwoot-secret-token-1234"
    company.save()
    _, api_key = services.create_api_key(company=company, name="ERP")
    budget = budget_of(channel, django_capture_on_commit_callbacks)
    charge(channel, django_capture_on_commit_callbacks, times=2)

    (message,) = mail.outbox
    assert message.subject == "[Ponte] qqalpha Internet: 80% of the WhatsApp budget for November 2026 reached"
    assert "has reached 125.0% of its monthly budget" in message.body
    assert "Charged so far (delivered messages, as Meta reported them): USD 0.12" in message.body
    assert "Monthly budget: USD 0.10 (alert at 80%: USD 0.08)" in message.body
    assert "Month-end forecast: USD 0.19" in message.body  # 0.125 over 20 days, times 30
    assert f"http://127.0.0.1:8000{PANEL}" in message.body
    assert f"/admin/billing/budget/{budget.pk}/change/" in message.body
    secrets = [
        api_key,
        "chatwoot-secret-token-1234",
        company.meta_app_secret,
        company.meta_verify_token,
        channel.access_token,
        str(company.contract),
    ]
    for secret in secrets:
        assert secret not in message.body
        assert secret not in message.subject


def at_once(calls: list) -> list[Exception]:
    """Run each callable in a thread of its own, released together; returns what they raised."""
    start, errors = threading.Barrier(len(calls)), []

    def run(call) -> None:
        try:
            start.wait(timeout=10)
            call()
        except Exception as exc:  # returned: a thread's failure would otherwise vanish
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


@postgresql_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the rate card the migrations seeded
def test_concurrent_crossings_alert_and_e_mail_once():
    """Eight receipts of one company settled at once, each crossing the threshold alone: one alert, one e-mail."""
    with time_machine.travel(NOW, tick=False):
        channel = CloudChannelFactory()
        budgets.set_budget(
            company=channel.company, amount=Decimal("0.10"), alert_threshold_percent=50, contact_email=CONTACT
        )
        messages = [cloud_message(channel, template="promo", at=utc(2026, 11, 19, 10)) for _ in range(8)]
        pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
        receipts = [entries.Receipt(m.pk, "delivered", utc(2026, 11, 19, 11), pricing) for m in messages]
        errors = at_once([functools.partial(entries.settle, receipts=[receipt]) for receipt in receipts])
    assert errors == []
    assert SpendEntry.objects.filter(company=channel.company, stage="delivered").count() == 8
    assert BudgetAlert.objects.filter(company=channel.company).count() == 1
    assert len(mail.outbox) == 1


@postgresql_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the rate card the migrations seeded
def test_concurrent_checks_of_a_crossed_budget_alert_and_e_mail_once():
    with time_machine.travel(NOW, tick=False):
        channel = CloudChannelFactory()
        budgets.set_budget(company=channel.company, amount=Decimal("100"), contact_email=CONTACT)
        delivered(channel, on=utc(2026, 11, 19, 10), template="promo")
        Budget.objects.filter(company=channel.company).update(amount=Decimal("0.01"))  # crossed, not yet checked
        errors = at_once([functools.partial(budgets.check_budgets, company_ids=[channel.company_id])] * 8)
    assert errors == []
    assert BudgetAlert.objects.count() == 1
    assert len(mail.outbox) == 1


def test_the_panel_shows_the_gauge_and_the_alert_and_the_index_names_it(channel, django_capture_on_commit_callbacks):
    budget_of(channel, django_capture_on_commit_callbacks, amount=Decimal("0.15"))
    charge(channel, django_capture_on_commit_callbacks, times=2)
    client = isp_admin_client(channel.company, "ana")
    panel, index = client.get(PANEL), client.get(reverse("admin:index"))
    status = panel.context["budget"]
    assert (status.spent, status.percent, status.is_over_threshold, status.is_over_budget) == (
        Decimal("0.125"),
        Decimal("83.3"),
        True,
        False,
    )
    html = panel.content.decode()
    assert 'class="sp-gauge sp-warn"' in html
    assert 'aria-valuenow="83.3"' in html
    assert "USD 0.12 of USD 0.15 charged (83.3%)" in html
    assert "Budget alert:" in html
    assert f"E-mailed to {CONTACT}" in html
    assert "Spend panel: 83.3% of this month&#x27;s budget charged" in index.content.decode()


def test_platform_staff_see_every_company_alert_on_the_all_companies_panel(
    channel, django_capture_on_commit_callbacks, admin_client
):
    budget_of(channel, django_capture_on_commit_callbacks)
    charge(channel, django_capture_on_commit_callbacks, times=2)
    html = admin_client.get(PANEL).content.decode()
    assert "Budget alert for <strong>qqalpha Internet</strong>" in html


def test_an_isp_admin_sets_its_company_budget_whatever_company_it_posts(channel, django_capture_on_commit_callbacks):
    other = CompanyFactory(name="qqbeta Telecom")
    client = isp_admin_client(channel.company, "ana")
    form = client.get(BUDGET_ADD)
    assert form.status_code == 200
    assert "qqbeta" not in form.content.decode()
    posted = {
        "company": other.pk,  # tampered: the field is fixed to the admin's company
        "period": "monthly",
        "amount": "250.00",
        "currency": "USD",
        "alert_threshold_percent": "90",
        "contact_email": CONTACT,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(BUDGET_ADD, posted)
    assert response.status_code == 302
    budget = Budget.objects.get()
    assert (budget.company, budget.amount, budget.alert_threshold_percent) == (channel.company, Decimal("250.00"), 90)
    assert not Budget.objects.filter(company=other).exists()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("amount", "0", "A budget is more than zero."),
        ("alert_threshold_percent", "0", "Between 1 and 100 percent."),
        ("alert_threshold_percent", "150", "Between 1 and 100 percent."),
        ("contact_email", "not-an-address", "Enter a valid email address."),
    ],
)
def test_a_budget_form_says_what_is_wrong(channel, field, value, error):
    client = isp_admin_client(channel.company, "ana")
    posted = {"period": "monthly", "amount": "10", "currency": "USD", "alert_threshold_percent": "80", field: value}
    response = client.post(BUDGET_ADD, posted)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Budget.objects.exists()


def test_an_isp_admin_never_opens_another_company_budget_or_alert(channel, django_capture_on_commit_callbacks):
    other = CloudChannelFactory(company=CompanyFactory(name="qqbeta Telecom"))
    theirs = budget_of(other, django_capture_on_commit_callbacks)
    charge(other, django_capture_on_commit_callbacks, times=2)
    alert = BudgetAlert.objects.get(company=other.company)
    client = isp_admin_client(channel.company, "ana")
    assert client.get(reverse("admin:billing_budget_change", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("admin:billing_budgetalert_change", args=[alert.pk])).status_code == 404
    listed = client.get(reverse("admin:billing_budget_changelist")).content.decode()
    assert "qqbeta" not in listed
