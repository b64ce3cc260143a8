"""The sync benchmark's report: the sections "Encryption cost" and "Merging concurrent edits"."""

from __future__ import annotations

import argparse
from typing import Any

from tests.bench.sync_measure import EngineResult
from tests.bench.sync_report import (
    SECTIONS,
    TARGET_CRYPTO_SHARE,
    TARGET_MERGES_PER_S,
    header,
    pct,
    verdict,
    writes_lines,
)


def _categories(profile: dict[str, Any], top: int = 6) -> str:
    cpu = profile.get("cpu") or 0
    if not cpu:
        return "–"
    return "; ".join(f"{name} {n / cpu:.0%}" for name, n in profile.get("categories", [])[:top])


def _hottest(profile: dict[str, Any], top: int = 10) -> str:
    busy = profile.get("busy") or 0
    return (
        ", ".join(f"`{name}` {n / busy:.0%}" for name, n in profile.get("inclusive", [])[:top])
        if busy
        else "–"
    )


def render_crypto(
    results: list[EngineResult], facts: dict[str, str], args: argparse.Namespace, script: str
) -> str:
    lines = [f"## {SECTIONS[1]}", "", *header(facts, results, args, script)]
    lines += [
        "- **What counts as crypto**: a sample of the server whose stack passes through "
        "`sync/_envelope.py` (body encryption and decryption, key wraps: the AES-GCM, X25519 and HKDF calls "
        "and the base64, JSON and binding-string work those functions do around them), `sync/_keystore.py` "
        "(scrypt), `backend/keys/keyring.py` (case keys unwrapped under the server's KEKs) or the "
        "`cryptography` package itself. JSON and base64 outside those functions (parsing request bodies, "
        "writing responses) are not counted.",
        f"- **Method**: `py-spy record --rate {args.spy_rate} --format raw --pid <uvicorn>` (every thread) "
        "during one extra initial pull of the caseload (batch_size 100, a freshly enrolled device, so its key "
        f"envelopes are wrapped inside it) and one extra push of {args.edits:,} edited visits, in the 200k "
        "state; these profiled runs are not among the timed runs of the other sections. py-spy's own idle "
        "detection does not work on this machine's kernel, so samples whose innermost frame is a thread "
        "waiting for work (`threading.Condition.wait`, the thread pool's `_worker`, the event loop's "
        "`Runner.run`) are dropped as *idle*; the rest is the server's *busy* time, split into *DB wait* "
        "(innermost frame psycopg's `Connection.wait`: waiting for PostgreSQL's answer) and *CPU* (the "
        "rest; SQLite's engine runs in-process, so its work is CPU here). The verdict uses the share of CPU "
        "samples, the larger of the two shares. *Where the CPU goes* splits the CPU samples: crypto, then "
        "the merge engine if any frame is theirs, otherwise the first category met from the innermost frame "
        "outwards.",
        "",
        "| engine | scenario | wall (profiled run) | samples: busy (DB wait) | crypto: share of CPU | share of busy | "
        "≤ 20 % | where the CPU goes |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        for key, label in (
            ("pull", f"initial pull, {args.cases * args.per_case:,} documents"),
            ("push", f"push of {args.edits:,} edited visits"),
        ):
            prof = r.profiles.get(key)
            if not prof or not prof.get("samples"):
                continue
            share = prof.get("crypto_share", float("nan"))
            lines.append(
                f"| {r.engine} | {label} | {prof['run']['ms'] / 1000:.2f} s | {prof['busy']:,} ({prof['db_wait']:,}) "
                f"| **{pct(share)}** | {pct(prof.get('crypto_share_busy', float('nan')))} "
                f"| {verdict(share <= TARGET_CRYPTO_SHARE)} | {_categories(prof)} |"
            )
    lines += ["", "Our own functions by inclusive share of the busy samples (request wrappers left out):", ""]
    for r in results:
        for key in ("pull", "push"):
            prof = r.profiles.get(key)
            if prof and prof.get("busy"):
                lines.append(f"- {r.engine}, {key}: {_hottest(prof)}.")
    lines += [
        "",
        "### Python client decryption rate",
        "",
        "The Python client (`clients/python`, `DoorstepClient`) logged in as the practitioner, enrolled (scrypt "
        "keystore), pulled the caseload with `sync()`, unwrapped each case key once, then opened every document "
        "three times; the best of three is shown. *records()* is the caseload path (`DoorstepClient.records()`: "
        "read each winning revision from the SQLite replica, decrypt, join with the clear meta); "
        "*open_content* the same decrypt-and-join on documents already in memory; *decrypt_body* the bare "
        "`sync.decrypt_body` (AES-256-GCM + JSON) on the same bodies.",
        "",
        "| engine | documents | `records()` docs/s | `open_content` docs/s | `sync.decrypt_body` docs/s | the client's pull (`sync()`) | load |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        p = r.pyclient
        if not p or not p.get("runs"):
            continue
        best_rec = min(p["runs"], key=lambda x: x["records_s"])
        best_open = min(x["open_s"] for x in p["runs"])
        best_raw = min(x["raw_s"] for x in p["runs"])
        n = p["docs"]
        lines.append(
            f"| {r.engine} | {n:,} | {best_rec['records'] / best_rec['records_s']:,.0f} | {n / best_open:,.0f} "
            f"| {n / best_raw:,.0f} | {p['pulled']:,} documents in {p['pull_s']:.1f} s | {p.get('load', '')} |"
        )
    return "\n".join(lines) + "\n"


def render_merging(
    results: list[EngineResult], facts: dict[str, str], args: argparse.Namespace, script: str
) -> str:
    lines = [f"## {SECTIONS[2]}", "", *header(facts, results, args, script)]
    lines += [
        f"- **Method**: device A (the practitioner's tablet) and device B (a co-worker's tablet on the same "
        f"cases), both PouchDB 9 in Node with the caseload pulled and a current push checkpoint, edit the same "
        f"{args.edits:,} visits offline: A rewrites the first paragraph of the observations, sets the visit type "
        "to `planned` (rule `latest`) and the risk level to `high` (rule `review`); B, a moment later, rewrites "
        "the last paragraph, sets `unannounced` and `critical`. A pushes (a clean push), then B pushes its "
        f"{args.edits:,} conflicting edits in one replication (`batch_size` 100); the server merges each "
        "document inside `_bulk_docs` (three-way text merge, `latest`, a review item for the risk level, the "
        "merged revision on the winning leaf, a tombstone on the other). The database is in the 200k state.",
        "- **Proof that the merges happened**: after B's push the script counts, for those visits, the `merge` "
        "audit events, the open review items (`ConflictItem`) and the documents left with more than one live "
        "leaf.",
        "- **Merges per second**: merged documents divided by the server's own time for B's `_bulk_docs` "
        "requests (where the merges run; the writes of B's revisions are included); the client-side figure "
        "divides by B's whole replication. *Extra cost*: B's push over A's, wall time.",
        "",
        "| engine | visits | A push (clean) | B push (conflicting) | B / A | B `_bulk_docs` server time | merge events | "
        "review items | several live leaves after | merges/s (server `_bulk_docs`) | ≥ 500/s | merges/s (client wall) | load A; B |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in results:
        m = r.merge.get("timed")
        if not m:
            continue
        a, b, c = m["A"], m["B"], m["check"]
        bulk = b["breakdown"].get("POST _bulk_docs", {}).get("total_ms", float("nan")) / 1000
        merges = c["merge_events"]
        rate = merges / bulk if bulk else float("nan")
        lines.append(
            f"| {r.engine} | {c['ids']:,} | {a['ms'] / 1000:.2f} s | {b['ms'] / 1000:.2f} s | **{b['ms'] / a['ms']:.2f}×** "
            f"| {bulk:.2f} s | {merges:,} | {c['conflict_items']:,} ({', '.join(f'{k}: {v}' for k, v in c['conflict_fields'].items())}) "
            f"| {c['docs_with_several_live_leaves']} | **{rate:,.0f}** | {verdict(rate >= TARGET_MERGES_PER_S)} "
            f"| {merges / (b['ms'] / 1000):,.0f} | {a['load']}; {b['load']} |"
        )
    lines += [
        "",
        "Where B's push spends the server's CPU (py-spy during a second, profiled round on other visits):",
        "",
    ]
    for r in results:
        prof = r.profiles.get("merge")
        if not prof or not prof.get("samples"):
            continue
        lines.append(
            f"- {r.engine} ({prof['run']['ms'] / 1000:.2f} s under py-spy; {prof['busy']:,} busy samples, "
            f"{prof['db_wait']:,} of them waiting for the database; crypto {pct(prof['crypto_share'])} of CPU): "
            f"CPU: {_categories(prof, 8)}. Inclusive: {_hottest(prof, 12)}."
        )
    lines += writes_lines(
        results, "merge", "A write that conflicts with a sibling edit (so the server merges)"
    )
    lines += ["", "### Against the targets", ""]
    for r in results:
        m = r.merge.get("timed")
        if not m:
            continue
        b = m["B"]
        bulk = b["breakdown"].get("POST _bulk_docs", {}).get("total_ms", float("nan")) / 1000
        rate = m["check"]["merge_events"] / bulk if bulk else float("nan")
        lines.append(
            f"- {r.engine}: {rate:,.0f} merges/s against ≥ {TARGET_MERGES_PER_S:.0f}/s — "
            f"{verdict(rate >= TARGET_MERGES_PER_S)}; a conflicting push costs {b['ms'] / m['A']['ms']:.2f}× a "
            f"clean one ({b['ms'] / 1000:.2f} s vs {m['A']['ms'] / 1000:.2f} s)."
        )
    return "\n".join(lines) + "\n"
