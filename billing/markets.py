"""Which market a recipient is in, as Meta prices it: the country of the phone number's calling code."""

import functools

import phonenumbers

# Meta's rate card names its standalone markets in English; these are the ones with one country each.
# Regions ("Rest of Latin America", ...) cover many countries, listed in Meta's own calling-code CSV.
MARKET_NAMES = {
    "argentina": "AR",
    "bangladesh": "BD",
    "brazil": "BR",
    "chile": "CL",
    "colombia": "CO",
    "egypt": "EG",
    "france": "FR",
    "germany": "DE",
    "india": "IN",
    "indonesia": "ID",
    "iraq": "IQ",
    "israel": "IL",
    "italy": "IT",
    "kazakhstan": "KZ",
    "kuwait": "KW",
    "malaysia": "MY",
    "mexico": "MX",
    "morocco": "MA",
    "nepal": "NP",
    "netherlands": "NL",
    "nigeria": "NG",
    "oman": "OM",
    "pakistan": "PK",
    "peru": "PE",
    "russia": "RU",
    "saudi arabia": "SA",
    "south africa": "ZA",
    "spain": "ES",
    "sri lanka": "LK",
    "turkey": "TR",
    "ukraine": "UA",
    "united arab emirates": "AE",
    "united kingdom": "GB",
    "united states": "US",
    "canada": "CA",
    "north america": "US,CA",
}


@functools.lru_cache(maxsize=4096)
def market_for_phone(phone: str) -> str:
    """The ISO country of ``phone`` (E.164 digits, with or without '+'), or "" when it names none."""
    number = phone.lstrip("+")
    if not number.isdigit():
        return ""
    try:
        parsed = phonenumbers.parse(f"+{number}")
    except phonenumbers.NumberParseException:
        return ""
    # By the number when it says (+1 is the US, Canada and the Caribbean), else by the calling code alone.
    region = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(
        parsed.country_code
    )
    return "" if region in ("", "ZZ", "001") else region


def market_codes(name: str) -> list[str]:
    """The ISO codes a rate card's market stands for: a code itself, or a name Meta uses; [] when unknown."""
    value = name.strip()
    if len(value) == 2 and value.isalpha():
        return [value.upper()]
    codes = MARKET_NAMES.get(" ".join(value.lower().split()), "")
    return codes.split(",") if codes else []
