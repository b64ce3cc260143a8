"""What became of a practitioner's work, told on the tablet (issue 9 item 6, web side): a
co-worker's edit that arrived after the visit was signed off is listed to its author with the
addendum's status, in names rather than ids, kept until dismissed and readable offline from a
sealed copy."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import WebRig
from tests.web.test_browser import no_serious_violations

pytestmark = pytest.mark.e2e

RAW_ID = re.compile(r"\bu:\d|\bd:\d|visit:|case:|addendum:|person:|user \d+")


def test_e_a_coworkers_post_sign_off_edit_is_listed_to_its_author_with_the_addendums_status(
    web: WebRig, cast: dict[str, Any]
) -> None:
    web.bench_seeded()  # enrolling during the benchmark's seeding bursts can answer 503 on SQLite
    out = web.run("attention", {"attention": cast["attention"]})
    # Names, not ids: the co-worker's tablet says who recorded the visit.
    assert f"recorded by {out['authorName']} (practitioner)" in out["recordedBy"]
    listed = out["attention"]
    assert listed.startswith("For your attention (1)")
    assert "arrived after it was signed off: it was kept as an addendum, awaiting the supervisor" in listed
    assert "Status: awaiting supervisor" in listed
    assert not RAW_ID.search(listed), listed
    # Kept on the tablet sealed: read offline after a reload, nothing of it in clear at rest.
    assert "kept as an addendum, awaiting the supervisor" in out["offline"]
    assert out["titleInClear"] is False
    # The supervisor acknowledged it: the next sync says so, by name.
    assert "acknowledged your addendum to the visit of 3 December" in out["afterAcknowledge"]
    assert "Status: acknowledged" in out["afterAcknowledge"]
    assert not RAW_ID.search(out["afterAcknowledge"]), out["afterAcknowledge"]
    # Dismissed on the tablet, it is gone from the server's list too.
    assert out["afterDismiss"] == 0 and out["onServerAfterDismiss"] == []
    assert no_serious_violations(out["a11y"]) == []
    assert out["pageErrors"] == []
