"""Schemathesis against the whole REST API, in deep states: never a 5xx, every answer as documented.

Requests are generated from the OpenAPI document (valid and invalid data), sent with the
token of the role that can act on the operation (practitioner, supervisor, admin, or the
device itself; sometimes another role), mostly at real things seeded through the services
and the API (``api_world``): documents of every type, a visit awaiting sign-off, an open
conflict, an open addendum, a device, an allocation; a body's ``rev`` is the document's
current revision, so updates and workflow moves really happen. Each example runs inside a
savepoint rolled back afterwards, so every one starts from the same seeded world.

Checks: no server error, status code documented, response body matches its documented
schema, content type documented. The figures of a full run (requests, 5xx, violations) are
written to docs/api.md ("Schemathesis"), one row per database engine.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.records.models import Document

from .api_world import World, call, load_schema, seed_world

pytestmark = pytest.mark.django_db

SCHEMA = load_schema()
#: The same, generating no NUL characters: for the valid requests aimed at real things, which
#: should get through to the services (NUL is refused at the edge: test_hostile_input.py).
CLEAN = load_schema()
CLEAN.config.generation.update(allow_x00=False)
OPERATIONS = sorted(
    (op.ok() for op in SCHEMA.get_all_operations()), key=lambda op: (op.path, op.method.upper())
)
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
#: Examples per operation: with ~50 operations, about two minutes per database engine.
EXAMPLES = 24
DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
HEADING = "## Schemathesis"

#: Figures of this run, per engine: requests, operations and failures by check.
FIGURES: Counter[str] = Counter()
#: Status codes answered, per operation (printed with ``-s``: how deep the run got).
STATUSES: defaultdict[str, Counter[int]] = defaultdict(Counter)


def role_for(path: str, method: str) -> str:
    """The role that can do this operation (others are tried too, less often)."""
    if path.startswith(("/api/audit/", "/api/people/{doc_id}/export/", "/api/users/")) or path.endswith(
        ("/wipe/", "/retire/", "/readmit/")
    ):
        return "admin"
    if path.startswith(("/api/devices/me/", "/api/devices/wiped/")):
        return "device"
    if path.startswith(("/api/review/", "/api/allocations/")) or path.endswith(("/sign-off/", "/return/")):
        return "supervisor"
    if path.startswith("/api/cases/") and (
        path.count("/") <= 4 or path.endswith(("/close/", "/allocations/"))
    ):
        return "supervisor" if method != "GET" else "practitioner"
    if path == "/api/cases/" or path.endswith("/acknowledge/"):
        return "supervisor"
    return "practitioner"


def real_path_parameters(path: str, world: World, device_form: bool) -> dict[str, Any]:
    """Ids of seeded things for ``path``'s parameters."""
    values: dict[str, Any] = {}
    if "{case_id}" in path:
        values["case_id"] = world.case_id
    if "{doc_id}" in path:
        collection = path.split("/")[2]
        awaiting = path.endswith(("/sign-off/", "/return/"))
        values["doc_id"] = world.submitted_visit if awaiting else world.docs.get(collection)
    if "{conflict_id}" in path:
        values["conflict_id"] = world.conflict_id
    if "{user_id}" in path:
        values["user_id"] = world.user_ids["practitioner"]
    if "{allocation_id}" in path:
        values["allocation_id"] = world.allocation_id
    if "{device_id}" in path:
        values["device_id"] = f"d:{world.device_id}" if device_form else str(world.device_id)
    return values


def deepen(case: Any, world: World) -> None:
    """Point a generated body at real things: the document's current rev, a real team or user."""
    body = case.body
    if not isinstance(body, dict):
        return
    target = case.path_parameters.get("doc_id") or case.path_parameters.get("case_id")
    if "rev" in body and isinstance(target, str):
        rev = Document.objects.filter(pk=unquote(target)).values_list("rev", flat=True).first()
        if rev is not None:
            body["rev"] = rev
    if case.path == "/api/cases/" and "team" in body:
        body["team"] = world.team_id
    if case.path.endswith("/allocations/") and "user" in body:
        body["user"] = world.user_ids["colleague"]
    if case.path == "/api/tablet/discard-unsent/" and "device" in body:
        body["device"] = world.device_id
    if case.path.endswith("/decide/") and isinstance(body.get("choice"), int):
        body["choice"] %= 2  # the seeded conflict has two candidates


def strategies(operation: Any, world: World) -> Any:
    """Valid data at real things (most), valid data at generated ids, invalid data at real things."""
    real = real_path_parameters(operation.path, world, device_form=True)
    bare = real_path_parameters(operation.path, world, device_form=False)
    clean = CLEAN.find_operation_by_label(operation.label)
    options = [
        clean.as_strategy(GenerationMode.POSITIVE, path_parameters=real),
        clean.as_strategy(GenerationMode.POSITIVE, path_parameters=bare),
        operation.as_strategy(GenerationMode.POSITIVE),
    ]
    with contextlib.suppress(Exception):  # when nothing in the operation can be made invalid
        options.append(operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=real))
    return st.one_of(options)


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


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{op.method.upper()} {op.path}" for op in OPERATIONS])
def test_schemathesis_conformance(operation, world):
    primary = role_for(operation.path, operation.method.upper())
    roles = [primary] * 3 + sorted({"practitioner", "supervisor", "admin"} - {primary})
    started = time.perf_counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategies(operation, world), role=st.sampled_from(roles))
    def run(case: Any, role: str) -> None:
        savepoint = transaction.savepoint()
        try:
            deepen(case, world)
            headers = {"Authorization": f"Token {world.tokens[role]}"}
            case.headers = {**(case.headers or {}), **headers}
            response = call(case)
            FIGURES["requests"] += 1
            FIGURES["5xx"] += response.status_code >= 500
            FIGURES["2xx"] += response.status_code < 300
            STATUSES[f"{operation.method.upper()} {operation.path}"][response.status_code] += 1
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except Exception as failure:
                for problem in getattr(failure, "exceptions", [failure]):
                    FIGURES[type(problem).__name__] += 1
                raise
        finally:
            transaction.savepoint_rollback(savepoint)

    run()
    FIGURES["operations"] += 1
    FIGURES["seconds"] += time.perf_counter() - started
    label = f"{operation.method.upper()} {operation.path}"
    print(label, dict(sorted(STATUSES[label].items())))  # shown with -s
    if FIGURES["operations"] == len(OPERATIONS):
        write_figures()


def write_figures() -> None:
    """Rewrite this engine's row of the "Schemathesis" section of docs/api.md (the other
    engine's row is kept)."""
    engine = connection.vendor
    schema_violations = sum(
        FIGURES[name] for name in ("JsonSchemaError", "DiscriminatorMismatch", "ContentDeserializationError")
    )
    status_violations = FIGURES["UndefinedStatusCode"]
    row = (
        f"| {engine} | {FIGURES['operations']} | {FIGURES['requests']:,} | {FIGURES['2xx']:,} | {FIGURES['5xx']} | "
        f"{schema_violations} | {status_violations} | {FIGURES['seconds']:.0f} s |"
    )
    text = DOC.read_text()
    match = re.search(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", text, flags=re.M | re.S)
    rows = {}
    if match:
        for line in match.group(0).splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if line.startswith("| ") and cells[0] in {"sqlite", "postgresql"}:
                rows[cells[0]] = line
    rows[engine] = row
    section = (
        f"""{HEADING}

`tests/backend/common/test_openapi_fuzz.py` runs [Schemathesis](https://schemathesis.io) against
every operation of `/api/schema/` in every `make test` run, on each database engine, and
rewrites this table: {EXAMPLES} generated requests per operation (valid and invalid data), with
the token of the role that can act (sometimes another role's), mostly at real documents, a visit
awaiting sign-off, an open conflict and a device seeded for the test, each body's `rev` the
document's current one, so updates and workflow moves really happen. Checks: no server error,
status code documented, response body valid against its documented schema, content type
documented; any failure fails the suite. *2xx* counts the requests that succeeded (how deep the
run got). Last run: {date.today().isoformat()}.

| database | operations | requests | 2xx | 5xx | response-schema violations | undocumented status codes | time |
|---|---|---|---|---|---|---|---|
"""
        + "\n".join(rows[k] for k in sorted(rows))
        + "\n"
    )
    if match:
        rest = text[match.end() :]
        text = text[: match.start()] + section + ("\n" if rest.strip() else "") + rest
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text)
