"""The bot's words: pt-BR defaults, a company's own wording, placeholders that cannot break an answer."""

import re

import pytest

from conversations.bot import texts
from conversations.models import BotText


def test_every_default_names_only_the_values_the_bot_gives():
    # What the bot, the Chatwoot bridge and the inactivity job pass; a default naming anything else would show
    # "{...}" to customers or agents.
    given = {"company", "name", "protocol", "when", "time", "weekday", "date", "contract", "until", "reason"}
    given |= {"agent", "team", "text", "templates"}
    for key, text in texts.DEFAULTS.items():
        assert set(re.findall(r"{(\w+)}", text)) <= given, key


@pytest.mark.django_db
def test_the_default_is_used_with_its_values(company):
    assert texts.text(company, "confirm_account", name="Maria") == "Você está falando da conta de Maria?"
    assert texts.text(company, "greeting") == f"Olá! 👋 Sou o assistente virtual da {company.name}."


@pytest.mark.django_db
def test_a_companys_own_text_replaces_the_default(company, other_company):
    BotText.objects.create(company=company, key="handoff", text="Aguarde, {protocol} é o seu protocolo.")
    assert texts.text(company, "handoff", protocol="202612040001") == "Aguarde, 202612040001 é o seu protocolo."
    assert texts.text(other_company, "handoff", protocol="1").startswith("Certo! Estou transferindo")


@pytest.mark.django_db
def test_a_blank_own_text_is_no_text(company):
    BotText.objects.create(company=company, key="goodbye", text="   ")
    assert texts.text(company, "goodbye") == texts.DEFAULTS["goodbye"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("Olá {nome}, protocolo {protocol}", "Olá {nome}, protocolo 42"),  # unknown placeholder: kept as written
        ("Protocolo {protocol} {", "Protocolo {protocol} {"),  # a stray brace: the whole text as written
        ("Protocolo {0}", "Protocolo {0}"),
        ("Protocolo {protocol.real}", "Protocolo {protocol.real}"),
        ("Protocolo {protocol:>5}", "Protocolo    42"),
    ],
)
def test_a_placeholder_the_bot_does_not_give_never_breaks_the_answer(company, written, sent):
    BotText.objects.create(company=company, key="handoff", text=written)
    assert texts.text(company, "handoff", protocol="42") == sent


def test_an_unknown_key_is_a_bug():
    with pytest.raises(KeyError):
        texts.Wording(None).text("no_such_text")
