"""The menu's options: their ids, the texts that name them, and the words that ask for them unprompted."""

from conversations.bot.answers import Option, normalized
from conversations.bot.texts import Wording

BILL, UNLOCK, PERSON, END = "menu:bill", "menu:unlock", "menu:person", "menu:end"

# In the order they are numbered; the words are matched whole, accents and case aside.
OPTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        BILL,
        "menu_bill",
        (
            "segunda via",
            "2 via",
            "2a via",
            "boleto",
            "boletos",
            "fatura",
            "faturas",
            "pix",
            "codigo de barras",
            "linha digitavel",
        ),
    ),
    (
        UNLOCK,
        "menu_unlock",
        ("desbloqueio", "desbloquear", "desbloqueia", "desbloquea", "liberar", "liberacao", "confianca"),
    ),
    (
        PERSON,
        "menu_person",
        ("atendente", "atendentes", "humano", "falar com uma pessoa", "falar com alguem", "suporte"),
    ),
    (END, "menu_end", ("encerrar", "finalizar", "sair", "tchau")),
)
# What a customer may ask before any menu was shown (the first "oi, quero a segunda via").
SHORTCUTS = (BILL, UNLOCK, PERSON)


def options(wording: Wording) -> list[Option]:
    return [Option(id=key, title=wording.text(text), words=words) for key, text, words in OPTIONS]


def asked_for(text: str, wording: Wording) -> str | None:
    """The shortcut the words of ``text`` clearly ask for (one of them, by its words only), or None."""
    said = f" {normalized(text)} "
    asked = [
        option.id
        for option in options(wording)
        if option.id in SHORTCUTS and any(f" {normalized(w)} " in said for w in option.words)
    ]
    return asked[0] if len(asked) == 1 else None
