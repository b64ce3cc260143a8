"""Bench-only ASGI entry point: ``backend.asgi.application`` under tests/bench/settings.py,
wrapped in ``TimingASGI`` (see tests/bench/timing.py). ``uvicorn tests.bench.asgi:application``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.bench.settings")

from backend.asgi import application as _inner
from tests.bench.timing import TimingASGI

application = TimingASGI(_inner)
