"""ASGI entry point (uvicorn serves this; long-poll change feeds need an async server).

Django's ASGI handler reads a whole request body before any middleware runs, so the size
limit is also enforced here, from the ``Content-Length`` header, before a byte of an
oversize body is read.
"""

import json
import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
django.setup(set_prefix=False)  # what get_asgi_application() does before making its handler

from django.conf import settings  # noqa: E402  (after Django is set up)

from backend.common.handlers import DoorstepASGIHandler  # noqa: E402

django_application = DoorstepASGIHandler()


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        is_sync = scope.get("path", "").startswith("/sync/")
        limit = settings.DOORSTEP_MAX_SYNC_BODY if is_sync else settings.DOORSTEP_MAX_REST_BODY
        length = next((value for name, value in scope.get("headers", []) if name == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > limit:
            if is_sync:
                body = {"error": "too_large", "reason": f"request body exceeds {limit} bytes"}
            else:
                body = {"code": "payload_too_large", "message": f"request body exceeds {limit} bytes"}
            payload = json.dumps(body).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return
    await django_application(scope, receive, send)
