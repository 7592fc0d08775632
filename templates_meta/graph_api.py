"""Meta's template management API (list, create, edit, delete) for one Cloud channel's token.

Endpoints from Meta's "Template management" page
(https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates). Errors are
raised as :class:`TemplateApiError` whose message an admin can read: Meta's own title and explanation,
the code, and never the token.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import requests

from config import http
from config.masking import mask_text
from config.provider_errors import RETRYABLE_KINDS, ErrorKind, transport_failure
from templates_meta.graph_errors import ERROR_CODES_URL, classify

if TYPE_CHECKING:
    from companies.models import Channel

LIST_FIELDS = "name,language,status,category,components,parameter_format,quality_score,rejected_reason,id"
PAGE_SIZE = 100
MAX_PAGES = 100  # 6,000 templates per WABA at most (§10.5): a cursor that never ends is Meta's bug, not a loop

# What an admin can do about the kinds of errors that are not about the template itself.
HINTS: dict[ErrorKind, str] = {
    ErrorKind.AUTH: "Check the channel's access token and its whatsapp_business_management permission.",
    ErrorKind.THROUGHPUT: "Meta's rate limit for template management was reached; try again in a few minutes.",
    ErrorKind.RETRYABLE: "Meta had a temporary problem; try again in a few minutes.",
}


class TemplateApiError(Exception):
    """Meta refused or failed a template request. ``message`` is for an admin; ``code`` is Meta's code."""

    def __init__(
        self,
        message: str,
        code: str = "",
        details: dict[str, Any] | None = None,
        *,
        kind: ErrorKind = ErrorKind.PERMANENT,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or {}
        self.kind = kind

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __str__(self) -> str:
        return self.message


class TemplatesClient:
    """The template endpoints of the Graph API, authenticated with ``channel.access_token``."""

    def __init__(self, channel: "Channel") -> None:
        self.channel = channel
        self._http = http.session()
        self._api = f"{channel.base_url}/{channel.api_version}"

    def list_templates(self, waba_id: str) -> Iterator[dict[str, Any]]:
        """Every template of the WABA, page by page (``paging.cursors.after``; no ``paging.next`` = last page)."""
        params: dict[str, Any] = {"fields": LIST_FIELDS, "limit": PAGE_SIZE}
        for _ in range(MAX_PAGES):
            page = self._request("GET", f"{self._api}/{waba_id}/message_templates", "list the templates", params=params)
            data = page.get("data")
            if not isinstance(data, list):
                raise self._bad_response("list the templates", page)
            yield from (item for item in data if isinstance(item, dict))
            paging = page.get("paging") if isinstance(page.get("paging"), dict) else {}
            after = (paging.get("cursors") or {}).get("after")
            if not data or not paging.get("next") or not after or after == params.get("after"):
                return
            params = {**params, "after": after}

    def create(self, waba_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Submit a new template for review; returns Meta's ``{"id", "status", "category"}``."""
        data = self._request("POST", f"{self._api}/{waba_id}/message_templates", "submit the template", json=body)
        if not data.get("id"):
            raise self._bad_response("submit the template", data)
        return data

    def edit(
        self, template_id: str, components: list[dict[str, Any]] | None = None, category: str | None = None
    ) -> dict[str, Any]:
        """Replace the components and/or the category (Meta reviews it again); returns ``{"success": true}``."""
        body: dict[str, Any] = {}
        if components is not None:
            body["components"] = components
        if category is not None:
            body["category"] = category
        data = self._request("POST", f"{self._api}/{template_id}", "edit the template", json=body)
        if data.get("success") is not True:
            raise self._bad_response("edit the template", data)
        return data

    def delete(self, waba_id: str, name: str, template_id: str = "") -> dict[str, Any]:
        """Delete one language (``hsm_id`` given) or, by name alone, every language of the template."""
        params = {"name": name, **({"hsm_id": template_id} if template_id else {})}
        data = self._request("DELETE", f"{self._api}/{waba_id}/message_templates", "delete the template", params=params)
        if data.get("success") is not True:
            raise self._bad_response("delete the template", data)
        return data

    # -------------------------------------------------------------------------- plumbing

    def _request(self, method: str, url: str, action: str, **kwargs: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.channel.access_token}"}
        try:
            response = self._http.request(method, url, headers=headers, **kwargs)
        except requests.RequestException as exc:
            error = transport_failure(exc)  # timeouts and connection errors are retryable; a bad URL is not
            message = f"Could not reach Meta to {action}: {self._scrub(error.text)}."
            if error.kind in RETRYABLE_KINDS:
                message += " Try again in a few minutes."
            else:
                message += " Check the channel's API base URL."
            raise TemplateApiError(message, error.code, kind=error.kind) from None
        if not response.ok:
            raise self._error(response, action)
        try:
            data = response.json()
        except ValueError:
            raise self._bad_response(action, response.text) from None
        if not isinstance(data, dict):
            raise self._bad_response(action, data)
        return data

    def _scrub(self, text: str) -> str:
        token = self.channel.access_token
        return mask_text(text.replace(token, "***") if token else text)

    def _bad_response(self, action: str, body: object) -> TemplateApiError:
        details = {"body": self._scrub(str(body))[:1000]}
        return TemplateApiError(f"Unexpected reply from Meta when trying to {action}.", "bad_response", details)

    def _error(self, response: requests.Response, action: str) -> TemplateApiError:
        """Meta's error in words: its title for users, its explanation, then the codes (see §6)."""
        try:
            body = response.json()
        except ValueError:
            body = None  # a proxy's HTML page: the HTTP status decides
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        subcode = error.get("error_subcode") if isinstance(error.get("error_subcode"), int) else None
        title = self._scrub(str(error.get("error_user_title") or ""))
        explanation = self._scrub(
            str(error.get("error_user_msg") or (error.get("error_data") or {}).get("details") or "")
        )
        technical = self._scrub(str(error.get("message") or response.reason or ""))
        words = " — ".join(part.rstrip(".") for part in (title, explanation) if part) or technical
        numbers = f"error {code}" if code is not None else f"HTTP {response.status_code}"
        if subcode is not None:
            numbers += f", subcode {subcode}"
        kind = classify(code, response.status_code)
        # "Meta refused the template: …" when the content is at fault, "Meta refused to list …" otherwise.
        refused = (
            "refused the template" if action in ("submit the template", "edit the template") else f"refused to {action}"
        )
        message = f"Meta {refused}: {words} ({numbers})."
        if kind in HINTS:
            message += f" {HINTS[kind]}"
        details = {
            "http_status": response.status_code,
            "code": code,
            "subcode": subcode,
            "title": title,
            "message": technical,
            "explanation": explanation,
            "fbtrace_id": error.get("fbtrace_id", ""),
            "docs": ERROR_CODES_URL,
        }
        return TemplateApiError(
            message, str(code) if code is not None else f"http_{response.status_code}", details, kind=kind
        )
