"""One error format for everything a client can hit: ``{"error": {"code", "message", "details"}}``.

DRF views go through :func:`api_exception_handler`; plain Django views (webhooks, health) through
:class:`JsonExceptionMiddleware` and the ``handler4xx/500`` views, which keep the admin's HTML pages.
Whatever still answers an error in another format under the JSON paths (Django's DEBUG pages, which
bypass the handlers; a middleware's refusal; a renderer's YAML) is rewritten by :class:`JsonErrorPagesMiddleware`.
"""

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

from config.exceptions import DomainError

logger = logging.getLogger(__name__)

JSON_PATH_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/readyz")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def error_response(status_code: int, code: str, message: str, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status_code)


def wants_json(request: HttpRequest) -> bool:
    if request.path.startswith(JSON_PATH_PREFIXES):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _first_code(codes: Any) -> str | None:
    if isinstance(codes, str):
        return codes
    if isinstance(codes, list) and codes:
        return _first_code(codes[0])
    if isinstance(codes, dict) and codes:
        return _first_code(next(iter(codes.values())))
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's exception handler: every exception, expected or not, leaves in the one format."""
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        if retry_after := getattr(exc, "retry_after_seconds", None):
            headers["Retry-After"] = str(retry_after)
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status, headers=headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", "The request body is too large."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc))

    if not isinstance(exc, exceptions.APIException):
        request = context.get("request")
        logger.exception("Unhandled error in %s %s", getattr(request, "method", "?"), getattr(request, "path", "?"))
        return Response(
            error_body("internal_error", "An unexpected error occurred. It has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body("invalid", "The request has invalid fields.", details)
    else:
        code = _first_code(exc.get_codes()) or exc.default_code
        body = error_body(code, str(exc.detail))
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(int(exc.wait))
        body["error"]["details"] = {"retry_after_seconds": int(exc.wait)}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    return Response(body, status=exc.status_code, headers=headers)


class JsonExceptionMiddleware:
    """Unexpected exceptions in plain Django views under JSON paths: log, answer a 500 without internals."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not wants_json(request):
            return None
        if isinstance(exc, DomainError):
            return error_response(exc.status, exc.code, exc.message, exc.details)
        if isinstance(exc, Http404):
            return error_response(404, "not_found", "Not found.")
        if isinstance(exc, PermissionDenied):
            return error_response(403, "permission_denied", "You do not have permission to perform this action.")
        if isinstance(exc, RequestDataTooBig):
            return error_response(413, "payload_too_large", "The request body is too large.")
        if isinstance(exc, SuspiciousOperation):
            return error_response(400, "bad_request", "The request was rejected.")
        logger.exception("Unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "An unexpected error occurred. It has been logged.")


# What a rewritten error page says: the code and message the handlers above give the same status.
_ERROR_PAGES = {
    400: ("bad_request", "The request was rejected."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    406: ("not_acceptable", "Could not satisfy the request Accept header."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Unsupported media type in the request."),
    429: ("throttled", "Request was throttled."),
    500: ("internal_error", "An unexpected error occurred. It has been logged."),
}
_JSON_TYPES = ("application/json", "application/problem+json")


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";", 1)[0].strip() in _JSON_TYPES


class JsonErrorPagesMiddleware:
    """Under the JSON paths, an error answer that is not JSON becomes one in the error format.

    Django's DEBUG pages (404 and 500, and the 400 of DisallowedHost, RequestDataTooBig or too many
    fields) skip the ``handler4xx/500`` views; a renderer may answer an error as YAML or HTML. Outermost,
    so it sees every answer; the headers the others set (request id, CORS, ``Allow``) are kept.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not request.path.startswith(JSON_PATH_PREFIXES) or _is_json(response):
            return response
        status_code = response.status_code
        code, message = _ERROR_PAGES.get(status_code) or _page_for(status_code)
        details: dict[str, Any] = {}
        if status_code == 405:
            code, message = "method_not_allowed", f'Method "{request.method}" not allowed.'
            allowed = [method.strip() for method in response.get("Allow", "").split(",") if method.strip()]
            details = {"allowed": allowed} if allowed else {}
        rewritten = error_response(status_code, code, message, details)
        for name, value in response.items():
            if name.lower() not in ("content-type", "content-length", "content-disposition"):
                rewritten[name] = value
        rewritten.cookies = response.cookies
        return rewritten


def _page_for(status_code: int) -> tuple[str, str]:
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "Error"
    return phrase.lower().replace(" ", "_").replace("-", "_"), f"{phrase}."


def bad_request(request: HttpRequest, exception: Exception, template_name: str = "400.html") -> HttpResponse:
    if wants_json(request):
        return error_response(400, "bad_request", "The request was rejected.")
    return defaults.bad_request(request, exception, template_name)


def permission_denied(request: HttpRequest, exception: Exception, template_name: str = "403.html") -> HttpResponse:
    if wants_json(request):
        return error_response(403, "permission_denied", "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception, template_name)


def page_not_found(request: HttpRequest, exception: Exception, template_name: str = "404.html") -> HttpResponse:
    if wants_json(request):
        return error_response(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception, template_name)


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    if wants_json(request):
        return error_response(500, "internal_error", "An unexpected error occurred. It has been logged.")
    return defaults.server_error(request, template_name)


def require_methods(*methods: str):
    """Like Django's ``require_http_methods``, but the 405 is in the error format (with ``Allow``)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                response = error_response(
                    405, "method_not_allowed", f'Method "{request.method}" not allowed.', {"allowed": list(methods)}
                )
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
