"""Issue 10 item 3: hostile strings through the public HTTP surface are a clear 4xx, never a 500.

Each row sends one hostile input (a NUL byte, a lone surrogate, a 1,000-deep body) through a
REST or replication endpoint, as the outside test did, and expects a 4xx in that endpoint's own
error format (REST ``{"code", "message"}``; /sync CouchDB ``{"error", "reason"}``), a message
that does not repeat the input, and nothing stored. Run on SQLite and on PostgreSQL (which
refuses NUL in text and JSON, where SQLite stores it).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from backend.accounts.services import token_issue
from backend.audit.models import AuditEvent
from backend.common.sequence import current_seq
from backend.records.models import Document, Revision
from backend.records.services import document_create
from backend.syncapi.models import LocalDoc
from tests.backend.syncapi.tablet import Tablet
from tests.conftest import actor

pytestmark = pytest.mark.django_db

NUL = "a\u0000b"
SURROGATE = "\ud800"


def _nested(depth: int) -> str:
    """JSON text of objects nested ``depth`` deep (built as text: json.dumps would recurse)."""
    return '{"a": ' * depth + '"leaf"' + "}" * depth


@dataclass(frozen=True)
class Hostile:
    """One hostile request: who sends it, how, and which error format answers it."""

    method: str
    path: str
    body: Any = None
    raw_body: str | None = None  # JSON text, sent as written (``{case}`` … filled in)
    who: str = "practitioner"  # practitioner | supervisor | admin | tablet | basic:<user:password>
    fmt: str = "rest"  # rest | couch


def _deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


#: ``{case}``, ``{visit}`` and ``{rev}`` are filled in with a real case, visit and its revision.
HOSTILE: dict[str, Hostile] = {
    # --- REST: ids in URLs and query filters (one check at the edge covers them all) ---
    "rest_visit_id_nul_in_path": Hostile("GET", "/api/visits/visit:a%00b/"),
    "rest_case_id_nul_in_path": Hostile("GET", "/api/cases/case:a%00b/"),
    "rest_case_visits_nul_in_path": Hostile("GET", "/api/cases/case:a%00b/visits/"),
    "rest_visit_submit_nul_in_path": Hostile("POST", "/api/visits/visit:a%00b/submit/", {"rev": "1-ab"}),
    "rest_visits_status_filter_nul": Hostile("GET", "/api/cases/{case}/visits/?status=a%00b"),
    "rest_cases_case_number_filter_nul": Hostile("GET", "/api/cases/?case_number=a%00b", who="supervisor"),
    "rest_audit_actor_filter_nul": Hostile("GET", "/api/audit/?actor=a%00b", who="admin"),
    "rest_audit_object_id_filter_nul": Hostile("GET", "/api/audit/?object_id=a%00b", who="admin"),
    "rest_query_name_nul": Hostile("GET", "/api/cases/?a%00b=1", who="supervisor"),
    # --- REST: JSON bodies (one parser for every endpoint) ---
    "rest_case_number_nul": Hostile(
        "POST",
        "/api/cases/",
        {"team": "{team}", "content": {"case_number": NUL, "family_name": "Okafor family"}},
        who="supervisor",
    ),
    "rest_visit_content_nul": Hostile(
        "POST", "/api/cases/{case}/visits/", {"content": {"observations": NUL, "visit_type": "statutory"}}
    ),
    "rest_visit_content_key_nul": Hostile("POST", "/api/cases/{case}/visits/", {"content": {NUL: 1}}),
    "rest_visit_content_surrogate": Hostile(
        "POST",
        "/api/cases/{case}/visits/",
        {"content": {"observations": SURROGATE, "visit_type": "statutory"}},
    ),
    "rest_visit_patch_surrogate": Hostile(
        "PATCH", "/api/visits/{visit}/", {"rev": "{rev}", "content": {"observations": SURROGATE}}
    ),
    "rest_visit_patch_nested_1000": Hostile(
        "PATCH",
        "/api/visits/{visit}/",
        raw_body='{"rev": "{rev}", "content": {"observations": ' + _nested(1000) + "}}",
    ),
    "rest_body_nested_1000": Hostile("POST", "/api/cases/{case}/notes/", raw_body=_deep_json(1000)),
    "rest_return_comment_nul": Hostile(
        "POST", "/api/visits/{visit}/return/", {"rev": "{rev}", "comment": NUL}, who="supervisor"
    ),
    "rest_login_username_nul": Hostile(
        "POST", "/api/auth/token/", {"username": NUL, "password": "x" * 12}, who="anonymous"
    ),
    "rest_login_username_surrogate": Hostile(
        "POST", "/api/auth/token/", {"username": SURROGATE, "password": "x" * 12}, who="anonymous"
    ),
    # --- /sync: ids in URLs and query parameters ---
    "sync_doc_id_nul_in_path": Hostile("GET", "/sync/caseload/visit:a%00b", who="tablet", fmt="couch"),
    "sync_put_doc_id_nul_in_path": Hostile(
        "PUT", "/sync/caseload/visit:a%00b", {"type": "visit"}, who="tablet", fmt="couch"
    ),
    "sync_local_id_nul_in_path": Hostile(
        "PUT", "/sync/caseload/_local/a%00b", {"last_seq": "1"}, who="tablet", fmt="couch"
    ),
    "sync_get_local_id_nul_in_path": Hostile("GET", "/sync/caseload/_local/a%00b", who="tablet", fmt="couch"),
    "sync_rev_nul_in_query": Hostile("GET", "/sync/caseload/{visit}?rev=1-a%00b", who="tablet", fmt="couch"),
    "sync_all_docs_startkey_nul": Hostile(
        "GET", '/sync/caseload/_all_docs?startkey="a\\u0000b"', who="tablet", fmt="couch"
    ),
    "sync_all_docs_startkey_surrogate": Hostile(
        "GET", '/sync/caseload/_all_docs?startkey="\\ud800"', who="tablet", fmt="couch"
    ),
    "sync_all_docs_keys_query_nul": Hostile(
        "GET", '/sync/caseload/_all_docs?keys=["a\\u0000b"]', who="tablet", fmt="couch"
    ),
    "sync_all_docs_key_surrogate": Hostile(
        "GET", '/sync/caseload/_all_docs?key="\\ud800"', who="tablet", fmt="couch"
    ),
    "sync_changes_doc_ids_surrogate": Hostile(
        "GET", '/sync/caseload/_changes?filter=_doc_ids&doc_ids=["\\ud800"]', who="tablet", fmt="couch"
    ),
    "sync_changes_doc_ids_nul": Hostile(
        "GET", '/sync/caseload/_changes?filter=_doc_ids&doc_ids=["a\\u0000b"]', who="tablet", fmt="couch"
    ),
    "sync_open_revs_surrogate": Hostile(
        "GET", '/sync/caseload/{visit}?open_revs=["\\ud800"]', who="tablet", fmt="couch"
    ),
    "sync_changes_since_nul": Hostile(
        "GET", "/sync/caseload/_changes?since=a%00b", who="tablet", fmt="couch"
    ),
    # --- /sync: JSON bodies ---
    "sync_bulk_docs_id_nul": Hostile(
        "POST",
        "/sync/caseload/_bulk_docs",
        {
            "docs": [
                {
                    "_id": "visit:a\u0000b",
                    "_rev": "1-" + "e" * 32,
                    "_revisions": {"start": 1, "ids": ["e" * 32]},
                    "type": "visit",
                    "case_id": "{case}",
                    "schema": 1,
                    "meta": {},
                    "enc": {},
                }
            ],
            "new_edits": False,
        },
        who="tablet",
        fmt="couch",
    ),
    "sync_bulk_docs_meta_nul": Hostile(
        "POST",
        "/sync/caseload/_bulk_docs",
        {"docs": [{"_id": "{visit}", "_rev": "{rev}", "meta": {"status": NUL}}], "new_edits": True},
        who="tablet",
        fmt="couch",
    ),
    "sync_bulk_docs_surrogate": Hostile(
        "POST",
        "/sync/caseload/_bulk_docs",
        raw_body='{"docs": [{"_id": "\\ud800", "type": "visit"}]}',
        who="tablet",
        fmt="couch",
    ),
    "sync_local_body_nul": Hostile(
        "PUT", "/sync/caseload/_local/checkpoint", {"last_seq": NUL}, who="tablet", fmt="couch"
    ),
    "sync_local_body_key_nul": Hostile(
        "PUT", "/sync/caseload/_local/checkpoint", {NUL: 1}, who="tablet", fmt="couch"
    ),
    "sync_local_body_nested_1000": Hostile(
        "PUT",
        "/sync/caseload/_local/checkpoint",
        raw_body='{"history": ' + _nested(1000) + "}",
        who="tablet",
        fmt="couch",
    ),
    "sync_local_body_nested_1000_lists": Hostile(
        "PUT",
        "/sync/caseload/_local/checkpoint",
        raw_body='{"history": ' + _deep_json(1000) + "}",
        who="tablet",
        fmt="couch",
    ),
    "sync_all_docs_keys_body_nul": Hostile(
        "POST", "/sync/caseload/_all_docs", {"keys": [NUL]}, who="tablet", fmt="couch"
    ),
    "sync_revs_diff_id_nul": Hostile(
        "POST", "/sync/caseload/_revs_diff", {NUL: ["1-" + "e" * 32]}, who="tablet", fmt="couch"
    ),
    "sync_bulk_get_id_nul": Hostile(
        "POST", "/sync/caseload/_bulk_get", {"docs": [{"id": NUL, "rev": "1-ab"}]}, who="tablet", fmt="couch"
    ),
    "sync_changes_body_doc_ids_nul": Hostile(
        "POST", "/sync/caseload/_changes?filter=_doc_ids", {"doc_ids": [NUL]}, who="tablet", fmt="couch"
    ),
    # --- /sync: credentials ---
    "sync_basic_username_nul": Hostile(
        "GET", "/sync/caseload/", who="basic:a\u0000b:password12", fmt="couch"
    ),
    "sync_basic_password_nul": Hostile(
        "GET", "/sync/caseload/", who="basic:amy.worker:pass\u0000word", fmt="couch"
    ),
}


@pytest.fixture
def world(practitioner, supervisor, admin_user, case_id, visit_content) -> dict[str, Any]:
    visit = document_create(
        actor=actor(practitioner), case_id=case_id, doc_type="visit", content=visit_content
    )
    tablet = Tablet(practitioner)
    return {
        "case": case_id,
        "visit": visit.id,
        "rev": visit.rev,
        "team": supervisor.managed_teams.get().pk,
        "tokens": {
            "practitioner": token_issue(user=practitioner)[0],
            "supervisor": token_issue(user=supervisor)[0],
            "admin": token_issue(user=admin_user)[0],
            "tablet": tablet.token,
        },
    }


def _fill(value: Any, world: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value == "{team}":
            return world["team"]
        for name in ("case", "visit", "rev"):
            value = value.replace("{" + name + "}", str(world[name]))
        return value
    if isinstance(value, dict):
        return {_fill(k, world): _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


def _snapshot() -> tuple[int, ...]:
    return (
        Document.objects.count(),
        Revision.objects.count(),
        current_seq(),
        LocalDoc.objects.count(),
        AuditEvent.objects.count(),
    )


def _send(hostile: Hostile, world: dict[str, Any]) -> Any:
    client = Client(raise_request_exception=False)
    headers: dict[str, str] = {}
    if hostile.who.startswith("basic:"):
        credentials = hostile.who.removeprefix("basic:").encode()
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(credentials).decode()
    elif hostile.who != "anonymous":
        headers["HTTP_AUTHORIZATION"] = f"Token {world['tokens'][hostile.who]}"
    path = _fill(hostile.path, world)
    payload: bytes | None = None
    if hostile.raw_body is not None:
        payload = _fill(hostile.raw_body, world).encode()
    elif hostile.body is not None:
        # ensure_ascii (the default) writes NUL as \u0000 and a lone surrogate as \ud800, as a
        # hostile client would: both are valid JSON escapes.
        payload = json.dumps(_fill(hostile.body, world)).encode()
    call: Callable[..., Any] = getattr(client, hostile.method.lower())
    if payload is None:
        return call(path, **headers)
    return call(path, payload, content_type="application/json", **headers)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_is_a_clear_4xx_and_stores_nothing(name, world):
    hostile = HOSTILE[name]
    before = _snapshot()
    response = _send(hostile, world)
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    if hostile.fmt == "rest":
        assert isinstance(body.get("code"), str) and isinstance(body.get("message"), str), body
    else:
        assert isinstance(body.get("error"), str) and isinstance(body.get("reason"), str), body
    text = response.content.decode("utf-8", "backslashreplace")
    for echoed in ("\u0000", "\\u0000", "\\ud800", "a\\u0000b"):
        assert echoed not in text, f"the refusal repeats the hostile input: {text[:300]}"
    assert _snapshot() == before, "a refused request stored something"


@pytest.mark.django_db(transaction=True)  # the ASGI views run in another thread
@pytest.mark.parametrize(
    "path",
    [
        # The long-poll change feed is an async view: Django's async middleware path.
        '/sync/caseload/_changes?feed=longpoll&filter=_doc_ids&doc_ids=["\\ud800"]',
        "/sync/caseload/_changes?feed=longpoll&since=a%00b",
        "/sync/caseload/visit:a%00b",
        "/api/visits/visit:a%00b/",
    ],
    ids=["changes_surrogate", "changes_nul_query", "sync_nul_path", "rest_nul_path"],
)
def test_hostile_input_over_asgi_is_a_clear_4xx(path, practitioner):
    from urllib.parse import quote, unquote

    from tests.backend.common.test_asgi_handler import asgi_request

    tablet = Tablet(practitioner)
    route, _, query = path.partition("?")
    # An ASGI server hands the application the decoded path and the raw query string.
    status, body, _ = asgi_request("GET", unquote(route) + "?" + quote(query, safe="=&%"), tablet.token)
    assert 400 <= status < 500, (status, body[:200])
    answer = json.loads(body)
    assert {"error", "reason"} <= set(answer) or {"code", "message"} <= set(answer), answer


def test_a_visit_dated_with_an_offset_postgresql_refuses_is_stored_as_its_instant(api, practitioner, case_id):
    """RFC 3339 allows any UTC offset up to ±23:59; PostgreSQL's timestamptz refuses beyond
    ±15:59 (found by Schemathesis: a 500 on PostgreSQL). The instant is what is kept."""
    from datetime import UTC, datetime

    from backend.records.models import VisitRecord

    response = api(practitioner).post(
        f"/api/cases/{case_id}/visits/",
        {"content": {"visit_date": "2026-10-31T06:34:59-16:50", "visit_type": "statutory"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["content"]["visit_date"] == "2026-10-31T06:34:59-16:50"
    stored = VisitRecord.objects.get(document_id=response.json()["id"]).visit_date
    assert stored == datetime(2026, 10, 31, 23, 24, 59, tzinfo=UTC)
