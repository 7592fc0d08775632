"""GET /contacts/{id}/timeline: the contact, its sessions newest first and its messages oldest first, bounded."""

import datetime as dt

import pytest

from conversations.services import sessions
from tests.conversations.api.conftest import make_message


@pytest.mark.django_db
def test_the_timeline_has_the_contact_its_sessions_and_messages_in_order(company_client, contact):
    old, _ = sessions.open_session(contact, at=dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC))
    first = make_message(contact, session=old, text="oi", at=dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC))
    sessions.close(old, reason="inactivity")
    new, _ = sessions.open_session(contact, at=dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC))
    notice = make_message(
        contact,
        direction="out",
        author="business",
        status="read",
        text="Fatura",
        at=dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
    )
    last = make_message(contact, session=new, text="voltei", at=dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC))
    body = company_client.get(f"/api/v1/contacts/{contact.pk}/timeline").json()
    assert set(body) == {"contact", "sessions", "messages", "limit", "sessions_truncated", "messages_truncated"}
    assert body["contact"]["id"] == contact.pk
    assert body["contact"]["open_session"] == new.pk
    assert [s["id"] for s in body["sessions"]] == [new.pk, old.pk]
    assert [(m["id"], m["session"]) for m in body["messages"]] == [
        (first.pk, old.pk),
        (notice.pk, None),
        (last.pk, new.pk),
    ]
    assert (body["limit"], body["sessions_truncated"], body["messages_truncated"]) == (200, False, False)


@pytest.mark.django_db
def test_the_timeline_keeps_the_newest_within_its_limit(company_client, contact):
    made = []
    for day in range(1, 6):
        session, _ = sessions.open_session(contact, at=dt.datetime(2026, 12, day, tzinfo=dt.UTC))
        made.append((session, make_message(contact, session=session, at=dt.datetime(2026, 12, day, 1, tzinfo=dt.UTC))))
        sessions.close(session, reason="inactivity")
    body = company_client.get(f"/api/v1/contacts/{contact.pk}/timeline", {"limit": 3}).json()
    assert [s["id"] for s in body["sessions"]] == [s.pk for s, _ in made[:1:-1]]
    assert [m["id"] for m in body["messages"]] == [m.pk for _, m in made[2:]]
    assert (body["limit"], body["sessions_truncated"], body["messages_truncated"]) == (3, True, True)
    whole = company_client.get(f"/api/v1/contacts/{contact.pk}/timeline", {"limit": 5}).json()
    assert (whole["sessions_truncated"], whole["messages_truncated"]) == (False, False)


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["0", "1001", "-1", "lots", "1.5"])
def test_a_limit_out_of_bounds_is_a_400(company_client, contact, limit):
    response = company_client.get(f"/api/v1/contacts/{contact.pk}/timeline", {"limit": limit})
    assert response.status_code == 400
    assert "limit" in response.json()["error"]["details"]


@pytest.mark.django_db
def test_the_timeline_reads_in_a_fixed_number_of_queries(company_client, contact, django_assert_max_num_queries):
    for day in range(1, 11):
        session, _ = sessions.open_session(contact, at=dt.datetime(2026, 11, day, tzinfo=dt.UTC))
        sessions.tag(session, ["vip"])
        for _ in range(5):
            make_message(contact, session=session)
        sessions.close(session, reason="inactivity")
    with django_assert_max_num_queries(10):
        body = company_client.get(f"/api/v1/contacts/{contact.pk}/timeline").json()
    assert (len(body["sessions"]), len(body["messages"])) == (10, 50)
