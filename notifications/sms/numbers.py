"""The numbers of an SMS request: a list or a comma separated string, normalised, checked, without repeats.

Each number becomes digits with the country code (``5544998887777``), which is also the form the
gateway gets in ``|CELULAR|``. The API is for Brazilian ISPs, so a number without a country code
is read as Brazilian: ``(44) 99888-7777``, ``44998887777``, an old mobile without its ninth digit and
a ``0xx`` carrier prefix all become ``5544998887777`` (``companies.phones.whatsapp_numbers``). Another
country's number is written with ``+`` (``+351 912 345 678``). A Brazilian landline is refused:
SMS reaches mobiles only.
"""

import re
from dataclasses import dataclass

from companies.phones import whatsapp_numbers

MAX_NUMBERS = 100  # per request; more go in several requests (each answers at once with its ids)
_SEPARATOR = re.compile(r"[,;\n]")


@dataclass(frozen=True)
class Numbers:
    valid: tuple[str, ...]  # normalised, in the order given, each once
    invalid: tuple[str, ...]  # as given


def split(value: str | list[str]) -> list[str]:
    """The items of ``to``, a string or a list of them, cut at commas (semicolons and line breaks too);
    blank items dropped."""
    pieces = [piece for item in ([value] if isinstance(value, str) else value) for piece in _SEPARATOR.split(item)]
    return [piece.strip() for piece in pieces if piece.strip()]


def sms_number(value: str) -> str:
    """``value`` as digits with the country code, or "" when it is not one mobile number."""
    found = whatsapp_numbers(value)
    if len(found) != 1:
        return ""
    number = found[0]
    if number.startswith("55") and len(number) != 13:  # 55 + DDD + 8 digits: a landline
        return ""
    return number


def parse(items: list[str]) -> Numbers:
    valid: list[str] = []
    invalid: list[str] = []
    for item in items:
        number = sms_number(item)
        if not number:
            invalid.append(item)
        elif number not in valid:
            valid.append(number)
    return Numbers(tuple(valid), tuple(invalid))
