"""Smoke: the consumer, the bot and the Chatwoot bridge together on the fakes (in-process, eager)."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from conversations import conversation
from conversations.chatwoot import delivery, webhook
from conversations.models import ChatwootDelivery, Message, Session
from fakes.chatwoot import running_chatwoot
from tests.conversations.bot.conftest import MARIA, Customer
from tests.factories import EvolutionChannelFactory


@pytest.fixture
def chatwoot():
    with running_chatwoot(token="cw-token") as server:
        yield server


@pytest.mark.django_db
def test_oi_to_person_to_chatwoot_and_back(erp_company, chatwoot):
    company = erp_company
    company.chatwoot_base_url, company.chatwoot_account_id = chatwoot.url, chatwoot.account_id
    company.chatwoot_inbox_id, company.chatwoot_api_token = chatwoot.inbox_id, "cw-token"
    company.save()
    channel = EvolutionChannelFactory(company=company, connection_state="open")
    maria = Customer(channel, MARIA)
    first = maria.text("oi")
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=5)):
        turn = conversation.converse(first.contact_id)
    assert turn.to == "bot", turn
    maria.text("sim")
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=10)):
        conversation.converse(first.contact_id)
    maria.text("3")
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=15)):
        turn = conversation.converse(first.contact_id)
    assert turn.to == "agent", turn
    session = Session.objects.get(contact_id=first.contact_id)
    assert session.handoff == "agent"
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=20)):
        run = delivery.deliver(session.pk)
    session.refresh_from_db()
    conv = session.chatwoot_conversation_id
    assert run.delivered == ChatwootDelivery.objects.count()
    chatwoot.agent_message(conv, "Olá Maria, sou a Ana")
    hooks = [w for w in chatwoot.webhooks if w.event == "message_created"]
    outcome = webhook.handle(company, hooks[-1].payload)
    assert outcome == "sent 1", outcome
    assert Message.objects.filter(author="agent", text="Olá Maria, sou a Ana").exists()
    for w in hooks[:-1]:
        assert webhook.handle(company, w.payload) == "not for the customer"
