# Anju — the two set-up commands are `make demo` and `make test`; `make bench` runs the benchmarks.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8080
DATA   ?= data/demo

.PHONY: demo test bench screenshots lint fmt typecheck install tools browser cometbft clean bench-ledger consortium consortium-down bench-consortium

$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/anju demo --data $(DATA) --port $(PORT)

# Debian's Chromium (browser tests) and CometBFT built with `go install` (consortium tests).
tools: browser cometbft

browser: $(STAMP)
	PYTHON=$(PY) sh scripts/install-browser.sh

cometbft:
	bash scripts/install-cometbft.sh

test: $(STAMP) tools
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -n 2 --dist loadgroup -m "not consortium"
	# The 4-validator network tests run alone: under the parallel suite's load their timing-bound
	# steps (restarts, catching up, detecting a tampered member) were flaky.
	$(VENV)/bin/pytest -q -m consortium

bench: $(STAMP)
	$(VENV)/bin/anju bench all

bench-ledger: $(STAMP)
	$(VENV)/bin/anju bench ledger

# A local 4-validator consortium on CometBFT (API and portal on every member).
consortium: $(STAMP) cometbft
	test -f data/consortium/consortium.json || $(VENV)/bin/anju consortium init --validators 4 --dir data/consortium
	$(VENV)/bin/anju consortium up --dir data/consortium

consortium-down: $(STAMP)
	$(VENV)/bin/anju consortium down --dir data/consortium

bench-consortium: $(STAMP) cometbft
	$(VENV)/bin/anju bench consortium

screenshots: $(STAMP) browser
	ANJU_SCREENSHOTS=1 $(VENV)/bin/pytest -q tests/web -m browser

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

fmt: $(STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) data bench/results/*.json
