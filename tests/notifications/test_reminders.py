"""Billing reminders: the company's steps, at its hour in its time zone, each (invoice, step) at most once."""

import datetime as dt

import pytest

from companies.erp.ixc import IxcAdapter
from conversations.models import Message
from fakes.erp.server import running_erp
from notifications.models import Notice, ReminderRun, ReminderStep
from notifications.notices import reminders
from notifications.tasks.reminders import send_billing_reminders

DAY = dt.date(2026, 12, 4)
UTC = dt.UTC
# America/Sao_Paulo is UTC-3: 09:00 there is 12:00 UTC.
AT_NINE = dt.datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def erp():
    # The demo's invoices relative to DAY: 90004 due in 3 days, 90005 three days late, the others elsewhere.
    with running_erp("ixc", today=DAY) as server:
        yield server


@pytest.fixture
def reminding(erp_company, evolution):
    erp_company.billing_reminder_days = [-3, 0, 3]
    erp_company.billing_reminder_hour = 9
    erp_company.timezone = "America/Sao_Paulo"
    erp_company.save()
    return erp_company


def _steps():
    return sorted(ReminderStep.objects.values_list("invoice_id", "days", "outcome"))


@pytest.mark.django_db
def test_the_days_invoices_are_reminded_at_the_companys_hour(reminding, erp):
    assert reminders.run_due(now=AT_NINE - dt.timedelta(hours=1)) == 0  # 08:00 in São Paulo
    assert not ReminderRun.objects.exists()
    assert reminders.run_due(now=AT_NINE) == 1
    assert _steps() == [("90004", -3, "sent"), ("90005", 3, "sent")]
    notices = Notice.objects.filter(kind=Notice.Kind.REMINDER).order_by("pk")
    assert [(n.customer_code, n.invoice_ids) for n in notices] == [("1004", ["90005"]), ("1003", ["90004"])]
    texts = list(Message.objects.filter(text__startswith="Fatura").values_list("text", flat=True))
    assert "Fatura 90004: R$ 459,00, vence em 07/12/2026." in texts
    assert "Fatura 90005: R$ 79,90, venceu em 01/12/2026." in texts
    run = ReminderRun.objects.get()
    assert (run.day, run.outcome) == (DAY, "2 sent, 0 paid meanwhile, 0 already sent")


@pytest.mark.django_db
def test_a_step_is_never_sent_twice(reminding, erp):
    reminders.run_due(now=AT_NINE)
    sent = Message.objects.count()
    assert reminders.run_due(now=AT_NINE + dt.timedelta(hours=2)) == 0  # the day's run is done
    ReminderRun.objects.all().delete()  # even a second run of the same day
    assert reminders.run_due(now=AT_NINE + dt.timedelta(hours=3)) == 1
    assert Message.objects.count() == sent
    assert ReminderRun.objects.get().outcome == "0 sent, 0 paid meanwhile, 2 already sent"


@pytest.mark.django_db
def test_the_day_is_the_companys_across_midnight_utc(reminding, erp):
    late_evening = dt.datetime(2026, 12, 5, 2, 30, tzinfo=UTC)  # 23:30 on the 4th in São Paulo
    assert reminders.run_due(now=late_evening) == 1
    assert ReminderRun.objects.get().day == DAY
    assert _steps() == [("90004", -3, "sent"), ("90005", 3, "sent")]
    # The 5th in São Paulo: other due dates, nothing of the 4th again.
    assert reminders.run_due(now=dt.datetime(2026, 12, 5, 12, 0, tzinfo=UTC)) == 1
    assert sorted(ReminderRun.objects.values_list("day", flat=True)) == [DAY, DAY + dt.timedelta(days=1)]
    assert len(_steps()) == 2


@pytest.mark.django_db
def test_a_company_east_of_utc_runs_on_its_own_date(reminding, erp):
    reminding.timezone = "Asia/Tokyo"  # UTC+9: 12:00 UTC on the 3rd is 21:00 on the 3rd there
    reminding.save()
    reminders.run_due(now=dt.datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    assert ReminderRun.objects.get().day == DAY - dt.timedelta(days=1)
    assert _steps() == []  # nothing falls due on those days seen from the 3rd


@pytest.mark.django_db
def test_an_invoice_paid_just_before_it_goes_is_skipped(reminding, erp, monkeypatch):
    listed = IxcAdapter.list_open_invoices_due

    def listing_then_paid(self, start, end):
        invoices = listed(self, start, end)
        erp.data.pay("90004")  # paid at the bank between the morning's list and its reminder
        return invoices

    monkeypatch.setattr(IxcAdapter, "list_open_invoices_due", listing_then_paid)
    reminders.run_due(now=AT_NINE)
    assert _steps() == [("90004", -3, "paid or no longer open"), ("90005", 3, "sent")]
    assert not Message.objects.filter(text__startswith="Fatura 90004").exists()


@pytest.mark.django_db
def test_the_erp_down_leaves_the_run_to_be_tried_again(reminding, erp):
    erp.fail = "down"
    reminders.run_due(now=AT_NINE)
    run = ReminderRun.objects.get()
    assert run.finished_at is None and run.outcome.startswith("ERP unavailable")
    erp.fail = None
    assert reminders.run_due(now=AT_NINE + dt.timedelta(minutes=10)) == 0  # too soon: maybe still running
    assert reminders.run_due(now=AT_NINE + reminders.STALE_RUN + dt.timedelta(minutes=1)) == 1
    assert ReminderRun.objects.get().finished_at is not None
    assert len(_steps()) == 2


@pytest.mark.django_db
def test_companies_without_steps_or_erp_are_left_alone(erp_company, evolution, erp):
    assert reminders.run_due(now=AT_NINE) == 0
    erp_company.billing_reminder_days = [0]
    erp_company.erp_system = ""
    erp_company.save()
    assert reminders.run_due(now=AT_NINE) == 0
    assert not ReminderRun.objects.exists() and not erp.requests


@pytest.mark.django_db
def test_the_periodic_task_runs_them(reminding, erp, time_machine):
    time_machine.move_to(AT_NINE)
    assert send_billing_reminders() == 1
    assert len(_steps()) == 2
