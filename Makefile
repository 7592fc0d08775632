# `make run` and `make test` set everything up on a fresh machine (Python 3.11+).
# PYTHON picks the interpreter for the virtualenv; VENV where it lives.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k cache -x"`.
PYTEST_ARGS ?=

.PHONY: run test lint format bench install install-dev migrate demo clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/activate
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sync_periodic_tasks

demo: migrate
	$(PY) manage.py load_demo

## Set up and run web (ASGI), a Celery worker and beat in the foreground; Ctrl-C stops them all.
run: demo
	$(PY) manage.py runall

## Set up and run ruff, the import contracts and the whole test suite.
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Run every benchmark in benchmarks/ (each prints one JSON line last).
bench: install-dev
	$(PY) -m benchmarks all

clean:
	rm -rf $(VENV) var/db.sqlite3* var/broker .pytest_cache .ruff_cache
