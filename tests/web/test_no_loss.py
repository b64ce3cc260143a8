"""Nothing a practitioner types is lost (issue 9): a visit form typed into and never saved comes
back after the browser closed (reopened offline), after the idle lock, and after the tablet's
clock moved two days back; it is never in clear text at rest; edit times reach the server
corrected by the server's clock; erasing a tablet with unsent work is refused, or audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.web.conftest import WebRig
from tests.web.test_browser import no_serious_violations

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def no_loss(web: WebRig, cast: dict[str, Any]) -> dict[str, Any]:
    # The benchmark's background seeding holds SQLite's write lock in bursts; enrolling during one
    # can answer 503. The scenario is about losing nothing, not about that, so it runs after.
    web.bench_seeded()
    return web.run("no_loss", {"noLoss": cast["noLoss"]}, timeout=420)


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_text_typed_and_never_saved_comes_back_after_closing_the_browser(no_loss: dict[str, Any]) -> None:
    assert no_loss["rawAfterTyping"] == {"hasCanary": False, "hasAutosave": True}
    assert no_loss["offerOnCaseload"].startswith("Unsaved changes\nUnsaved changes from ")
    assert "new visit" in no_loss["offerOnCaseload"]
    assert no_loss["canary"]["a"] in no_loss["restoredAfterClose"]
    assert no_loss["homeKeptAfterClose"] == "Cold; the heating is broken."


def test_b_the_idle_lock_keeps_the_form_and_unlocking_returns_to_it(no_loss: dict[str, Any]) -> None:
    assert "Locked after 1 minute without use" in no_loss["lockNotice"]
    assert no_loss["formGoneWhileLocked"] is True
    assert no_loss["routeAfterIdleLock"].endswith("/visit/new")
    restored = no_loss["restoredAfterIdleLock"]
    assert no_loss["canary"]["a"] in restored and no_loss["canary"]["b"] in restored
    assert no_loss["offerShownAfterLock"] == 0  # back as it was, without asking


def test_c_a_clock_two_days_back_neither_locks_out_nor_loses_text(no_loss: dict[str, Any]) -> None:
    assert no_loss["offerText"].startswith("Unsaved changes from ")
    assert "Restore my changes" in no_loss["offerText"] and "Discard them" in no_loss["offerText"]
    restored = no_loss["restoredAfterClockBack"]
    assert no_loss["canary"]["a"] in restored and no_loss["canary"]["b"] in restored
    assert no_loss["syncAfterClockBack"]["status"] == "idle"
    assert no_loss["syncAfterSave"]["status"] == "idle" and no_loss["syncAfterSave"]["pending"] == 0
    on_server = no_loss["onServer"]
    assert no_loss["canary"]["c"] in on_server["observations"]
    # The edit time is the server's clock; the tablet's own (two days behind) is kept beside it.
    real_now = instant(no_loss["realNow"])
    assert abs(instant(on_server["updatedAt"]) - real_now) < timedelta(minutes=10)
    assert abs(instant(on_server["updatedAtDevice"]) - (real_now - timedelta(days=2))) < timedelta(minutes=10)
    assert no_loss["unsavedAfterSave"] == 0


def test_nothing_typed_is_ever_in_clear_text_in_indexeddb(no_loss: dict[str, Any]) -> None:
    assert no_loss["rawAfterTyping"]["hasCanary"] is False
    assert no_loss["rawAfterClockBack"] == {"hasCanary": False}


def test_erasing_with_unsent_work_is_refused_and_discarding_it_is_audited(no_loss: dict[str, Any]) -> None:
    for refusal in (no_loss["eraseRefusedUnlocked"], no_loss["eraseRefusedLocked"]):
        assert "1 record not yet sent" in refusal and "has not been erased" in refusal
    assert no_loss["plainEraseOffered"] == 0
    assert "Confirm that you understand 1 unsent record will be destroyed" in no_loss["discardUnconfirmed"]
    assert "You discarded 1 unsent record" in no_loss["discardedMessage"]
    [detail] = no_loss["discardAudit"]
    assert detail["count"] == 1 and detail["reason"] == "forgotten_passphrase"
    assert [r.split(":")[0] for r in detail["records"]] == ["visit"]
    assert no_loss["databasesAfter"] == []
    assert no_loss["storagePersisted"].startswith(("Yes", "No"))


def test_the_new_screens_pass_axe(no_loss: dict[str, Any]) -> None:
    assert no_serious_violations(no_loss["a11y"]) == []
    assert no_loss["pageErrors"] == []
