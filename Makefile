# The README's commands. `make demo` sets up and runs the pipeline on the bundled sample data;
# `make ui` serves the Dagster UI (dg dev) on the same Dagster instance ($DAGSTER_HOME, by
# default ./.dagster_home), so it shows what `make demo` did; `make test` sets up and runs the
# test suite. All create ./.venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo ui test soak lint sample docs clean

$(BIN)/orders-pipeline: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/orders-pipeline

demo: setup
	$(BIN)/orders-pipeline run

ui: setup
	$(BIN)/orders-pipeline ui

# Four workers on CI's two cores: the end-to-end tests spend much of their time waiting on
# subprocesses, a webserver and Dagster's daemon, and two workers left the cores idle then
# (1,209 s for 24 min of CPU). No test depends on timing, only on generous timeouts.
# The tests' scratch files (warehouses, Dagster homes: tmp_path, tempfile) go to /dev/shm
# when the machine has one, or where TMPDIR says: every run syncs its warehouse and each CLI
# run Dagster's SQLite files to disk, and on a disk the tests then wait (one process:
# test_currency 52.0 s -> 41.1 s, test_analytics 30.7 s -> 17.8 s).
TEST_TMPDIR ?= $(or $(TMPDIR),$(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm))
# Bytecode is written (to __pycache__, which git ignores) even where the environment says not
# to (PYTHONDONTWRITEBYTECODE, set in many container images, CI's among them): every process
# the tests start (CLI runs, Dagster's code servers and daemons) and every worker would
# otherwise compile this package and the tests again. Importing the CLI and the definitions:
# 1.9-2.0 CPU s without, 1.3-1.6 with; tests/integration/test_cli.py, tests/e2e/test_interrupts.py
# and tests/e2e/test_crash_safety.py: 122-129 CPU s of the machine without, 116-122 with.
test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONDONTWRITEBYTECODE= TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest -q -n 4 --dist loadfile --no-loadscope-reorder --durations=25

# Issue 11's state machine, long: many random sequences of landings, partial, interrupted
# and killed runs and setting changes, each ending with the tables of one fresh run; and
# the other properties whose examples run the pipeline (invariants, fuzzing), with as many
# examples each; and incremental identity resolution, fifteen times as many (no pipeline run).
soak: setup
	ORDERS_SOAK_EXAMPLES=$${ORDERS_SOAK_EXAMPLES:-50} ORDERS_SOAK_STEPS=$${ORDERS_SOAK_STEPS:-12} \
		$(BIN)/python -m pytest -q tests/property/test_exactly_once.py \
		tests/property/test_invariants.py tests/hostile/test_fuzz.py \
		tests/property/test_incremental_identity.py

lint: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

sample: setup
	$(BIN)/python -m orders_pipeline.samples.bundle data/landing

# The tables reference, generated from the column dictionary (a test fails when it is stale).
docs: setup
	$(BIN)/python -m orders_pipeline.dictionary docs/tables.md

# Everything the demo and `dagster dev` write: the warehouse (and its log and lock), the analyst
# database and its half-written copies, DuckDB's spill folder, Dagster's homes. A stale
# analyst database would not be reused by a new warehouse anyway (publish.py), but it is the
# demo's output and goes with it.
clean:
	rm -rf $(VENV) data/warehouse.duckdb data/warehouse.duckdb.wal data/warehouse.duckdb.lock \
		data/warehouse.duckdb.partition_start \
		data/analytics.duckdb data/analytics.duckdb.wal data/.analytics.duckdb.*.tmp* \
		data/.analytics.duckdb.spare \
		data/.duckdb_tmp data/spark .dagster_home .tmp_dagster_home_*
