"""backend.webapp: the built app is served at /app/ with a strict CSP, hashed assets are
cached for good, the shell and service worker are revalidated, and nothing outside the build
can be read through it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client


@pytest.fixture
def dist(tmp_path: Path, settings: object) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "icons").mkdir()
    (root / "index.html").write_text('<!doctype html><script type="module" src="assets/app-ABC.js"></script>')
    (root / "assets" / "app-ABC.js").write_text("console.log('app')")
    (root / "sw.js").write_text("self.addEventListener('fetch', () => {})")
    (root / "manifest.webmanifest").write_text('{"name": "Doorstep"}')
    (root / ".hidden").write_text("no")
    (tmp_path / "secret.txt").write_text("outside the build")
    settings.DOORSTEP_WEB_DIST = str(root)  # type: ignore[attr-defined]
    return root


def test_shell_is_served_with_a_strict_policy_and_revalidated(client: Client, dist: Path) -> None:
    response = client.get("/app/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"assets/app-ABC.js" in b"".join(response.streaming_content)
    assert response["Cache-Control"] == "no-cache"
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "connect-src 'self'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"


def test_hashed_assets_are_cached_for_good_and_the_worker_is_not(client: Client, dist: Path) -> None:
    asset = client.get("/app/assets/app-ABC.js")
    assert asset.status_code == 200
    assert asset["Content-Type"].startswith("text/javascript")
    assert "immutable" in asset["Cache-Control"]
    worker = client.get("/app/sw.js")
    assert worker.status_code == 200 and worker["Cache-Control"] == "no-cache"
    manifest = client.get("/app/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"


@pytest.mark.parametrize(
    "path",
    ["/app/../secret.txt", "/app/%2e%2e/secret.txt", "/app/.hidden", "/app/missing.js", "/app/assets/"],
)
def test_nothing_outside_the_build_is_served(client: Client, dist: Path, path: str) -> None:
    assert client.get(path).status_code == 404


def test_writes_are_refused(client: Client, dist: Path) -> None:
    assert client.post("/app/").status_code == 405


def test_a_missing_build_says_how_to_make_it(client: Client, tmp_path: Path, settings: object) -> None:
    settings.DOORSTEP_WEB_DIST = str(tmp_path / "nothing")  # type: ignore[attr-defined]
    response = client.get("/app/")
    assert response.status_code == 503
    assert b"make web" in response.content
