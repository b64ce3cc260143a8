"""The web app's files, straight from the build output, with headers that keep it safe and
cacheable: a strict Content-Security-Policy (everything same-origin, no inline script), hashed
assets cached for a year, the shell and the service worker revalidated on every load."""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
NOT_BUILT = (
    "The Doorstep web app has not been built. Run `make web` "
    "(or `cd clients/web && npm ci && npm run build`) and reload.\n"
)


def dist_dir() -> Path:
    configured = getattr(settings, "DOORSTEP_WEB_DIST", None) or os.environ.get("DOORSTEP_WEB_DIST")
    return Path(configured) if configured else Path(settings.BASE_DIR) / "clients" / "web" / "dist"


def _headers(response: HttpResponse, *, cache: str) -> HttpResponse:
    response["Cache-Control"] = cache
    response["Content-Security-Policy"] = CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    return response


def _serve(path: Path, *, cache: str) -> HttpResponse:
    content_type = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return _headers(FileResponse(path.open("rb"), content_type=content_type), cache=cache)


@require_safe
def app_shell(request: HttpRequest) -> HttpResponse:
    index = dist_dir() / "index.html"
    if not index.is_file():
        return HttpResponse(NOT_BUILT, status=503, content_type="text/plain; charset=utf-8")
    return _serve(index, cache="no-cache")


@require_safe
def app_file(request: HttpRequest, name: str) -> HttpResponse:
    root = dist_dir().resolve()
    if not root.is_dir():
        return HttpResponse(NOT_BUILT, status=503, content_type="text/plain; charset=utf-8")
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file() or path.name.startswith("."):
        raise Http404("no such file in the web app")
    if name.startswith("assets/") and not name.endswith(".map"):
        cache = "public, max-age=31536000, immutable"  # names carry a content hash
    else:
        cache = "no-cache"
    return _serve(path, cache=cache)
