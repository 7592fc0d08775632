"""Who a charged message went to, masked for the live dashboard: enough to tell two messages apart (LGPD).

A Brazilian number keeps its country and area codes, the first digit and the last four
(``5544999990001`` → ``+55 44 9****-0001``); any other keeps its country code and last four digits.
"""

from collections.abc import Iterable

import phonenumbers

from conversations.models import Message

SHOWN_DIGITS = 4


def mask_phone(phone: str) -> str:
    """The masked form of an E.164 number (digits, with or without ``+``); "" when there is none."""
    digits = "".join(c for c in phone or "" if c.isdigit())
    if not digits:
        return ""
    if digits.startswith("55") and len(digits) in (12, 13):  # +55, a two-digit area code, 8 or 9 digits
        area, subscriber = digits[2:4], digits[4:]
        return f"+55 {area} {subscriber[0]}{'*' * (len(subscriber) - 1 - SHOWN_DIGITS)}-{subscriber[-SHOWN_DIGITS:]}"
    try:
        country = str(phonenumbers.parse(f"+{digits}").country_code)
    except phonenumbers.NumberParseException:
        country = ""
    national = digits[len(country) :]
    hidden = "*" * max(len(national) - SHOWN_DIGITS, 0)
    return f"+{country} {hidden}{national[-SHOWN_DIGITS:]}" if country else f"{hidden}{national[-SHOWN_DIGITS:]}"


def masked_recipients(message_ids: Iterable[int | None]) -> dict[int, str]:
    """The masked number each of these messages went to, by message id, in one query."""
    ids = {pk for pk in message_ids if pk is not None}
    if not ids:
        return {}
    phones = Message.objects.filter(pk__in=ids).values_list("pk", "contact__phone")
    return {pk: mask_phone(phone) for pk, phone in phones}
