"""Bench-only Django settings (``DJANGO_SETTINGS_MODULE=tests.bench.settings``): exactly
``backend.settings``, plus an outermost (sync- and async-capable, so it adds no thread hop)
middleware that appends each request's duration to the
file named by ``BENCH_TIMING_LOG`` (when set). Used by tests/bench/bench_sync.py only; the
server's full per-request time (ASGI in → last body byte out) comes from tests/bench/asgi.py."""

from __future__ import annotations

from backend.settings import *  # noqa: F403
from backend.settings import MIDDLEWARE as _BASE_MIDDLEWARE

MIDDLEWARE = ["tests.bench.timing.DjangoTimingMiddleware", *_BASE_MIDDLEWARE]
