"""``Idempotency-Key`` for API writes: the same key and body get the same answer, and act once.

The first request's answer is stored in the same transaction as what it did. A retry with the same
key and body is answered from the record; the same key with another body is a 409. Two concurrent
requests with one key: the second's transaction fails on the unique key and is rolled back whole
(its message never exists), then it answers with the first one's record.
"""

import hashlib
import json
from collections.abc import Callable

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from companies.models import Company, IdempotencyRecord
from config.exceptions import Conflict, DomainError

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128


class KeyReused(Conflict):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request body."


class BadKey(DomainError):
    code = "invalid"
    message = "The Idempotency-Key header is invalid."


def request_hash(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotencyRecord, digest: str) -> Response:
    if record.request_hash != digest:
        raise KeyReused(details={"idempotency_key": record.key})
    return Response(record.response, status=record.status_code, headers={"Idempotent-Replayed": "true"})


def respond_once(
    request: Request, company: Company, handle: Callable[[], Response], *, body_digest: str | None = None
) -> Response:
    """Run ``handle`` at most once per (company, Idempotency-Key); without the header, just run it.

    ``body_digest`` stands for the body when the view streams it itself (a file upload): a hash of its bytes.
    """
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return handle()
    if len(key) > MAX_KEY_LENGTH:
        raise BadKey(details={"idempotency_key": [f"At most {MAX_KEY_LENGTH} characters."]})
    if body_digest is None:
        digest = request_hash(request)
    else:
        digest = hashlib.sha256(f"{request.method} {request.path}\n{body_digest}".encode()).hexdigest()
    existing = IdempotencyRecord.objects.filter(company=company, key=key).first()
    if existing is not None:
        return _replay(existing, digest)
    try:
        with transaction.atomic():
            response = handle()
            if 200 <= response.status_code < 300:
                IdempotencyRecord.objects.create(
                    company=company,
                    key=key,
                    request_hash=digest,
                    status_code=response.status_code,
                    response=response.data,
                )
    except IntegrityError:
        winner = IdempotencyRecord.objects.filter(company=company, key=key).first()
        if winner is None:
            raise
        return _replay(winner, digest)
    return response
