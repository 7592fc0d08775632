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


# Brazilian area codes (DDD) in use, per ANATEL's numbering plan.
BRAZILIAN_DDDS = frozenset(
    {*range(11, 20), 21, 22, 24, 27, 28, *range(31, 36), 37, 38, *range(41, 50), 51, *range(53, 56)}
    | {*range(61, 70), 71, *range(73, 76), 77, 79, *range(81, 90), *range(91, 100)}
)
# What separates two numbers typed into one ERP field: "(44) 99999-8888 / 3030-0001", "...; ...", "... ou ...".
_SEPARATORS = re.compile(r"[/,;|\n\r]+|\s+(?:e|ou|or)\s+", re.IGNORECASE)
# Inside one piece, a new number starts at "(" or "+" after a digit: "(44) 99999-8888 (44) 3030-0001".
_NUMBER_START = re.compile(r"(?<=\d)\s*(?=[(+])")


def _brazilian(number: str) -> str:
    """An ERP's Brazilian phone (digits) as WhatsApp digits with 55, or "" when it is not one."""
    if number.startswith("55") and len(number) in (12, 13):
        number = number[2:]
    elif number.startswith("0"):
        number = number.lstrip("0")
        if len(number) in (12, 13):  # 0 + carrier code (2 digits) + DDD + number: "0 41 44 99999-8888"
            number = number[2:]
    if len(number) not in (10, 11) or int(number[:2]) not in BRAZILIAN_DDDS:
        return ""
    subscriber = number[2:]
    if len(subscriber) == 9 and subscriber[0] != "9":
        return ""  # nine digits are a mobile, and every mobile starts with 9
    if len(subscriber) == 8 and subscriber[0] in "6789":
        subscriber = f"9{subscriber}"  # a mobile written before the ninth digit
    elif len(subscriber) == 8 and subscriber[0] not in "2345":
        return ""  # landlines start with 2-5 and old mobiles with 6-9: 0 and 1 begin no subscriber number
    return normalize_phone(f"55{number[:2]}{subscriber}")


def _one_number(part: str, ddd: str) -> str:
    number = digits(part)
    if part.strip().startswith("+"):
        # +55 is checked as any Brazilian number (DDD, first digit); another country's is kept as written.
        return _brazilian(number[2:]) if number.startswith("55") else normalize_phone(number)
    return _brazilian(f"{ddd}{number}" if ddd and len(number) in (8, 9) else number)


# Four numbers of four groups ("44 9 9999 8888") each: more groups than that are some other text.
_MOST_GROUPS = 16


def _spaced_numbers(part: str, ddd: str) -> list[str]:
    """Numbers separated by spaces only ("44 99999-8888 44 3030-0001"): each run of digit groups the
    longest one that is a number, and only when every group belongs to one (else it is no phone field)."""
    groups, found, start = re.findall(r"\d+", part), [], 0
    if len(groups) > _MOST_GROUPS:
        return []
    while start < len(groups):
        for end in range(len(groups), start, -1):
            phone = _one_number("".join(groups[start:end]), ddd)
            if phone:
                break
        else:
            return []
        found.append(phone)
        ddd = phone[2:4] if phone.startswith("55") else ddd
        start = end
    return found


def whatsapp_numbers(*fields: str) -> tuple[str, ...]:
    """The WhatsApp numbers in an ERP's phone fields, in order, without repeats.

    ERPs keep phones as free text: with or without +55, the DDD in parentheses, an old mobile
    without its ninth digit, a 0xx carrier prefix, several numbers in one field. Landlines are kept
    (a landline can be a WhatsApp Business number); text that is no Brazilian number is dropped,
    unless it is written with a + and another country's code. A number without its DDD takes the one
    of the number before it in the field ("(44) 99999-8888 / 3030-0001").
    """
    found: list[str] = []
    for field in fields:
        ddd = ""
        for piece in _SEPARATORS.split(field or ""):
            for part in _NUMBER_START.split(piece):
                if not digits(part):
                    continue
                phone = _one_number(part, ddd)
                spaced = [phone] if phone else _spaced_numbers(part, ddd)
                for phone in spaced:
                    if phone.startswith("55"):
                        ddd = phone[2:4]
                    if phone not in found:
                        found.append(phone)
    return tuple(found)
