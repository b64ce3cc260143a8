"""Issue 10 item 9: the OpenAPI document describes the API a client actually meets.

Paginated lists are documented as pages, every operation documents its refusals with the error
body, device ids read from a response work in device URLs, review and conflict bodies are
typed, and a client that knows only the schema (operation ids, parameters, response schemas)
gets through a whole visit's life, every response checked against the schema.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.demo.factories import DEMO_PASSWORD

from .api_world import World, load_schema, seed_world
from .api_world import call as call_wsgi

pytestmark = pytest.mark.django_db

CHECKS = [status_code_conformance, response_schema_conformance, content_type_conformance]

#: The list endpoints that answer one page at a time.
PAGINATED = [
    "cases_list",
    "case_visits_list",
    "case_people_list",
    "case_notes_list",
    "case_addenda_list",
    "audit_list",
]


@functools.cache
def api_schema() -> Any:
    return load_schema()


def raw() -> dict[str, Any]:
    return api_schema().raw_schema


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = raw()["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method.upper(), op)
        for path, item in raw()["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def operation(operation_id: str) -> dict[str, Any]:
    return next(op for _, _, op in operations() if op["operationId"] == operation_id)


@pytest.fixture
def world(practitioner, colleague, supervisor, admin_user, case_id, visit_content) -> World:
    return seed_world(
        practitioner=practitioner,
        colleague=colleague,
        supervisor=supervisor,
        admin_user=admin_user,
        case_id=case_id,
        visit_content=visit_content,
    )


def call(operation_id: str, token: str | None, *, path: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """One request built from the schema's operation, its response checked against the schema."""
    headers = {"Authorization": f"Token {token}"} if token else {}
    case = (
        api_schema().find_operation_by_id(operation_id).Case(path_parameters=path, headers=headers, **kwargs)
    )
    response = call_wsgi(case)
    case.validate_response(response, checks=CHECKS)
    return response


@pytest.mark.parametrize("operation_id", PAGINATED)
def test_paginated_list_is_documented_as_a_page(operation_id, world):
    documented = resolve(operation(operation_id)["responses"]["200"]["content"]["application/json"]["schema"])
    assert documented["type"] == "object"
    assert set(documented["required"]) == {"count", "next", "previous", "results"}
    assert documented["properties"]["results"]["type"] == "array"
    token = world.tokens["admin" if operation_id == "audit_list" else "supervisor"]
    path = {} if operation_id in {"cases_list", "audit_list"} else {"case_id": world.case_id}
    answer = call(operation_id, token, path=path, query={"page_size": 1})
    assert answer.status_code == 200
    assert answer.json()["count"] >= 1 and len(answer.json()["results"]) == 1


def test_every_operation_documents_its_refusals_with_the_error_body():
    error_ref = "#/components/schemas/Error"
    assert set(resolve({"$ref": error_ref})["required"]) == {"code", "message"}
    for path, method, op in operations():
        responses = op["responses"]
        expected = {"400", "401"}
        if op.get("security") and any(op["security"]):
            expected.add("403")
        if "{" in path:
            expected.add("404")
        if "requestBody" in op:
            expected |= {"413", "415"}
        if method != "GET" and op.get("security") and any(op["security"]):
            expected |= {"409", "503"}
        missing = expected - set(responses)
        assert not missing, f"{method} {path} documents no {sorted(missing)}"
        for status in expected:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": error_ref}, f"{method} {path} {status}"


def test_device_id_from_enrolment_works_in_device_urls(world):
    from backend.accounts.models import User
    from tests.backend.syncapi.tablet import Tablet

    tablet = Tablet(User.objects.get(pk=world.user_ids["practitioner"]), "enrolled")
    device_id = tablet.device_id  # as POST /api/devices/ answered it
    assert device_id.startswith("d:")
    parameter = next(p for p in operation("devices_token_create")["parameters"] if p["name"] == "device_id")
    assert re.fullmatch(parameter["schema"]["pattern"].strip("^$"), device_id)
    renewed = call("devices_token_create", world.tokens["practitioner"], path={"device_id": device_id})
    assert renewed.status_code == 200, renewed.content
    # The bare number older clients send still works.
    bare = call("devices_token_create", world.tokens["practitioner"], path={"device_id": device_id[2:]})
    assert bare.status_code == 200
    missing = call("devices_token_create", world.tokens["practitioner"], path={"device_id": "d:999999"})
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def _free_form_objects(node: Any, where: str, seen: set[str]) -> list[str]:
    """Paths of objects in a schema that say nothing of their properties (a document's
    ``content`` is its type's JSON Schema, from schemas/, and is not looked into)."""
    if isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        return _free_form_objects(resolve(node), f"{where}>{name}", seen | {name})
    if not isinstance(node, dict):
        return []
    found = []
    if node.get("type") == "object" and not node.get("properties") and not node.get("additionalProperties"):
        found.append(where)
    for key in ("properties",):
        for name, child in node.get(key, {}).items():
            if name != "content":
                found += _free_form_objects(child, f"{where}.{name}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += _free_form_objects(node[key], f"{where}[]", seen)
    for key in ("oneOf", "anyOf", "allOf"):
        for child in node.get(key, []):
            found += _free_form_objects(child, where, seen)
    return found


@pytest.mark.parametrize(
    "operation_id",
    [
        "review_queue_retrieve",
        "review_conflicts_retrieve",
        "review_conflicts_decide_create",
        "visits_submit_create",
        "visits_sign_off_create",
        "visits_return_create",
        "addenda_acknowledge_create",
    ],
)
def test_review_and_conflict_bodies_are_typed(operation_id):
    op = operation(operation_id)
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert resolve(schema).get("properties") or resolve(schema).get("oneOf"), operation_id
    untyped = _free_form_objects(schema, operation_id, set())
    if "requestBody" in op:
        untyped += _free_form_objects(op["requestBody"]["content"]["application/json"]["schema"], "in", set())
    assert not untyped, untyped


def test_a_client_that_knows_only_the_schema_gets_through_a_visit(world, practitioner, supervisor):
    """Operation ids, parameters and bodies from the schema; every answer checked against it."""
    login = call(
        "auth_token_create", None, body={"username": practitioner.username, "password": DEMO_PASSWORD}
    )
    token = login.json()["token"]
    cases = call("cases_list", token).json()
    case_id = cases["results"][0]["id"]
    created = call(
        "case_visits_create",
        token,
        path={"case_id": case_id},
        body={"content": {"visit_date": "2026-11-27T10:00:00Z", "visit_type": "statutory"}},
    )
    assert created.status_code == 201, created.content
    visit = created.json()
    read = call("visit_read", token, path={"doc_id": visit["id"]}).json()
    patched = call(
        "visit_patch",
        token,
        path={"doc_id": visit["id"]},
        body={"rev": read["rev"], "content": {"observations": "Amy was at home."}},
    ).json()
    stale = call("visit_patch", token, path={"doc_id": visit["id"]}, body={"rev": read["rev"], "content": {}})
    assert stale.status_code == 409 and stale.json()["current_rev"] == patched["rev"]
    submitted = call(
        "visits_submit_create", token, path={"doc_id": visit["id"]}, body={"rev": patched["rev"]}
    )
    manager = call(
        "auth_token_create", None, body={"username": supervisor.username, "password": DEMO_PASSWORD}
    ).json()["token"]
    queue = call("review_queue_retrieve", manager).json()
    assert visit["id"] in [item["id"] for item in queue["awaiting_sign_off"]]
    conflict = queue["conflicts"][0]
    detail = call("review_conflicts_retrieve", manager, path={"conflict_id": conflict["id"]}).json()
    assert len(detail["candidates"]) == 2 and all("value" in c for c in detail["candidates"])
    decided = call(
        "review_conflicts_decide_create", manager, path={"conflict_id": conflict["id"]}, body={"choice": 0}
    )
    assert decided.status_code == 200 and decided.json()["type"] == "visit"
    signed = call(
        "visits_sign_off_create", manager, path={"doc_id": visit["id"]}, body={"rev": submitted.json()["rev"]}
    )
    assert signed.json()["content"]["status"] == "signed_off"
    listed = call("case_visits_list", token, path={"case_id": case_id}, query={"status": "signed_off"}).json()
    assert [item["id"] for item in listed["results"]] == [visit["id"]]
    wrong = call("visit_read", token, path={"doc_id": "visit:" + "0" * 26})
    assert wrong.status_code == 404 and wrong.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("/api/devices/not-a-device/token/", "rest"),  # a path parameter outside its pattern
        ("/api/no-such-endpoint/", "rest"),
        ("/sync/no-such-database", "couch"),
    ],
    ids=["bad-path-parameter", "unknown-rest-url", "unknown-sync-url"],
)
def test_unknown_urls_answer_json_404_in_the_endpoints_format(api, practitioner, path, fmt):
    response = api(practitioner).post(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert {"rest": "code", "couch": "error"}[fmt] in response.json()


def test_request_bodies_say_what_the_server_accepts():
    """Unknown fields are refused, so the bodies are closed; a PATCH still needs its ``rev``;
    a decision's own value is never null; server-set content is read-only."""
    for path, method, op in operations():
        if "requestBody" not in op:
            continue
        body = resolve(op["requestBody"]["content"]["application/json"]["schema"])
        assert body.get("additionalProperties") is False, f"{method} {path}"
    patch = resolve(operation("visit_patch")["requestBody"]["content"]["application/json"]["schema"])
    assert set(patch["required"]) == {"rev", "content"}
    decide = resolve(
        operation("review_conflicts_decide_create")["requestBody"]["content"]["application/json"]["schema"]
    )
    assert decide["properties"]["value"]["not"] == {"type": "null"}
    content = resolve(operation("visit_replace")["requestBody"]["content"]["application/json"]["schema"])
    visit = resolve(content["properties"]["content"])
    assert visit["properties"]["author"]["readOnly"] is True
    assert "readOnly" not in visit["properties"]["observations"]
