"""The Evolution API v2 provider: unofficial WhatsApp (Baileys) through one Evolution instance per channel."""

import base64
import binascii
import json
import logging
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from config import http
from config.masking import mask_text
from config.provider_errors import ErrorKind, parse_retry_after
from conversations.whatsapp.base import (
    Button,
    FetchedMedia,
    ListSection,
    Location,
    MediaRef,
    OutgoingMedia,
    PixOrder,
    SendError,
    Sent,
    TemplateCall,
)
from conversations.whatsapp.blocking import SendsOnThreads
from conversations.whatsapp.cloud import MAX_MEDIA_BYTES, read_capped, transport_error

if TYPE_CHECKING:
    from companies.models import Channel

logger = logging.getLogger(__name__)

# sendMedia takes these; audio goes to sendWhatsAppAudio (a voice note) and stickers to sendSticker.
MEDIA_TYPES = frozenset({"image", "video", "document"})
# Channels paced at least this slowly show "typing…" for TYPING_MS before each message the engine sends.
# Evolution answers the presence call when it ends, so a send holds an engine thread for about a second.
TYPING_MIN_DELAY_MS = 2000
TYPING_MS = 1000


def render_menu(body: str, blocks: list[tuple[str, list[str]]], footer: str = "") -> str:
    """Options as a numbered text menu ("1 - Sim\\n2 - Não"), numbered across blocks in order.

    WhatsApp removed buttons and lists outside the official API: Evolution answers 201 but phones
    often show "this message can't be displayed" or nothing (evolution-api issues #1053, #1272,
    #1620, #2104). A numbered menu always arrives; the bot maps a reply "2" to the second option.
    """
    parts, number = [body], 0
    for title, options in blocks:
        lines = [f"*{title}*"] if title else []
        for option in options:
            number += 1
            lines.append(f"{number} - {option}")
        parts.append("\n".join(lines))
    parts.append(footer)
    return "\n\n".join(part for part in parts if part)


def _number(to: str) -> str:
    # Evolution accepts digits or a full JID (e.g. a LID "…@lid"); it resolves digits to the JID
    # WhatsApp knows, which for old Brazilian numbers may lack the ninth digit.
    return to if "@" in to else "".join(ch for ch in to if ch.isdigit())


class EvolutionProvider(SendsOnThreads):
    """One Evolution instance (``channel.instance_name``) reached with the channel's ``apikey``.

    One call is one message, sent at once. Pacing (``channel.send_delay_ms``) is the sending engine's
    job; before each message it sends, a channel paced slowly enough shows "typing…" first
    (:meth:`before_send`), to look less like a robot.
    """

    def __init__(self, channel: "Channel", *, max_media_bytes: int = MAX_MEDIA_BYTES) -> None:
        self.channel = channel
        self.max_media_bytes = max_media_bytes
        self.instance = quote(channel.instance_name or str(channel.company.contract), safe="")
        # The engine's threads share one provider per channel; a requests session is not thread-safe.
        self._sessions = threading.local()

    @property
    def _http(self) -> http.OutgoingSession:
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = http.session()
        return session

    def before_send(self, *, to: str) -> None:
        if self.channel.send_delay_ms >= TYPING_MIN_DELAY_MS:
            self.send_presence(to=to, delay_ms=TYPING_MS)

    # -------------------------------------------------------------------------- sending

    def send_text(self, *, to: str, text: str, reply_to: str = "") -> Sent:
        return self._send("message/sendText", to, {"text": text}, reply_to=reply_to)

    def send_media(self, *, to: str, media: OutgoingMedia, reply_to: str = "") -> Sent:
        if not media.url:  # Evolution has no uploaded media ids: it fetches a URL (or takes base64)
            raise SendError("Evolution sends media by URL only", kind=ErrorKind.PERMANENT, code="media_url_required")
        if media.kind == "audio":
            return self._send("message/sendWhatsAppAudio", to, {"audio": media.url}, reply_to=reply_to)
        if media.kind == "sticker":
            return self._send("message/sendSticker", to, {"sticker": media.url}, reply_to=reply_to)
        if media.kind not in MEDIA_TYPES:
            raise SendError(f"Unknown media kind {media.kind!r}", kind=ErrorKind.PERMANENT, code="bad_media_kind")
        fields = {"mediatype": media.kind, "media": media.url, "caption": media.caption}
        fields |= {"fileName": media.filename, "mimetype": media.mime_type}
        return self._send("message/sendMedia", to, {k: v for k, v in fields.items() if v}, reply_to=reply_to)

    def send_location(self, *, to: str, location: Location) -> Sent:
        # Evolution requires name and address, even empty.
        fields = {"latitude": location.latitude, "longitude": location.longitude}
        return self._send("message/sendLocation", to, fields | {"name": location.name, "address": location.address})

    def send_buttons(self, *, to: str, body: str, buttons: tuple[Button, ...], footer: str = "") -> Sent:
        return self.send_text(to=to, text=render_menu(body, [("", [b.title for b in buttons])], footer))

    def send_list(
        self, *, to: str, body: str, button: str, sections: tuple[ListSection, ...], footer: str = ""
    ) -> Sent:
        blocks = [
            (
                section.title if len(sections) > 1 else "",
                [f"{r.title} ({r.description})" if r.description else r.title for r in section.rows],
            )
            for section in sections
        ]
        return self.send_text(to=to, text=render_menu(body, blocks, footer))

    def send_template(self, *, to: str, template: TemplateCall) -> Sent:
        # Templates exist only on the official API; Evolution's sendTemplate is Cloud-integration only.
        if not template.rendered_text.strip():
            raise SendError(
                f"Template {template.name!r} has no text to send", kind=ErrorKind.TEMPLATE, code="no_rendered_text"
            )
        return self.send_text(to=to, text=template.rendered_text)

    def send_pix_order(self, *, to: str, order: PixOrder) -> Sent:
        # WhatsApp Web has no order message: the code alone, so a long press copies all of it.
        return self.send_text(to=to, text=order.code)

    def send_presence(self, *, to: str, presence: str = "composing", delay_ms: int = 1200) -> None:
        """Show "typing…" (or another presence) to ``to`` for ``delay_ms``; returns when it ends."""
        body = {"number": _number(to), "presence": presence, "delay": delay_ms}
        # Evolution holds the presence for the whole delay before answering: wait that long, plus margin.
        self._request("POST", "chat/sendPresence", json=body, timeout=(5, delay_ms / 1000 + 30))

    def mark_read(self, *, message_id: str, remote: str = "") -> None:
        if not remote:
            raise SendError(
                "Evolution needs the chat JID to mark a message read", kind=ErrorKind.PERMANENT, code="no_remote"
            )
        jid = remote if "@" in remote else f"{_number(remote)}@s.whatsapp.net"
        body = {"readMessages": [{"remoteJid": jid, "fromMe": False, "id": message_id}]}
        self._request("POST", "chat/markMessageAsRead", json=body)

    def fetch_media(self, *, media: MediaRef) -> FetchedMedia:
        if media.base64:  # the webhook carried the bytes (instance setting webhookBase64)
            return FetchedMedia(content=self._decode(media.base64), mime_type=media.mime_type)
        if media.media_id:  # Evolution downloads and decrypts it from WhatsApp for us
            body = {"message": {"key": {"id": media.media_id}}, "convertToMp4": False}
            cap = self.max_media_bytes * 4 // 3 + 64 * 1024  # base64 inflates by 4/3, plus the JSON around it
            data = self._request("POST", "chat/getBase64FromMediaMessage", json=body, cap=cap)
            if not isinstance(data, dict) or not data.get("base64"):
                raise self._bad_response(200, data)
            return FetchedMedia(content=self._decode(data["base64"]), mime_type=data.get("mimetype") or media.mime_type)
        if not media.url:
            raise SendError("Media has neither bytes, an id nor a URL", kind=ErrorKind.PERMANENT, code="no_media")
        # A mediaUrl (S3/MinIO) is usually another host: the apikey goes only to our Evolution server.
        headers = self._auth() if media.url.startswith(f"{self.channel.base_url}/") else {}
        try:
            response = self._http.get(media.url, headers=headers, stream=True)
        except requests.RequestException as exc:
            raise transport_error(exc) from None
        if not response.ok:
            raise self._error(response)
        content = read_capped(response, self.max_media_bytes)
        mime = response.headers.get("Content-Type", "").split(";")[0].strip() or media.mime_type
        return FetchedMedia(content=content, mime_type=mime)

    # -------------------------------------------------------------------------- plumbing

    def _send(self, path: str, to: str, fields: dict[str, Any], *, reply_to: str = "") -> Sent:
        body = {"number": _number(to), **fields}
        if reply_to:
            body["quoted"] = {"key": {"id": reply_to}}
        # Evolution answers 201 with the sent message (the same data as its send.message webhook).
        data = self._request("POST", path, json=body)
        try:
            key = data["key"]
            provider_id = key["id"]
        except (KeyError, TypeError):
            raise self._bad_response(200, data) from None
        jid = str(key.get("remoteJid") or "")
        return Sent(provider_id=provider_id, wa_id=jid.split("@")[0] if jid.endswith("@s.whatsapp.net") else "")

    def _auth(self) -> dict[str, str]:
        return {"apikey": self.channel.api_key}

    def _request(self, method: str, path: str, *, cap: int | None = None, **kwargs: Any) -> Any:
        url = f"{self.channel.base_url}/{path}/{self.instance}"
        try:
            response = self._http.request(method, url, headers=self._auth(), stream=cap is not None, **kwargs)
        except requests.RequestException as exc:
            raise transport_error(exc) from None
        if not response.ok:
            raise self._error(response)
        text = read_capped(response, cap).decode() if cap is not None else response.text
        try:
            return json.loads(text)
        except ValueError:
            raise self._bad_response(response.status_code, text) from None

    def _decode(self, data: str) -> bytes:
        data = data.split(",", 1)[1] if data.startswith("data:") else data  # a data: URL now and then
        if len(data) * 3 // 4 > self.max_media_bytes:
            raise SendError(
                f"Media is larger than {self.max_media_bytes} bytes", kind=ErrorKind.PERMANENT, code="media_too_large"
            )
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise SendError("Media is not valid base64", kind=ErrorKind.PERMANENT, code="bad_media") from None

    def _scrub(self, text: str) -> str:
        # Only our own secret is cut from provider text kept in errors: mask_text would also eat the
        # word after "token:" in messages operators need to read. Logged text is masked as well.
        key = self.channel.api_key
        return text.replace(key, "***") if key else text

    def _bad_response(self, status: int, body: object) -> SendError:
        logger.warning(
            "Evolution answered %s with an unexpected body: %s", status, mask_text(self._scrub(str(body)))[:1000]
        )
        return SendError(
            f"Unexpected reply from Evolution (HTTP {status})", kind=ErrorKind.PERMANENT, code="bad_response"
        )

    def _error(self, response: requests.Response) -> SendError:
        # Evolution's errors: {"status": 400, "error": "Bad Request", "response": {"message": [...]}}
        # (src/main.ts); "message" is a list of strings or objects, or a plain string.
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        found = body.get("response") if isinstance(body, dict) else None
        messages = found.get("message") if isinstance(found, dict) else None
        messages = messages if isinstance(messages, list) else [messages or response.reason]
        text = self._scrub("; ".join(m if isinstance(m, str) else json.dumps(m) for m in messages))
        details: dict[str, Any] = {"http_status": status, "response": text}
        # sendMessageWithTyping checks the number first and throws BadRequestException(isWA):
        # [{"exists": false, "jid": "…@s.whatsapp.net", "number": "…"}]. Permanent for that number.
        missing = [m for m in messages if isinstance(m, dict) and m.get("exists") is False]
        closed = "connection closed" in text.lower()
        if status >= 500 or (status == 400 and closed):
            # A dropped WhatsApp session comes as 400 or 500 "Connection Closed"; Baileys reconnects
            # by itself, so later is worth trying (a logged-out phone shows in connection.update).
            kind, code = ErrorKind.RETRYABLE, "connection_closed" if closed else f"http_{status}"
        elif status in (401, 403):
            kind, code = ErrorKind.AUTH, f"http_{status}"
        elif status == 404 and "instance does not exist" in text.lower():
            # The key was accepted but the instance is gone or renamed (instanceExistsGuard). Not AUTH:
            # the credentials are fine and no token renewal helps; an operator must fix the channel's
            # instance name. The code lets the engine tell it from a single bad message.
            kind, code = ErrorKind.PERMANENT, "instance_not_found"
        elif status == 429:
            kind, code = ErrorKind.THROUGHPUT, "http_429"
        elif missing:
            kind, code = ErrorKind.INVALID_RECIPIENT, "number_not_on_whatsapp"
            details |= {"jid": missing[0].get("jid", ""), "number": missing[0].get("number", "")}
        else:
            kind, code = ErrorKind.PERMANENT, f"http_{status}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return SendError(
            f"Evolution error {status}: {text[:300]}", kind=kind, code=code, retry_after=retry_after, details=details
        )
