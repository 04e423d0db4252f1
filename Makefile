# medops.runbook — one entry point. `make demo` and `make test` are the two commands that matter.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
LAB := $(BIN)/python -m medops_lab
export PYTHONPATH := $(CURDIR)/lab
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export MEDOPS_LAB_STATE ?= $(CURDIR)/lab/state
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Each pytest stage leaves a JUnit report (reports/junit-STAGE.xml) for scripts/slowest.py.
JUNIT = --junitxml=$(CURDIR)/reports/junit-$@.xml

.PHONY: help demo test deps venv lab-up lab-down lab-status unit integration reliability molecule newcomer sanity lint build install-check clean ansible-range check check-sanity check-deploy

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

DEMO_VERSION ?= 1.1.0

demo: deps venv lab-up ## start the three-clinic lab, deploy 1.1.0 (DEMO_VERSION) to every clinic, check their health
	$(BIN)/ansible-playbook playbooks/deploy.yml -i inventories/lab -e deploy_version=$(DEMO_VERSION)
	$(BIN)/ansible-playbook playbooks/health_check.yml -i inventories/lab

# Stages joined by '+' run side by side (scripts/suite.sh): each keeps about one core busy, so the
# others fill the second core while Molecule, the longest, runs. Never side by side: integration
# and build (the packaging test builds into build/).
STAGES := deps venv unit integration molecule+reliability+newcomer+lint ansible-range+sanity build install-check

test: ## the whole suite (what CI runs): every stage timed, a table and the 15 slowest tests at the end
	MAKE="$(MAKE)" bash scripts/suite.sh $(STAGES)

# The inner loop: what a change should pass before the whole suite.
CHECK_SANITY ?= compile pep8 shellcheck yamllint validate-modules runtime-metadata
CHECK_DEPLOY ?= tests/integration/deploy/test_deploy.py::test_deploy_1_1_0_to_every_clinic_loses_no_job

check: venv ## the inner loop: unit tests, ansible-lint, fast sanity tests, one lab deploy; timed
	MAKE="$(MAKE)" bash scripts/suite.sh unit check-deploy+lint+check-sanity

check-sanity: venv ## the fast ansible-test sanity tests (CHECK_SANITY)
	VENV=$(CURDIR)/$(VENV) bash scripts/sanity.sh $(addprefix --test ,$(CHECK_SANITY))

check-deploy: venv ## one lab deploy (CHECK_DEPLOY: a test of tests/integration/deploy)
	$(BIN)/pytest $(CHECK_DEPLOY) $(JUNIT)

# `make demo` installs only what the lab needs; a target-specific value reaches its `deps` prerequisite.
DEPS_SET ?= test
demo: DEPS_SET = demo

deps: ## install the Debian packages the lab and tests need (as root), or say which
	@bash scripts/install-deps.sh $(DEPS_SET)

venv: $(VENV)/.installed ## the project virtualenv with pinned dev requirements

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@

lab-up: venv ## start (or keep) the lab: PostgreSQL, Redis and one service per clinic
	$(LAB) up

lab-down: ## stop every process the lab started
	$(LAB) down

lab-status: ## per clinic: pid, port, version, health
	$(LAB) status

unit: venv ## unit tests (pure logic)
	$(BIN)/pytest tests/unit $(JUNIT)

# Integration tests on TEST_WORKERS pytest-xdist workers, each with its own session lab and
# servers; a file's tests stay together on one worker, in file order (they share its lab). A
# deploy keeps one core busy, so two workers use both cores of a 2-core machine.
TEST_WORKERS ?= 2

integration: venv ## integration tests against real servers started by the tests (TEST_WORKERS in parallel)
	$(BIN)/pytest tests/integration -n $(TEST_WORKERS) --dist loadfile $(JUNIT)

reliability: venv ## faults injected into real runs on the lab, with a summary table
	$(BIN)/pytest tests/reliability $(JUNIT)

molecule: deps venv ## every role on podman containers: create, converge, idempotence, verify, destroy
	VENV=$(CURDIR)/$(VENV) bash scripts/molecule.sh

DIST ?= bookworm

newcomer: deps venv ## a clean Debian container (DIST=bookworm or trixie) clones the repo and runs the README's commands as written
	MEDOPS_NEWCOMER_DIST=$(DIST) $(BIN)/pytest tests/newcomer $(JUNIT)

sanity: venv ## ansible-test sanity on a copy of the collection
	VENV=$(CURDIR)/$(VENV) bash scripts/sanity.sh

# The collection's docs as the Ansible docsite renders them (modules, filters, role argument specs;
# references to this collection and to ansible.builtin checked), and the changelog fragments.
lint: venv ## ansible-lint (production profile), antsibull-changelog lint, antsibull-docs lint-collection-docs
	$(BIN)/ansible-lint --offline --profile production
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs=dependent --disallow-unknown-collection-refs .

build: venv ## build the collection tarball into build/
	mkdir -p build
	$(BIN)/ansible-galaxy collection build --force --output-path build .

install-check: build ## install the tarball into a scratch collections path and use it from there
	bash scripts/install-check.sh $(CURDIR)/$(VENV)

ansible-range: ## the oldest claimed ansible-core (2.16) in a virtualenv of its own: unit tests, one lab deploy, sanity
	bash scripts/ansible-range.sh

clean: ## remove build output (not the lab: use lab-down)
	rm -rf build tests/output
