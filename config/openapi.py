"""OpenAPI pieces shared by every endpoint: the error envelope and its documented responses.

Each operation lists the statuses it can answer (:func:`error_responses`); a status it answers for
reasons of its own (409, 422) gets an example per code (:func:`error`). Request bodies of strict
serializers (``config.api.StrictSerializerMixin``) say that they accept no other property.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.CharField(help_text="Stable, machine-readable: invalid, not_found, ..."),
                "message": serializers.CharField(help_text="For people."),
                "details": serializers.JSONField(help_text="Per-field messages for `invalid`, else extra facts."),
            },
        )
    },
)


def error(description: str, *examples: tuple[str, str] | tuple[str, str, object]) -> OpenApiResponse:
    """A response in the error format, with one example per ``(code, message[, details])``."""
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description,
        examples=[
            OpenApiExample(
                example[0],
                value={"error": {"code": example[0], "message": example[1], "details": _details(example)}},
            )
            for example in examples
        ],
    )


def _details(example: tuple) -> object:
    return example[2] if len(example) > 2 and example[2] is not None else {}


ERRORS = {
    400: error(
        "Invalid input: `details` names each field (a query parameter or header too, e.g. one holding a NUL).",
        (
            "invalid",
            "The request has invalid fields.",
            {"timezone": ["'Mars/Olympus' is not a known time zone (use an IANA name like America/Sao_Paulo)."]},
        ),
    ),
    401: error(
        "No key, or an invalid or revoked one.", ("not_authenticated", "Authentication credentials were not provided.")
    ),
    403: error("The key may not do this.", ("permission_denied", "This endpoint needs a platform (staff) token.")),
    404: error("Not found, or not visible to this key.", ("not_found", "Not found.")),
    413: error("Body over the limit.", ("payload_too_large", "The request body is too large.")),
    415: error(
        "The body is not JSON: send `Content-Type: application/json`.",
        ("unsupported_media_type", 'Unsupported media type "text/plain" in request.'),
    ),
    429: error(
        "Rate limited; retry after `Retry-After` seconds.",
        ("throttled", "Request was throttled.", {"retry_after_seconds": 12}),
    ),
    503: error(
        "The database cannot be reached: nothing was done; retry after `Retry-After` seconds.",
        ("unavailable", "Temporarily unavailable; try again."),
    ),
}
# What any request can be answered: bad input (a NUL in the query or a header, a bad page size), no or a
# wrong key, a key that may not, a body over the limit (whatever the method), a rate limit, an outage.
COMMON = (400, 401, 403, 413, 429, 503)


def error_responses(*extra: int, specific: dict[int, OpenApiResponse] | None = None) -> dict[int, OpenApiResponse]:
    """The common error statuses, the ``extra`` ones of :data:`ERRORS` (404, 415), and ``specific`` ones."""
    responses: dict[int, OpenApiResponse] = {status: ERRORS[status] for status in sorted({*COMMON, *extra})}
    return {**responses, **(specific or {})}


class StrictSerializerExtension(OpenApiSerializerExtension):
    """A strict serializer's request body admits no property it does not declare (they are refused)."""

    target_class = "config.api.StrictSerializerMixin"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema
