"""Idle sessions (``inactivity.close_idle_sessions`` through its periodic task): closed in the bot with a message,
noted (and resolved or kept, per company) in Chatwoot, paused ones left alone; bot transcripts purged after a day."""

import datetime as dt

import pytest

from conversations import tasks
from conversations.bot import texts
from conversations.chatwoot import delivery
from conversations.models import ChatwootDelivery, Session
from conversations.services import sessions
from tests.conversations.bot.conftest import MARIA, Customer
from tests.conversations.flow.steps import bot_said, on_chatwoot, to_person, turn

pytestmark = pytest.mark.django_db


def _idle(clock, company) -> None:
    clock.later(company.inactivity_minutes * 60 + 1)


def _notes(chatwoot, session: Session) -> list[str]:
    session.refresh_from_db()
    return [m["content"] for m in chatwoot.messages(session.chatwoot_conversation_id) if m["private"]]


def test_an_idle_bot_session_is_closed_with_the_message_and_a_new_oi_starts_a_new_session(
    erp_company, evolution, clock
):
    maria = Customer(evolution, MARIA)
    assert turn(clock, maria.text("oi")).to == "bot"
    first = maria.session
    clock.later(erp_company.inactivity_minutes * 60 - 10)
    assert tasks.close_idle_sessions() == {}  # not idle long enough yet

    clock.later(11)
    assert tasks.close_idle_sessions() == {"closed": 1}
    first.refresh_from_db()
    assert first.closed_at is not None and first.close_reason == Session.CloseReason.INACTIVITY
    closing = texts.text(erp_company, "inactivity_closed", protocol=first.protocol)
    assert bot_said(first.contact_id)[-1] == closing
    assert tasks.close_idle_sessions() == {}  # closed once, told once
    assert bot_said(first.contact_id).count(closing) == 1

    assert turn(clock, maria.text("oi")).to == "bot"
    second = maria.session
    assert second.pk != first.pk and second.protocol != first.protocol
    assert second.state == "confirm_account"  # the flow starts over: greeted and asked again
    greeting = texts.DEFAULTS["greeting"].format(company=erp_company.name)
    assert bot_said(first.contact_id).count(greeting) == 2


@pytest.mark.parametrize("resolve", [True, False], ids=["resolved", "kept"])
def test_an_idle_session_in_chatwoot_gets_a_private_note_and_is_resolved_or_kept_per_company(
    erp_company, evolution, chatwoot, clock, resolve
):
    erp_company.chatwoot_resolve_on_inactivity = resolve
    on_chatwoot(erp_company, chatwoot)
    maria = Customer(evolution, MARIA)
    to_person(clock, maria)
    session = maria.session
    delivery.deliver(session.pk)
    notes_before = _notes(chatwoot, session)

    _idle(clock, erp_company)
    assert tasks.close_idle_sessions() == {"resolved" if resolve else "kept": 1}
    delivery.deliver(session.pk)
    note = texts.text(erp_company, "inactivity_note", protocol=session.protocol)
    assert "finalizada por inatividade" in note
    assert _notes(chatwoot, session) == [*notes_before, note]
    session.refresh_from_db()
    closing = texts.text(erp_company, "inactivity_closed", protocol=session.protocol)
    if resolve:
        assert [c["status"] for c in chatwoot.conversations] == ["resolved"]
        assert session.close_reason == Session.CloseReason.INACTIVITY
        assert bot_said(session.contact_id)[-1] == closing
    else:
        assert [c["status"] for c in chatwoot.conversations] == ["open"]
        assert session.closed_at is None
        assert closing not in bot_said(session.contact_id)

    clock.later(60)  # the job's next run
    assert tasks.close_idle_sessions() == {}
    delivery.deliver(session.pk)
    assert _notes(chatwoot, session) == [*notes_before, note]  # not noted again
    assert ChatwootDelivery.objects.filter(session=session, state=ChatwootDelivery.State.PENDING).count() == 0


def test_a_paused_session_is_left_alone_until_its_pause_ends(erp_company, evolution, clock):
    maria = Customer(evolution, MARIA)
    turn(clock, maria.text("oi"))
    session = maria.session
    pause = dt.timedelta(minutes=erp_company.inactivity_minutes * 3)
    sessions.pause_bot(session, until=session.last_activity_at + pause)

    _idle(clock, erp_company)
    assert tasks.close_idle_sessions() == {}
    session.refresh_from_db()
    assert session.closed_at is None

    clock.later(pause.total_seconds())
    assert tasks.close_idle_sessions() == {"closed": 1}


def test_bot_transcripts_without_a_handoff_are_purged_after_a_day_those_with_one_kept(
    erp_company, evolution, chatwoot, clock
):
    on_chatwoot(erp_company, chatwoot)
    bot_only = Customer(evolution, MARIA)
    turn(clock, bot_only.text("oi"))
    with_person = Customer(evolution, "5544991112222")
    turn(clock, with_person.text("oi"))
    clock.later(5)
    handed = turn(clock, with_person.text("quero falar com um atendente"))
    assert handed.to == "agent"
    bot_session, person_session = bot_only.session, with_person.session
    sessions.close(bot_session, reason=Session.CloseReason.INACTIVITY)
    sessions.close(person_session, reason=Session.CloseReason.CLOSED)

    clock.later(dt.timedelta(hours=23).total_seconds())
    assert tasks.purge_bot_transcripts() == 0
    clock.later(dt.timedelta(hours=1, seconds=1).total_seconds())
    assert tasks.purge_bot_transcripts() == 1
    bot_session.refresh_from_db()
    person_session.refresh_from_db()
    assert bot_session.transcript == []
    assert [line["text"] for line in person_session.transcript][-1] == texts.text(
        erp_company, "handoff", protocol=person_session.protocol
    )


def test_a_conversation_kept_open_is_noted_once_however_long_it_stays_idle_and_again_after_new_activity(
    erp_company, evolution, chatwoot, clock
):
    erp_company.chatwoot_resolve_on_inactivity = False
    on_chatwoot(erp_company, chatwoot)
    maria = Customer(evolution, MARIA)
    to_person(clock, maria)
    session = maria.session
    delivery.deliver(session.pk)
    notes_before = _notes(chatwoot, session)
    note = texts.text(erp_company, "inactivity_note", protocol=session.protocol)

    for _ in range(3):  # idle all night
        _idle(clock, erp_company)
        assert tasks.close_idle_sessions() == {"kept": 1}
        delivery.deliver(session.pk)
    assert _notes(chatwoot, session) == [*notes_before, note]

    turn(clock, maria.text("ainda estou aqui"))  # the customer is back, then quiet again
    _idle(clock, erp_company)
    assert tasks.close_idle_sessions() == {"kept": 1}
    delivery.deliver(session.pk)
    assert _notes(chatwoot, session) == [*notes_before, note, note]
