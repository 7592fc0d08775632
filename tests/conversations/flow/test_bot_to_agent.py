"""From the bot to a person in Chatwoot and back, on real HTTP: the fake IXC, the fake Chatwoot posting its
webhooks to the live server, and the provider's fake the engine sends to."""

import pytest

from conversations import tasks
from conversations.bot import texts
from conversations.models import ChatwootDelivery, Message, WebhookEvent
from fakes.media import SAMPLE_IMAGE
from tests.conversations.bot.conftest import MARIA

pytestmark = pytest.mark.django_db(transaction=True)

T = texts.DEFAULTS
EXECUTABLE = b"MZ\x90\x00\x03" + b"\x00" * 200  # a Windows program sent as a photo


def to_a_person(world, customer):
    """The customer says "oi", confirms the account and picks "talk to a person"; the handoff posted to Chatwoot."""
    customer.text("oi")
    customer.choose("yes", "Sim", 1)
    customer.choose("menu:person", T["menu_person"], 3)
    world.settle()
    return world.session(customer.phone)


def test_handoff_puts_one_contact_one_conversation_the_transcript_and_the_note_in_chatwoot(make_world):
    world = make_world("cloud")
    maria = world.customer(MARIA)
    session = to_a_person(world, maria)
    protocol = session.protocol
    greeting = f"Olá! 👋 Sou o assistente virtual da {world.company.name}."
    assert world.texts() == [
        greeting,
        "Você está falando da conta de Maria da Silva?",
        T["menu"],
        T["handoff"].format(protocol=protocol),
    ]

    [contact] = world.chatwoot.contacts
    assert contact["phone_number"] == "+5544999990001"
    [conversation] = world.chatwoot.conversations
    assert conversation["contact_id"] == contact["id"] and conversation["status"] == "open"
    assert conversation["custom_attributes"] == {
        "protocolo": protocol,
        "codigo_cliente": "1001",
        "cliente": "Maria da Silva",
    }
    assert session.chatwoot_conversation_id == conversation["id"]
    assert world.contact().chatwoot_contact_id == contact["id"]
    lines = world.chatwoot_lines(conversation["id"])
    assert [(kind, text.split("\n")[0]) for kind, private, text in lines if not private] == [
        ("incoming", "oi"),
        ("outgoing", greeting),
        ("outgoing", "Você está falando da conta de Maria da Silva?"),
        ("incoming", "Sim"),
        ("outgoing", T["menu"]),
        ("incoming", T["menu_person"]),
        ("outgoing", T["handoff"].format(protocol=protocol)),
    ]
    [note] = [text for _, private, text in lines if private]
    assert note.startswith(f"Protocolo: {protocol}\nCliente: Maria da Silva (código 1001)\nCPF/CNPJ: 529.***.***-25")
    assert "52998224725" not in str(lines) and "529.982.247-25" not in str(lines)
    assert lines[-1] == ("outgoing", True, note)  # the note after the transcript
    # Every line and the note came back as message_created webhooks: ours, so nothing was sent for them. The
    # outgoing ones look like an agent's (a user sent them, public) but for our source_id.
    echoes = [w.payload for w in world.chatwoot.webhooks if w.event == "message_created"]
    assert len(echoes) == len(lines)
    public = [e for e in echoes if e["message_type"] == "outgoing" and not e["private"]]
    assert len(public) == 4 and all(e["sender"]["type"] == "user" for e in public)
    assert all(e["source_id"].startswith("ponte:delivery:") for e in echoes)
    assert world.texts() == []
    assert not Message.objects.filter(author="agent").exists()
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}


def test_a_contact_already_in_chatwoot_without_the_ninth_digit_is_not_duplicated(make_world):
    world = make_world("cloud")
    existing = world.chatwoot.add_contact(name="Maria (antiga)", phone_number="+554499990001")
    session = to_a_person(world, world.customer(MARIA))
    assert [c["id"] for c in world.chatwoot.contacts] == [existing["id"]]
    [conversation] = world.chatwoot.conversations
    assert conversation["contact_id"] == existing["id"]
    assert session.chatwoot_conversation_id == conversation["id"]
    assert world.contact().chatwoot_contact_id == existing["id"]


def test_a_second_handoff_after_a_resolve_reuses_the_contact_in_a_new_conversation(make_world):
    world = make_world("evolution")
    maria = world.customer(MARIA)
    first = to_a_person(world, maria)
    world.chatwoot.resolve(first.chatwoot_conversation_id)
    world.settle()
    second = to_a_person(world, maria)
    assert second.pk != first.pk
    [contact] = world.chatwoot.contacts
    conversations = world.chatwoot.conversations
    assert [(c["contact_id"], c["status"]) for c in conversations] == [
        (contact["id"], "resolved"),
        (contact["id"], "open"),
    ]
    assert second.chatwoot_conversation_id == conversations[1]["id"]
    assert world.chatwoot_lines(conversations[1]["id"])[0] == ("incoming", False, "oi")


@pytest.mark.parametrize("kind", ["cloud", "evolution"])
def test_relay_both_ways_in_order(make_world, kind):
    world = make_world(kind)
    maria = world.customer(MARIA)
    session = to_a_person(world, maria)
    conversation_id = session.chatwoot_conversation_id
    world.sent()
    before = len(world.chatwoot.messages(conversation_id))

    maria.text("minha internet caiu")
    image = maria.image()
    tasks.converse(image.contact_id)  # the photo waited for its safety check: its turn runs again
    maria.location()
    world.settle()

    image.refresh_from_db()
    assert image.media_status == "stored"
    relayed = world.chatwoot.messages(conversation_id)[before:]
    assert [(m["message_type"], m["private"]) for m in relayed] == [("incoming", False)] * 3
    assert relayed[0]["content"] == "minha internet caiu" and relayed[0]["attachments"] == []
    [photo] = relayed[1]["attachments"]
    assert (photo["file_type"], photo["content_type"], photo["data"]) == ("image", "image/png", SAMPLE_IMAGE)
    assert "https://maps.google.com/?q=" in relayed[2]["content"] and relayed[2]["attachments"] == []
    assert world.sent() == []  # the bot says nothing while the agent has the conversation

    world.chatwoot.agent_message(conversation_id, "Olá Maria, sou a Ana")
    world.chatwoot.agent_message(
        conversation_id, "Veja o print", attachments=[("print.png", SAMPLE_IMAGE, "image/png")]
    )
    sent = world.sent()
    assert [(s.kind, s.text) for s in sent] == [("text", "Olá Maria, sou a Ana"), ("image", "Veja o print")]
    link = sent[1].body["image"]["link"] if world.cloud else sent[1].body["media"]
    assert link.startswith(world.chatwoot.url) and link.endswith("/print.png")
    agents = Message.objects.filter(author="agent").order_by("pk")
    assert [(m.text, m.session_id) for m in agents] == [
        ("Olá Maria, sou a Ana", session.pk),
        ("Veja o print", session.pk),
    ]
    # The agent's messages came back to Chatwoot as nothing new: the relay's lines are the customer's only.
    assert len(world.chatwoot.messages(conversation_id)) == before + 3 + 2
    assert world.sent() == []


def test_a_quarantined_photo_is_not_attached_in_chatwoot(make_world, monkeypatch):
    world = make_world("cloud")
    maria = world.customer(MARIA)
    session = to_a_person(world, maria)
    monkeypatch.setattr("fakes.graph_api.SAMPLE_IMAGE", EXECUTABLE)
    image = maria.image()
    tasks.converse(image.contact_id)
    world.settle()
    image.refresh_from_db()
    assert (image.media_status, image.media_rejection) == ("quarantined", "executable")
    last = world.chatwoot.messages(session.chatwoot_conversation_id)[-1]
    assert last["message_type"] == "incoming" and last["attachments"] == []
    assert "[anexo recusado pela verificação de segurança: executable]" in last["content"]


def test_an_agents_private_note_and_our_echoes_never_reach_the_customer(make_world):
    world = make_world("cloud")
    session = to_a_person(world, world.customer(MARIA))
    world.sent()
    world.chatwoot.agent_message(session.chatwoot_conversation_id, "cliente antigo, cuidado", private=True)
    world.settle()
    assert world.sent() == []
    assert not Message.objects.filter(direction="out", author="agent").exists()
    assert ChatwootDelivery.objects.filter(state="pending").count() == 0
