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
SCENARIOS ?= default
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help setup demo lab-up lab-down lab-status lint unit molecule test clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

setup: $(STAMP) ## Create .venv with the pinned toolchain (no-op when nothing changed)
	@echo "setup: $(VENV) is ready ($$($(BIN)/ansible --version | head -1))"

lab-up: setup ## Start (or repair) the lab: 3 managers + 2 workers by default
	$(BIN)/flotilla lab up

lab-status: setup ## Show the lab's nodes
	$(BIN)/flotilla lab status

lab-down: setup ## Remove the lab's containers, volumes and network
	$(BIN)/flotilla lab down

demo: lab-up ## Lab up, then playbooks/site.yml against it, then a status table
	$(BIN)/ansible-playbook -i inventory/lab playbooks/site.yml
	$(BIN)/flotilla lab status
