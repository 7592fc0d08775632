"""Campaigns in the admin: created with their CSV, listed with a progress bar, started / paused / cancelled
by action, their recipients and refused rows filterable."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from notifications.campaigns import engine
from notifications.models import Campaign
from tests.notifications.campaign_helpers import campaign_for, imported

pytestmark = pytest.mark.django_db
ROWS = "phone,nome,data\n5544999990001,Maria,28/11\n5544999990002,João,29/11\nabc,José,28/11\n"


def _add(admin_client, company, csv_text: str, **fields):
    data = {
        "company": company.pk,
        "name": "Manutenção",
        "template_name": "aviso_manutencao",
        "template_language": "pt_BR",
        "messages_per_minute": 60,
        "columns": '{"1": "nome", "2": "data"}',
        "fixed": "{}",
        "csv": SimpleUploadedFile("clientes.csv", csv_text.encode(), content_type="text/csv"),
        **fields,
    }
    return admin_client.post(reverse("admin:notifications_campaign_add"), data)


def test_a_campaign_is_created_with_its_csv(admin_client, company, template, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _add(admin_client, company, ROWS)
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    upload = campaign.uploads.get()
    assert (campaign.status, upload.status, upload.valid, upload.invalid) == ("draft", "imported", 2, 1)


@pytest.mark.parametrize(
    ("csv_text", "fields", "words"),
    [
        ("nome,data\nMaria,28/11\n", {}, "no phone column"),
        (ROWS, {"template_name": "nao_existe"}, "No approved template"),
        (ROWS, {"messages_per_minute": 0}, "From 1 to"),
    ],
)
def test_what_cannot_be_sent_is_said_on_the_form(admin_client, company, template, csv_text, fields, words):
    response = _add(admin_client, company, csv_text, **fields)
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not Campaign.objects.exists()


def test_the_list_shows_progress_and_the_actions_change_the_status(admin_client, company, template):
    campaign = campaign_for(company, template, messages_per_minute=600)
    imported(campaign, ROWS)
    url = reverse("admin:notifications_campaign_changelist")
    response = admin_client.post(url, {"action": "start", "_selected_action": [campaign.pk]})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == "running"
    Campaign.objects.filter(pk=campaign.pk).update(pumped_at=timezone.now() - dt.timedelta(seconds=1))
    engine.pump_campaign(campaign.pk)
    campaign.recipients.filter(pk=campaign.recipients.order_by("pk").first().pk).update(status="delivered")
    page = admin_client.get(url).content.decode()
    assert 'class="progress-bar" style="width: 100.0%"' in page and "2 of 2" in page
    admin_client.post(url, {"action": "pause", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    page = admin_client.get(url).content.decode()
    assert 'style="width: 50.0%"' in page  # the one taken back from the outbox waits again
    admin_client.post(url, {"action": "cancel", "_selected_action": [campaign.pk]})
    response = admin_client.post(url, {"action": "resume", "_selected_action": [campaign.pk]}, follow=True)
    assert "A cancelled campaign cannot be resumed." in response.content.decode()
    detail = admin_client.get(reverse("admin:notifications_campaign_change", args=[campaign.pk]))
    assert detail.status_code == 200 and "clientes.csv" in detail.content.decode()


def test_recipients_and_refused_rows_are_listed_with_filters(admin_client, company, template):
    campaign = campaign_for(company, template)
    imported(campaign, ROWS)
    recipients = admin_client.get(reverse("admin:notifications_campaignrecipient_changelist"), {"status": "pending"})
    assert recipients.status_code == 200 and "5544999990002" in recipients.content.decode()
    rows = admin_client.get(reverse("admin:notifications_campaignrowerror_changelist"))
    assert rows.status_code == 200 and "Not a phone number" in rows.content.decode()
