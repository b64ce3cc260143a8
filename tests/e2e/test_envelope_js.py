"""The tablet's WebCrypto envelope module (clients/web/src/envelope.js) against every vector in
tests/vectors/envelope.json, run by Node's own test runner."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.e2e.node import NODE
from tests.live import NODE_DIR, ROOT, node_modules_or_fail

pytestmark = pytest.mark.e2e


def test_envelope_js_passes_every_vector() -> None:
    node_modules_or_fail()
    result = subprocess.run(
        [NODE, "--test", "--test-reporter=tap", str(NODE_DIR / "envelope.test.mjs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    passed = int(re.search(r"^# pass (\d+)$", output, re.M).group(1))
    failed = int(re.search(r"^# fail (\d+)$", output, re.M).group(1))
    # 4 bodies x 4, 2 key wraps x 2, 2 keystores x 3, 19 invalid (non-keyring), 5 parity checks.
    assert failed == 0 and passed >= 16 + 4 + 6 + 19 + 5, output[-3000:]
