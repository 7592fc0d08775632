"""OpenAPI pieces shared by every endpoint: the error envelope and its documented responses."""

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


def _error(description: str, code: str, message: str, details: object = None) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description,
        examples=[
            OpenApiExample(
                code,
                value={"error": {"code": code, "message": message, "details": details or {}}},
            )
        ],
    )


ERROR_RESPONSES = {
    400: _error(
        "Invalid input: `details` names each field.",
        "invalid",
        "The request has invalid fields.",
        {"timezone": ["'Mars/Olympus' is not a known time zone (use an IANA name like America/Sao_Paulo)."]},
    ),
    401: _error(
        "No key, or an invalid or revoked one.", "not_authenticated", "Authentication credentials were not provided."
    ),
    403: _error("The key may not do this.", "permission_denied", "This endpoint needs a platform (staff) token."),
    404: _error("Not found, or not visible to this key.", "not_found", "Not found."),
    413: _error("Body over the limit.", "payload_too_large", "The request body is too large."),
    429: _error(
        "Rate limited; retry after `Retry-After` seconds.",
        "throttled",
        "Request was throttled.",
        {"retry_after_seconds": 12},
    ),
}
