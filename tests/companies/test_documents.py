"""CPF and CNPJ: check digits, the canonical and punctuated forms, and their mask in logs (LGPD)."""

import io
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companies.documents import canonical, formatted, is_valid
from config.logging import MaskingFilter
from config.masking import mask_document, mask_text

PROPERTIES = settings(derandomize=True, database=None, deadline=None, max_examples=300)

CPF = "52998224725"
CNPJ = "11222333000181"
ALPHANUMERIC_CNPJ = "12ABC34501DE35"  # Receita Federal's alphanumeric CNPJ, issued from July 2026


# The check digits computed here, apart from the project's validator (Receita Federal's rules): each
# is 11 minus the weighted sum mod 11, or 0 when that is 10 or 11. A CNPJ character counts as its
# ASCII code minus 48 (so digits are themselves and "A" is 17), which is how the alphanumeric CNPJ works.
def _check_digit(body: str, weights: list[int]) -> str:
    rest = sum((ord(char) - 48) * weight for char, weight in zip(body, weights, strict=True)) % 11
    return "0" if rest < 2 else str(11 - rest)


def cpf_of(body: str) -> str:
    first = _check_digit(body, list(range(10, 1, -1)))
    return body + first + _check_digit(body + first, list(range(11, 1, -1)))


def cnpj_of(body: str) -> str:
    first = _check_digit(body, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return body + first + _check_digit(body + first, [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])


def test_the_check_digits_computed_here_agree_with_known_documents():
    assert cpf_of(CPF[:9]) == CPF and cnpj_of(CNPJ[:12]) == CNPJ
    assert cnpj_of(ALPHANUMERIC_CNPJ[:12]) == ALPHANUMERIC_CNPJ


# ---------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "document",
    [
        "529.982.247-25",
        "52998224725",
        "111.444.777-35",
        " 390.533.447-05 ",
        "529 982 247 25",
        "11.222.333/0001-81",
        "11222333000181",
        "00.000.000/0001-91",
        "12.ABC.345/01DE-35",
        "12ABC34501DE35",
        "12abc34501de35",  # typed in lower case
    ],
)
def test_documents_with_right_check_digits_are_valid(document):
    assert is_valid(document)


@pytest.mark.parametrize(
    "document",
    [
        "529.982.247-24",  # second check digit wrong
        "529.982.247-15",  # first check digit wrong
        "52998224752",  # check digits swapped
        "11.222.333/0001-82",
        "11.222.333/0001-18",
        "12.ABC.345/01DE-36",
        "12.ABD.345/01DE-35",  # a letter changed
    ],
)
def test_documents_with_wrong_check_digits_are_invalid(document):
    assert not is_valid(document)


@pytest.mark.parametrize("digit", "0123456789")
def test_repeated_digits_are_invalid_although_their_check_digits_add_up(digit):
    assert not is_valid(f"{digit * 3}.{digit * 3}.{digit * 3}-{digit * 2}")
    assert not is_valid(digit * 11)
    assert not is_valid(digit * 14)


@pytest.mark.parametrize(
    "document",
    ["", "5299822472", "529982247250", "1122233300018", "112223330001811", "52998224725" * 2, "abc", "CPF"],
)
def test_wrong_lengths_are_invalid(document):
    assert not is_valid(document)


def test_a_cpf_has_no_letters_and_a_cnpj_takes_them_only_before_its_check_digits():
    assert not is_valid("5299822472A")
    assert not is_valid("ABCDEFGHIJK")
    assert not is_valid("12ABC34501DE3A")


def test_a_document_with_a_label_is_not_a_document():
    # Letters are kept for the alphanumeric CNPJ, so "CPF" stays in: callers pass the number alone.
    assert canonical("CPF: 529.982.247-25") == "CPF52998224725"
    assert not is_valid("CPF: 529.982.247-25")


def test_none_is_no_document():
    assert canonical(None) == "" and not is_valid(None)


# ---------------------------------------------------------------------- forms


@pytest.mark.parametrize(
    ("value", "canonical_form", "punctuated"),
    [
        ("529.982.247-25", CPF, "529.982.247-25"),
        ("52998224725", CPF, "529.982.247-25"),
        ("529 982 247/25", CPF, "529.982.247-25"),
        ("11.222.333/0001-81", CNPJ, "11.222.333/0001-81"),
        ("11222333000181", CNPJ, "11.222.333/0001-81"),
        ("12.abc.345/01de-35", ALPHANUMERIC_CNPJ, "12.ABC.345/01DE-35"),
    ],
)
def test_canonical_and_formatted_forms(value, canonical_form, punctuated):
    assert canonical(value) == canonical_form
    assert formatted(value) == punctuated
    assert canonical(punctuated) == canonical_form


@pytest.mark.parametrize("value", ["123", "5299822472", "112223330001811", ""])
def test_what_is_neither_length_is_formatted_as_its_canonical_characters(value):
    assert formatted(value) == canonical(value)


# ---------------------------------------------------------------------- masking


@pytest.mark.parametrize(
    ("document", "mask"),
    [
        ("529.982.247-25", "529.***.***-25"),
        (CPF, "529.***.***-25"),
        ("11.222.333/0001-81", "11.***.***/****-81"),
        (CNPJ, "11.***.***/****-81"),
        (ALPHANUMERIC_CNPJ, "12.***.***/****-35"),
        ("12.abc.345/01de-35", "12.***.***/****-35"),
        ("272X43318B3P08", "27.***.***/****-08"),  # eleven digits among its characters: still a CNPJ
        ("123", "***"),
        ("", "***"),
    ],
)
def test_a_document_is_masked_to_its_first_and_last_characters(document, mask):
    assert mask_document(document) == mask


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("cliente 529.982.247-25 pediu boleto", "cliente 529.***.***-25 pediu boleto"),
        ("cpf=52998224725&x=1", "cpf=529.***.***-25&x=1"),
        ('{"cnpj_cpf": "11.222.333/0001-81"}', '{"cnpj_cpf": "11.***.***/****-81"}'),
        ("CNPJ 12.ABC.345/01DE-35 não encontrado", "CNPJ 12.***.***/****-35 não encontrado"),
        ("cpf_cnpj=12ABC34501DE35", "cpf_cnpj=12.***.***/****-35"),
        ("doc 12abc34501de35.", "doc 12.***.***/****-35."),
    ],
)
def test_documents_in_free_text_are_masked(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "telefone 5544999990001",
        "cnpj 12ABC34501DE36 (check digits wrong)",
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA",
        "instance 123e4567-e12b-12d1-a456-426655440000",
        "invoice ABCDEFGHIJKL12",
    ],
)
def test_numbers_and_ids_that_are_no_document_are_left_alone(text):
    assert mask_text(text) == text


def _log_output(message: str, *args, raised: Exception | None = None) -> str:
    """What a handler configured as settings.LOGGING's (the masking filter) writes for one record."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tests.documents")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        if raised is None:
            logger.warning(message, *args)
        else:
            try:
                raise raised
            except type(raised):
                logger.exception(message, *args)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_the_logging_config_masks_every_line_of_the_default_handler(settings):
    assert "mask" in settings.LOGGING["handlers"]["default"]["filters"]
    assert settings.LOGGING["filters"]["mask"]["()"] == "config.logging.MaskingFilter"


@pytest.mark.parametrize("document", [CPF, "529.982.247-25", CNPJ, "11.222.333/0001-81", ALPHANUMERIC_CNPJ])
def test_a_document_never_reaches_a_log_line_whole(document):
    output = _log_output("customer %s asked for a bill", document)
    output += _log_output("lookup failed", raised=ValueError(f"ERP answered: cpfcnpj {document} not found"))
    for form in (canonical(document), formatted(document)):
        assert form not in output
    assert output.count(mask_document(document)) == 2


# ---------------------------------------------------------------------- properties

CPFS = st.from_regex(r"[0-9]{9}", fullmatch=True).map(cpf_of).filter(lambda d: len(set(d)) > 1)
CNPJS = st.from_regex(r"[0-9]{12}", fullmatch=True).map(cnpj_of).filter(lambda d: len(set(d)) > 1)
ALPHANUMERIC_CNPJS = st.from_regex(r"[0-9A-Z]{11}[A-Z]", fullmatch=True).map(cnpj_of)
DOCUMENTS = st.one_of(CPFS, CNPJS, ALPHANUMERIC_CNPJS)
# Text around a document in a log line: anything, kept apart from it by a space.
AROUND = st.text(max_size=30)


@PROPERTIES
@given(DOCUMENTS)
def test_every_document_with_right_check_digits_is_valid_in_both_forms(document):
    assert is_valid(document) and is_valid(formatted(document)) and is_valid(formatted(document).lower())
    assert canonical(formatted(document)) == document


@PROPERTIES
@given(DOCUMENTS, st.data())
def test_a_wrong_check_digit_is_invalid(document, data):
    position = data.draw(st.sampled_from([-2, -1]))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != document[position]]))
    changed = document[:position] + wrong + (document[position + 1 :] if position == -2 else "")
    assert not is_valid(changed)


@PROPERTIES
@given(DOCUMENTS, st.booleans(), AROUND, AROUND)
def test_masking_never_reveals_the_whole_document(document, punctuated, before, after):
    written = formatted(document) if punctuated else document
    masked = mask_text(f"{before} {written} {after}")
    assert document not in masked and formatted(document) not in masked


@PROPERTIES
@given(DOCUMENTS)
def test_a_mask_keeps_only_the_first_and_last_characters(document):
    mask = mask_document(document)
    assert canonical(mask) == (document[:3] if len(document) == 11 else document[:2]) + document[-2:]
    assert mask_document(formatted(document)) == mask
