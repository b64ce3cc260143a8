"""The ASGI entry point: synchronous views in one thread hop, async views on Django's path."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref import sync
from rest_framework.test import APIClient

from backend.accounts.services import token_issue
from backend.asgi import application
from backend.common.handlers import view_is_async
from backend.demo.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)  # views run in another thread


def asgi_request(method: str, path: str, token: str | None, body: bytes = b"") -> tuple[int, bytes, int]:
    """One request through ``backend.asgi.application``: (status, body, thread hops it made)."""
    query = ""
    if "?" in path:
        path, query = path.split("?", 1)
    headers = [(b"host", b"testserver")]
    if token:
        headers.append((b"authorization", f"Token {token}".encode()))
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    hops = 0
    real_call = sync.SyncToAsync.__call__

    async def counting_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal hops
        hops += 1
        return await real_call(self, *args, **kwargs)

    async def run() -> None:
        delivered = False
        finished = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await application(scope, receive, send)
        finished.set()

    sync.SyncToAsync.__call__ = counting_call  # type: ignore[method-assign]
    try:
        asyncio.run(run())
    finally:
        sync.SyncToAsync.__call__ = real_call  # type: ignore[method-assign]
    status = sent[0]["status"]
    return status, b"".join(m.get("body", b"") for m in sent[1:]), hops


def test_which_views_take_the_async_path() -> None:
    from django.test import RequestFactory

    factory = RequestFactory()
    assert not view_is_async(factory.get("/api/cases/"))
    assert not view_is_async(factory.get("/api/visits/visit:01JD0000000000000000000000/"))
    assert not view_is_async(factory.post("/sync/caseload/_bulk_get"))
    assert not view_is_async(factory.get("/no/such/path/"))
    assert view_is_async(factory.get("/sync/caseload/_changes"))


def test_rest_requests_answer_as_through_the_test_client_in_one_hop(case_id, practitioner, visit_content):
    secret, _ = token_issue(user=practitioner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")

    status, body, hops = asgi_request("GET", "/api/cases/", secret)
    assert status == 200
    assert json.loads(body) == client.get("/api/cases/").json()
    # request_started, the whole middleware chain with the view, response.close
    assert hops == 3

    created = asgi_request(
        "POST", f"/api/cases/{case_id}/visits/", secret, json.dumps({"content": visit_content}).encode()
    )
    assert created[0] == 201, created[1]
    visit = json.loads(created[1])
    status, body, _ = asgi_request("GET", f"/api/visits/{visit['id']}/", secret)
    assert status == 200 and json.loads(body)["content"]["child_voice"] == visit_content["child_voice"]

    assert asgi_request("GET", "/api/cases/", None)[0] == 401
    outsider = UserFactory(username="zed.worker")
    denied = asgi_request("GET", f"/api/visits/{visit['id']}/", token_issue(user=outsider)[0])
    assert denied[0] == 404 and json.loads(denied[1])["code"] == "not_found"
    assert asgi_request("GET", "/no/such/path/", secret)[0] == 404


def test_async_long_poll_feed_still_served(case_id, practitioner):
    secret, _ = token_issue(user=practitioner)
    status, body, _ = asgi_request("GET", "/sync/caseload/_changes?feed=longpoll&timeout=50", secret)
    assert status == 200
    changes = json.loads(body)
    assert case_id in {row["id"] for row in changes["results"]}
    since = changes["last_seq"]
    status, body, _ = asgi_request(
        "GET", f"/sync/caseload/_changes?feed=longpoll&timeout=50&since={since}", secret
    )
    assert status == 200 and json.loads(body)["results"] == []  # waited, then answered empty
