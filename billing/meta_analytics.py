"""Meta's pricing analytics of a WABA (Graph API ``pricing_analytics``): what Meta says it charged, per day.

https://developers.facebook.com/docs/whatsapp/business-management-api/analytics: ``GET /<version>/<WABA_ID>
?fields=pricing_analytics.start(S).end(E).granularity(DAILY).dimensions(...)``, Unix seconds, answered as
``{"pricing_analytics": {"data": [{"data_points": [{start, end, <dimensions>, volume, cost}]}]}, "id"}``.
``cost`` is in the WABA's currency, and absent for WABAs on a Solution Partner's credit line; Meta leaves
out a field it has no data for, so an answer with only the ``id`` is a day without messages. Errors are
raised as :class:`AnalyticsError`, whose message an operator can read and which never holds the token.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from config import http
from config.provider_errors import RETRYABLE_KINDS, ErrorKind, transport_failure
from templates_meta.graph_errors import ERROR_CODES_URL, classify

if TYPE_CHECKING:
    from companies.models import Channel

DOCS_URL = "https://developers.facebook.com/docs/whatsapp/business-management-api/analytics"
# TIER beside the brief's four: a volume Meta gives without its cost is priced by the tier Meta applied.
DIMENSIONS = ("PRICING_CATEGORY", "PRICING_TYPE", "TIER", "COUNTRY", "PHONE")
TIMEOUT = http.DEFAULT_TIMEOUT
CENT_FRACTION = Decimal("0.000001")  # our amounts' precision (billing.models.MONEY)
MAX_PAGES = 20  # a day of one WABA is a few dozen points: a cursor that never ends is Meta's bug, not a loop


class AnalyticsError(Exception):
    """Meta refused or failed the request. ``message`` is for an operator; ``code`` is Meta's, or ours."""

    def __init__(self, message: str, code: str, *, kind: ErrorKind = ErrorKind.PERMANENT) -> None:
        super().__init__(message)
        self.message, self.code, self.kind = message, code, kind

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class DataPoint:
    """One of Meta's figures: the messages of a phone number, category, pricing type, tier and country."""

    start: int
    end: int
    phone_number: str
    country: str
    category: str  # lower case, as our categories (``MARKETING`` -> ``marketing``)
    pricing_type: str  # lower case: ``regular``, ``free_customer_service``, ``free_entry_point``
    tier: str  # ``lower:upper`` or ``lower:MAX``; "" for free messages
    volume: int
    cost: Decimal | None  # None: Meta gave no cost


def fields_expression(start: dt.datetime, end: dt.datetime) -> str:
    """The ``fields`` value asking for the daily figures of [start, end)."""
    return (
        f"pricing_analytics.start({int(start.timestamp())}).end({int(end.timestamp())})"
        f".granularity(DAILY).dimensions({','.join(DIMENSIONS)})"
    )


class PricingAnalyticsClient:
    """The pricing analytics of the WABAs ``channel``'s access token may read."""

    def __init__(self, channel: "Channel") -> None:
        self.channel = channel
        self._http = http.session(timeout=TIMEOUT)
        self._base = channel.base_url

    def fetch(self, waba_id: str, start: dt.datetime, end: dt.datetime) -> list[DataPoint]:
        """Meta's daily figures of ``waba_id`` from ``start`` to ``end``. Raises AnalyticsError."""
        url = f"{self._base}/{self.channel.api_version}/{waba_id}"
        params: dict[str, Any] | None = {"fields": fields_expression(start, end)}
        points: list[DataPoint] = []
        for _ in range(MAX_PAGES):
            body = self._get(url, params)
            analytics = body.get("pricing_analytics")
            if analytics is None and "id" in body:
                return points  # no messages in the period: Meta leaves the field out
            if not isinstance(analytics, dict) or not isinstance(analytics.get("data"), list):
                raise self._bad_response(body)
            for group in analytics["data"]:
                raw = group.get("data_points") if isinstance(group, dict) else None
                if not isinstance(raw, list):
                    raise self._bad_response(body)
                points.extend(self._point(item, body) for item in raw)
            url = self._next_page(analytics)
            if not url:
                return points
            params = None  # Meta's next URL carries the query
        raise AnalyticsError("Meta's pricing analytics kept paging; gave up.", "too_many_pages")

    # -------------------------------------------------------------------------- reading the answer

    def _point(self, item: Any, body: dict[str, Any]) -> DataPoint:
        if not isinstance(item, dict):
            raise self._bad_response(body)
        try:
            volume = int(item.get("volume") or 0)
            cost = Decimal(str(item["cost"])).quantize(CENT_FRACTION) if item.get("cost") is not None else None
            start, end = int(item.get("start") or 0), int(item.get("end") or 0)
        except (TypeError, ValueError, InvalidOperation):
            raise self._bad_response(body) from None
        if volume < 0 or (cost is not None and (not cost.is_finite() or cost < 0)):
            raise self._bad_response(body)
        return DataPoint(
            start=start,
            end=end,
            phone_number="".join(ch for ch in str(item.get("phone_number") or "") if ch.isdigit())[:20],
            country=str(item.get("country") or "").upper()[:2],
            category=str(item.get("pricing_category") or "").lower()[:32],
            pricing_type=str(item.get("pricing_type") or "").lower()[:24],
            tier=str(item.get("tier") or "")[:32],
            volume=volume,
            cost=cost,
        )

    def _next_page(self, analytics: dict[str, Any]) -> str:
        paging = analytics.get("paging") if isinstance(analytics.get("paging"), dict) else {}
        url = str(paging.get("next") or "")
        # The token goes along with the next request: only ever to the host that gave the first answer.
        if url and urlsplit(url)[:2] != urlsplit(self._base)[:2]:
            raise AnalyticsError("Meta's pricing analytics named a next page on another host.", "bad_response")
        return url

    # -------------------------------------------------------------------------- plumbing

    def _get(self, url: str, params: dict[str, Any] | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.channel.access_token}"}
        try:
            response = self._http.api("GET", url, headers=headers, params=params)
        except requests.RequestException as exc:
            failure = transport_failure(exc)  # timeouts and broken connections are retryable; a bad URL is not
            hint = "Trying again later." if failure.kind in RETRYABLE_KINDS else "Check the channel's API base URL."
            raise AnalyticsError(
                f"Could not reach Meta for the pricing analytics: {self._scrub(failure.text)}. {hint}",
                failure.code,
                kind=failure.kind,
            ) from None
        if response.status_code >= 400:
            raise self._error(response)
        try:
            data = response.json()
        except ValueError:
            raise self._bad_response(response.text) from None
        if not isinstance(data, dict):
            raise self._bad_response(data)
        return data

    def _scrub(self, text: str) -> str:
        # Only our own secret is cut from Meta's words kept for operators: mask_text would also eat the word
        # after "token:" in "Error validating access token: Session has expired". Logged text is masked.
        token = self.channel.access_token
        return text.replace(token, "***") if token else text

    def _bad_response(self, body: object) -> AnalyticsError:
        shown = self._scrub(str(body))[:300]
        return AnalyticsError(f"Unexpected pricing analytics from Meta: {shown}", "bad_response")

    def _error(self, response: requests.Response) -> AnalyticsError:
        """Meta's error in words (its message and details), its code and whether a retry can help."""
        try:
            body = response.json()
        except ValueError:
            body = None  # a proxy's HTML page: the HTTP status decides
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        words = self._scrub(str(error.get("error_user_msg") or error.get("message") or response.reason or ""))
        details = self._scrub(str((error.get("error_data") or {}).get("details") or ""))
        label = f"error {code}" if code is not None else f"HTTP {response.status_code}"
        kind = classify(code, response.status_code)
        message = f"Meta refused the pricing analytics: {words}" + (f" ({details})" if details else "")
        message += f" ({label}; {ERROR_CODES_URL})."
        if kind == ErrorKind.AUTH:
            message += " Check the channel's access token and its whatsapp_business_management permission."
        return AnalyticsError(message, str(code) if code is not None else f"http_{response.status_code}", kind=kind)
