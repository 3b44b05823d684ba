# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
WORKERS ?= 2
PYTEST_ARGS ?=

.PHONY: install run serve test test-browser test-faults test-cluster haproxy lint format lock check-deploy chromium clean bench bench-scale screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Installs exactly what requirements.lock pins (runtime and test tools alike).
$(VENV)/.installed: requirements.lock | $(BIN)/python
	$(BIN)/pip install -q -r requirements.lock
	touch $@

install: $(VENV)/.installed

# The task worker (emails) runs beside the server and stops with it: the trap stops it (SIGTERM: it
# finishes the task in hand) however the server ends. It does not reload on code changes: restart.
WITH_WORKER = $(BIN)/python manage.py db_worker --no-reload & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM;

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Serving on http://127.0.0.1:$(PORT) — sign in as advanced@acme.test / acme-demo-2026"
	@$(WITH_WORKER) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# Production-like: gunicorn, collected static files, DEBUG=0 (needs SECRET_KEY and KEY_PEPPERS).
serve: install
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py migrate --noinput
	@$(WITH_WORKER) $(BIN)/gunicorn portal.wsgi:application --bind 127.0.0.1:$(PORT) --workers $(WORKERS) --config gunicorn.conf.py

chromium:
	@bash scripts/ensure-chromium

test: install chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$status

test-browser: install chromium
	$(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

# Refresh the screenshots in docs/ that the README links to (taken by the browser tests).
screenshots: install chromium
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser -k "reveal or grace or graphiql or demo or tightens or leaver" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-pin after editing pyproject.toml.
lock: | $(BIN)/python
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --extra dev --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

check-deploy: install
	DEBUG=0 SECRET_KEY=$${SECRET_KEY:-check-deploy-$$(head -c 48 /dev/urandom | base64 | tr -d '/+=')} \
	KEY_PEPPERS=$${KEY_PEPPERS:-check-deploy-$$(head -c 48 /dev/urandom | base64 | tr -d '/+=')} ALLOWED_HOSTS=$${ALLOWED_HOSTS:-portal.example.com} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .mypy_cache

# Hot-path benchmark: ratios to a bare Django project (and /healthz) from one run (see docs/benchmarks.md). Installs wrk if missing.
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python scripts/bench.py

# Every page and list call at a large customer's volume (100,000 keys, 2,000,000 audit events,
# 10,000,000 request log rows over 7 days) on a throw-away PostgreSQL database, dropped at the end
# (see docs/benchmarks.md). It needs a PostgreSQL server: the one on 127.0.0.1:5432 as user postgres
# unless BENCH_DATABASE_URL names another (postgres://user:password@host:5432/postgres, a user that
# may create databases). Loading takes a few minutes; BENCH_SCALE_RUNS (20) sets how often each
# request is timed. Only the request log: .venv/bin/python scripts/bench_scale.py --request-log-only
bench-scale: install
	$(BIN)/python scripts/bench_scale.py

# Faults under traffic on a private PostgreSQL and Redis (stopped and started by the tests).
test-faults: install
	$(BIN)/python -m pytest tests/faults -s -o addopts="--strict-markers -ra" $(PYTEST_ARGS)

haproxy:
	@bash scripts/ensure-haproxy

# Two gunicorn nodes behind HAProxy (deploy/ as shipped) on the PostgreSQL and Redis that
# DATABASE_URL and REDIS_URL name (a database <name>_cluster is made and dropped beside it).
test-cluster: install haproxy
	$(BIN)/python -m pytest tests/cluster -s -o addopts="--strict-markers -ra" $(PYTEST_ARGS)
