# Flotilla: `make demo` builds the local lab and runs the real playbooks against it;
# `make test` runs lint, unit tests and the molecule scenarios. `make help` lists every target.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
REPORTS := .reports
# The molecule scenarios, in order. The failure drills, `stacks` and `lifecycle` run on the lab
# `default` converged, so they follow it (`make molecule SCENARIOS="default worker_loss"` for one
# drill); `make molecule` removes that lab at the end (and before any scenario with a lab of its
# own: none today). lifecycle reshapes the swarm (roles, nodes, a reset host), so it comes last.
DRILLS := safety manager_loss worker_loss quorum_loss backup_restore upgrade
ON_DEFAULT := $(DRILLS) stacks security lifecycle
SCENARIOS ?= default $(ON_DEFAULT)
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help setup demo lab-up lab-down lab-status lint unit molecule test bench-formation bench-rolling-update clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

setup: $(STAMP) ## Create .venv with the pinned toolchain (no-op when nothing changed)
	@echo "setup: $(VENV) is ready ($$($(BIN)/ansible --version 2>/dev/null | head -1))"

lab-up: setup ## Start (or repair) the lab: 3 managers + 2 workers by default
	$(BIN)/flotilla lab up

lab-status: setup ## Show the lab's nodes, the swarm's nodes and services, and the URLs
	$(BIN)/flotilla lab status

lab-down: setup ## Remove the lab's containers, volumes and network
	$(BIN)/flotilla lab down

demo: lab-up ## Lab up, site.yml (engine, swarm, demo stack), status.yml's report, then every node's URL checked
	$(BIN)/ansible-playbook -i inventory/lab playbooks/site.yml
	$(BIN)/ansible-playbook -i inventory/lab playbooks/status.yml
	$(BIN)/flotilla lab status --check

# $(call stage,NAME,COMMAND): run COMMAND, record passed/failed in $(REPORTS)/NAME.stage.
define stage
	@mkdir -p $(REPORTS)
	@if $(2); then echo passed > $(REPORTS)/$(1).stage; else echo failed > $(REPORTS)/$(1).stage; exit 1; fi
endef

lint: setup ## yamllint, ruff, mypy (strict, src/flotilla) and ansible-lint (production profile)
	$(call stage,yamllint,$(BIN)/yamllint --strict .)
	$(call stage,ruff,$(BIN)/ruff check .)
	$(call stage,mypy,$(BIN)/mypy src/flotilla)
	$(call stage,ansible-lint,$(BIN)/ansible-lint --nocolor -q)

unit: setup ## pytest: unit tests of the Python code
	@mkdir -p $(REPORTS)
	$(BIN)/pytest tests/unit --junitxml=$(REPORTS)/unit.xml

molecule: setup ## Molecule scenarios: default, then the others on its lab (SCENARIOS=...)
	@rc=0; for s in $(SCENARIOS); do \
	  echo "== molecule test -s $$s ($$(date -u +%T))"; \
	  case " $(ON_DEFAULT) " in \
	    *" $$s "*) keep=--destroy=never;; \
	    *) keep=; [ $$s = default ] || $(BIN)/flotilla lab down --name molecule-default >/dev/null || rc=1;; \
	  esac; \
	  if $(BIN)/molecule -c .config/molecule/config.yml test -s $$s $$keep; then r=passed; else r=failed; rc=1; fi; \
	  mkdir -p $(REPORTS); echo $$r > $(REPORTS)/molecule-$$s.stage; \
	done; \
	$(BIN)/flotilla lab down --name molecule-default >/dev/null || rc=1; exit $$rc

# Lint and the unit tests run side by side (each is one busy core: ansible-lint about 70 s, pytest
# 35 s); lint's output follows the unit tests'. Then the scenarios, then the summary.
test: setup ## Lint + unit tests + molecule scenarios; ends with "N passed, N failed"
	@rm -rf $(REPORTS) && mkdir -p $(REPORTS)
	@rc=0; $(MAKE) --no-print-directory lint > $(REPORTS)/lint.log 2>&1 & lint=$$!; \
	  $(MAKE) --no-print-directory unit || rc=1; \
	  wait $$lint || rc=1; echo "== make lint (beside the unit tests)"; cat $(REPORTS)/lint.log; \
	  $(MAKE) --no-print-directory molecule || rc=1; \
	  $(BIN)/python -m flotilla.report $(REPORTS) || rc=1; exit $$rc

bench-formation: setup ## Benchmark (not a test): swarm.yml vs a plain init/join script, 3+2 and 10+5 nodes
	$(BIN)/python bench/formation.py

bench-rolling-update: setup ## Benchmark (not a test): failed requests under load during v1->v2 and a rolled-back update (make demo first)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(BIN)/python bench/rolling_update.py

clean: ## Remove the lab and the Python environment (cached images and apt downloads stay)
	-$(BIN)/flotilla lab down
	rm -rf $(VENV) $(REPORTS) .pytest_cache .ruff_cache .mypy_cache
