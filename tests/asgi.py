"""HTTP requests to an ASGI application as uvicorn hands them over, for tests."""

from asgiref.testing import ApplicationCommunicator


def http_scope(method: str, path: str, *, query: str = "", headers=()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *[(k.lower().encode(), v.encode()) for k, v in headers]],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def exchange(app, scope: dict, chunks=(b"",)) -> tuple[int, dict, bytes]:
    """Send the body in ``chunks`` (one ``http.request`` message each); the status, headers and body."""
    communicator = ApplicationCommunicator(app, scope)
    for index, chunk in enumerate(chunks):
        await communicator.send_input({"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1})
    start = await communicator.receive_output(10)
    parts = []
    while True:
        message = await communicator.receive_output(10)
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    await communicator.wait(10)
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, b"".join(parts)
