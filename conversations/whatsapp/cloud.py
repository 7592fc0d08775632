"""The Meta WhatsApp Cloud API provider: sends through the Graph API, reading Meta's errors with ``graph_errors``."""

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import aiohttp
import requests

from config import http
from config.async_http import AsyncOutgoing
from config.masking import mask_text
from config.provider_errors import ErrorKind, parse_retry_after, transport_failure
from conversations.whatsapp import content as contents
from conversations.whatsapp.base import (
    Button,
    FetchedMedia,
    ListRow,
    ListSection,
    Location,
    MediaRef,
    OutgoingMedia,
    PixOrder,
    SendError,
    SendRuntime,
    Sent,
    TemplateCall,
)
from templates_meta.graph_errors import ERROR_CODES_URL, RETRY_AFTER, classify

if TYPE_CHECKING:
    from companies.models import Channel

logger = logging.getLogger(__name__)

MAX_MEDIA_BYTES = 100 * 1024 * 1024  # Meta's largest media (documents); inbound media above it never arrives
MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


def read_capped(response: requests.Response, max_bytes: int) -> bytes:
    """The body of a streamed response, refusing anything past ``max_bytes`` without reading it all."""
    declared = response.headers.get("Content-Length", "")
    too_large = declared.isdigit() and int(declared) > max_bytes
    chunks, size = [], 0
    if not too_large:  # a declared size can lie (or be absent): count what actually arrives too
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                too_large = True
                break
            chunks.append(chunk)
    response.close()
    if too_large:
        raise SendError(f"Media is larger than {max_bytes} bytes", kind=ErrorKind.PERMANENT, code="media_too_large")
    return b"".join(chunks)


def transport_error(exc: requests.RequestException | aiohttp.ClientError | TimeoutError) -> SendError:
    """A SendError for a request that got no HTTP answer: network trouble is worth retrying."""
    failure = transport_failure(exc)
    return SendError(failure.text, kind=failure.kind, code=failure.code)


def _description(row: ListRow) -> dict[str, str]:
    return {"description": row.description} if row.description else {}


T = TypeVar("T")


class CloudMessages(Generic[T]):
    """The Cloud API message each send method posts, handed to ``_deliver``: here returned as it is.

    ``CloudProvider`` delivers it through the Graph API. As built here, it is what the sending engine posts
    from its event loop (``CloudProvider.deliver_async``) with the same content, limits and checks.
    """

    def _deliver(self, body: dict[str, Any]) -> T:
        return cast(T, body)

    def send_text(self, *, to: str, text: str, reply_to: str = "") -> T:
        preview = "http://" in text or "https://" in text  # previews help boleto links; noise otherwise
        return self._send(to, "text", {"body": text, "preview_url": preview}, reply_to=reply_to)

    def send_media(self, *, to: str, media: OutgoingMedia, reply_to: str = "") -> T:
        if media.kind not in MEDIA_KINDS:
            raise SendError(f"Unknown media kind {media.kind!r}", kind=ErrorKind.PERMANENT, code="bad_media_kind")
        # An uploaded id is preferred: Meta fetches links on every send (cached 10 min) and it costs throughput.
        obj: dict[str, Any] = {"id": media.media_id} if media.media_id else {"link": media.url}
        if media.caption and media.kind not in ("audio", "sticker"):  # Meta rejects captions on these
            obj["caption"] = media.caption
        if media.filename and media.kind == "document":
            obj["filename"] = media.filename
        return self._send(to, media.kind, obj, reply_to=reply_to)

    def send_location(self, *, to: str, location: Location) -> T:
        obj: dict[str, Any] = {"latitude": location.latitude, "longitude": location.longitude}
        obj.update({k: v for k, v in (("name", location.name), ("address", location.address)) if v})
        return self._send(to, "location", obj)

    def send_buttons(self, *, to: str, body: str, buttons: tuple[Button, ...], footer: str = "") -> T:
        # Meta's limits (≤ 3 buttons, titles ≤ 20 chars): failing here names the problem, Meta's 131009 does not.
        if not 1 <= len(buttons) <= 3 or any(len(b.title) > 20 for b in buttons):
            raise SendError("1 to 3 buttons, titles ≤ 20 characters", kind=ErrorKind.PERMANENT, code="bad_buttons")
        action = {"buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in buttons]}
        return self._send(to, "interactive", self._interactive("button", body, action, footer))

    def send_list(self, *, to: str, body: str, button: str, sections: tuple[ListSection, ...], footer: str = "") -> T:
        rows = [row for section in sections for row in section.rows]
        if not 1 <= len(rows) <= 10 or any(len(row.title) > 24 for row in rows):
            raise SendError("1 to 10 rows, titles ≤ 24 characters", kind=ErrorKind.PERMANENT, code="bad_list")
        action = {
            "button": button,
            "sections": [
                {"title": s.title, "rows": [{"id": r.id, "title": r.title} | _description(r) for r in s.rows]}
                for s in sections
            ],
        }
        return self._send(to, "interactive", self._interactive("list", body, action, footer))

    def send_template(self, *, to: str, template: TemplateCall) -> T:
        obj: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
        if template.components:
            obj["components"] = list(template.components)
        return self._send(to, "template", obj)

    def send_pix_order(self, *, to: str, order: PixOrder) -> T:
        """An ``order_details`` message with only a total and a dynamic PIX code: WhatsApp shows "copy"."""
        amount = {"value": order.amount_cents, "offset": 100}
        pix = {"code": order.code, "merchant_name": order.merchant_name, "key": order.key, "key_type": order.key_type}
        parameters = {
            "reference_id": order.reference_id,
            "type": "digital-goods",
            "payment_type": "br",
            "payment_settings": [{"type": "pix_dynamic_code", "pix_dynamic_code": pix}],
            "currency": "BRL",
            "total_amount": amount,
        }
        action = {"name": "review_and_pay", "parameters": parameters}
        return self._send(to, "interactive", self._interactive("order_details", order.body, action, ""))

    @staticmethod
    def _interactive(kind: str, body: str, action: dict[str, Any], footer: str) -> dict[str, Any]:
        obj: dict[str, Any] = {"type": kind, "body": {"text": body}, "action": action}
        if footer:
            obj["footer"] = {"text": footer}
        return obj

    def _send(self, to: str, kind: str, obj: dict[str, Any], *, reply_to: str = "") -> T:
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        if reply_to:
            body["context"] = {"message_id": reply_to}
        body.update({"type": kind, kind: obj})
        return self._deliver(body)


MESSAGE_BODIES: CloudMessages[dict[str, Any]] = CloudMessages()


class CloudProvider(CloudMessages[Sent]):
    """One Cloud API phone number (``channel.phone_number_id``) reached with the channel's token."""

    def __init__(self, channel: "Channel", *, max_media_bytes: int = MAX_MEDIA_BYTES) -> None:
        self.channel = channel
        self.max_media_bytes = max_media_bytes
        self._http = http.session()
        self._api = f"{channel.base_url}/{channel.api_version}"
        self.messages_url = f"{self._api}/{channel.phone_number_id}/messages"

    def _deliver(self, body: dict[str, Any]) -> Sent:
        return self._sent(self._request("POST", self.messages_url, json=body))

    def before_send(self, *, to: str) -> None:
        """Nothing: the Cloud API has no "typing…" for a message that is not a reply."""

    async def send_async(self, *, to: str, content: dict[str, Any], runtime: SendRuntime) -> Sent:
        """Build the message as the ``send_*`` methods do and post it from the engine's event loop."""
        self.before_send(to=to)
        return await self.deliver_async(runtime.http, contents.send(MESSAGE_BODIES, to=to, content=content))

    async def deliver_async(self, client: AsyncOutgoing, body: dict[str, Any]) -> Sent:
        """Post a message built by ``CloudMessages`` from an event loop; answers and errors read as ``_deliver``'s."""
        try:
            answer = await client.api("POST", self.messages_url, headers=self._auth(), json=body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(exc) from None
        return self._sent(self._read(answer.status, answer.reason, answer.headers, answer.body))

    def mark_read(self, *, message_id: str, remote: str = "") -> None:
        body = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        data = self._request("POST", self.messages_url, json=body)
        if data.get("success") is not True:
            raise self._bad_response(200, data)

    def fetch_media(self, *, media: MediaRef) -> FetchedMedia:
        declared_mime, url = media.mime_type, media.url
        if media.media_id:  # the id is authoritative; a webhook url may have expired (valid 5 minutes)
            info = self._request(
                "GET", f"{self._api}/{media.media_id}", params={"phone_number_id": self.channel.phone_number_id}
            )
            url, declared_mime = info.get("url", ""), info.get("mime_type", declared_mime)
            if not url:
                raise self._bad_response(200, info)
        if not url:
            raise SendError("Media has neither an id nor a URL", kind=ErrorKind.PERMANENT, code="no_media")
        try:  # Meta requires the Bearer token on the download itself.
            response = self._http.get(url, headers=self._auth(), stream=True)
        except requests.RequestException as exc:
            raise transport_error(exc) from None
        if not response.ok:
            raise self._error(response.status_code, response.reason, response.headers, response.content)
        content = read_capped(response, self.max_media_bytes)
        mime = response.headers.get("Content-Type", "").split(";")[0].strip() or declared_mime
        return FetchedMedia(content=content, mime_type=mime)

    # -------------------------------------------------------------------------- plumbing

    def _sent(self, data: dict[str, Any]) -> Sent:
        try:
            message = data["messages"][0]
            provider_id = message["id"]
        except (KeyError, IndexError, TypeError):
            raise self._bad_response(200, data) from None
        wa_id = (data.get("contacts") or [{}])[0].get("wa_id", "")
        return Sent(provider_id=provider_id, wa_id=wa_id, status=message.get("message_status") or "accepted")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.channel.access_token}"}

    def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.api(method, url, headers=self._auth(), **kwargs)
        except requests.RequestException as exc:
            raise transport_error(exc) from None
        return self._read(response.status_code, response.reason, response.headers, response.content)

    def _read(self, status: int, reason: str, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """The JSON object of an answer, or the SendError it means."""
        if status >= 400:  # as requests' ``ok``: a redirect is not followed, and not an error
            raise self._error(status, reason, headers, body)
        try:
            data = json.loads(body)
        except ValueError:
            raise self._bad_response(status, body.decode(errors="replace")) from None
        if not isinstance(data, dict):
            raise self._bad_response(status, data)
        return data

    def _scrub(self, text: str) -> str:
        # Only our own secret is cut from provider text kept in errors: mask_text would also eat the
        # word after "token:" in messages operators need to read. Logged text is masked as well.
        token = self.channel.access_token
        return text.replace(token, "***") if token else text

    def _bad_response(self, status: int, body: object) -> SendError:
        logger.warning("Meta answered %s with an unexpected body: %s", status, mask_text(self._scrub(str(body)))[:1000])
        return SendError(f"Unexpected reply from Meta (HTTP {status})", kind=ErrorKind.PERMANENT, code="bad_response")

    def _error(self, status: int, reason: str, headers: Mapping[str, str], body: bytes) -> SendError:
        try:
            data = json.loads(body)
        except ValueError:
            data = None  # an HTML page from a proxy, or nothing: the HTTP status decides
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        details = {
            "http_status": status,
            "message": self._scrub(str(error.get("message", ""))),
            "details": self._scrub(str((error.get("error_data") or {}).get("details", ""))),
            "fbtrace_id": error.get("fbtrace_id", ""),
            "docs": ERROR_CODES_URL,
        }
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if retry_after is None and code is not None:
            retry_after = RETRY_AFTER.get(code)
        label = code if code is not None else f"HTTP {status}"
        message = f"Meta error {label}: {details['message'] or reason}"
        if details["details"]:
            message += f" ({details['details']})"
        return SendError(
            message,
            kind=classify(code, status),
            code=str(code) if code is not None else f"http_{status}",
            retry_after=retry_after,
            details=details,
        )
