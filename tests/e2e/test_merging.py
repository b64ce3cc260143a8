"""Concurrent offline edits with real peers (DESIGN §6): PouchDB 9 tablets (Node, memory
adapter, tests/node/merge_peers.mjs) and the Python client (``doorstep_client``) edit the same
visit while apart, then sync with the live server. The server merges once, by the schema's
``x-merge`` rules, and every peer converges on one winning revision; what the rules cannot
decide goes to the supervisor, and an edit to a visit signed off meanwhile becomes an addendum.

1. two tablets edit paragraphs, actions and the risk level of one visit offline (either push
   order): one merged revision everywhere, the safe risk level until the supervisor decides;
2. a PouchDB tablet and the Python client (one worker's two devices) edit a visit that is
   signed off meanwhile: the signed-off record stands, each edit becomes an addendum;
3. two tablets and the Python client make chained offline edits and sync in seeded random
   orders and modes until quiescent: one winner, one live leaf, nothing anyone wrote lost;
4. three tablets push at the same moment: the same convergence;
5. review items: candidates from a merge of merges are credited to the edits that wrote them
   (one open item per field); a visit with an open conflict cannot be signed off; a decision
   never changes a signed-off record.

Each test opens its own case (as the team's supervisor, through REST) and allocates the
practitioners it needs, so nothing here touches the seeded documents other tests use. No
sleeps: every step waits for a peer's answer, and "quiescent" means a whole round of syncs in
which no peer moved a document.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from doorstep_client import DoorstepClient

from sync import load_schemas
from tests.e2e.conftest import Snapshot
from tests.e2e.node import NodeProcess
from tests.live import Account, Device, LiveServer

pytestmark = pytest.mark.e2e

VISIT = load_schemas()["visit"]
PASSPHRASE = "merging tests passphrase 2026"
OBSERVATIONS = [
    "Arrived at 10:00; the front door was answered by mum.",
    "The kitchen was clean and there was food in the fridge.",
    "Amy showed me her bedroom. It was tidy and she has her own bed.",
    "Mum said she is sleeping badly and the baby wakes at night.",
    "Dad was at work; his brother was visiting.",
    "We agreed to meet again in two weeks.",
]


# --- the team and its cases -------------------------------------------------------------------


@dataclass
class Worker:
    username: str
    token: str
    user_id: int

    @property
    def ref(self) -> str:
        return f"u:{self.user_id}"


@dataclass
class Team:
    id: int
    supervisor: Worker
    practitioners: list[Worker]


@pytest.fixture(scope="module")
def team(server: LiveServer, accounts: dict[str, Account], seeded: Snapshot) -> Team:
    """The first team (by name) with a single supervisor and at least three practitioners.

    ``seeded`` is taken first on purpose: other modules pick cases from the database *as
    seeded*, and the cases opened here must not be among them."""
    assert seeded.documents
    by_team: dict[str, list[Account]] = {}
    for account in accounts.values():
        for name in account.teams:
            by_team.setdefault(name, []).append(account)
    for name in sorted(by_team):
        members = by_team[name]
        supervisors = [a for a in members if a.role == "supervisor"]
        practitioners = sorted(a.username for a in members if a.role == "practitioner")
        if len(supervisors) == 1 and len(practitioners) >= 3:
            break
    else:
        raise AssertionError("no team with one supervisor and three practitioners")
    workers = []
    for username in [supervisors[0].username, *practitioners]:
        token, user = server.login(username)
        workers.append(Worker(username, token, int(user["id"])))
    me = server.api("GET", "/api/me/", workers[0].token)
    team_id = next(t["id"] for t in me["managed_teams"] if t["name"] == name)
    return Team(id=team_id, supervisor=workers[0], practitioners=workers[1:])


def open_case(server: LiveServer, team: Team, lead: Worker, *co_workers: Worker) -> str:
    """A new case of ``team``, opened and allocated by its supervisor through REST."""
    case = server.api(
        "POST",
        "/api/cases/",
        team.supervisor.token,
        expect=201,
        json={
            "team": team.id,
            "content": {
                "case_type": "early_help",
                "visit_frequency_days": 20,
                "family_name": f"Merging family {uuid.uuid4().hex[:6]}",
                "address": {"line1": "1 Test Row", "town": "Doorstep", "postcode": "DS1 1AA"},
            },
        },
    )
    for worker, role in [(lead, "lead"), *((w, "co_worker") for w in co_workers)]:
        server.api(
            "POST",
            f"/api/cases/{case['id']}/allocations/",
            team.supervisor.token,
            expect=201,
            json={"user": worker.user_id, "role": role},
        )
    return str(case["id"])


def create_visit(server: LiveServer, worker: Worker, case_id: str, **content: Any) -> dict[str, Any]:
    body = {
        "visit_date": "2026-11-20T10:00:00Z",
        "visit_type": "planned",
        "observations": "\n\n".join(OBSERVATIONS),
        "actions": [{"id": "a-base", "text": "Review the plan at the next visit", "owner": "social worker"}],
        **content,
    }
    return server.api(
        "POST", f"/api/cases/{case_id}/visits/", worker.token, expect=201, json={"content": body}
    )


def paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


def with_paragraph(text: str, index: int, new: str) -> str:
    parts = paragraphs(text)
    parts[index] = new
    return "\n\n".join(parts)


def server_leaves(server: LiveServer, device: Device, doc_id: str) -> list[dict[str, Any]]:
    """Every leaf the server's revision tree holds for ``doc_id`` (``open_revs=all``)."""
    with server.client(device.token) as client:
        response = client.get(f"/sync/caseload/{doc_id}", params={"open_revs": "all"})
    assert response.status_code == 200, response.text
    return [entry["ok"] for entry in response.json() if "ok" in entry]


def live_leaves(server: LiveServer, device: Device, doc_id: str) -> list[str]:
    return sorted(leaf["_rev"] for leaf in server_leaves(server, device, doc_id) if not leaf.get("_deleted"))


# --- the Python client ------------------------------------------------------------------------


class PythonTablet:
    """The Python client (clients/python) as a device: its own home, logged in and enrolled
    with a passphrase, syncing with ``DoorstepClient.sync`` (push, then pull)."""

    def __init__(
        self,
        server: LiveServer,
        home: Path,
        worker: Worker,
        accounts: dict[str, Account],
        name: str = "python-merge",
    ) -> None:
        self.client = DoorstepClient(home, server.url, retries=1)
        user = self.client.login(worker.username, accounts[worker.username].password)
        assert user["id"] == worker.user_id
        self.device_id = self.client.enrol(PASSPHRASE, name=name)

    def reopen(self) -> None:
        """Close and unlock again with the passphrase (as after a restart of the app)."""
        home, url = self.client.home.root, self.client.config.server
        self.client.close()
        self.client = DoorstepClient(home, url, retries=1)
        self.client.unlock(PASSPHRASE)


# --- the PouchDB tablets ----------------------------------------------------------------------


class Tablets:
    """PouchDB tablets in one Node process (tests/node/merge_peers.mjs), one command at a time."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.process = NodeProcess("merge_peers.mjs", {})
        self.process.expect("ready", timeout=60)
        self.devices: dict[str, Device] = {}
        self._seq = itertools.count(1)

    def call(self, cmd: str, **args: Any) -> Any:
        seq = next(self._seq)
        self.process.send({"cmd": cmd, "seq": seq, **args})
        reply = self.process.expect("reply", timeout=60)
        assert reply["seq"] == seq, reply
        assert reply["ok"], f"{cmd} {args.get('name')}: {reply['error']}"
        return reply["result"]

    def add(self, name: str, device: Device) -> None:
        self.devices[name] = device
        self.call(
            "add",
            name=name,
            url=self.server.sync_url,
            token=device.token,
            device_id=device.id,
            private_key=device.private_b64,
        )

    def pull(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("pull", name=name)
        assert result["failed"] is None and result["doc_write_failures"] == 0, result
        return result

    def push(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("push", name=name)
        assert result["failed"] is None and result["denied"] == [], result
        assert result["doc_write_failures"] == 0, result
        return result

    def sync(self, name: str) -> dict[str, Any]:
        """Push and pull at the same time (what ``PouchDB.sync`` does)."""
        result: dict[str, Any] = self.call("sync", name=name)
        for direction in ("push", "pull"):
            found = result[direction]
            assert found["failed"] is None and found["denied"] == [], result
            assert found["doc_write_failures"] == 0, result
        return result

    def push_all(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """Several tablets push at the same moment (concurrent requests to the server)."""
        results: dict[str, dict[str, Any]] = self.call("push_all", names=names)
        for name, result in results.items():
            assert result["failed"] is None and result["denied"] == [], (name, result)
        return results

    def edit(self, name: str, doc_id: str, **secret: Any) -> dict[str, Any]:
        """An offline edit of secret fields; the new local revision, read back."""
        self.call("edit", name=name, id=doc_id, secret=secret, user_ref=self.devices[name].user_ref)
        return self.read(name, doc_id)

    def read(self, name: str, doc_id: str) -> dict[str, Any]:
        """The local winner with its whole content (clear meta joined with the decrypted body)."""
        doc: dict[str, Any] | None = self.call("read", name=name, id=doc_id)
        assert doc is not None, f"{name} does not hold {doc_id}"
        doc["content"] = VISIT.join(doc["meta"], doc["secret"]) if doc["type"] == "visit" else None
        return doc

    def leaves(self, name: str, doc_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("leaves", name=name, id=doc_id)
        return result

    def docs(self, name: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("docs", name=name)
        return result

    def close(self) -> None:
        try:
            self.process.send({"cmd": "quit"})
            self.process.finish(timeout=30)
        finally:
            self.process.close()


@pytest.fixture
def tablets(server: LiveServer) -> Iterator[Tablets]:
    fleet = Tablets(server)
    try:
        yield fleet
    finally:
        fleet.close()


# --- 1. two tablets edit the same visit offline -----------------------------------------------


@pytest.mark.parametrize("first", ["a", "b"], ids=["a-pushes-first", "b-pushes-first"])
def test_two_tablets_edit_one_visit_offline_and_a_supervisor_decides_the_risk(
    server: LiveServer, team: Team, tablets: Tablets, first: str
) -> None:
    lead, coworker = team.practitioners[0], team.practitioners[1]
    supervisor = team.supervisor
    case_id = open_case(server, team, lead, coworker)
    created = create_visit(server, lead, case_id, risk_level="medium")
    visit_id = created["id"]
    tablets.add("a", server.enrol(lead.token, "pouch-merge-a"))
    tablets.add("b", server.enrol(coworker.token, "pouch-merge-b"))
    for name in ("a", "b"):
        tablets.pull(name)
        assert tablets.read(name, visit_id)["rev"] == created["rev"]

    # Offline: each tablet edits the revision it pulled.
    base = tablets.read("a", visit_id)["content"]
    text_a = f"Arrived at 10:05; mum answered and let me in straight away ({uuid.uuid4().hex[:8]})."
    text_b = f"Mum said she sleeps badly; the health visitor is aware ({uuid.uuid4().hex[:8]})."
    action_a = {"id": f"a-{uuid.uuid4().hex[:10]}", "text": "Ring the school about attendance"}
    action_b = {
        "id": f"b-{uuid.uuid4().hex[:10]}",
        "text": "Book a GP appointment for mum",
        "owner": "parent",
    }
    edit_a = tablets.edit(
        "a",
        visit_id,
        observations=with_paragraph(base["observations"], 0, text_a),
        actions=[*base["actions"], action_a],
        risk_level="low",
    )
    edit_b = tablets.edit(
        "b",
        visit_id,
        observations=with_paragraph(base["observations"], 3, text_b),
        actions=[*base["actions"], action_b],
        risk_level="high",
    )
    assert (
        edit_a["rev"] != edit_b["rev"] and edit_a["rev"].startswith("2-") and edit_b["rev"].startswith("2-")
    )

    order = ["a", "b"] if first == "a" else ["b", "a"]
    for name in order:
        assert tablets.push(name)["docs_written"] == 1
    for name in order:
        tablets.pull(name)

    # One winner, the same on both tablets and the server, with no open conflict anywhere.
    finals = {name: tablets.read(name, visit_id) for name in ("a", "b")}
    assert finals["a"]["rev"] == finals["b"]["rev"]
    winner = finals["a"]["rev"]
    for name, final in finals.items():
        assert final["conflicts"] == [], (name, final["conflicts"])
        assert [leaf["rev"] for leaf in tablets.leaves(name, visit_id) if not leaf["deleted"]] == [winner]
    assert finals["a"]["content"] == finals["b"]["content"]
    leaves = server_leaves(server, tablets.devices["a"], visit_id)
    assert [leaf["_rev"] for leaf in leaves if not leaf.get("_deleted")] == [winner]
    assert len(leaves) == 2, leaves  # the other branch was closed by the merge
    rest = server.api("GET", f"/api/visits/{visit_id}/", lead.token)
    assert rest["rev"] == winner and rest["conflicts"] == []
    assert rest["content"] == finals["a"]["content"]

    merged = finals["a"]["content"]
    expected = list(OBSERVATIONS)
    expected[0], expected[3] = text_a, text_b
    assert paragraphs(merged["observations"]) == expected  # both paragraphs, nothing else touched
    kept, added = merged["actions"][: len(base["actions"])], merged["actions"][len(base["actions"]) :]
    assert kept == base["actions"]
    assert sorted(added, key=lambda a: a["id"]) == sorted([action_a, action_b], key=lambda a: a["id"])
    assert merged["risk_level"] == "high"  # the safe value until a supervisor decides
    assert merged["decisions_pending"] == ["risk_level"]
    assert rest["decisions_pending"] == ["risk_level"]

    # The supervisor's queue holds one conflict for this visit: risk_level, both sides.
    queue = server.api("GET", "/api/review/queue/", supervisor.token)
    conflicts = [c for c in queue["conflicts"] if c["document_id"] == visit_id]
    assert [c["field"] for c in conflicts] == ["risk_level"], conflicts
    detail = server.api("GET", f"/api/review/conflicts/{conflicts[0]['id']}/", supervisor.token)
    assert detail["field"] == "risk_level" and detail["rule"] == "review"
    assert detail["base"] == "medium" and detail["decided_at"] is None
    sides = {c["value"]: c for c in detail["candidates"]}
    assert set(sides) == {"low", "high"}, detail["candidates"]
    assert (sides["low"]["author"], sides["low"]["rev"]) == (lead.ref, edit_a["rev"])
    assert (sides["high"]["author"], sides["high"]["rev"]) == (coworker.ref, edit_b["rev"])
    assert sides["low"]["edited_at"] == edit_a["meta"]["updated_at"]
    assert sides["high"]["edited_at"] == edit_b["meta"]["updated_at"]
    assert sides["low"]["device"] == tablets.devices["a"].id
    assert sides["high"]["device"] == tablets.devices["b"].id

    # The supervisor decides (the lower value: a decision, not the safe default) ...
    choice = next(i for i, c in enumerate(detail["candidates"]) if c["value"] == "low")
    decided = server.api(
        "POST", f"/api/review/conflicts/{detail['id']}/decide/", supervisor.token, json={"choice": choice}
    )
    assert decided["content"]["risk_level"] == "low" and decided["decisions_pending"] == []
    queue = server.api("GET", "/api/review/queue/", supervisor.token)
    assert not [c for c in queue["conflicts"] if c["document_id"] == visit_id]
    detail = server.api("GET", f"/api/review/conflicts/{detail['id']}/", supervisor.token)
    assert detail["decided_at"] is not None and detail["decision_rev"] == decided["rev"]

    # ... and after a pull both tablets show the decision and nothing pending.
    for name in ("a", "b"):
        tablets.pull(name)
        after = tablets.read(name, visit_id)
        assert after["rev"] == decided["rev"] and after["conflicts"] == []
        assert after["content"]["risk_level"] == "low"
        assert after["content"]["decisions_pending"] == []
        assert after["content"]["observations"] == merged["observations"]
        assert after["content"] == decided["content"]


# --- 2. an offline edit of a visit signed off meanwhile ---------------------------------------


def test_offline_edits_of_a_visit_signed_off_meanwhile_become_addenda(
    server: LiveServer, team: Team, accounts: dict[str, Account], tablets: Tablets, tmp_path: Path
) -> None:
    """One worker with two devices, a PouchDB tablet and the Python client, each editing the
    submitted visit offline while the supervisor signs it off on the web."""
    worker, supervisor = team.practitioners[2], team.supervisor
    case_id = open_case(server, team, worker)
    created = create_visit(server, worker, case_id, analysis="Mum is coping; no new concerns.")
    visit_id = created["id"]
    submitted = server.api(
        "POST", f"/api/visits/{visit_id}/submit/", worker.token, json={"rev": created["rev"]}
    )
    assert submitted["content"]["status"] == "submitted"
    tablets.add("t", server.enrol(worker.token, "pouch-signed-off"))
    tablets.pull("t")
    pulled = tablets.read("t", visit_id)
    assert pulled["rev"] == submitted["rev"] and pulled["meta"]["status"] == "submitted"
    python = PythonTablet(server, tmp_path / "python-tablet", worker, accounts, name="python-signed-off")
    try:
        assert python.client.sync().ok
        assert python.client.read(visit_id).rev == submitted["rev"]

        # Offline, the tablet adds to the observations and rewrites the analysis; the Python
        # client adds the child's words and an action ...
        late = f"Forgot to record: the dog was loose in the garden ({uuid.uuid4().hex[:8]})."
        observations = pulled["content"]["observations"] + "\n\n" + late
        analysis = "On reflection the dog is a risk to the baby."
        edit = tablets.edit("t", visit_id, observations=observations, analysis=analysis)
        voice = f"Amy said the dog scares her ({uuid.uuid4().hex[:8]})."
        action = {"id": f"py-{uuid.uuid4().hex[:10]}", "text": "Ask about the dog at the next visit"}
        py_edit = python.client.edit(
            visit_id, {"child_voice": voice, "actions": [*pulled["content"]["actions"], action]}
        )
        # ... while the supervisor signs the visit off on the web.
        signed = server.api(
            "POST",
            f"/api/visits/{visit_id}/sign-off/",
            supervisor.token,
            json={"rev": submitted["rev"], "comment": "Good record."},
        )
        assert signed["content"]["status"] == "signed_off"

        assert tablets.push("t")["docs_written"] == 1
        tablets.pull("t")
        synced = python.client.sync()
        assert synced.ok and synced.push.docs_written == 1, synced
        tablets.pull("t")

        # The signed-off record is exactly what was signed off, on the server and both devices.
        rest = server.api("GET", f"/api/visits/{visit_id}/", worker.token)
        assert rest["content"] == signed["content"]
        assert rest["conflicts"] == [] and rest["decisions_pending"] == []
        final = tablets.read("t", visit_id)
        record = python.client.read(visit_id)
        assert final["rev"] == record.rev == rest["rev"]
        assert final["conflicts"] == [] and record.conflicts == ()
        assert final["content"] == record.content == signed["content"]
        assert late not in final["content"]["observations"]
        assert live_leaves(server, tablets.devices["t"], visit_id) == [rest["rev"]]
        assert [leaf["rev"] for leaf in tablets.leaves("t", visit_id) if not leaf["deleted"]] == [rest["rev"]]

        # Each edit is kept as an addendum linked to the visit, and both reached both devices ...
        found = [d for d in tablets.docs("t") if d["type"] == "addendum" and d["case_id"] == case_id]
        addenda = {a["meta"]["source_rev"]: a for a in (tablets.read("t", d["id"]) for d in found)}
        assert set(addenda) == {edit["rev"], py_edit.rev}, addenda
        proposals = {
            edit["rev"]: {"observations": observations, "analysis": analysis},
            py_edit.rev: {"child_voice": voice, "actions": [*pulled["content"]["actions"], action]},
        }
        on_python = {
            r.content["source_rev"]: r for r in python.client.records(case_id=case_id, doc_type="addendum")
        }
        for source_rev, addendum in addenda.items():
            assert addendum["meta"]["visit_id"] == visit_id
            assert addendum["meta"]["status"] == "open"
            assert addendum["secret"]["proposed_changes"] == proposals[source_rev]
            rest_addendum = server.api("GET", f"/api/addenda/{addendum['id']}/", supervisor.token)
            assert rest_addendum["rev"] == addendum["rev"]
            assert rest_addendum["content"]["proposed_changes"] == proposals[source_rev]
            assert rest_addendum["content"]["source_rev"] == source_rev
            assert on_python[source_rev].id == addendum["id"] and on_python[source_rev].rev == addendum["rev"]
            assert on_python[source_rev].content == rest_addendum["content"]
        # ... and the supervisor is told.
        queue = server.api("GET", "/api/review/queue/", supervisor.token)
        listed = sorted(a["id"] for a in queue["addenda"] if a["visit_id"] == visit_id)
        assert listed == sorted(a["id"] for a in addenda.values())
    finally:
        python.client.close()


# --- 3. three devices, chained offline edits, random sync orders ------------------------------

SEEDS = [11, 2026, 90210]
OWN_FIELD = {"a": "analysis", "b": "child_voice", "py": "home_environment"}


@dataclass
class Plan:
    """What one device wrote offline, to check that none of it went missing."""

    paragraph: int
    paragraph_text: str = ""
    field_text: str | None = None
    action: dict[str, Any] | None = None
    revs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def trio(
    server: LiveServer, team: Team, accounts: dict[str, Account], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Tablets, PythonTablet, Worker]]:
    """A case held by three practitioners: two PouchDB tablets and one Python client."""
    a, b, c = team.practitioners[:3]
    case_id = open_case(server, team, a, b, c)
    fleet = Tablets(server)
    try:
        fleet.add("a", server.enrol(a.token, "pouch-trio-a"))
        fleet.add("b", server.enrol(b.token, "pouch-trio-b"))
        python = PythonTablet(server, tmp_path_factory.mktemp("python-tablet"), c, accounts)
        try:
            yield case_id, fleet, python, a
        finally:
            python.client.close()
    finally:
        fleet.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_three_devices_chained_offline_edits_converge_in_any_sync_order(
    server: LiveServer, trio: tuple[str, Tablets, PythonTablet, Worker], seed: int
) -> None:
    case_id, tablets, python, author = trio
    rng = random.Random(seed)
    created = create_visit(
        server,
        author,
        case_id,
        analysis="Needs are being met.",
        child_voice="Amy said she likes school.",
        home_environment="A two-bedroom flat.",
    )
    visit_id = created["id"]
    devices = ["a", "b", "py"]
    for name in ("a", "b"):
        tablets.pull(name)
        assert tablets.read(name, visit_id)["rev"] == created["rev"]
    summary = python.client.sync()
    assert summary.ok, summary
    assert python.client.read(visit_id).rev == created["rev"]

    # Offline: every device makes two or three successive edits, each one its own revision.
    targets = rng.sample(range(len(OBSERVATIONS)), len(devices))
    plans = {name: Plan(paragraph=target) for name, target in zip(devices, targets, strict=True)}
    for name in devices:
        plan = plans[name]
        tag = f"{name}-{seed}-{uuid.uuid4().hex[:6]}"
        steps = ["paragraph", *rng.sample(["sentence", "field", "action"], rng.choice([1, 2]))]
        for step in steps:
            current = read_content(tablets, python, name, visit_id)
            changes: dict[str, Any] = {}
            if step == "paragraph":
                plan.paragraph_text = f"{name.upper()} rewrote this paragraph ({tag})."
                changes["observations"] = with_paragraph(
                    current["observations"], plan.paragraph, plan.paragraph_text
                )
            elif step == "sentence":
                plan.paragraph_text += f" {name.upper()} added a sentence later ({tag})."
                changes["observations"] = with_paragraph(
                    current["observations"], plan.paragraph, plan.paragraph_text
                )
            elif step == "field":
                plan.field_text = f"{current[OWN_FIELD[name]]} Added by {name} ({tag})."
                changes[OWN_FIELD[name]] = plan.field_text
            else:
                plan.action = {"id": f"act-{tag}", "text": f"Follow-up agreed on device {name}"}
                changes["actions"] = [*current["actions"], plan.action]
            plan.revs.append(edit_on(tablets, python, name, visit_id, changes))
        assert len(plan.revs) == len(set(plan.revs)) == len(steps)

    # Back online, in a seeded random order; then whole rounds (each in its own random order)
    # until one round moves nothing anywhere.
    order = rng.sample(devices, len(devices))
    moved = sync_round(tablets, python, order, rng)
    assert moved > 0
    for _ in range(5):
        if sync_round(tablets, python, rng.sample(devices, len(devices)), rng) == 0:
            break
    else:
        raise AssertionError("the devices did not become quiescent within five rounds")

    # One winner everywhere, the same content everywhere, and one live leaf on the server.
    finals = {name: tablets.read(name, visit_id) for name in ("a", "b")}
    record = python.client.read(visit_id)
    assert finals["a"]["rev"] == finals["b"]["rev"] == record.rev, (order, finals, record.rev)
    winner = record.rev
    assert finals["a"]["conflicts"] == finals["b"]["conflicts"] == [] and record.conflicts == ()
    assert finals["a"]["content"] == finals["b"]["content"] == record.content
    # Three branches met on the server: two of them were closed by merges (tombstones).
    leaves = server_leaves(server, tablets.devices["a"], visit_id)
    assert sorted(leaf["_rev"] for leaf in leaves if not leaf.get("_deleted")) == [winner]
    assert len([leaf for leaf in leaves if leaf.get("_deleted")]) == 2, leaves
    rest = server.api("GET", f"/api/visits/{visit_id}/", author.token)
    assert rest["rev"] == winner and rest["conflicts"] == [] and rest["content"] == record.content
    assert not rest["decisions_pending"]

    # Nothing any device wrote is missing; the paragraphs nobody touched are as they were.
    merged = record.content
    expected = list(OBSERVATIONS)
    for plan in plans.values():
        expected[plan.paragraph] = plan.paragraph_text
    assert paragraphs(merged["observations"]) == expected, (order, merged["observations"])
    for name, plan in plans.items():
        if plan.field_text is not None:
            assert merged[OWN_FIELD[name]] == plan.field_text, name
        else:
            assert merged[OWN_FIELD[name]] == created["content"][OWN_FIELD[name]], name
    actions = {a["id"]: a for a in merged["actions"]}
    wanted = {"a-base", *(p.action["id"] for p in plans.values() if p.action)}
    assert set(actions) == wanted
    for plan in plans.values():
        if plan.action:
            assert actions[plan.action["id"]] == plan.action

    # The Python client's replica, reopened with the passphrase, still holds the same winner.
    python.reopen()
    assert python.client.read(visit_id).rev == winner


def read_content(tablets: Tablets, python: PythonTablet, name: str, doc_id: str) -> dict[str, Any]:
    if name == "py":
        return python.client.read(doc_id).content
    content: dict[str, Any] = tablets.read(name, doc_id)["content"]
    return content


def edit_on(tablets: Tablets, python: PythonTablet, name: str, doc_id: str, changes: dict[str, Any]) -> str:
    if name == "py":
        return python.client.edit(doc_id, changes).rev
    return str(tablets.edit(name, doc_id, **changes)["rev"])


MODES = ["push-pull", "pull-push", "both"]


def sync_round(tablets: Tablets, python: PythonTablet, order: list[str], rng: random.Random) -> int:
    """Each device in ``order`` syncs; how many documents moved either way. The Python client
    pushes then pulls (``DoorstepClient.sync``); a tablet, in a mode the seeded ``rng`` picks:
    push then pull, pull then push (pulling the others' merge onto its own unpushed edits), or
    both at once as ``PouchDB.sync`` does."""
    moved = 0
    for name in order:
        if name == "py":
            summary = python.client.sync()
            assert summary.ok, (summary.refused, summary.not_received)
            moved += summary.push.docs_written + summary.pull.docs_written
            continue
        mode = rng.choice(MODES)
        if mode == "push-pull":
            moved += tablets.push(name)["docs_written"]
            moved += tablets.pull(name)["docs_written"]
        elif mode == "pull-push":
            moved += tablets.pull(name)["docs_written"]
            moved += tablets.push(name)["docs_written"]
        else:
            both = tablets.sync(name)
            moved += both["push"]["docs_written"] + both["pull"]["docs_written"]
    return moved


# --- 4. tablets reconnecting at the same moment -----------------------------------------------


def test_tablets_pushing_at_the_same_moment_converge(
    server: LiveServer, team: Team, tablets: Tablets
) -> None:
    """Three tablets come back online together: their pushes reach the server concurrently
    (the server serialises writes to one document); whatever the interleaving, one merged
    revision results, with every paragraph and action."""
    workers = team.practitioners[:3]
    case_id = open_case(server, team, workers[0], *workers[1:])
    created = create_visit(server, workers[0], case_id)
    visit_id = created["id"]
    names = ["p", "q", "r"]
    for name, worker in zip(names, workers, strict=True):
        tablets.add(name, server.enrol(worker.token, f"pouch-together-{name}"))
        tablets.pull(name)
    written = {}
    for index, name in enumerate(names):
        base = tablets.read(name, visit_id)["content"]
        text = f"{name.upper()} rewrote paragraph {index * 2 + 1} ({uuid.uuid4().hex[:8]})."
        tablets.edit(name, visit_id, observations=with_paragraph(base["observations"], index * 2, text))
        action = {"id": f"together-{name}", "text": f"Action from {name}"}
        tablets.edit(name, visit_id, actions=[*base["actions"], action])
        written[index * 2] = text
    pushed = tablets.push_all(names)
    assert [pushed[name]["docs_written"] for name in names] == [1, 1, 1]
    for _ in range(2):  # the first tablets to pull may miss the last merge
        for name in names:
            tablets.pull(name)
    finals = [tablets.read(name, visit_id) for name in names]
    assert len({f["rev"] for f in finals}) == 1 and all(f["conflicts"] == [] for f in finals)
    assert finals[0]["content"] == finals[1]["content"] == finals[2]["content"]
    leaves = server_leaves(server, tablets.devices["p"], visit_id)
    assert [leaf["_rev"] for leaf in leaves if not leaf.get("_deleted")] == [finals[0]["rev"]]
    assert len(leaves) == 3, leaves
    expected = list(OBSERVATIONS)
    for index, text in written.items():
        expected[index] = text
    assert paragraphs(finals[0]["content"]["observations"]) == expected
    assert {a["id"] for a in finals[0]["content"]["actions"]} == {"a-base", *(f"together-{n}" for n in names)}
    assert not finals[0]["content"].get("decisions_pending")


# --- 5. review items: attribution, sign-off blocked, signed-off visits never change -----------

RISKS = {"x": "low", "y": "high", "z": "medium"}


def three_tablets_disagree_on_the_risk(
    server: LiveServer, team: Team, tablets: Tablets
) -> tuple[str, dict[str, dict[str, Any]]]:
    """Three tablets set the risk level of one draft visit to three different values offline
    and push one after the other (x, y, z): two merges, each leaving risk_level undecided."""
    workers = team.practitioners[:3]
    case_id = open_case(server, team, workers[0], *workers[1:])
    visit_id = create_visit(server, workers[0], case_id, risk_level="none")["id"]
    for name, worker in zip(RISKS, workers, strict=True):
        tablets.add(name, server.enrol(worker.token, f"pouch-risk-{name}"))
        tablets.pull(name)
    edits = {name: tablets.edit(name, visit_id, risk_level=value) for name, value in RISKS.items()}
    for name in RISKS:
        assert tablets.push(name)["docs_written"] == 1
    for name in RISKS:
        tablets.pull(name)
    finals = [tablets.read(name, visit_id) for name in RISKS]
    assert len({f["rev"] for f in finals}) == 1 and all(f["conflicts"] == [] for f in finals)
    assert finals[0]["content"]["risk_level"] == "high"  # the safe value
    assert finals[0]["content"]["decisions_pending"] == ["risk_level"]
    return visit_id, edits


def two_tablets_overflow_the_actions(
    server: LiveServer, team: Team, tablets: Tablets
) -> tuple[str, dict[str, dict[str, Any]]]:
    """Two tablets each add 50 actions to a submitted visit: the merge would exceed the
    schema's 100 actions, so the leaves stay as CouchDB conflicts and the whole document goes
    to review (docs/architecture.md, "Concurrent edits")."""
    workers = team.practitioners[:2]
    case_id = open_case(server, team, workers[0], workers[1])
    created = create_visit(server, workers[0], case_id)
    visit_id = created["id"]
    server.api("POST", f"/api/visits/{visit_id}/submit/", workers[0].token, json={"rev": created["rev"]})
    edits = {}
    for name, worker in zip(["x", "y"], workers, strict=True):
        tablets.add(name, server.enrol(worker.token, f"pouch-whole-{name}"))
        tablets.pull(name)
        base = tablets.read(name, visit_id)["content"]
        extra = [{"id": f"{name}-{i}", "text": f"Task {i} from {name}"} for i in range(50)]
        edits[name] = tablets.edit(name, visit_id, actions=[*base["actions"], *extra])
    for name in edits:
        assert tablets.push(name)["docs_written"] == 1
    return visit_id, edits


def open_conflicts(server: LiveServer, team: Team, doc_id: str) -> list[dict[str, Any]]:
    queue = server.api("GET", "/api/review/queue/", team.supervisor.token)
    return [
        server.api("GET", f"/api/review/conflicts/{c['id']}/", team.supervisor.token)
        for c in queue["conflicts"]
        if c["document_id"] == doc_id
    ]


@pytest.mark.parametrize("route", ["three-tablets-disagree-on-the-risk", "two-tablets-overflow-the-actions"])
def test_conflicts_name_their_authors_block_sign_off_and_never_change_a_signed_off_visit(
    server: LiveServer, team: Team, tablets: Tablets, route: str
) -> None:
    supervisor, worker = team.supervisor.token, team.practitioners[0].token
    if route == "three-tablets-disagree-on-the-risk":
        visit_id, edits = three_tablets_disagree_on_the_risk(server, team, tablets)
    else:
        visit_id, edits = two_tablets_overflow_the_actions(server, team, tablets)
    problems: list[str] = []

    # Every candidate put to the supervisor is one device's edit, with its author, time, device.
    conflicts = open_conflicts(server, team, visit_id)
    assert conflicts, "the scenario must send something to review"
    by_rev = {edit["rev"]: (name, edit) for name, edit in edits.items()}
    for conflict in conflicts:
        for candidate in conflict["candidates"]:
            if candidate["rev"] not in by_rev:
                problems.append(
                    f"{conflict['field']} candidate {candidate['value']!r} is attributed to revision "
                    f"{candidate['rev']} ({candidate['author']}, {candidate['device']}), not to an edit"
                )
                continue
            name, edit = by_rev[candidate["rev"]]
            device = tablets.devices[name]
            found = (candidate["author"], candidate["device"], candidate["edited_at"])
            if found != (device.user_ref, device.id, edit["meta"]["updated_at"]):
                problems.append(f"candidate {candidate['rev']} is attributed to {found}")

    if route == "three-tablets-disagree-on-the-risk":
        # The supervisor decides one conflict; the worker submits the visit.
        server.api(
            "POST", f"/api/review/conflicts/{conflicts[0]['id']}/decide/", supervisor, json={"choice": 0}
        )
        visit = server.api("GET", f"/api/visits/{visit_id}/", worker)
        server.api("POST", f"/api/visits/{visit_id}/submit/", worker, json={"rev": visit["rev"]})

    # While a conflict is open the visit says so and cannot be signed off ...
    still_open = open_conflicts(server, team, visit_id)
    visit = server.api("GET", f"/api/visits/{visit_id}/", supervisor)
    assert visit["content"]["status"] == "submitted"
    if still_open and not visit["decisions_pending"]:
        problems.append(
            f"open conflicts on {[c['field'] for c in still_open]} but decisions_pending is empty"
        )
    queue = server.api("GET", "/api/review/queue/", supervisor)
    waiting = [v for v in queue["awaiting_sign_off"] if v["id"] == visit_id]
    if still_open and waiting and not waiting[0]["needs_decision"]:
        problems.append("the review queue says the visit needs no decision")
    with server.client(supervisor) as client:
        response = client.post(f"/api/visits/{visit_id}/sign-off/", json={"rev": visit["rev"]})
    if still_open and response.status_code != 409:
        problems.append(f"sign-off with a conflict open answered {response.status_code}")

    # ... and once signed off, nothing changes it.
    if response.status_code == 200:
        signed = response.json()
        for conflict in still_open:
            server.api(
                "POST",
                f"/api/review/conflicts/{conflict['id']}/decide/",
                supervisor,
                json={"choice": len(conflict["candidates"]) - 1},
                expect=None,
            )
        after = server.api("GET", f"/api/visits/{visit_id}/", supervisor)
        if after["content"] != signed["content"]:
            changed = sorted(
                k for k in after["content"] if after["content"].get(k) != signed["content"].get(k)
            )
            problems.append(
                f"a decision after sign-off changed the signed-off visit: {changed} "
                f"(status now {after['content']['status']})"
            )
    assert not problems, problems
