"""Request bodies sent without a Content-Length (chunked) are read first and handed on with one.

Django's WSGI request reads exactly ``CONTENT_LENGTH`` bytes of the body, so behind the WSGI bridge of
``config/asgi.py`` a chunked body would arrive empty: a webhook would fail its signature check and be
refused for ever. Such a body is read here, up to the largest body any endpoint accepts
(``DATA_UPLOAD_MAX_MEMORY_SIZE``), and passed on as if it had come with its length; a longer one is
answered 413 in the project's error format. Bodies with a Content-Length are not touched.
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from config.errors import error_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SizedBodies:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        names = {name.lower() for name, _ in scope.get("headers", ())} if scope["type"] == "http" else set()
        if b"transfer-encoding" not in names or b"content-length" in names:
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _too_large(send, self.limit)
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = [(name, value) for name, value in scope["headers"] if name.lower() != b"transfer-encoding"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.app({**scope, "headers": headers}, replaying(body, receive), send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` for an application after us: ``body``, already read, whole; then what ``receive`` brings."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()  # after the body: only a disconnect can come
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _too_large(send: Send, limit: int) -> None:
    content = json.dumps(
        error_body("payload_too_large", f"The request body is over the limit of {limit} bytes.", {"limit_bytes": limit})
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": content})
