"""The pipeline's admin pages render for operators, and replay works from there."""

import pytest
from django.urls import reverse

from conversations.models import Message, WebhookEvent
from tests.conftest import load_fixture, post_meta
from tests.factories import CloudChannelFactory, CompanyFactory


@pytest.fixture
def processed(client, db, django_capture_on_commit_callbacks):
    company = CompanyFactory(meta_app_secret="app-secret")
    CloudChannelFactory(company=company, phone_number_id="106540352242922", waba_id="102290129340398")
    with django_capture_on_commit_callbacks(execute=True):
        post_meta(client, company, load_fixture("meta/message_text.json"))
    return company


@pytest.mark.parametrize(
    "name",
    ["webhookevent", "message", "contact", "pendingstatus", "accountnotice"],
)
def test_changelists_render(admin_client, processed, name):
    response = admin_client.get(reverse(f"admin:conversations_{name}_changelist"))
    assert response.status_code == 200


def test_event_and_message_pages_render(admin_client, processed):
    event = WebhookEvent.objects.get()
    page = admin_client.get(reverse("admin:conversations_webhookevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert "Does it come in another color?" in page.content.decode()
    message = Message.objects.get()
    assert admin_client.get(reverse("admin:conversations_message_change", args=[message.pk])).status_code == 200


def test_replay_action_processes_again_without_duplicates(admin_client, processed, django_capture_on_commit_callbacks):
    event = WebhookEvent.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:conversations_webhookevent_changelist"),
            {"action": "replay", "_selected_action": [event.pk]},
        )
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert event.summary == "1 duplicate"
    assert event.attempts == 2
    assert Message.objects.count() == 1


def test_message_list_filters_by_attention(admin_client, processed):
    Message.objects.update(media_status=Message.MediaStatus.QUARANTINED, media_rejection="executable")
    response = admin_client.get(reverse("admin:conversations_message_changelist"), {"attention": "quarantined"})
    assert list(response.context["cl"].queryset) == list(Message.objects.all())
    assert "executable" in response.content.decode()
