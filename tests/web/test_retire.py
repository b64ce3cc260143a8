"""Retiring a tablet that holds unsent visits (issue 9 item 4, web side): the visits reach the
server, the tablet says what still keeps it from erasing itself, then erases itself and confirms,
and the admin sees the device as wiped."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import WebRig
from tests.web.test_browser import no_serious_violations

pytestmark = pytest.mark.e2e


def test_d_a_retired_tablet_sends_its_unsent_visits_then_erases_itself(
    web: WebRig, cast: dict[str, Any]
) -> None:
    web.bench_seeded()  # enrolling during the benchmark's seeding bursts can answer 503 on SQLite
    out = web.run("retire", {"retire": cast["retire"]})
    assert out["retired"] == "retiring"
    # Back online: both visits reached the server before anything was erased.
    assert sorted(v["status"] for v in out["onServer"]) == ["draft", "submitted"]
    assert out["visitIds"][0] in {v["id"] for v in out["onServer"]}
    assert out["firstSync"]["pending"] == 0
    # The form in progress held the erase back, and the tablet said so.
    assert "1 form in progress: save or discard it" in out["retiringText"]
    assert out["deviceWhileRetiring"]["status"] == "retiring"
    assert out["deviceWhileRetiring"]["unsent_reported"] == 1
    # Then it erased itself and confirmed: the admin sees it wiped.
    assert "This tablet has been retired" in out["retiredMessage"]
    assert "Everything recorded on it reached the server" in out["retiredMessage"]
    assert out["databasesAfter"] == []
    assert out["deviceAfter"]["status"] == "wiped" and out["deviceAfter"]["wiped_at"]
    assert no_serious_violations(out["a11y"]) == []
    assert out["pageErrors"] == []


def test_a_revoked_tablet_locks_keeping_its_data_sealed_until_readmitted(
    web: WebRig, cast: dict[str, Any]
) -> None:
    web.bench_seeded()
    out = web.run("revoke", {"revoke": cast["revoke"]})
    assert (
        "suspended this tablet's access" in out["suspended"]
        and "Nothing on it has been erased" in out["suspended"]
    )
    assert "doorstep-device" in out["databasesWhileSuspended"] and len(out["databasesWhileSuspended"]) >= 2
    assert "not re-admitted this tablet yet" in out["beforeReadmit"]
    # Re-admitted: the draft it held is sent.
    assert (out["afterReadmit"]["status"], out["afterReadmit"]["pending"]) == ("idle", 0)
    assert out["deviceAfter"] == "active"
    assert no_serious_violations(out["a11y"]) == []
    assert out["pageErrors"] == []
