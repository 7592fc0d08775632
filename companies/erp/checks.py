"""What an adapter checks in an invoice before handing it on: the check digits of its payment codes,
and the ERP's dates and amounts read into Python values.

A digitable line or PIX code whose check digits fail is logged and still returned (the ERP's value is
authoritative, see ``companies.erp.formats``); the log names only its last four characters, since a
full line or PIX code identifies a customer's debt.
"""

import datetime as dt
import logging
import re
from decimal import Decimal, InvalidOperation

from companies.erp import formats
from companies.erp.base import ErpBadAnswer

logger = logging.getLogger(__name__)

_LINE_BREAKS = re.compile(r"[\r\n]+")


def _tail(value: str) -> str:
    return f"…{value[-4:]}" if len(value) > 4 else "…"


def checked_line(line: str, *, erp: str, invoice_id: str) -> str:
    """The ERP's digitable line as it gave it (trimmed); a warning is logged when its check digits fail."""
    line = (line or "").strip()
    if line and not formats.is_valid_digitable_line(line):
        logger.warning(
            "%s invoice %s: the digitable line's check digits do not match (line ending %s); passed on as given.",
            erp,
            invoice_id,
            _tail(re.sub(r"\D", "", line)),
        )
    return line


def checked_pix(code: str, *, erp: str, invoice_id: str) -> str:
    """The ERP's PIX copy-and-paste code without the line breaks ERP fields wrap it in; a bad CRC is logged."""
    code = _LINE_BREAKS.sub("", code or "").strip()
    if code and not formats.is_valid_pix_code(code):
        logger.warning(
            "%s invoice %s: the PIX code's CRC does not match (code ending %s); passed on as given.",
            erp,
            invoice_id,
            _tail(code),
        )
    return code


def barcode(given: str, line: str) -> str:
    """The ERP's 44-digit barcode, or the one the bank boleto's line encodes when the ERP gave none."""
    digits = re.sub(r"\D", "", given or "")
    return digits if len(digits) == 44 else formats.barcode_from_line(line)


def parse_date(value: object, *, erp: str) -> dt.date:
    """``2024-11-21`` (how ERPs return dates) or ``21/11/2024`` (how some write them) → a date."""
    text = str(value or "").strip()[:10]
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()  # noqa: DTZ007 (a calendar date, no time)
        except ValueError:
            continue
    raise ErpBadAnswer(f"{erp} answered a due date that is not a date ({text!r}).")


def parse_amount(value: object, *, erp: str) -> Decimal:
    """``"26.00"``, ``26``, ``"26,00"`` or ``"1.234,56"`` → ``Decimal("26.00")``, ``Decimal("1234.56")``."""
    given = text = str(value if value is not None else "").strip()
    if "," in text and "." in text:
        # Whichever comes last separates the cents: "1.234,56" (as Brazil writes it) or "1,234.56".
        text = text.replace(".", "").replace(",", ".") if text.rindex(",") > text.rindex(".") else text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".")
    try:
        # quantize raises too, for an exponent beyond what a Decimal holds ("1e400").
        amount = Decimal(text).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ErpBadAnswer(f"{erp} answered an amount that is not a number ({given!r}).") from None
    if not amount.is_finite():
        raise ErpBadAnswer(f"{erp} answered an amount that is not a number ({given!r}).")
    return amount
