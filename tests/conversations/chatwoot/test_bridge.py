"""What a session owes Chatwoot, queued: the handoff's rows in order, each message once, nothing without Chatwoot."""

import pytest

from conversations.chatwoot import bridge
from conversations.models import ChatwootDelivery, Contact, Message, Session
from conversations.services import sessions
from tests.factories import CompanyFactory


def _company(**kwargs):
    chatwoot = {
        "chatwoot_base_url": "http://127.0.0.1:9",
        "chatwoot_account_id": 1,
        "chatwoot_inbox_id": 2,
        "chatwoot_api_token": "token",
    }
    return CompanyFactory(**(chatwoot | kwargs))


def _session(company) -> Session:
    contact = Contact.objects.create(company=company, phone="5544999990001", wa_id="5544999990001")
    session, _ = sessions.open_session(contact)
    return session


def _inbound(session: Session, text: str) -> Message:
    return Message.objects.create(
        company=session.company,
        contact=session.contact,
        session=session,
        direction=Message.Direction.INBOUND,
        author=Message.Author.CUSTOMER,
        type="text",
        text=text,
        status=Message.Status.RECEIVED,
    )


@pytest.mark.django_db
def test_a_handoff_queues_the_conversation_the_transcript_in_order_and_the_agents_note():
    session = _session(_company())
    sessions.add_to_transcript(session, [("customer", "oi"), ("bot", "Olá!"), ("customer", "meu CPF é 529.982.247-25")])
    sessions.link_customer(session, customer_code="1001", name="Maria da Silva", document="52998224725", confirmed=True)
    assert bridge.hand_off(session, reason="asked for a person")
    rows = list(ChatwootDelivery.objects.filter(session=session).order_by("pk"))
    assert [(r.kind, r.outgoing) for r in rows] == [
        ("open", False),
        ("message", False),
        ("message", True),
        ("message", False),
        ("note", False),
    ]
    assert rows[3].text == "meu CPF é 529.***.***-25"
    assert rows[4].text == (
        f"Protocolo: {session.protocol}\nCliente: Maria da Silva (código 1001)\nCPF/CNPJ: 529.***.***-25\n"
        "Motivo: asked for a person"
    )
    session.refresh_from_db()
    assert session.handoff == Session.Handoff.AGENT
    assert not bridge.hand_off(session), "a second handoff queues nothing"
    assert ChatwootDelivery.objects.filter(session=session).count() == 5


@pytest.mark.django_db
def test_a_message_is_relayed_once_however_often_it_is_handled():
    session = _session(_company())
    message = _inbound(session, "ainda estou sem internet")
    bridge.relay(session, [message])
    bridge.relay(session, [message])
    assert ChatwootDelivery.objects.filter(session=session, message=message).count() == 1


@pytest.mark.django_db
def test_a_note_with_a_key_is_queued_once():
    session = _session(_company())
    bridge.note(session, "Mensagem NÃO enviada", key="refused:chatwoot:1")
    bridge.note(session, "Mensagem NÃO enviada", key="refused:chatwoot:1")
    bridge.note(session, "outra", key="")
    bridge.note(session, "outra", key="")
    assert ChatwootDelivery.objects.filter(session=session, kind="note").count() == 3


@pytest.mark.django_db
def test_without_chatwoot_a_handoff_only_silences_the_bot():
    session = _session(CompanyFactory())
    sessions.add_to_transcript(session, [("customer", "quero falar com alguém")])
    assert bridge.hand_off(session, reason="asked for a person")
    bridge.relay(session, [_inbound(session, "alô?")])
    bridge.note(session, "nota")
    session.refresh_from_db()
    assert session.handoff == Session.Handoff.AGENT
    assert not ChatwootDelivery.objects.exists()
