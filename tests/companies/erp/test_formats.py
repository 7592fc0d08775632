"""Check digits of what ERPs hand over: the boleto's digitable line (bank and collection) and the PIX BR Code."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companies.erp import formats
from fakes.erp.data import DemoErp, boleto, pix_code

PROPERTIES = settings(derandomize=True, database=None, deadline=None, max_examples=300)

# Banco do Brasil's example boleto (R$ 1,00), the one boleto libraries and tutorials reproduce; its barcode
# puts the general check digit and the due-date factor + amount first, then the 25-digit free field.
BB_LINE = "00190.50095 40144.816069 06809.350314 3 37370000000100"
BB_BARCODE = "00193373700000001000500940144816060680935031"
# A collection ("arrecadação") line of a utility bill: third digit 6, so its blocks use mod 10.
COLLECTION_LINE = "836200000005 667800481000 180975657313 001589636081"
# The BR Code example in Banco Central's "Manual de Padrões para Iniciação do Pix" (a static code, key a UUID):
# https://www.bcb.gov.br/estabilidadefinanceira/pix (Regulamentação Pix, Manual de Padrões para Iniciação do Pix)
BCB_PIX = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _changed(text: str, index: int) -> str:
    """``text`` with the digit at ``index`` (of its digits) replaced by another one."""
    digits = list(_digits(text))
    digits[index] = str((int(digits[index]) + 1) % 10)
    return "".join(digits)


# The collection line's check digits, computed here apart from the module (FEBRABAN's layout for
# "arrecadação"): mod 10 with weights 2,1 from the right, or mod 11 with weights 2..9 (0 for a rest of 0 or 1).
def _mod10(block: str) -> int:
    total = sum(sum(divmod(int(d) * (2 - i % 2), 10)) for i, d in enumerate(reversed(block)))
    return -total % 10


def _mod11(block: str) -> int:
    rest = sum(int(d) * (2 + i % 8) for i, d in enumerate(reversed(block))) % 11
    return 0 if rest in (0, 1) else 11 - rest


def collection_line(barcode: str) -> str:
    """The 48-digit line of a 44-digit collection barcode: four blocks of 11, each with its check digit."""
    check = _mod10 if barcode[2] in "67" else _mod11
    return "".join(f"{barcode[i : i + 11]}{check(barcode[i : i + 11])}" for i in range(0, 44, 11))


def bank_line(barcode: str) -> str:
    """The 47-digit line of a 44-digit bank barcode: the free field in three fields with their mod-10 digits, then
    the general check digit, the due-date factor and the amount."""
    fields = (barcode[0:4] + barcode[19:24], barcode[24:34], barcode[34:44])
    return "".join(f"{f}{_mod10(f)}" for f in fields) + barcode[4] + barcode[5:19]


# ---------------------------------------------------------------------- bank boleto (47 digits)


@pytest.mark.parametrize("line", [BB_LINE, _digits(BB_LINE), f"  {BB_LINE}\n", BB_LINE.replace(" ", "")])
def test_a_bank_line_with_right_check_digits_is_valid_however_it_is_spaced(line):
    assert formats.is_valid_digitable_line(line)


def test_a_bank_line_is_the_barcode_rearranged():
    assert formats.barcode_from_line(BB_LINE) == BB_BARCODE
    assert bank_line(BB_BARCODE) == _digits(BB_LINE)


@pytest.mark.parametrize(
    "index",
    [0, 4, 9, 10, 15, 20, 21, 27, 31, 32, 33, 40, 46],
    ids=lambda i: f"digit-{i + 1}",
)
def test_any_digit_changed_in_the_bank_line_fails_its_check_digits(index):
    # 10th, 21st and 32nd are the fields' mod-10 digits, the 33rd the barcode's mod-11, the rest what they check.
    assert not formats.is_valid_digitable_line(_changed(BB_LINE, index))


@pytest.mark.parametrize(
    "line",
    ["", "abc", _digits(BB_LINE)[:-1], _digits(BB_LINE) + "0", BB_BARCODE, "0" * 46],
    ids=["empty", "letters", "46-digits", "48-digits-not-8", "the-barcode", "46-zeros"],
)
def test_what_is_no_line_is_invalid(line):
    assert not formats.is_valid_digitable_line(line)


@pytest.mark.parametrize("line", ["", BB_BARCODE, _digits(BB_LINE)[:-1], _digits(COLLECTION_LINE)])
def test_only_a_bank_line_gives_a_barcode(line):
    assert formats.barcode_from_line(line) == ""


def test_every_demo_invoice_has_a_valid_line_encoding_its_barcode():
    for invoice in DemoErp(dt.date(2026, 3, 10)).invoices:
        assert formats.is_valid_digitable_line(invoice.digitable_line), invoice.id
        assert formats.barcode_from_line(invoice.digitable_line) == invoice.barcode
        assert bank_line(invoice.barcode) == _digits(invoice.digitable_line)


def test_a_general_check_digit_of_0_10_or_11_is_written_1():
    # FEBRABAN: the bank barcode's general check digit is never 0; where mod 11 gives 0, 10 or 11 it is 1.
    bodies = (f"{factor:04d}0000010000{'1' * 25}" for factor in range(1000, 10000))
    body = next(b for b in bodies if 11 - _weighted_mod11(f"0019{b}") >= 10)
    assert formats.is_valid_digitable_line(bank_line(f"00191{body}"))
    assert not formats.is_valid_digitable_line(bank_line(f"00190{body}"))


def _weighted_mod11(number: str) -> int:
    return sum(int(d) * (2 + i % 8) for i, d in enumerate(reversed(number))) % 11


# ---------------------------------------------------------------------- collection line (48 digits)


@pytest.mark.parametrize("line", [COLLECTION_LINE, _digits(COLLECTION_LINE)])
def test_a_collection_line_with_right_mod_10_digits_is_valid(line):
    assert formats.is_valid_digitable_line(line)


@pytest.mark.parametrize("index", [0, 5, 11, 12, 23, 30, 35, 40, 47])
def test_any_digit_changed_in_a_mod_10_collection_line_fails(index):
    assert not formats.is_valid_digitable_line(_changed(COLLECTION_LINE, index))


def test_a_collection_line_whose_third_digit_is_8_uses_mod_11():
    line = collection_line("84800000001435900240209024050002435842210108")
    assert line[2] == "8" and formats.is_valid_digitable_line(line)
    as_mod10 = "".join(f"{b}{_mod10(b)}" for b in (line[0:11], line[12:23], line[24:35], line[36:47]))
    assert as_mod10 != line and not formats.is_valid_digitable_line(as_mod10)


def test_a_48_digit_line_not_starting_with_8_is_no_collection_line():
    line = collection_line("94800000001435900240209024050002435842210108")
    assert not formats.is_valid_digitable_line(line)


# ---------------------------------------------------------------------- PIX BR Code


def test_the_crc_is_crc16_ccitt_false():
    assert formats.pix_crc("123456789") == "29B1"  # the algorithm's published check value


def test_banco_centrals_example_code_is_valid():
    assert formats.pix_crc(BCB_PIX[:-4]) == "1D3D"
    assert formats.is_valid_pix_code(BCB_PIX)


def test_every_demo_invoices_pix_code_is_valid():
    for invoice in DemoErp(dt.date(2026, 3, 10)).invoices:
        assert formats.is_valid_pix_code(invoice.pix_code), invoice.id


@pytest.mark.parametrize(
    "code",
    [f" {BCB_PIX}\n", BCB_PIX[:-4] + BCB_PIX[-4:].lower()],
    ids=["surrounding-whitespace", "lower-case-crc"],
)
def test_a_pix_code_is_read_as_banks_do(code):
    assert formats.is_valid_pix_code(code)


@pytest.mark.parametrize(
    "code",
    [
        BCB_PIX[:-4] + "1D3E",  # a wrong CRC
        BCB_PIX.replace("Fulano", "Fulana"),  # a changed payload
        BCB_PIX[:-8] + "6305" + BCB_PIX[-4:],  # no CRC field (63, length 04) before the CRC
        BCB_PIX[6:],  # no payload format indicator (00 02 01) first
        BCB_PIX[:-4],  # cut before its CRC
        "000201" + "6304" + formats.pix_crc("0002016304"),  # too short to be a BR Code
        "",
    ],
    ids=["wrong-crc", "changed-payload", "no-crc-field", "no-format-indicator", "no-crc", "too-short", "empty"],
)
def test_a_pix_code_whose_crc_or_shape_is_wrong_is_invalid(code):
    assert not formats.is_valid_pix_code(code)


# ---------------------------------------------------------------------- properties


@st.composite
def bank_boletos(draw) -> tuple[str, str]:
    """(line, barcode) of a bank boleto, as the fake ERP builds them (its own check digits)."""
    bank = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    due = draw(st.dates(min_value=dt.date(2025, 2, 22), max_value=dt.date(2049, 12, 31)))
    cents = draw(st.integers(min_value=0, max_value=99_999_999_99))
    free_field = draw(st.from_regex(r"[0-9]{25}", fullmatch=True))
    return boleto(bank, due, Decimal(cents) / 100, free_field)


COLLECTION_BARCODES = st.from_regex(r"8[1-9][6-9][0-9]{41}", fullmatch=True)


@PROPERTIES
@given(bank_boletos())
def test_every_bank_line_is_valid_and_encodes_its_barcode(pair):
    line, barcode = pair
    assert formats.is_valid_digitable_line(line)
    assert formats.barcode_from_line(line) == barcode
    assert bank_line(formats.barcode_from_line(line)) == _digits(line)


@PROPERTIES
@given(bank_boletos(), st.integers(min_value=0, max_value=32))
def test_a_changed_digit_in_a_bank_lines_fields_or_general_check_digit_is_caught(pair, index):
    # Mod 10 catches every single-digit change in fields 1-3; the amount and factor (field 5) are guarded
    # by mod 11 only, which FEBRABAN's "0, 10 and 11 become 1" lets a few changes through.
    line, _ = pair
    assert not formats.is_valid_digitable_line(_changed(line, index))


@PROPERTIES
@given(COLLECTION_BARCODES)
def test_every_collection_line_is_valid(barcode):
    assert formats.is_valid_digitable_line(collection_line(barcode))


@PROPERTIES
@given(COLLECTION_BARCODES, st.sampled_from([11, 23, 35, 47]))
def test_a_changed_block_check_digit_is_caught(barcode, index):
    assert not formats.is_valid_digitable_line(_changed(collection_line(barcode), index))


@PROPERTIES
@given(
    st.text(min_size=1, max_size=60).filter(lambda s: "\n" not in s),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
    st.text(min_size=1, max_size=25),
    st.text(min_size=1, max_size=15),
)
def test_every_pix_code_with_its_crc_is_valid_and_any_changed_character_is_caught(location, amount, merchant, city):
    code = pix_code(location, amount, merchant, city)
    assert formats.is_valid_pix_code(code)
    payload = code[:-4]
    for index in range(6, len(payload) - 4, 7):  # a sample of positions past the format indicator
        if not payload[index].isascii():
            continue  # one byte for one byte: a CRC-16 catches every such change
        changed = payload[:index] + ("X" if payload[index] != "X" else "Y") + payload[index + 1 :] + code[-4:]
        assert not formats.is_valid_pix_code(changed)
