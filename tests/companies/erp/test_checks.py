"""What adapters check in an invoice: payment codes passed on (a bad one logged by its tail), dates, amounts."""

import datetime as dt
import logging
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companies.erp import checks
from companies.erp.base import ErpBadAnswer
from tests.companies.erp.test_formats import BB_BARCODE, BB_LINE, BCB_PIX

PROPERTIES = settings(derandomize=True, database=None, deadline=None, max_examples=300)
BAD_LINE = BB_LINE[:-1] + "1"  # the amount changed: the general check digit no longer matches


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "companies.erp.checks"]


# ---------------------------------------------------------------------- payment codes


def test_a_valid_line_is_passed_on_trimmed_and_nothing_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="companies.erp.checks"):
        assert checks.checked_line(f"  {BB_LINE}\n", erp="IXC", invoice_id="90001") == BB_LINE
    assert _warnings(caplog) == []


def test_a_line_with_wrong_check_digits_is_passed_on_and_logged_by_its_last_four_digits(caplog):
    with caplog.at_level(logging.WARNING, logger="companies.erp.checks"):
        assert checks.checked_line(BAD_LINE, erp="IXC", invoice_id="90001") == BAD_LINE
    [message] = _warnings(caplog)
    assert message.startswith("IXC invoice 90001: the digitable line's check digits do not match")
    assert "…0101" in message and BAD_LINE not in message and "37370000" not in message


def test_a_missing_line_is_empty_and_not_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="companies.erp.checks"):
        assert checks.checked_line("", erp="SGP", invoice_id="1") == ""
        assert checks.checked_line(None, erp="SGP", invoice_id="1") == ""
        assert checks.checked_pix(None, erp="SGP", invoice_id="1") == ""
    assert _warnings(caplog) == []


def test_a_pix_code_wrapped_over_lines_by_the_erp_is_joined():
    wrapped = f"{BCB_PIX[:40]}\r\n{BCB_PIX[40:80]}\n{BCB_PIX[80:]}\n"
    assert checks.checked_pix(wrapped, erp="SGP", invoice_id="1") == BCB_PIX


def test_a_pix_code_with_a_wrong_crc_is_passed_on_and_logged_by_its_last_four_characters(caplog):
    bad = BCB_PIX[:-4] + "0000"
    with caplog.at_level(logging.WARNING, logger="companies.erp.checks"):
        assert checks.checked_pix(bad, erp="Hubsoft", invoice_id="7") == bad
    [message] = _warnings(caplog)
    assert "PIX code's CRC does not match (code ending …0000)" in message and "br.gov.bcb.pix" not in message


def test_the_erps_barcode_is_kept_and_a_missing_one_comes_from_the_line():
    assert checks.barcode(BB_BARCODE, "") == BB_BARCODE
    assert checks.barcode("0019 3373 7000 0000 1000 5009 4014 4816 0606 8093 5031", "") == BB_BARCODE
    assert checks.barcode("", BB_LINE) == BB_BARCODE
    assert checks.barcode("123", BB_LINE) == BB_BARCODE  # not 44 digits: the line's
    assert checks.barcode("", "") == ""


# ---------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "value",
    [
        "2024-11-21",
        "21/11/2024",
        "2024-11-21 00:00:00",
        "2024-11-21T10:00:00-03:00",
        " 2024-11-21 ",
        dt.date(2024, 11, 21),
    ],
)
def test_due_dates_as_erps_write_them(value):
    assert checks.parse_date(value, erp="IXC") == dt.date(2024, 11, 21)


@pytest.mark.parametrize("value", ["", None, "0000-00-00", "2024-02-30", "21-11-2024", "amanhã", 20241121])
def test_what_is_no_date_is_a_bad_answer(value):
    with pytest.raises(ErpBadAnswer, match="IXC answered a due date that is not a date"):
        checks.parse_date(value, erp="IXC")


# ---------------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        ("26.00", "26.00"),
        ("26", "26.00"),
        (26, "26.00"),
        (26.5, "26.50"),
        ("26,5", "26.50"),
        ("1.234,56", "1234.56"),  # Brazilian thousands and cents
        ("1.234.567,89", "1234567.89"),
        ("1,234.56", "1234.56"),
        ("1234.5", "1234.50"),
        ("0", "0.00"),
        (" 99.90 ", "99.90"),
    ],
)
def test_amounts_as_erps_write_them(value, amount):
    assert checks.parse_amount(value, erp="SGP") == Decimal(amount)


@pytest.mark.parametrize("value", ["", None, "R$", "abc", "NaN", "Infinity", "-inf", "1e400", "1,2,3"])
def test_what_is_no_amount_is_a_bad_answer(value):
    with pytest.raises(ErpBadAnswer, match="SGP answered an amount that is not a number"):
        checks.parse_amount(value, erp="SGP")


@PROPERTIES
@given(st.text(max_size=20) | st.floats() | st.integers() | st.none())
def test_any_amount_is_a_decimal_with_cents_or_a_bad_answer(value):
    try:
        amount = checks.parse_amount(value, erp="X")
    except ErpBadAnswer:
        return
    assert amount.is_finite() and amount == amount.quantize(Decimal("0.01"))


@PROPERTIES
@given(st.decimals(min_value=0, max_value=Decimal("9999999.99"), places=2))
def test_an_amount_written_the_brazilian_way_reads_back(amount):
    whole, cents = f"{amount:,.2f}".split(".")
    assert checks.parse_amount(f"{whole.replace(',', '.')},{cents}", erp="X") == amount
    assert checks.parse_amount(str(amount), erp="X") == amount
