# Two entry points for a fresh machine with only Python 3.11+:
#   make demo   installs into .venv and runs the demo on SQLite + local workbooks
#   make test   installs into .venv and runs the test suite (PostgreSQL tests need
#               SHEETSYNC_TEST_PG_URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sheetsync demo --dir demo

# Tests write bytecode caches (gitignored) even where the environment turns them off: the
# worker and CLI tests start many Python processes, and pytest rewrites every test module.
TEST_ENV := env -u PYTHONDONTWRITEBYTECODE

test: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q -n 2 --dist worksteal

# The fast lane: the tests that need no database (pure code, the emulator), in seconds.
check: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not office" tests/unit tests/emulator

lint: $(STAMP)
	$(BIN)/ruff check sync sheets_emulator tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/cycle.py --agents 50 --rows 2000

clean:
	rm -rf $(VENV) demo .pytest_cache .hypothesis
