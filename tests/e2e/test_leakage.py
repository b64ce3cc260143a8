"""Nothing of another practitioner's caseload reaches a practitioner's device through any
endpoint of /sync/caseload: no bodies, ids, revs, counts or sequence movements. A document
outside the subset must be indistinguishable from one that never existed.

Ground truth is the server's database (``LiveServer.documents()``); the probes use real ids
and revs of the other caseload, each compared with the answer for a made-up id."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Snapshot
from tests.live import Device, LiveServer

pytestmark = pytest.mark.e2e

GHOST_REV = "2-" + "0" * 32


def ghost_id(doc_type: str) -> str:
    return f"{doc_type}:" + "7" + uuid.uuid4().hex.upper().translate(str.maketrans("IL", "JK"))[:25]


def _normalise(text: str, doc_id: str, rev: str) -> str:
    return text.replace(doc_id, "<ID>").replace(rev, "<REV>")


class Probe:
    """Requests as the device; ``same_as_ghost`` checks a foreign document's answer equals a
    made-up one's once ids and revs are masked."""

    def __init__(self, server: LiveServer, device: Device) -> None:
        self.client = httpx.Client(
            base_url=server.sync_url, headers={"Authorization": f"Token {device.token}"}, timeout=30
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def post(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return self.client.post(path, params=params, json=body)

    def same_as_ghost(self, doc: dict[str, Any], make: Any) -> httpx.Response:
        ghost = ghost_id(doc["type"])
        real = make(doc["id"], doc["rev"])
        fake = make(ghost, GHOST_REV)
        assert real.status_code == fake.status_code, (real.text, fake.text)
        assert _normalise(real.text, doc["id"], doc["rev"]) == _normalise(fake.text, ghost, GHOST_REV)
        return real


def _assert_clean(
    text: str, foreign: dict[str, dict[str, Any]], foreign_cases: set[str], allowed: set[str]
) -> None:
    """No foreign id, rev or case id appears in ``text`` except those the request itself sent."""
    for doc_id, doc in foreign.items():
        if doc_id not in allowed:
            assert doc_id not in text, f"foreign id {doc_id} leaked"
        if doc["rev"] not in allowed:
            assert doc["rev"] not in text, f"foreign rev of {doc_id} leaked"
    for case_id in foreign_cases - allowed:
        assert case_id not in text, f"foreign case {case_id} leaked"


@pytest.fixture
def pair(server: LiveServer, seeded: Snapshot) -> tuple[str, str]:
    """Two practitioners with disjoint caseloads."""
    holders = seeded.holders()
    practitioners = sorted({u for users in holders.values() for u in users})
    for me in practitioners:
        for other in practitioners:
            if other != me and not (seeded.cases_of(me) & seeded.cases_of(other)):
                return me, other
    raise AssertionError("no two practitioners with disjoint caseloads")


def test_nothing_of_another_caseload_leaks(server: LiveServer, pair: tuple[str, str]) -> None:
    me, other = pair
    my_token, _ = server.login(me)
    other_token, _ = server.login(other)
    device = server.enrol(my_token, "leak-probe")
    other_device = server.enrol(other_token, "leak-other")
    truth = Snapshot.of(server)
    mine = truth.cases_of(me)
    own = truth.docs_in(mine, live_only=False)
    foreign = {d["id"]: d for d in truth.documents if d["case_id"] not in mine}
    foreign_cases = {d["case_id"] for d in foreign.values()}
    assert truth.cases_of(other) <= foreign_cases and foreign
    probe = Probe(server, device)
    other_probe = Probe(server, other_device)

    def clean(response: httpx.Response, allowed: set[str] | frozenset[str] = frozenset()) -> None:
        _assert_clean(response.text, foreign, foreign_cases, set(allowed))

    # The other device's envelopes exist (it pulled), under kids of its own cases.
    other_changes = other_probe.get("/_changes", since="0").json()
    other_kids = {r["id"] for r in other_changes["results"] if r["id"].startswith("keyenv:")}
    assert other_kids and all(k.split(":", 1)[1].rsplit("#", 1)[0] in foreign_cases for k in other_kids)

    # _changes, whole feed and from the middle, with docs and all leaves.
    feed = probe.get("/_changes", since="0", style="all_docs", include_docs="true", conflicts="true")
    assert feed.status_code == 200
    clean(feed)
    results = feed.json()["results"]
    ids = {r["id"] for r in results}
    envelopes = {i for i in ids if i.startswith("keyenv:")}
    assert ids - envelopes == set(own)
    assert all(r["doc"]["case_id"] in mine for r in results)
    assert not envelopes & other_kids
    middle = results[len(results) // 2]["seq"]
    for since in (middle, middle.split("-")[0], "now", "1"):
        response = probe.get("/_changes", since=since, include_docs="true")
        assert response.status_code == 200
        clean(response)
    # _doc_ids filter naming foreign documents, as a query and as a POST body.
    wanted = sorted(foreign)[:20]
    by_query = probe.get("/_changes", filter="_doc_ids", doc_ids=json.dumps(wanted), include_docs="true")
    by_body = probe.post("/_changes", {"doc_ids": wanted}, filter="_doc_ids", include_docs="true")
    for response in (by_query, by_body):
        assert response.status_code == 200 and response.json()["results"] == [], response.text
        assert response.json()["pending"] == 0

    # _all_docs: rows, include_docs, totals, keys (GET and POST), key ranges, single key.
    listing = probe.get("/_all_docs", include_docs="true")
    clean(listing)
    live_own = {i for i, d in own.items() if not d["deleted"]}
    assert {r["id"] for r in listing.json()["rows"]} == live_own
    assert listing.json()["total_rows"] == len(live_own)
    ranged = probe.get("/_all_docs", startkey='"a"', endkey='"z"', limit="10000")
    assert {r["id"] for r in ranged.json()["rows"]} == live_own
    for response in (
        probe.get("/_all_docs", keys=json.dumps(wanted), include_docs="true"),
        probe.post("/_all_docs", {"keys": wanted}, include_docs="true"),
    ):
        assert response.status_code == 200
        assert response.json()["rows"] == [{"key": k, "error": "not_found"} for k in wanted]
        assert response.json()["total_rows"] == len(live_own)
        clean(response, wanted)
    for doc in list(foreign.values())[:5]:
        probe.same_as_ghost(doc, lambda i, r: probe.get("/_all_docs", key=json.dumps(i), include_docs="true"))

    # _bulk_get with and without revs, latest, revs=true.
    asked = [{"id": d["id"], "rev": d["rev"]} for d in list(foreign.values())[:20]]
    bulk = probe.post(
        "/_bulk_get", {"docs": asked + [{"id": a["id"]} for a in asked]}, revs="true", latest="true"
    )
    assert bulk.status_code == 200
    for result in bulk.json()["results"]:
        assert [list(d) for d in result["docs"]] == [["error"]]
        assert result["docs"][0]["error"]["error"] == "not_found"
    clean(bulk, {a["id"] for a in asked} | {a["rev"] for a in asked})
    for doc in list(foreign.values())[:5]:
        probe.same_as_ghost(
            doc, lambda i, r: probe.post("/_bulk_get", {"docs": [{"id": i, "rev": r}]}, revs="true")
        )

    # Single documents: plain, rev, revs, revs_info, conflicts, open_revs (all and listed), HEAD.
    for doc in list(foreign.values())[:8]:
        for params in (
            {},
            {"revs": "true", "revs_info": "true", "conflicts": "true", "deleted_conflicts": "true"},
            {"rev": "<rev>"},
            {"rev": "<rev>", "latest": "true"},
            {"open_revs": "all", "revs": "true"},
            {"open_revs": '["<rev>"]', "latest": "true"},
        ):

            def fetch(i: str, r: str, params: dict[str, str] = params) -> httpx.Response:
                return probe.get(f"/{i}", **{k: v.replace("<rev>", r) for k, v in params.items()})

            response = probe.same_as_ghost(doc, fetch)
            assert "enc" not in response.text and "meta" not in response.text
        head = probe.same_as_ghost(doc, lambda i, r: probe.client.head(f"/{i}"))
        assert head.status_code == 404
    for kid_doc in sorted(other_kids)[:3]:
        assert probe.get(f"/{kid_doc}").status_code == 404
        assert probe.get(f"/{kid_doc}", open_revs="all").json() == []

    # _revs_diff: real revs of foreign documents are "missing", exactly as for made-up ones.
    for doc in list(foreign.values())[:5]:
        diff = probe.same_as_ghost(doc, lambda i, r: probe.post("/_revs_diff", {i: [r, "1-" + "a" * 32]}))
        assert "possible_ancestors" not in diff.text

    # Database info counts only the caller's subset.
    info = probe.get("/").json()
    assert info["doc_count"] == len(live_own)
    assert info["doc_del_count"] == len(own) - len(live_own)

    # A write in the other caseload moves nothing here: not update_seq, counts or the feed.
    last_seq = feed.json()["last_seq"]
    other_case = sorted(truth.cases_of(other))[0]
    server.api(
        "POST",
        f"/api/cases/{other_case}/notes/",
        other_token,
        expect=201,
        json={"content": {"category": "general", "text": "Written in the other caseload."}},
    )
    assert probe.get("/").json() == info
    quiet = probe.get("/_changes", since=last_seq)
    assert quiet.json()["results"] == [] and quiet.json()["last_seq"] == last_seq
    assert probe.get("/_changes", since=last_seq, feed="longpoll", timeout="1000").json()["results"] == []

    # _local: another device's checkpoint is invisible, and the same id is this device's own.
    name = f"_local/{uuid.uuid4().hex}"
    assert other_probe.client.put(name, json={"last_seq": last_seq, "secret": "other"}).status_code == 201
    assert probe.get(f"/{name}").status_code == 404
    mine_put = probe.client.put(name, json={"last_seq": "1-1"})
    assert mine_put.status_code == 201 and mine_put.json()["rev"] == "0-1"
    assert probe.get(f"/{name}").json()["last_seq"] == "1-1"
    assert other_probe.get(f"/{name}").json()["secret"] == "other"

    # Finally, no response above carried a foreign body: nothing under 'enc' for a foreign case.
    pattern = "|".join(map(re.escape, foreign_cases))
    assert not re.search(rf'"case_id":\s*"({pattern})"', feed.text)


def test_writes_do_not_reveal_that_a_foreign_document_exists(
    server: LiveServer, pair: tuple[str, str]
) -> None:
    me, _ = pair
    token, _ = server.login(me)
    probe = Probe(server, server.enrol(token, "oracle-probe"))
    truth = Snapshot.of(server)
    own_case = sorted(truth.cases_of(me))[0]
    foreign = [d for d in truth.documents if d["case_id"] not in truth.cases_of(me)][:3]

    def bulk(doc_id: str, rev: str) -> httpx.Response:
        doc = {
            "_id": doc_id,
            "_rev": rev,
            "_revisions": {"start": int(rev.split("-")[0]), "ids": [rev.split("-")[1]]},
            "type": doc_id.split(":")[0],
            "case_id": own_case,
            "schema": 1,
            "meta": {},
            "enc": {},
        }
        return probe.post("/_bulk_docs", {"docs": [doc], "new_edits": False})

    for doc in foreign:
        probe.same_as_ghost(doc, lambda i, r: probe.client.delete(f"/{i}", params={"rev": r}))
        probe.same_as_ghost(doc, bulk)
