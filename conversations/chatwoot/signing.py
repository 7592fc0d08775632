"""Chatwoot's webhook signatures: ``X-Chatwoot-Signature: sha256=HMAC-SHA256(secret, "<timestamp>.<raw body>")``.

Chatwoot signs account webhooks since v4.11.2 and API-inbox webhooks since v4.13.0
(https://github.com/chatwoot/chatwoot/pull/13573, https://github.com/chatwoot/chatwoot/pull/13892),
with the unix time in ``X-Chatwoot-Timestamp``; older installs sign nothing.
"""

import hashlib
import hmac
import time

TOLERANCE = 300  # seconds a timestamp may be off: older deliveries are refused, so a captured one cannot be replayed


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``, the signature Chatwoot sends for ``body`` posted at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None, tolerance: int = TOLERANCE
) -> bool:
    """True when ``signature`` is ``sign(secret, timestamp, body)`` and ``timestamp`` is within ``tolerance`` of now.

    Compared in constant time; an empty secret, a timestamp that is no unix time or a stale one is False.
    """
    if not secret or not signature or not timestamp.isascii() or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))
