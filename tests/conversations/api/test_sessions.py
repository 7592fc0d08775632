"""Sessions over the API: read one, a contact's list, close (409 the second time), pause and resume the bot."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from conversations.models import Session
from conversations.services import sessions

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_session_shows_its_state_customer_and_tags(company_client, session):
    sessions.link_customer(
        session, customer_code="1001", name="Maria Souza", document="11222333000181", confirmed=False
    )
    sessions.hand_off(session)
    sessions.link_conversation(session, 5120)
    sessions.tag(session, ["vip", "segunda-via"])
    body = company_client.get(f"/api/v1/sessions/{session.pk}").json()
    assert body["protocol"] == session.protocol
    assert (body["state"], body["handoff"], body["chatwoot_conversation_id"]) == ("start", "agent", 5120)
    assert body["customer"] == {
        "code": "1001",
        "name": "Maria Souza",
        "document": "11.***.***/****-81",
        "confirmed": False,
    }
    assert body["tags"] == ["segunda-via", "vip"]
    assert (body["is_open"], body["closed_at"], body["close_reason"], body["bot_paused"]) == (True, None, "", False)


@pytest.mark.django_db
def test_a_contacts_sessions_are_newest_first_and_paginated(company_client, contact):
    made = []
    for day in (1, 2, 3):
        session, _ = sessions.open_session(contact, at=dt.datetime(2026, 12, day, 12, tzinfo=dt.UTC))
        sessions.close(session, reason="inactivity")
        made.append(session.pk)
    url = f"/api/v1/contacts/{contact.pk}/sessions"
    body = company_client.get(url, {"page_size": 2}).json()
    assert body["count"] == 3
    assert [s["id"] for s in body["results"]] == made[:0:-1]
    assert [s["id"] for s in company_client.get(url, {"page_size": 2, "page": 2}).json()["results"]] == made[:1]
    assert company_client.get(url, {"page": "x"}).status_code == 400


@pytest.mark.django_db
def test_closing_a_session_closes_it_through_the_service_once(company_client, session):
    sessions.pause_bot(session, until=timezone.now() + dt.timedelta(hours=1))
    first = company_client.post(f"/api/v1/sessions/{session.pk}/close")
    assert first.status_code == 200
    assert (first.json()["is_open"], first.json()["close_reason"], first.json()["bot_paused_until"]) == (
        False,
        "closed",
        None,
    )
    session.refresh_from_db()
    assert session.close_reason == Session.CloseReason.CLOSED
    closed_at = session.closed_at
    again = company_client.post(f"/api/v1/sessions/{session.pk}/close")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "session_closed"
    assert error["details"]["close_reason"] == "closed"
    session.refresh_from_db()
    assert session.closed_at == closed_at


@pytest.mark.django_db
def test_another_companys_session_cannot_be_closed_paused_or_tagged(company_client, other_session, other_contact):
    assert company_client.post(f"/api/v1/sessions/{other_session.pk}/close").status_code == 404
    assert company_client.post(f"/api/v1/contacts/{other_contact.pk}/bot/pause", {"ttl_minutes": 5}).status_code == 404
    assert company_client.post(f"/api/v1/contacts/{other_contact.pk}/bot/resume").status_code == 404
    tags = company_client.post(f"/api/v1/sessions/{other_session.pk}/tags", {"tags": ["x"]}, format="json")
    assert tags.status_code == 404
    other_session.refresh_from_db()
    assert (other_session.closed_at, other_session.bot_paused_until) == (None, None)
    assert not other_session.tags.exists()


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_bot_is_paused_for_a_ttl_and_resumed(company_client, session, contact):
    response = company_client.post(f"/api/v1/contacts/{contact.pk}/bot/pause", {"ttl_minutes": 90}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["contact"], body["session"], body["protocol"], body["bot_paused"]) == (
        contact.pk,
        session.pk,
        session.protocol,
        True,
    )
    assert dt.datetime.fromisoformat(body["bot_paused_until"]) == NOW + dt.timedelta(minutes=90)
    session.refresh_from_db()
    assert session.bot_paused_until == NOW + dt.timedelta(minutes=90)
    resumed = company_client.post(f"/api/v1/contacts/{contact.pk}/bot/resume").json()
    assert resumed == {
        "contact": contact.pk,
        "session": session.pk,
        "protocol": session.protocol,
        "bot_paused": False,
        "bot_paused_until": None,
    }
    session.refresh_from_db()
    assert session.bot_paused_until is None


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_bot_is_paused_until_a_time_opening_a_session_if_none(company_client, contact):
    url = f"/api/v1/contacts/{contact.pk}/bot/pause"
    response = company_client.post(url, {"until": "2026-12-04T18:00:00"}, format="json")  # São Paulo
    assert response.status_code == 200, response.json()
    session = Session.objects.get(contact=contact)
    assert session.is_open
    assert response.json()["session"] == session.pk
    assert session.bot_paused_until == dt.datetime(2026, 12, 4, 21, 0, tzinfo=dt.UTC)
    company_client.post(url, {"until": "2026-12-04T13:00:00Z"}, format="json")
    session.refresh_from_db()
    assert session.bot_paused_until == dt.datetime(2026, 12, 4, 13, 0, tzinfo=dt.UTC)
    assert Session.objects.filter(contact=contact).count() == 1


@pytest.mark.django_db
def test_resuming_without_an_open_session_opens_none(company_client, contact):
    body = company_client.post(f"/api/v1/contacts/{contact.pk}/bot/resume").json()
    assert (body["session"], body["bot_paused"], body["bot_paused_until"]) == (None, False, None)
    assert not Session.objects.exists()


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"ttl_minutes", "until"}),
        ({"ttl_minutes": 5, "until": "2026-12-04T18:00:00Z"}, {"ttl_minutes", "until"}),
        ({"ttl_minutes": 0}, {"ttl_minutes"}),
        ({"ttl_minutes": 10081}, {"ttl_minutes"}),
        ({"ttl_minutes": "soon"}, {"ttl_minutes"}),
        ({"until": "2026-12-04T11:59:00Z"}, {"until"}),
        ({"until": "2026-12-20T00:00:00Z"}, {"until"}),
        ({"until": "amanhã"}, {"until"}),
        ({"until": "0001-01-01T00:00:00+14:00"}, {"until"}),
        ({"ttl_minutes": 5, "reason": "x"}, {"reason"}),
        (["ttl_minutes"], {"non_field_errors"}),
    ],
)
def test_a_pause_that_cannot_be_used_is_a_400_naming_the_fields(company_client, contact, payload, fields):
    response = company_client.post(f"/api/v1/contacts/{contact.pk}/bot/pause", payload, format="json")
    assert response.status_code == 400, response.json()
    assert set(response.json()["error"]["details"]) == fields
    assert not Session.objects.exists()


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_a_415(company_client, contact):
    response = company_client.post(
        f"/api/v1/contacts/{contact.pk}/bot/pause", "ttl_minutes=5", content_type="text/plain"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    broken = company_client.post(f"/api/v1/contacts/{contact.pk}/bot/pause", "{", content_type="application/json")
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "parse_error"


@pytest.mark.django_db
def test_ids_that_are_no_ids_are_404(company_client):
    for path in ["/api/v1/sessions/99999999999999999999", "/api/v1/contacts/0/timeline", "/api/v1/sessions/abc"]:
        response = company_client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
