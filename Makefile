# lvmbeat developer entry points. `make test` and `make run` are the two that matter.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .make

.PHONY: help install test lint pytest run bench drills package clean

help:
	@echo "make run     bring the whole chain up locally (Azurite, monitor, actor, simulated lvmecp)"
	@echo "make test    install everything and run every check (ruff, pytest, infra and Docker lints)"
	@echo "make bench   run the benchmarks in bench/ and rewrite docs/benchmarks.md"
	@echo "make drills  run the fault drills in bench/drills/ one by one (docs/reliability.md)"
	@echo "make package build the zip the Azure function app deploys"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python 3.11+ is required; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Set PYTHON=python3.11 or newer."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# VERSION too: the installed metadata (the actor's version) is written at install time.
$(STAMPS)/python: $(BIN)/python pyproject.toml function_app/lvmbeat_monitor/VERSION
	@mkdir -p $(STAMPS)
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

$(STAMPS)/node: package.json package-lock.json
	@mkdir -p $(STAMPS)
	@command -v npm >/dev/null || { echo "npm is required for Azurite; install Node.js 22+ and npm."; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(STAMPS)/python $(STAMPS)/node

lint: install
	$(BIN)/ruff check .
	@if [ -f infra/main.bicep ]; then \
	  echo "checkov (bicep) over infra/"; \
	  $(BIN)/checkov --framework bicep --directory infra --skip-download --quiet --compact; \
	fi
	@echo "actionlint over .github/workflows/"
	$(BIN)/actionlint -shellcheck=$(BIN)/shellcheck
	@# Every Dockerfile, found by name, so a new one is linted without editing this.
	@for dockerfile in $$(find . \( -path ./.git -o -path ./.venv -o -path ./node_modules \) -prune \
	    -o -type f \( -name Dockerfile -o -name 'Dockerfile.*' -o -name '*.Dockerfile' \) \
	    ! -name '*.dockerignore' -print | sort); do \
	  echo "hadolint $$dockerfile"; \
	  $(BIN)/hadolint --failure-threshold warning "$$dockerfile"; \
	done

pytest: install
	scripts/ensure_rabbitmq.sh
	@# pytest exits 5 when it collected nothing: a test command that tests nothing fails.
	@status=0; $(BIN)/pytest || status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests; the suite is missing." >&2; fi; \
	exit $$status

test: lint pytest

run: install
	scripts/ensure_rabbitmq.sh
	$(BIN)/python -m lvmbeat_local.dev.run_local

bench: install
	scripts/ensure_rabbitmq.sh
	$(BIN)/python bench/run_all.py

# Every bench/drills/*.py is one drill (helpers start with "_"); stop at the first
# that fails and name it.
drills: install
	scripts/ensure_rabbitmq.sh
	@for drill in bench/drills/*.py; do \
	  case "$$(basename "$$drill")" in _*|common.py) continue ;; esac; \
	  echo "== $$drill"; \
	  $(BIN)/python "$$drill" || { echo "make drills: $$drill failed" >&2; exit 1; }; \
	done

package: install
	$(BIN)/python scripts/package_function_app.py

clean:
	rm -rf $(VENV) $(STAMPS) node_modules dist build
