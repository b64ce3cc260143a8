# Doorstep: `make run` serves the demo council; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
MANAGE := $(PY) backend/manage.py
NODE_TESTS := tests/node

.PHONY: install run serve test test-sqlite test-postgres lint typecheck workflow-json node-deps web browser bench clean

$(VENV)/.installed: pyproject.toml sync/pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./sync -e ./clients/python -e '.[dev]'
	touch $@

install: $(VENV)/.installed

$(NODE_TESTS)/node_modules/.installed: $(NODE_TESTS)/package.json $(NODE_TESTS)/package-lock.json
	cd $(NODE_TESTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-deps: $(NODE_TESTS)/node_modules/.installed

WEB := clients/web

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The tablet/supervisor web app (PWA), built into clients/web/dist and served at /app/.
web: $(WEB)/node_modules/.installed
	cd $(WEB) && npm run --silent build

# The browser tests (tests/web) drive Debian's Chromium; install it when it is missing.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [[ ! -x "$(CHROMIUM)" ]]; then \
		echo "installing Debian's chromium for the browser tests"; \
		SUDO=""; [[ $$(id -u) -ne 0 ]] && SUDO="sudo"; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	fi

run: install web
	$(MANAGE) migrate --noinput
	DOORSTEP_FAST_PASSWORD_HASHER=$${DOORSTEP_FAST_PASSWORD_HASHER:-0} $(MANAGE) seed_demo --if-empty
	$(MANAGE) demo_accounts
	@echo "Serving on http://127.0.0.1:$(PORT)  (API docs: /api/docs/)"
	$(VENV)/bin/uvicorn backend.asgi:application --host 127.0.0.1 --port $(PORT) --workers $${WEB_CONCURRENCY:-1} --no-access-log

# The whole suite on SQLite, then again on PostgreSQL when DATABASE_URL names one.
test: install node-deps web browser lint typecheck
	env -u DATABASE_URL $(VENV)/bin/pytest
	@if [[ "$${DATABASE_URL:-}" == postgres* ]]; then \
		echo "=== again on PostgreSQL ($${DATABASE_URL%%@*}@…) ==="; \
		$(VENV)/bin/pytest; \
	else \
		echo "DATABASE_URL does not name PostgreSQL: PostgreSQL run skipped"; \
	fi

lint: install
	$(VENV)/bin/ruff check backend sync clients/python tests
	$(VENV)/bin/ruff format --check backend sync clients/python tests

workflow-json: install  # schemas/workflow.json from sync/_workflow.py (the web app reads it)
	$(VENV)/bin/python -c "from sync import workflow; workflow.write_json()"

typecheck: install
	$(VENV)/bin/mypy

# Benchmarks run by hand (minutes; they start servers and databases of their own).
bench: install node-deps
	$(PY) tests/bench/bench_rest.py
	$(PY) tests/bench/bench_sync.py

clean:
	rm -rf $(VENV) $(NODE_TESTS)/node_modules var
