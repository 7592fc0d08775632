"""Check digits of what an ERP hands us to pass on: the boleto's digitable line and the PIX BR Code.

The ERP's value is authoritative: a mismatch is logged (masked) and the value still goes out, since a
customer with a slightly odd line can still pay, and one with none cannot.

- Boleto (FEBRABAN): a bank boleto's line has 47 digits in five fields; fields 1-3 end in a mod-10
  check digit, field 4 is the barcode's general mod-11 check digit. A collection ("arrecadação")
  line has 48 digits in four blocks of 11 plus a check digit each (mod 10 or 11 by its third digit).
- PIX BR Code (Banco Central's EMV QR Code specification): ``63 04`` + the CRC-16/CCITT-FALSE of
  everything before it, in upper-case hex.
"""

import binascii
import re

_NON_DIGITS = re.compile(r"\D")


def _mod10(number: str) -> int:
    total = 0
    for position, char in enumerate(reversed(number)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _mod11_boleto(number: str) -> int:
    total = sum(int(char) * (2 + position % 8) for position, char in enumerate(reversed(number)))
    check = 11 - total % 11
    return 1 if check in (0, 10, 11) else check


def _mod11_collection(number: str) -> int:
    total = sum(int(char) * (2 + position % 8) for position, char in enumerate(reversed(number)))
    rest = total % 11
    return 0 if rest in (0, 1) else 11 - rest


def barcode_from_line(line: str) -> str:
    """The 44-digit barcode a bank boleto's 47-digit line encodes ("" when it is not one)."""
    d = _NON_DIGITS.sub("", line or "")
    if len(d) != 47:
        return ""
    return d[0:4] + d[32] + d[33:47] + d[4:9] + d[10:20] + d[21:31]


def is_valid_digitable_line(line: str) -> bool:
    d = _NON_DIGITS.sub("", line or "")
    if len(d) == 47:
        fields = (d[0:10], d[10:21], d[21:32])
        if any(_mod10(field[:-1]) != int(field[-1]) for field in fields):
            return False
        barcode = barcode_from_line(d)
        return _mod11_boleto(barcode[:4] + barcode[5:]) == int(barcode[4])
    if len(d) == 48 and d[0] == "8":
        check = _mod10 if d[2] in "67" else _mod11_collection
        return all(check(d[i : i + 11]) == int(d[i + 11]) for i in range(0, 48, 12))
    return False


def pix_crc(payload: str) -> str:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) in 4 upper-case hex digits."""
    return f"{binascii.crc_hqx(payload.encode('utf-8'), 0xFFFF):04X}"


def is_valid_pix_code(code: str) -> bool:
    code = (code or "").strip()
    if len(code) < 30 or not code.startswith("000201") or code[-8:-4] != "6304":
        return False
    return pix_crc(code[:-4]) == code[-4:].upper()
