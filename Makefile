# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXEC_PORT ?= 8000
export EXEC_PORT
EXEC_OKTA_SANDBOX_PORT ?= 8001
export EXEC_OKTA_SANDBOX_PORT
# EXEC_LOCAL_AGENT=0 leaves this machine's agent out. honcho stops every
# process when one exits, so the agent is left out of the list instead of
# exiting early.
EXEC_LOCAL_AGENT ?= 1
RUN_PROCESSES := web worker okta $(if $(filter 0 false no off,$(EXEC_LOCAL_AGENT)),,agent)

.PHONY: run test lint check-python

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Exec needs Python 3.11 or newer; set PYTHON=/path/to/python3.11")'

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py setup_schedules
	$(BIN)/python manage.py ensure_admin --email admin@localhost --url http://127.0.0.1:$(EXEC_PORT)/admin/
	$(BIN)/python manage.py load_starter_playbooks
	@mkdir -p var/demo
	@echo
	@echo "Exec is starting at http://127.0.0.1:$(EXEC_PORT)/ (processes: $(RUN_PROCESSES))."
	@echo "Next: in another terminal, send a detection about this machine:"
	@echo "  .venv/bin/python manage.py demo_detection --user 'CORP\\joren' --record-user > var/demo/alert.json"
	@echo "  .venv/bin/python manage.py send_detection wazuh var/demo/alert.json"
	@echo "then follow the walkthrough in README.md. Stop everything with Ctrl-C."
	@echo
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile $(RUN_PROCESSES)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
