"""Chatwoot's webhook signatures: HMAC-SHA256 over "<timestamp>.<body>", fresh timestamps only."""

import pytest

from conversations.chatwoot.signing import TOLERANCE, sign, verify

SECRET = "whsec-test"
BODY = b'{"event":"message_created"}'
TS = "1700000000"
# printf '%s' '1700000000.{"event":"message_created"}' | openssl dgst -sha256 -hmac 'whsec-test'
ARABIC_TS = "\u0661\u0667" + "\u0660" * 8  # 1700000000 in Arabic-Indic digits: int() reads it, Chatwoot never sends it
EXPECTED = "sha256=c1eae7dc311f5f0e35e0192d382991060ce53d4a3f14ededbd1d02e4ce3ec720"


def test_the_signature_is_the_hmac_of_the_timestamp_and_the_body():
    assert sign(SECRET, TS, BODY) == EXPECTED


def test_a_fresh_signature_verifies():
    assert verify(SECRET, TS, BODY, EXPECTED, now=int(TS) + 10)
    assert verify(SECRET, TS, BODY, EXPECTED, now=int(TS) - TOLERANCE)  # a clock a little behind


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "signature"),
    [
        ("other-secret", TS, BODY, EXPECTED),
        (SECRET, TS, BODY + b" ", EXPECTED),
        (SECRET, "1700000001", BODY, EXPECTED),
        (SECRET, TS, BODY, EXPECTED.removeprefix("sha256=")),
        (SECRET, TS, BODY, EXPECTED.upper()),
        (SECRET, TS, BODY, ""),
        ("", TS, BODY, sign("", TS, BODY)),
        (SECRET, "", BODY, sign(SECRET, "", BODY)),
        (SECRET, "17e8", BODY, sign(SECRET, "17e8", BODY)),
        (SECRET, ARABIC_TS, BODY, sign(SECRET, ARABIC_TS, BODY)),  # digits, but not ASCII ones
        (SECRET, TS, BODY, "sha256=ç" + "0" * 63),  # not ASCII: compared, not raised on
    ],
    ids=["secret", "body", "timestamp", "no-prefix", "case", "empty", "no-secret", "no-timestamp", "not-int",
         "arabic-digits", "non-ascii"],
)  # fmt: skip
def test_anything_else_does_not_verify(secret, timestamp, body, signature):
    assert not verify(secret, timestamp, body, signature, now=int(TS))


def test_a_stale_or_future_timestamp_is_refused_even_when_signed():
    assert not verify(SECRET, TS, BODY, EXPECTED, now=int(TS) + TOLERANCE + 1)
    assert not verify(SECRET, TS, BODY, EXPECTED, now=int(TS) - TOLERANCE - 1)
    assert verify(SECRET, TS, BODY, EXPECTED, now=int(TS) + 3600, tolerance=3600)
