"""Reading the customer's answers: yes or no, a CPF/CNPJ, an option of a list.

An answer comes as a ``Message`` or its text. Cloud reply buttons and list rows carry the id we gave them
(``data["id"]``, see ``whatsapp.cloud_webhook``), Evolution's button and list replies too
(``whatsapp.evolution_webhook``), and a template's quick reply its payload (``data["payload"]``); on
Evolution most customers simply type, in any case, with or without accents ("Sim!", "NÃO", "nao").
"""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from companies import documents
from config.masking import mask_document
from conversations.models import Message

YES_ID, NO_ID = "yes", "no"
# The accepted spellings (seed: "tratar mensagem Sim/Nao quando nao for api oficial"), accents removed.
YES_WORDS = frozenset({"sim", "s", "1", "ss", "yes", "isso", "claro", "certo", "correto", "exato", "confirmo"})
NO_WORDS = frozenset({"nao", "n", "2", "no", "negativo", "errado"})
# Digits with the separators people type between them: 529.982.247-25, 529 982 247 25, 11.222.333/0001-81.
_DOCUMENT_RUN = re.compile(r"(?<![\d])\d(?:[\s./-]{0,2}\d){10,13}(?![\d])")
# An option by its number, as normalized text has it ("2", "opção 2").
_NUMBERED = re.compile(r"^(?:opcao|opc|op|numero) ?(\d{1,2})$|^(\d{1,2})$")


def normalized(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces: ``" NÃO!! "`` → ``"nao"``."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w]+|_", " ", plain).split())


def reply_id(message: Message | str) -> str:
    """The id of the button or list row a message answered with ("" for typed text)."""
    if isinstance(message, str):
        return ""
    data = message.data or {}
    return str(data.get("id") or data.get("payload") or "")


def _text(message: Message | str) -> str:
    return message if isinstance(message, str) else message.text


def yes_no(message: Message | str) -> bool | None:
    """True for yes, False for no, None when the answer is neither (or both)."""
    chosen = reply_id(message)
    if chosen in (YES_ID, NO_ID):
        return chosen == YES_ID
    words = normalized(_text(message)).split()
    if not words:
        return None
    first, rest = words[0], set(words[1:])
    if first in YES_WORDS and not rest & NO_WORDS:
        return True
    if first in NO_WORDS and not rest & YES_WORDS:
        return False
    return None


def _document_candidates(text: str) -> list[tuple[int, int, str]]:
    """(start, end, canonical) of what in ``text`` could be a CPF or a CNPJ."""
    found = [(m.start(), m.end(), documents.canonical(m.group(0))) for m in _DOCUMENT_RUN.finditer(text or "")]
    whole = documents.canonical(text or "")
    if len(whole) == 14 and not whole.isdigit():  # the alphanumeric CNPJ, given alone
        found.append((0, len(text), whole))
    return found


def document(message: Message | str) -> str | None:
    """The CPF or CNPJ in the answer (punctuated or not), canonical, when its check digits are right."""
    for _, _, candidate in _document_candidates(_text(message)):
        if len(candidate) in (11, 14) and documents.is_valid(candidate):
            return candidate
    return None


def masked(text: str) -> str:
    """``text`` with every valid CPF/CNPJ in it masked, however it was spaced (for transcripts and logs)."""
    for start, end, candidate in sorted(_document_candidates(text), reverse=True):
        if len(candidate) in (11, 14) and documents.is_valid(candidate):
            text = f"{text[:start]}{mask_document(candidate)}{text[end:]}"
    return text


@dataclass(frozen=True)
class Option:
    """One choice offered: its id (a list row's or a button's), its title, and words that ask for it."""

    id: str
    title: str = ""
    words: tuple[str, ...] = ()


def _says(text: str, phrase: str) -> bool:
    return f" {normalized(phrase)} " in f" {text} "


def choice(message: Message | str, options: Sequence[Option]) -> str | None:
    """The id of the option chosen by number ("2", "opção 2"), by its list row or button, or by its words."""
    chosen = reply_id(message)
    if chosen and any(o.id == chosen for o in options):
        return chosen
    text = normalized(_text(message))
    if not text:
        return None
    if numbered := _NUMBERED.match(text):
        position = int(numbered.group(1) or numbered.group(2))
        return options[position - 1].id if 1 <= position <= len(options) else None
    exact = [o.id for o in options if o.title and normalized(o.title) == text]
    if exact:
        return exact[0]
    asked = [o.id for o in options if any(_says(text, w) for w in o.words)]
    return asked[0] if len(asked) == 1 else None
