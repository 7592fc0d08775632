"""Phones as ERPs type them and as WhatsApp sends them: one canonical E.164 form per person."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companies.phones import BRAZILIAN_DDDS, normalize_phone, whatsapp_numbers

# Deterministic runs, no example database left in the tree (as tests/config/test_api_fuzzing.py does).
PROPERTIES = settings(derandomize=True, database=None, deadline=None, max_examples=300)

# 55 + a DDD + a mobile (9 and eight digits) or a landline (eight digits starting 2-5).
BRAZILIAN = re.compile(r"55(?P<ddd>\d{2})(?:9\d{8}|[2-5]\d{7})")


def _is_brazilian(number: str) -> bool:
    match = BRAZILIAN.fullmatch(number)
    return bool(match) and int(match["ddd"]) in BRAZILIAN_DDDS


# ---------------------------------------------------------------------- normalize_phone (WhatsApp ids)


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("5544998887777", "5544998887777"),
        ("+55 (44) 99888-7777", "5544998887777"),
        ("554498887777", "5544998887777"),  # a wa_id of an account made before the ninth digit
        ("556198887777", "5561998887777"),
        ("554430300001", "554430300001"),  # a landline (WhatsApp Business) has no ninth digit to gain
        ("14155552671", "14155552671"),  # another country's number, as WhatsApp gives it
        ("+351 912 345 678", "351912345678"),
    ],
)
def test_whatsapp_ids_become_canonical_digits(value, canonical):
    assert normalize_phone(value) == canonical


def test_the_same_mobile_with_and_without_its_ninth_digit_is_one_number():
    assert normalize_phone("554499990001") == normalize_phone("5544999990001") == "5544999990001"


@pytest.mark.parametrize("value", ["", "abc", "1234567", "1" * 16, "+", "0000000000000"])
def test_what_is_no_phone_number_normalises_to_nothing(value):
    assert normalize_phone(value) == ""


# ---------------------------------------------------------------------- whatsapp_numbers (ERP fields)


@pytest.mark.parametrize(
    "typed",
    [
        "44999990001",
        "(44) 99999-0001",
        "(44)99999-0001",
        "44 9 9999-0001",
        "44.99999.0001",
        "+55 44 99999-0001",
        "+55 (44) 99999-0001",
        "55 44 99999-0001",
        "5544999990001",
        "+5544999990001",
        "Cel.: (44) 99999-0001",
    ],
)
def test_a_mobile_typed_any_usual_way_is_one_number(typed):
    assert whatsapp_numbers(typed) == ("5544999990001",)


@pytest.mark.parametrize(
    "typed",
    ["4499990001", "(44) 9999-0001", "+55 44 9999-0001", "554499990001", "44 8999-0001"],
    ids=["digits", "parentheses", "plus-55", "wa-id", "starting-8"],
)
def test_a_mobile_typed_without_its_ninth_digit_gains_it(typed):
    [number] = whatsapp_numbers(typed)
    assert len(number) == 13 and number[4] == "9" and number.endswith(typed[-4:])


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("0xx44 99666-5544", "5544996665544"),
        ("0 XX 44 99666-5544", "5544996665544"),
        ("(0xx44) 3030-0001", "554430300001"),
        ("044 99666-5544", "5544996665544"),  # the trunk 0 before the DDD
        ("0 41 44 99666-5544", "5544996665544"),  # 0 + a carrier code + DDD
        ("041 44 99666-5544", "5544996665544"),
        ("0 21 11 3030-0001", "551130300001"),
        ("00 55 44 99666-5544", "5544996665544"),  # the international prefix
    ],
)
def test_a_trunk_zero_and_a_carrier_code_are_dropped(typed, number):
    assert whatsapp_numbers(typed) == (number,)


@pytest.mark.parametrize(
    ("typed", "number"),
    [("(44) 3030-0001", "554430300001"), ("55 44 3030-0001", "554430300001"), ("11 2345-6789", "551123456789")],
)
def test_a_landline_is_kept_without_a_ninth_digit_as_it_may_be_a_whatsapp_business_number(typed, number):
    assert whatsapp_numbers(typed) == (number,)


@pytest.mark.parametrize(
    "typed",
    [
        "99999-0001",  # a mobile without its DDD: whose area is it?
        "3030-0001",
        "(20) 99999-0001",  # no such DDD
        "(10) 3030-0001",
        "(44) 89999-0001",  # nine digits that do not start with 9 are no mobile
        "(44) 0234-5678",  # eight digits starting 0 or 1 are neither a landline nor an old mobile
        "(11) 1234-5678",
        "+55 (20) 99999-0001",  # a +55 is checked as any Brazilian number
        "+55 11 1234-5678",
        "+55 44 0000-0000",
        "0800 123 4567",  # free-call numbers are no one's WhatsApp
        "44 99999",
        "1 415 555 2671",  # another country's number without its +
    ],
)
def test_what_is_no_brazilian_number_is_dropped(typed):
    assert whatsapp_numbers(typed) == ()


@pytest.mark.parametrize("typed", ["+1 415 555 2671", "+351 912 345 678", "+44 20 7946 0958"])
def test_another_countrys_number_is_kept_when_written_with_its_plus(typed):
    assert whatsapp_numbers(typed) == (normalize_phone(typed),) != ("",)


@pytest.mark.parametrize(
    "field",
    [
        "(44) 99999-0001 / (44) 3030-0001",
        "(44) 99999-0001/(44) 3030-0001",
        "(44) 99999-0001; (44) 3030-0001",
        "(44) 99999-0001, (44) 3030-0001",
        "(44) 99999-0001 | (44) 3030-0001",
        "(44) 99999-0001\n(44) 3030-0001",
        "(44) 99999-0001 e (44) 3030-0001",
        "(44) 99999-0001 ou (44) 3030-0001",
        "(44) 99999-0001 (44) 3030-0001",
        "44 99999-0001 44 3030-0001",  # spaces only between the two
        "44999990001 4430300001",
        "(44) 99999-0001 / 3030-0001",  # the second takes the first one's DDD
        "(44) 99999-0001 3030-0001",
    ],
)
def test_several_numbers_in_one_field_come_out_in_order(field):
    assert whatsapp_numbers(field) == ("5544999990001", "554430300001")


def test_a_number_without_a_ddd_takes_the_one_before_it_in_its_field_only():
    assert whatsapp_numbers("(11) 99999-0001 / 98888-0002 / (44) 3030-0001 / 3030-0002") == (
        "5511999990001",
        "5511988880002",
        "554430300001",
        "554430300002",
    )
    assert whatsapp_numbers("(11) 99999-0001", "98888-0002") == ("5511999990001",)  # another field: no DDD


def test_repeats_are_removed_across_fields_and_spellings_keeping_the_first_place():
    assert whatsapp_numbers("44 9999-0001 / (44) 3030-0001", "+55 44 99999-0001", "", "(11) 98888-0002") == (
        "5544999990001",
        "554430300001",
        "5511988880002",
    )


@pytest.mark.parametrize(
    "field", ["", "   ", "-", "()", "não tem", "sem telefone", "0", "00000000000", "Rua 12, nº 345", "ramal 22"]
)
def test_empty_and_garbage_fields_have_no_numbers(field):
    assert whatsapp_numbers(field) == ()


def test_digit_groups_that_do_not_all_make_numbers_are_not_pieced_into_one():
    # "Rua 12 n 345" then a phone: the digits could be cut into a landline (34) 5449-9999; nothing is guessed.
    assert whatsapp_numbers("Rua 12 n 345 44 99999 8888") == ()


def test_no_fields_and_none_fields_have_no_numbers():
    assert whatsapp_numbers() == ()
    assert whatsapp_numbers(None, "") == ()  # ERP JSON nulls


# ---------------------------------------------------------------------- properties

DDDS = sorted(BRAZILIAN_DDDS)
# What ERP phone fields are made of: digits, the punctuation people type, separators, a few words.
PHONE_TEXT = st.text(alphabet="0123456789 ()-./+;,|\nexou", max_size=60)


@st.composite
def typed_mobiles(draw) -> tuple[str, str]:
    """(a mobile as someone might type it into an ERP, its canonical form)."""
    ddd = f"{draw(st.sampled_from(DDDS))}"
    rest = draw(st.from_regex(r"[6-9][0-9]{7}", fullmatch=True))
    canonical = f"55{ddd}9{rest}"
    local = draw(st.sampled_from([f"9{rest}", rest]))  # with or without the ninth digit
    local = draw(st.sampled_from([local, f"{local[:-4]}-{local[-4:]}", f"{local[:-4]} {local[-4:]}"]))
    prefixes = [f"{ddd} ", f"({ddd}) ", f"({ddd})", ddd, f"0{ddd} ", f"0xx{ddd} ", f"0 15 {ddd} ", "+55 ", "55 "]
    prefix = draw(st.sampled_from(prefixes))
    if prefix in ("+55 ", "55 "):
        prefix += draw(st.sampled_from([f"{ddd} ", f"({ddd}) ", ddd]))
    return f"{prefix}{local}", canonical


@PROPERTIES
@given(st.text(max_size=80))
def test_arbitrary_text_never_raises_and_gives_only_numbers(text):
    for number in whatsapp_numbers(text):
        assert number.isascii() and number.isdigit() and 8 <= len(number) <= 15


@PROPERTIES
@given(PHONE_TEXT)
def test_every_number_with_brazils_code_is_a_brazilian_mobile_or_landline(text):
    numbers = [number for number in whatsapp_numbers(text) if number.startswith("55")]
    assert all(_is_brazilian(number) for number in numbers), numbers


@PROPERTIES
@given(PHONE_TEXT)
def test_without_a_plus_every_number_found_is_brazilian(text):
    numbers = whatsapp_numbers(text.replace("+", " "))
    assert all(_is_brazilian(number) for number in numbers), numbers


@PROPERTIES
@given(PHONE_TEXT)
def test_numbers_found_are_unique(text):
    numbers = whatsapp_numbers(text)
    assert len(set(numbers)) == len(numbers)


@PROPERTIES
@given(st.one_of(PHONE_TEXT, st.text(max_size=40)))
def test_normalising_a_number_found_gives_itself(text):
    for number in whatsapp_numbers(text):
        assert normalize_phone(number) == number
        assert whatsapp_numbers(f"+{number}") == (number,)
        if number.startswith("55"):
            assert whatsapp_numbers(number) == (number,)


@PROPERTIES
@given(typed_mobiles())
def test_a_mobile_typed_any_way_is_its_canonical_number(typed):
    text, canonical = typed
    assert whatsapp_numbers(text) == (canonical,)
    assert normalize_phone(canonical) == canonical


@PROPERTIES
@given(st.lists(typed_mobiles(), min_size=1, max_size=4), st.sampled_from([" / ", "; ", ", ", " e ", "\n"]))
def test_mobiles_joined_in_one_field_come_out_in_their_order(typed, separator):
    field = separator.join(text for text, _ in typed)
    assert whatsapp_numbers(field) == tuple(dict.fromkeys(canonical for _, canonical in typed))


@PROPERTIES
@given(PHONE_TEXT, PHONE_TEXT)
def test_fields_are_read_one_by_one(first, second):
    expected = tuple(dict.fromkeys(whatsapp_numbers(first) + whatsapp_numbers(second)))
    assert whatsapp_numbers(first, second) == expected
