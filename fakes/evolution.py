"""A fake of Evolution API v2: the send endpoints, presence, read marks and media, and its webhooks.

* ``POST /message/send{Text,Media,WhatsAppAudio,Sticker,Location}/<instance>`` answers 201 with the sent
  message (``key.id``, ``key.remoteJid``), as Evolution does; ``POST /chat/sendPresence/<instance>``
  and ``/chat/markMessageAsRead/<instance>`` answer as it does; ``/chat/getBase64FromMediaMessage``
  serves a customer's media (a real PNG). Every call needs the ``apikey`` header: 401 otherwise.
* With a webhook URL, like Evolution's global webhook, it reports a ``connection.update`` (open) once
  listening, then for every send ``send.message`` and the ``messages.update`` acks (server, delivery,
  read), each with the instance key in the body, retried until taken.

Runs on a thread (``running_evolution()``) or as its own process::

    python -m fakes.evolution --port 0 --api-key KEY [--webhook URL --number 5544...]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from fakes import evolution_payloads as payloads
from fakes.callbacks import CallbackPoster
from fakes.media import SAMPLE_IMAGE, SAMPLE_IMAGE_MIME
from fakes.meta_payloads import encode
from fakes.server import HOST, Answer, FakeServer, Request, announce_ready, json_answer

SENDS = {
    "sendText": "conversation",
    "sendMedia": "imageMessage",
    "sendWhatsAppAudio": "audioMessage",
    "sendSticker": "stickerMessage",
    "sendLocation": "locationMessage",
}
# After an accepted send: seconds until the phone would report each ack.
ACK_DELAYS = tuple(zip(payloads.ACKS, (0.3, 0.8, 2.0), strict=True))


class FakeEvolution(FakeServer):
    name = "fake-evolution"
    accepted = 201

    def __init__(
        self,
        *,
        api_key: str,
        host: str = HOST,
        port: int = 0,
        webhook_url: str = "",
        number: str = "",
        instance: str = "",
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_key = api_key
        self.webhook_url = webhook_url
        self.number = number  # the instance's own WhatsApp number, named as ``sender``
        self.instance = instance  # announced as connected once listening

    def on_started(self) -> None:
        if self.webhook_url and self._poster is None:
            self._poster = CallbackPoster()
            if self.instance:
                data = payloads.connection_data(instance=self.instance, state="open", number=self.number)
                self._post(0.0, "connection.update", self.instance, data)

    def answer(self, request: Request, raw: bytes) -> Answer:
        path = urlsplit(request.path).path
        answer = self._route(request, path)
        request.status = answer.status
        with self._lock:
            self._records.append(request)
        return answer

    def _route(self, request: Request, path: str) -> Answer:
        parts = path.strip("/").split("/")
        if len(parts) != 3:
            return _error(404, "Not Found", f"Cannot {request.method} {path}")
        group, action, instance = parts
        if not hmac.compare_digest(request.headers.get("apikey", "").encode(), self.api_key.encode()):
            return _error(401, "Unauthorized", "Unauthorized")
        if request.method != "POST":
            return _error(404, "Not Found", f"Cannot {request.method} {path}")
        body = request.body if isinstance(request.body, dict) else {}
        if group == "message" and action in SENDS:
            return self._send(request, action, instance, body)
        if group == "chat" and action == "sendPresence":
            return json_answer(201, {"presence": body.get("presence", "composing")})
        if group == "chat" and action == "markMessageAsRead":
            return json_answer(201, {"message": "Read messages", "read": "success"})
        if group == "chat" and action == "getBase64FromMediaMessage":
            encoded = base64.b64encode(SAMPLE_IMAGE).decode()
            return json_answer(201, {"mediaType": "imageMessage", "mimetype": SAMPLE_IMAGE_MIME, "base64": encoded})
        return _error(404, "Not Found", f"Cannot POST {path}")

    def _send(self, request: Request, action: str, instance: str, body: dict[str, Any]) -> Answer:
        number = str(body.get("number") or "")
        if not number:
            return _error(400, "Bad Request", ["number is required"])
        request.message_id = payloads.message_id()
        remote = payloads.jid(number)
        message_type = SENDS[action]
        content: dict[str, Any] = {"conversation": body.get("text", "")} if action == "sendText" else {message_type: {}}
        data = {
            "key": {"remoteJid": remote, "fromMe": True, "id": request.message_id},
            "pushName": "",
            "status": "PENDING",
            "message": content,
            "contextInfo": None,
            "messageType": message_type,
            "messageTimestamp": int(time.time()),
            "source": "unknown",
        }
        if self._poster is not None:
            self._post(0.1, "send.message", instance, data)
            for ack, delay in ACK_DELAYS:
                status = payloads.status_data(message_id=request.message_id, recipient=number, ack=ack)
                self._post(delay, "messages.update", instance, status)
        return json_answer(201, data)

    def _post(self, delay: float, event: str, instance: str, data: Any) -> None:
        if self._poster is None:
            return
        envelope = payloads.envelope(
            event,
            instance=instance,
            data=data,
            api_key=self.api_key,
            destination=self.webhook_url,
            sender=self.number,
            server_url=self.url,
        )
        self._poster.post(delay, self.webhook_url, encode(envelope), {})


def _error(status: int, error: str, message: Any) -> Answer:
    # Evolution's error body (src/main.ts): {"status", "error", "response": {"message": [...]}}.
    messages = message if isinstance(message, list) else [message]
    return json_answer(status, {"status": status, "error": error, "response": {"message": messages}})


@contextlib.contextmanager
def running_evolution(**kwargs: Any) -> Iterator[FakeEvolution]:
    """A fake Evolution API on a thread of this process, at ``.url``, for the duration of the block."""
    server = FakeEvolution(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakes.evolution", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed on the READY line)")
    parser.add_argument("--api-key", required=True, help="the key every call must carry (and webhooks echo)")
    parser.add_argument("--webhook", default="", help="POST events here, as Evolution's global webhook")
    parser.add_argument("--number", default="", help="the instance's own WhatsApp number")
    parser.add_argument("--instance", default="", help="announced connected (connection.update) once listening")
    args = parser.parse_args(argv)
    server = FakeEvolution(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        webhook_url=args.webhook,
        number=args.number,
        instance=args.instance,
    )
    server.serve(on_ready=announce_ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
