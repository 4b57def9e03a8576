# The only entry points: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt migrations-check browser-deps kvm-deps clean soak

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) manage.py migrate --noinput --verbosity 0
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

# The KVM driver's tests need QEMU, libvirt and the libvirt/libnbd bindings: Debian packages, installed when
# missing (as root), whose Python modules (built for Debian's python3) the venv sees through one .pth file.
# Without them the libvirt tests are left out, with one line saying why.
KVM_PACKAGES := qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients python3-libvirt python3-libnbd
KVM_BINDINGS := $(VENV)/kvm-bindings
kvm-deps: $(STAMP)
	@missing=$$(for p in $(KVM_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing $$missing: run 'sudo apt-get install -y $$missing' (libvirt tests will be skipped)"; fi; fi
	@mkdir -p $(KVM_BINDINGS)
	@for f in /usr/lib/python3/dist-packages/libvirt*.py /usr/lib/python3/dist-packages/libvirtmod*.so \
	          /usr/lib/python3/dist-packages/nbd.py /usr/lib/python3/dist-packages/libnbdmod*.so; do \
	  [ -e "$$f" ] && ln -sf "$$f" $(KVM_BINDINGS)/; done; true
	@echo "$$(cd $(KVM_BINDINGS) && pwd -P)" > "$$($(PY) -c 'import site; print(site.getsitepackages()[0])')/kvm-bindings.pth"

# Tests keep their own var/ folder and broker queue, so they never touch a running portal's.
# PYTEST_ARGS narrows a run (CI's second and third passes use a marker expression); empty runs everything.
PYTEST_ARGS ?=
# tests/kvm/with-libvirtd.sh starts virtlogd and libvirtd when they are not running, and stops only those.
test: $(STAMP) lint browser-deps kvm-deps
	VAR_DIR=$(CURDIR)/var/test CELERY_TASK_DEFAULT_QUEUE=portal-test-$$$$ tests/kvm/with-libvirtd.sh $(PY) -m pytest $(PYTEST_ARGS)

# Load benchmark (not a test): 200 protected VMs, 2 workers, beat, for SOAK_MINUTES (default 10).
soak: $(STAMP)
	$(PY) benchmarks/soak.py --minutes $${SOAK_MINUTES:-10}

clean:
	rm -rf var/test-* .pytest_cache
