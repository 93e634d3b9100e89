# Two commands on a fresh machine: `make run` and `make test`. Everything else is set up from here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup browser run test lint unit bench load mutants clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

## The main job: PKI if missing, simulator up, sample parties registered, ICS2 scenarios run against
## the reference client, simulator down, summary + JUnit report path; non-zero exit on any failure.
run: setup
	$(BIN)/icssim conformance

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy icssim simulator scenarios certs load

## Debian's chromium for the real-browser tests (tests/browser); installed only when missing, with sudo
## only when not root and sudo exists.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=; if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi; \
	  echo "installing Debian's chromium for the browser tests"; \
	  log=$$( { $$SUDO apt-get update -qq && \
	            $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } 2>&1 ) || \
	    { echo "$$log"; exit 1; }; }

## The whole suite: lint, unit, integration on loopback (real TLS, real servers), browser, scenarios.
test: lint browser
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m load.bench

load: setup
	$(BIN)/python -m load.run_headless

## The suite once with the reference client and once per named faulty variant (scenarios/client/variants.py):
## every variant must fail a MUST scenario it names, the reference none; last line is a JSON summary.
mutants: setup
	$(BIN)/python -m scenarios.mutants

clean:
	rm -rf var reports .pytest_cache .mypy_cache .ruff_cache
