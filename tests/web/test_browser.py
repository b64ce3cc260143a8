"""The tablet and supervisor web app in real Chromium against a real server: offline work,
two tablets converging, supervisor review, every error the user must be told about, and
accessibility (axe-core at both tablet orientations, keyboard-only use of the visit form)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import WebRig

pytestmark = pytest.mark.e2e


def no_serious_violations(checks: list[dict[str, Any]]) -> list[str]:
    """Human-readable list of serious/critical axe findings and sideways scrolling."""
    problems = []
    for check in checks:
        where = f"{check['screen']} ({check['viewport']})"
        problems += [
            f"{where}: {v['id']} [{v['impact']}] {v['help']} at {v['targets']}" for v in check["violations"]
        ]
        if check["horizontalScroll"]:
            problems.append(f"{where}: the page scrolls sideways")
    return problems


def test_visit_recorded_offline_reaches_the_server_and_comes_back_signed_off(
    web: WebRig, cast: dict[str, Any]
) -> None:
    part = cast["lifecycle"]
    out = web.run("visit_lifecycle", {"lifecycle": part})

    # Offline: saved on the tablet, waiting, still there after a reload served by the worker.
    assert out["offlineState"]["status"] == "offline" and out["offlineState"]["pending"] == 1
    assert out["servedFromServiceWorker"] is True
    assert "Awaiting sign-off" in out["rowTextOffline"] and "Waiting to sync" in out["rowTextOffline"]
    # Online: sent, nothing left waiting, and the server has what was typed.
    assert (out["afterSync"]["status"], out["afterSync"]["pending"]) == ("idle", 0)
    assert out["onServer"]["status"] == "submitted"
    assert out["marker"] in out["onServer"]["observations"]
    assert any(out["marker"] in action["text"] for action in out["onServer"]["actions"])
    assert out["onServer"]["risk_level"] == "low"
    assert [c["seen"] for c in out["onServer"]["children_seen"]] == [True] * len(
        out["onServer"]["children_seen"]
    )

    # Independently of the scenario: the server's record is signed off and the practitioner's.
    token, _ = web.server.login(part["supervisor"])
    visit = web.server.api("GET", f"/api/visits/{out['visitId']}/", token)
    practitioner_id = next(a["user_id"] for a in web.allocations if a["username"] == part["practitioner"])
    assert visit["content"]["status"] == "signed_off"
    assert visit["content"]["author"] == f"u:{practitioner_id}"
    assert [t["action"] for t in visit["content"]["transitions"]] == ["submit", "sign_off"]
    # …and the practitioner's tablet shows it signed off after syncing.
    assert out["signedOffShown"] and out["observationsShown"]
    assert out["pageErrors"] == []


def test_two_tablets_editing_offline_converge_and_the_supervisor_decides(
    web: WebRig, cast: dict[str, Any]
) -> None:
    out = web.run("two_devices", {"twoDevices": cast["twoDevices"]})
    a, b = out["seenA"], out["seenB"]
    assert a == b, "both tablets show the same record after syncing"
    assert "Tablet A: the kitchen had been repainted." in a["observations"]
    assert "Tablet B: she wants to see her grandmother more." in a["childVoice"]
    # The disagreement on risk shows the cautious answer until the supervisor decides.
    assert a["risk"] == "risk_level-high" and out["pendingDecisionShown"]
    assert out["mergesB"] >= 1
    assert out["decidedA"] == out["decidedB"] and out["decidedA"]["risk"] == "risk_level-medium"
    assert out["decidedA"]["observations"] == a["observations"]
    assert no_serious_violations(out["a11y"]) == []
    assert out["pageErrors"] == []

    # The server holds one live revision with both edits, the decision recorded.
    token, _ = web.server.login(cast["twoDevices"]["supervisor"])
    visit = web.server.api("GET", f"/api/visits/{out['visitId']}/", token)
    assert visit["conflicts"] == [] and visit["decisions_pending"] == []
    assert visit["content"]["risk_level"] == "medium"
    assert "Tablet A:" in visit["content"]["observations"] and "Tablet B:" in visit["content"]["child_voice"]

    # Overlapping rewrites of one sentence: attributed by name and local time, never by id; the
    # supervisor keeps both (a reason is asked for), and the record then reads without markers.
    merged = out["analysisMerged"]
    assert "Tablet A: needs are met" in merged and "Tablet B: needs are met" in merged
    assert "[Conflicting edit — " in merged and not re.search(r"u:\d|\d{4}-\d\d-\d\dT", merged)
    assert out["textColumns"] and all("'s version from “Tablet " in t for t in out["textColumns"])
    assert "Say why" in out["reasonAsked"]
    assert out["analysisKept"] == (
        "Tablet A: needs are met; the school reports good attendance.\n"
        "Tablet B: needs are met, but mum is struggling with the baby."
    )


def test_errors_are_explained_and_nothing_is_dropped(web: WebRig, cast: dict[str, Any]) -> None:
    part = cast["errors"]
    out = web.run("errors", {"errors": part})
    assert "That passphrase is not right" in out["wrongPassphrase"]
    assert "That passphrase is not right" in out["wrongPassphraseFieldError"]

    # Refused by the server: said against the record and on the sync page, kept locally.
    assert "Observations is longer than the 20,000 characters allowed" in out["refusedPanel"]
    assert "Observations is longer than the 20,000 characters allowed" in out["refusedList"]
    assert "Not accepted by server" in out["refusedRow"]
    documents = {d["id"] for d in web.server.documents()["documents"]}
    assert out["refusedId"] not in documents

    # A token that stopped working: told to sign in again; afterwards syncing works.
    assert "no longer valid" in out["expiredMessage"] and "Your work is safe" in out["expiredMessage"]
    assert out["afterRenew"].startswith("Synced")

    # Storage full: the save is refused in words, and the typed text stays in the form.
    assert out["quotaSaves"] >= 1
    assert "run out of storage space" in out["quotaMessage"]
    assert out["quotaFormKept"] == 19_000

    # Reallocated: the case and everything of it is gone from the tablet after a sync.
    assert out["caseLinksAfterPurge"] == 0

    # Wiped by an admin: the replica and keystore are gone and the user is told why.
    assert set(out["databasesBeforeWipe"]) >= {"doorstep-device"}
    assert out["databasesAfterWipe"] == []
    assert "withdrawn by your council" in out["wipedMessage"] and "erased" in out["wipedMessage"]
    assert out["afterReload"] == "sign-in"
    assert no_serious_violations(out["a11y"]) == []
    assert out["pageErrors"] == []


def test_every_main_screen_passes_axe_and_the_visit_form_works_by_keyboard(
    web: WebRig, cast: dict[str, Any]
) -> None:
    out = web.run("accessibility", {"a11y": cast["a11y"]})
    screens = {c["screen"] for c in out["results"]}
    assert {
        "sign-in",
        "set up tablet",
        "caseload",
        "case",
        "visit form",
        "visit form, errors",
        "sync",
        "unlock",
        "unlock, wrong passphrase",
        "review queue",
        "review visit",
    } <= screens
    assert {c["viewport"] for c in out["results"]} == {"landscape", "portrait"}
    assert no_serious_violations(out["results"]) == []

    keyboard = out["keyboard"]
    assert keyboard["outcome"] == "submitted", keyboard
    assert keyboard["reached"] == [
        "visit_date",
        "visit_type-statutory",
        "observations",
        "child_voice",
        "action-0-text",
        "risk_concerns",
    ]
    assert keyboard["withoutVisibleFocus"] == [], keyboard["order"]
    assert out["pageErrors"] == []
