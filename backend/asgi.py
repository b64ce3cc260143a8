"""ASGI entry point (uvicorn serves this; long-poll change feeds need an async server).

Django's ASGI handler reads a whole request body before any middleware runs, so the size
limit is enforced here, before Django sees the request: from the ``Content-Length`` header
before a byte of an oversize body is read, and for a chunked body (no length) by counting it
as it arrives and refusing it as soon as it passes the limit.
"""

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
django.setup(set_prefix=False)  # what get_asgi_application() does before making its handler

from backend.common.handlers import DoorstepASGIHandler  # noqa: E402  (after Django is set up)
from backend.common.middleware import body_limit, too_large_body  # noqa: E402

django_application = DoorstepASGIHandler()


async def _refuse_too_large(path: str, send: Any) -> None:
    payload = too_large_body(path)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),  # the rest of the body is never read
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        await django_application(scope, receive, send)
        return
    path = scope.get("path", "")
    limit = body_limit(path)
    length = next((value for name, value in scope.get("headers", []) if name == b"content-length"), None)
    if length is not None and length.isdigit():
        if int(length) > limit:
            await _refuse_too_large(path, send)
            return
        await django_application(scope, receive, send)  # the server holds the body to its length
        return
    received = 0
    too_large = False

    async def counted_receive() -> dict[str, Any]:
        nonlocal received, too_large
        message: dict[str, Any] = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # Django's body reader treats a disconnect as the end of the request and
                # returns without answering; the refusal is sent below.
                too_large = True
                return {"type": "http.disconnect"}
        return message

    await django_application(scope, counted_receive, send)
    if too_large:
        await _refuse_too_large(path, send)
