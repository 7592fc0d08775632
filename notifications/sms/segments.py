"""How many SMS parts a text takes, by the GSM 03.38 rules every carrier bills by.

A text in the GSM 7-bit alphabet fits 160 characters in one SMS and 153 per part when concatenated
(the rest of each part is the concatenation header); the extension characters (``€ [ ] { } ~ ^ \\ |``)
take two. Any other character (most Portuguese accents: ã, õ, á, ê, í, ó, ú, ç) switches the whole
text to UCS-2: 70 characters in one SMS, 67 per part, counted in UTF-16 units.
See https://en.wikipedia.org/wiki/GSM_03.38 and 3GPP TS 23.038.
"""

# The GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1) and its extension table (§6.2.1.1).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

# Most gateways and handsets join at most this many parts; a longer text is refused before it is sent.
MAX_PARTS = 6
MAX_GSM_CHARS = 153 * MAX_PARTS  # 918
MAX_UCS2_CHARS = 67 * MAX_PARTS  # 402


def is_gsm(text: str) -> bool:
    return all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)


def parts(text: str) -> int:
    """The number of SMS parts ``text`` is sent in (0 for an empty text)."""
    if is_gsm(text):
        units, single, each = len(text) + sum(char in GSM_EXTENSION for char in text), 160, 153
    else:
        units, single, each = len(text.encode("utf-16-le")) // 2, 70, 67
    if units <= single:
        return 1 if units else 0
    return -(-units // each)


def text_problem(text: str) -> str:
    """Why ``text`` cannot be sent as one SMS request, or "" when it can."""
    if not text.strip():
        return "Give the text of the SMS."
    if (count := parts(text)) > MAX_PARTS:
        return (
            f"Too long: {count} SMS parts; at most {MAX_PARTS} ({MAX_GSM_CHARS} characters of the GSM alphabet, "
            f"or {MAX_UCS2_CHARS} when the text has accents such as ã or ç, or emoji)."
        )
    return ""
