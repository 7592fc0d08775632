"""Phone numbers as WhatsApp gives them, normalised so one person is one contact.

Brazilian mobiles gained a ninth digit (2012-2016), but WhatsApp accounts created before keep
sending the old 8-digit form (``55 44 9888-7777`` as ``554498887777``). Both must be the same contact,
so the canonical form always carries the 9.
"""

import functools
import re

import phonenumbers

_NON_DIGITS = re.compile(r"\D")


def digits(value: str) -> str:
    return _NON_DIGITS.sub("", value or "")


def _with_brazilian_ninth_digit(number: str) -> str:
    # 55 + DDD (2) + 8 digits starting 6-9 is a mobile written the old way.
    if len(number) == 12 and number.startswith("55") and number[4] in "6789":
        return f"{number[:4]}9{number[4:]}"
    return number


# A pure function of its text, asked for the same customers again and again by every batch of webhooks.
@functools.lru_cache(maxsize=65536)
def normalize_phone(value: str) -> str:
    """Canonical E.164 digits (no '+'), or "" when ``value`` is not a phone number."""
    number = _with_brazilian_ninth_digit(digits(value))
    if not 8 <= len(number) <= 15:
        return ""
    try:
        parsed = phonenumbers.parse(f"+{number}")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
