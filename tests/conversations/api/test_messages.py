"""GET /contacts/{id}/messages and /sessions/{id}/messages: newest first, filters checked, texts readable and masked."""

import datetime as dt
import zoneinfo

import pytest

from conversations.models import Message, MessageStatusChange
from conversations.services import sessions
from tests.conftest import load_fixture, post_meta
from tests.conversations.api.conftest import make_message
from tests.factories import CloudChannelFactory

SAO_PAULO = zoneinfo.ZoneInfo("America/Sao_Paulo")


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [m["id"] for m in response.json()["results"]]


@pytest.mark.django_db
def test_a_contacts_messages_are_every_one_of_it_newest_first(company_client, contact, session):
    notice = make_message(contact, direction="out", author="business", status="delivered", text="Sua fatura")
    earlier = make_message(contact, session=session, text="oi")
    later = make_message(contact, session=session, text="quero a segunda via")
    make_message(contact, text="de outra sessão")  # no session
    ids = _ids(company_client.get(f"/api/v1/contacts/{contact.pk}/messages"))
    assert ids[1:] == [later.pk, earlier.pk, notice.pk]
    assert _ids(company_client.get(f"/api/v1/sessions/{session.pk}/messages")) == [later.pk, earlier.pk]


@pytest.mark.django_db
def test_a_message_says_what_it_is_and_its_history(company_client, contact, session):
    message = make_message(
        contact,
        session=session,
        direction="out",
        author="bot",
        text="Olá",
        status="failed",
        error_code="131026",
        error_reason="Message undeliverable",
        provider_id="wamid.X",
    )
    at = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
    MessageStatusChange.objects.create(message=message, status="queued", at=at)
    MessageStatusChange.objects.create(message=message, status="failed", at=at, error_code="131026")
    body = company_client.get(f"/api/v1/sessions/{session.pk}/messages").json()["results"][0]
    assert {k: body[k] for k in ("session", "contact", "direction", "author", "type", "text", "status")} == {
        "session": session.pk,
        "contact": contact.pk,
        "direction": "out",
        "author": "bot",
        "type": "text",
        "text": "Olá",
        "status": "failed",
    }
    assert (body["error_code"], body["error_reason"], body["provider_id"]) == (
        "131026",
        "Message undeliverable",
        "wamid.X",
    )
    assert [h["status"] for h in body["history"]] == ["queued", "failed"]
    assert body["attachment"] is None


@pytest.mark.django_db
def test_attachments_without_a_caption_say_what_they_are(company_client, contact):
    make_message(contact, type="image", text="", media={"filename": "", "url": "https://secret.example/x"})
    make_message(
        contact,
        type="document",
        text="",
        media={"filename": "comprovante.pdf"},
        media_status="quarantined",
        media_mime="application/x-msdownload",
        media_rejection="executable",
    )
    make_message(contact, direction="out", author="bot", type="document", text="", data={"content": _pdf()})
    results = company_client.get(f"/api/v1/contacts/{contact.pk}/messages").json()["results"]
    assert [m["text"] for m in results] == ["[document: boleto.pdf]", "[document: comprovante.pdf]", "[image]"]
    assert results[1]["attachment"] == {
        "status": "quarantined",
        "mime_type": "application/x-msdownload",
        "size": None,
        "filename": "comprovante.pdf",
        "rejection": "executable",
    }
    assert "secret.example" not in str(results)


def _pdf() -> dict:
    return {
        "kind": "media",
        "media": {"kind": "document", "url": "https://erp.example/b.pdf", "filename": "boleto.pdf"},
    }


@pytest.mark.django_db
def test_a_cpf_a_customer_typed_is_masked(company_client, contact):
    make_message(contact, text="meu cpf é 529.982.247-25 e o outro 52998224725")
    text = company_client.get(f"/api/v1/contacts/{contact.pk}/messages").json()["results"][0]["text"]
    assert text == "meu cpf é 529.***.***-25 e o outro 529.***.***-25"


@pytest.mark.django_db
def test_a_message_from_a_real_webhook_is_listed(client, company_client, company, django_capture_on_commit_callbacks):
    CloudChannelFactory(company=company, phone_number_id="106540352242922", waba_id="102290129340398")
    with django_capture_on_commit_callbacks(execute=True):
        post_meta(client, company, load_fixture("meta/message_location.json"))
    message = Message.objects.get()
    results = company_client.get(f"/api/v1/contacts/{message.contact_id}/messages").json()["results"]
    assert [(m["direction"], m["author"], m["type"]) for m in results] == [("in", "customer", "location")]
    assert "https://maps.google.com/" in results[0]["text"] or "google.com/maps" in results[0]["text"]
    assert results[0]["provider_id"] == message.provider_id


@pytest.mark.django_db
def test_dates_are_whole_days_in_the_companys_time_zone(company_client, contact):
    def at(day, hour, minute=0):
        return dt.datetime(2026, 12, day, hour, minute, tzinfo=SAO_PAULO)

    before = make_message(contact, at=at(1, 23, 59))
    first = make_message(contact, at=at(2, 0, 0))
    last = make_message(contact, at=at(3, 23, 59))
    after = make_message(contact, at=at(4, 0, 0))
    url = f"/api/v1/contacts/{contact.pk}/messages"
    assert _ids(company_client.get(url, {"since": "2026-12-02", "until": "2026-12-03"})) == [last.pk, first.pk]
    assert _ids(company_client.get(url, {"since": "2026-12-03T23:59:00-03:00"})) == [after.pk, last.pk]
    assert _ids(company_client.get(url, {"until": "2026-12-02T00:00:00"})) == [first.pk, before.pk]  # São Paulo
    assert _ids(company_client.get(url, {"until": "2026-12-02T02:59:00Z"})) == [before.pk]
    # "+03:00" sent unencoded arrives as " 03:00": read as the plus it was.
    assert _ids(company_client.get(f"{url}?since=2026-12-04T06:00:00+03:00")) == [after.pk]


@pytest.mark.django_db
def test_direction_and_status_filter(company_client, contact, session):
    inbound = make_message(contact, session=session)
    read = make_message(contact, session=session, direction="out", author="bot", status="read")
    failed = make_message(contact, session=session, direction="out", author="bot", status="failed")
    url = f"/api/v1/sessions/{session.pk}/messages"
    assert _ids(company_client.get(url, {"direction": "in"})) == [inbound.pk]
    assert _ids(company_client.get(url, {"direction": "out"})) == [failed.pk, read.pk]
    assert _ids(company_client.get(url, {"direction": "out", "status": "read"})) == [read.pk]
    assert _ids(company_client.get(url, {"direction": "", "status": ""})) == [failed.pk, read.pk, inbound.pk]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ({"since": "yesterday"}, "since", "Not a date or date-time"),
        ({"until": "2026-13-01"}, "until", "Not a date or date-time"),
        ({"since": "2026-12-01T25:00:00"}, "since", "Not a date or date-time"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since", "Out of range"),
        ({"until": "9999-12-31"}, "until", "Out of range"),
        ({"until": "9999-12-30"}, None, None),
        ({"since": "2026-12-03", "until": "2026-12-02"}, "until", "Earlier than since"),
        ({"direction": "inbound"}, "direction", "use one of in, out"),
        ({"status": "lido"}, "status", "use one of received, queued, sending, sent, delivered, read"),
        ({"page_size": "0"}, "page_size", "A whole number from 1 to 500"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(company_client, contact, session, query, field, says):
    make_message(contact, session=session)
    for url in [f"/api/v1/contacts/{contact.pk}/messages", f"/api/v1/sessions/{session.pk}/messages"]:
        response = company_client.get(url, query)
        if field is None:
            assert response.status_code == 200
            continue
        assert response.status_code == 400, response.json()
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert says in error["details"][field][0]


@pytest.mark.django_db
def test_messages_are_paginated(company_client, contact, session):
    made = [make_message(contact, session=session, text=str(n)) for n in range(7)]
    url = f"/api/v1/sessions/{session.pk}/messages"
    pages = [_ids(company_client.get(url, {"page_size": 3, "page": page})) for page in (1, 2, 3)]
    assert pages == [[m.pk for m in made[6:3:-1]], [m.pk for m in made[3:0:-1]], [made[0].pk]]
    assert company_client.get(url, {"page_size": 3}).json()["count"] == 7


@pytest.mark.django_db
def test_another_companys_session_is_404(company_client, other_session):
    for path in ["", "/messages"]:
        response = company_client.get(f"/api/v1/sessions/{other_session.pk}{path}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_a_message_page_reads_in_a_fixed_number_of_queries(company_client, contact, django_assert_max_num_queries):
    session, _ = sessions.open_session(contact)
    for n in range(30):
        message = make_message(contact, session=session, direction="out", author="bot", status="sent", text=str(n))
        MessageStatusChange.objects.create(message=message, status="sent", at=message.created_at)
    with django_assert_max_num_queries(7):
        assert len(company_client.get(f"/api/v1/contacts/{contact.pk}/messages").json()["results"]) == 30
