# The only entry points: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt migrations-check browser-deps clean soak

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runportal

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) manage.py makemigrations --check --dry-run

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Playwright drives Debian's Chromium; install it when it is missing (CI runs as root).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: run 'sudo apt-get install -y chromium' (browser tests will be skipped)"; fi; }

# Tests keep their own var/ folder and broker queue, so they never touch a running portal's.
# PYTEST_ARGS narrows a run (CI's second and third passes use a marker expression); empty runs everything.
PYTEST_ARGS ?=
test: $(STAMP) lint browser-deps
	VAR_DIR=$(CURDIR)/var/test CELERY_TASK_DEFAULT_QUEUE=portal-test-$$$$ $(PY) -m pytest $(PYTEST_ARGS)

# Load benchmark (not a test): 200 protected VMs, 2 workers, beat, for SOAK_MINUTES (default 10).
soak: $(STAMP)
	$(PY) benchmarks/soak.py --minutes $${SOAK_MINUTES:-10}

clean:
	rm -rf var/test-* .pytest_cache
