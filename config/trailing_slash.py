"""Under ``/api/`` and ``/webhooks/`` (and the health checks) a path answers with or without its trailing slash.

The URL map spells each path once, as documented (``companies/`` with a slash, ``messages`` without,
the webhooks as Meta, Evolution and Chatwoot are told). A client that spells it the other way reaches the
same view, as if it had spelt it right: no redirect, which a POST would not survive (Django's
``APPEND_SLASH`` answers a POST without its slash with a 500 under DEBUG, and its 301 drops the body).
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import is_valid_path

from config.errors import JSON_PATH_PREFIXES


def _other_spelling(path: str) -> str:
    return path[:-1] if path.endswith("/") else f"{path}/"


class EitherSlashMiddleware:
    """A path that does not resolve but does with the other spelling is routed as that spelling."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(JSON_PATH_PREFIXES):
            urlconf = getattr(request, "urlconf", None)
            if not is_valid_path(path, urlconf) and is_valid_path(other := _other_spelling(path), urlconf):
                request.path_info = other
                request.path = f"{request.path[: len(request.path) - len(path)]}{other}"
        return self.get_response(request)
