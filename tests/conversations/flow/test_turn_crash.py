"""A turn that dies after the bot queued its replies (the in-process twin of ``test_worker_killed``, on any
database): nothing of it is committed, the messages wait, and the sweeper's turn answers them once."""

import pytest

from conversations import conversation, tasks
from conversations.bot import flow, texts
from conversations.models import Session
from tests.conversations.bot.conftest import MARIA, Customer
from tests.conversations.flow.steps import PAST_WINDOW, bot_said

pytestmark = pytest.mark.django_db


class WorkerDied(Exception):
    pass


def test_a_turn_that_dies_after_queuing_the_replies_commits_nothing_and_the_sweeper_answers_once(
    erp_company, evolution, clock, monkeypatch
):
    maria = Customer(evolution, MARIA)
    said = maria.text("oi")
    answer = flow.answer

    def answer_then_die(session, messages):
        answer(session, messages)
        assert len(bot_said(said.contact_id)) == 2  # the replies were queued...
        raise WorkerDied  # ...and the worker died before the turn committed

    monkeypatch.setattr(flow, "answer", answer_then_die)
    clock.later(PAST_WINDOW)
    with pytest.raises(WorkerDied):
        conversation.converse(said.contact_id)
    said.refresh_from_db()
    assert said.handled_at is None and said.session_id is None
    assert bot_said(said.contact_id) == []
    session = Session.objects.get()  # opened before the turn, on its own: still at the start, nothing said in it
    assert (session.state, session.transcript, session.data) == ("start", [], {})

    monkeypatch.setattr(flow, "answer", answer)
    clock.later(conversation.OVERDUE.total_seconds())
    assert tasks.sweep_conversations()["contacts"] == 1
    assert tasks.sweep_conversations()["contacts"] == 0  # taken: not swept again

    said.refresh_from_db()
    assert said.handled_at is not None
    replies = bot_said(said.contact_id)
    assert replies[0] == texts.DEFAULTS["greeting"].format(company=erp_company.name)
    assert replies[1].startswith(texts.DEFAULTS["confirm_account"].format(name="Maria da Silva"))
    assert len(replies) == 2
