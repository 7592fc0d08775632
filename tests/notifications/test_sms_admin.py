"""The SMS admin pages render with each filter, search by number, show no secret, and send failed numbers again."""

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import SmsMessage, SmsRecipient
from tests.factories import CompanyFactory
from tests.notifications.sms_helpers import PASSWORD, fake_gateway, leaked, point_at

Status = SmsRecipient.Status


@pytest.fixture
def gateway():
    server = fake_gateway().start()
    yield server
    server.stop()


@pytest.fixture
def sms(company, gateway):
    point_at(company, gateway)
    message = SmsMessage.objects.create(
        company=company, text="Sua fatura vence amanhã", parts=1, idempotency_key="erp-7"
    )
    now = timezone.now()
    SmsRecipient.objects.create(message=message, phone="5544998887777", status=Status.SENT, status_at=now, sent_at=now)
    SmsRecipient.objects.create(
        message=message,
        phone="5544998886666",
        status=Status.FAILED,
        status_at=now,
        attempts=1,
        error_code="gateway_error",
        error="The gateway refused the SMS: ERRO: saldo insuficiente",
        gateway_answer="HTTP 200: ERRO: saldo insuficiente",
    )
    other = SmsMessage.objects.create(company=CompanyFactory(), text="Outro", parts=1)
    SmsRecipient.objects.create(message=other, phone="5511999990000", status=Status.QUEUED, status_at=now)
    return message


def _listed(admin_client, name: str, query: dict | None = None) -> list:
    response = admin_client.get(reverse(f"admin:notifications_{name}_changelist"), query or {})
    assert response.status_code == 200
    return list(response.context["cl"].queryset)


def _today_link(admin_client, name: str, field: str) -> str:
    """The query string of the date filter's "Today" choice, as the page links it."""
    response = admin_client.get(reverse(f"admin:notifications_{name}_changelist"))
    changelist = response.context["cl"]
    (spec,) = [spec for spec in changelist.filter_specs if getattr(spec, "field_path", "") == field]
    (today,) = [choice for choice in spec.choices(changelist) if str(choice["display"]) == "Today"]
    return today["query_string"]


def _listed_at(admin_client, name: str, query_string: str) -> list:
    response = admin_client.get(reverse(f"admin:notifications_{name}_changelist") + query_string)
    assert response.status_code == 200
    return list(response.context["cl"].queryset)


@pytest.mark.django_db
def test_the_sms_list_renders_with_each_filter(admin_client, sms, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:notifications_smsmessage_changelist"))
    assert response.status_code == 200
    assert "1 sent" in response.content.decode() and "1 failed" in response.content.decode()
    assert _listed(admin_client, "smsmessage", {"number_status": "failed"}) == [sms]
    assert _listed(admin_client, "smsmessage", {"number_status": "sending"}) == []
    assert _listed(admin_client, "smsmessage", {"company__id__exact": sms.company_id}) == [sms]
    today = timezone.localdate()
    assert sms in _listed_at(admin_client, "smsmessage", _today_link(admin_client, "smsmessage", "created_at"))
    by_day = {"created_at__year": today.year, "created_at__month": today.month, "created_at__day": today.day}
    assert sms in _listed(admin_client, "smsmessage", by_day)


@pytest.mark.django_db
def test_the_sms_list_is_searched_by_number_as_typed(admin_client, sms):
    assert _listed(admin_client, "smsmessage", {"q": "(44) 99888-6666"}) == [sms]
    assert _listed(admin_client, "smsmessage", {"q": "fatura"}) == [sms]
    assert _listed(admin_client, "smsmessage", {"q": "5511988880000"}) == []


@pytest.mark.django_db
def test_the_sms_page_shows_its_numbers_and_no_secret(admin_client, sms):
    response = admin_client.get(reverse("admin:notifications_smsmessage_change", args=[sms.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "5544998887777" in page and "ERRO: saldo insuficiente" in page
    assert leaked(page) == [] and PASSWORD not in page


@pytest.mark.django_db
def test_the_numbers_list_renders_with_each_filter_and_search(admin_client, sms):
    failed = SmsRecipient.objects.get(phone="5544998886666")
    assert _listed(admin_client, "smsrecipient", {"status__exact": "failed"}) == [failed]
    assert len(_listed(admin_client, "smsrecipient", {"message__company__id__exact": sms.company_id})) == 2
    assert _listed(admin_client, "smsrecipient", {"error_code": "gateway_error"}) == [failed]
    assert len(_listed_at(admin_client, "smsrecipient", _today_link(admin_client, "smsrecipient", "status_at"))) == 3
    assert _listed(admin_client, "smsrecipient", {"q": "44 99888-6666"}) == [failed]
    response = admin_client.get(reverse("admin:notifications_smsrecipient_change", args=[failed.pk]))
    assert response.status_code == 200
    assert "saldo insuficiente" in response.content.decode()


@pytest.mark.django_db
def test_the_admin_cannot_add_or_edit_sms(admin_client, sms):
    assert admin_client.get(reverse("admin:notifications_smsmessage_add")).status_code == 403
    url = reverse("admin:notifications_smsmessage_change", args=[sms.pk])
    admin_client.post(url, {"text": "changed"})
    sms.refresh_from_db()
    assert sms.text == "Sua fatura vence amanhã"


@pytest.mark.django_db
def test_the_resend_action_sends_failed_numbers_again(admin_client, sms, gateway, django_capture_on_commit_callbacks):
    rows = SmsRecipient.objects.filter(message=sms)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:notifications_smsrecipient_changelist"),
            {"action": "resend", "_selected_action": [str(row.pk) for row in rows]},
            follow=True,
        )
    assert "1 numbers queued again." in response.content.decode()
    assert SmsRecipient.objects.get(phone="5544998886666").status == Status.SENT
    assert [m.to for m in gateway.messages] == ["5544998886666"]  # the sent one was left alone
