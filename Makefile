# The two commands: `make demo` and `make test`. Both set themselves up on a fresh Debian 12.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# moto (the EC2 peer of the libcloud tests) gets its own venv: its python-dateutil pin
# conflicts with kubernetes in .venv. The tests find moto_server there.
MOTO_VENV  := .venv-moto
MOTO_STAMP := $(MOTO_VENV)/.installed
MOTO_SPEC  := moto[server]>=5.1,<6
# Debian packages the test suite's real peers need (installed only as root, only if missing).
DEBIAN_PACKAGES := postgresql prometheus prometheus-alertmanager poppler-utils poppler-data chromium

.PHONY: demo test lint typecheck pytest system-deps testbed-openstack bench audit-deps lock clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "Yunheng needs Python 3.11+; $(PYTHON) is $$($(PYTHON) --version 2>&1). Try: make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/yunheng demo

system-deps:
	@missing=""; \
	for pkg in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "NOTE: not root, cannot install:$$missing; tests needing them will be skipped (failed under CI=true)."; \
	  exit 0; \
	fi; \
	echo "installing Debian packages:$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

$(MOTO_STAMP):
	@$(PYTHON) -m venv $(MOTO_VENV) \
	  && $(MOTO_VENV)/bin/pip install --quiet '$(MOTO_SPEC)' \
	  && touch $(MOTO_STAMP) \
	  || echo "NOTE: could not install $(MOTO_SPEC) into $(MOTO_VENV); the libcloud tests against moto will be skipped (failed under CI=true)."

# The OpenStack test bed (Keystone, Placement, Nova with 3 fake hosts; deploy/testbed/openstack):
# about 4 minutes and 2 GiB the first time, a quick no-op when it already runs. Root only.
OSBED_LOG ?= /tmp/osbed-up.log
testbed-openstack:
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "NOTE: not root, the OpenStack test bed is not started; its tests will be skipped (failed under CI=true)."; \
	  exit 0; \
	fi; \
	echo "OpenStack test bed: deploy/testbed/openstack/up.sh (log: $(OSBED_LOG))"; \
	echo "=== $$(date -Is) up.sh" >> $(OSBED_LOG); \
	/bin/bash deploy/testbed/openstack/up.sh >> $(OSBED_LOG) 2>&1 \
	  || { tail -n 30 $(OSBED_LOG); echo "the OpenStack test bed did not come up; see $(OSBED_LOG)"; exit 1; }; \
	tail -n 1 $(OSBED_LOG)

# Two pytest-xdist workers: many tests wait on real peers (PostgreSQL, Prometheus, Nova, a
# served console), so two overlap those waits even on two cores (measured here: 10 minutes
# instead of 17). Each file stays in one worker, in order (--dist loadfile), as when run
# alone. PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2
pytest: $(STAMP) system-deps $(MOTO_STAMP) testbed-openstack
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

test: lint typecheck pytest

bench: $(STAMP) system-deps
	$(BIN)/python -m bench.reconcile

# Known vulnerabilities in what .venv has installed, from PyPI's advisory data (network: PyPI
# only). --strict: a dependency that could not be checked fails it (unchecked is not clean).
# Not part of `make test`, so an offline machine can still test.
audit-deps: $(STAMP)
	$(BIN)/pip-audit --strict --progress-spinner off --no-deps --disable-pip \
	  --requirement deploy/requirements.lock

# The runtime dependencies pinned in deploy/requirements.lock: resolved in a scratch venv from
# pyproject.toml alone (no dev extra), so the lock is what the image installs.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet .
	{ sed -n '1,2p' deploy/requirements.lock; .venv-lock/bin/pip freeze --exclude yunheng; } \
	  > deploy/requirements.lock.new && mv deploy/requirements.lock.new deploy/requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) $(MOTO_VENV) var .pytest_cache .mypy_cache .ruff_cache
