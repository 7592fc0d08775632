"""The bot end to end: a customer's messages recorded from real payloads, the bot's replies sent by the engine
to the provider's fake (Evolution as numbered texts, the Cloud API with buttons and lists)."""

import pytest

from companies.erp.formats import is_valid_pix_code
from conversations.bot import texts
from conversations.models import CustomerLink
from tests.conversations.bot.conftest import MARIA

pytestmark = pytest.mark.django_db(transaction=True)

T = texts.DEFAULTS
MENU = [T["menu_bill"], T["menu_unlock"], T["menu_person"], T["menu_end"]]


def _numbered(body: str, options: list[str]) -> str:
    return body + "\n\n" + "\n".join(f"{n} - {o}" for n, o in enumerate(options, start=1))


@pytest.mark.parametrize("kind", ["evolution", "cloud"])
def test_a_known_customer_from_oi_to_the_pix_code(make_world, kind):
    world = make_world(kind)
    maria = world.customer(MARIA)
    maria.text("oi")
    sent = world.sent()
    confirm = "Você está falando da conta de Maria da Silva?"
    assert [s.text for s in sent] == [
        f"Olá! 👋 Sou o assistente virtual da {world.company.name}.",
        confirm if world.cloud else _numbered(confirm, ["Sim", "Não"]),
    ]
    assert [s.kind for s in sent] == ["text", "buttons" if world.cloud else "text"]
    if world.cloud:
        buttons = sent[1].body["interactive"]["action"]["buttons"]
        assert [(b["reply"]["id"], b["reply"]["title"]) for b in buttons] == [("yes", "Sim"), ("no", "Não")]

    maria.choose("yes", "Sim", 1)
    [menu] = world.sent()
    if world.cloud:
        assert (menu.kind, menu.text) == ("list", T["menu"])
        rows = menu.body["interactive"]["action"]["sections"][0]["rows"]
        assert [r["title"] for r in rows] == MENU
    else:
        assert (menu.kind, menu.text) == ("text", _numbered(T["menu"], MENU))

    maria.choose("menu:bill", T["menu_bill"], 1)
    sent = world.sent()
    assert sent[0].text == T["bill_intro"]
    assert sent[1].text == "Olá Maria da Silva, segue a sua fatura em aberto."
    assert [s.kind for s in sent[1:-1]] == ["text", "text", "text", "text", "document"]
    assert is_valid_pix_code(sent[4].text)
    assert sent[-1].text == (T["menu_again"] if world.cloud else _numbered(T["menu_again"], MENU))
    for s in sent:
        assert (s.body.get("to") or s.body.get("number")) == MARIA
    link = CustomerLink.objects.get()
    assert (link.customer_code, link.confirmed) == ("1001", True)


@pytest.mark.parametrize("kind", ["evolution", "cloud"])
def test_a_wrong_cpf_then_a_right_one(make_world, kind):
    world = make_world(kind)
    maria = world.customer(MARIA)
    maria.text("oi")
    world.sent()
    maria.choose("no", "Não", 2)
    assert world.texts() == [T["ask_document"]]
    maria.text("529.982.247-24")  # one check digit wrong
    assert world.texts() == [T["invalid_document"], T["ask_document"]]
    maria.text("111.444.777-35")
    [found, menu] = world.sent()
    assert found.text == "Encontrei o cadastro de João Pereira."
    assert menu.text == (T["menu"] if world.cloud else _numbered(T["menu"], MENU))
    assert list(CustomerLink.objects.values_list("customer_code", "document", "confirmed")) == [
        ("1002", "11144477735", True)
    ]
    assert world.session().customer.customer_code == "1002"
