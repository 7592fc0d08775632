"""Refuse oversized bodies before anything reads them (413 in the error format)."""

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from config.errors import error_response

# The one API path that takes a file: a campaign's CSV, streamed to disk by its view.
CAMPAIGN_UPLOAD = re.compile(r"^/api/v1/campaigns/\d+/recipients/?$")


def body_limit_for(path: str) -> int | None:
    if CAMPAIGN_UPLOAD.match(path):
        return settings.CAMPAIGN_CSV_MAX_BYTES
    if path.startswith("/webhooks/"):
        return settings.WEBHOOK_MAX_BODY_BYTES
    if path.startswith("/api/"):
        return settings.API_MAX_BODY_BYTES
    return None


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = body_limit_for(request.path)
        if limit is not None:
            raw = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw)
            except ValueError:
                return error_response(400, "bad_request", "Content-Length is not a number.")
            if length > limit:
                return error_response(
                    413,
                    "payload_too_large",
                    f"The request body is {length} bytes; the limit is {limit}.",
                    {"limit_bytes": limit},
                )
        return self.get_response(request)
