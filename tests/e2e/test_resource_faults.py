"""Running out of disk or memory, provoked for real under ``orders-pipeline run``: the run
fails with one clear line (what ran out, where, what to do), no traceback, the warehouse
keeps its last consistent state, and once the limit is lifted the next run gives the tables
of a run that never failed.

How each fault is provoked (nothing of ours is mocked):

- a full disk: the warehouse folder on a tmpfs mounted with ``size=`` just above what the
  previous run left there (needs root to mount; skipped otherwise), then remounted bigger;
- a file size limit: ``RLIMIT_FSIZE`` in the child process (writes past it fail with EFBIG,
  SIGXFSZ ignored), the faithful "disk full" of one writer that needs no privileges;
- DuckDB out of memory: ``ORDERS_DUCKDB_MEMORY_LIMIT=20MB``;
- a full spill folder: ``ORDERS_DUCKDB_TEMP_DIR`` on a 64 KiB tmpfs with a memory limit
  that makes DuckDB offload blocks.

Every scenario starts from a warehouse that has already run on the earlier files, and the
failing run is given every file, so "last consistent state" is a real earlier state.

The data is small (4,000 line items over 40 days: each scenario is two runs of the CLI, the
failing one in a child process, the next one in this process) and
the limits are set for it, each in the middle of the range of bytes that makes the fault hit
the named phase and file (measured by running the CLI under a range of limits: the bytes a
run writes depend on the data and the code, not on timing). When a change to the pipeline
moves where a fault hits, a scenario fails naming the step and file it hit instead; re-tune
its limit the same way.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orders_pipeline.generator import GeneratorConfig, generate
from tests.conftest import cli_run_in_process, table_contents

pytestmark = pytest.mark.heavy(seconds=120)  # scheduled first (tests/conftest.py)

PROJECT = Path(__file__).resolve().parents[2]
# The console script of the venv running the tests (what a user types).
CLI = Path(sys.executable).with_name("orders-pipeline")
# Files dated before this make up the previous, successful run.
EARLIER_THAN = "odp_events_2026-06-21"
MB = 1024 * 1024

Tables = dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def landings(tmp_path_factory) -> tuple[Path, Path]:
    """(the earlier files, every file) as two landing folders."""
    root = tmp_path_factory.mktemp("resource_faults")
    every = root / "landing"
    generate(every / "odp_events", GeneratorConfig(line_items=4_000, days=40, seed=7))
    earlier = root / "earlier"
    (earlier / "odp_events").mkdir(parents=True)
    for path in sorted((every / "odp_events").iterdir()):
        if path.name < EARLIER_THAN:
            shutil.copy2(path, earlier / "odp_events" / path.name)
    assert (
        0
        < len(list((earlier / "odp_events").iterdir()))
        < len(list((every / "odp_events").iterdir()))
    )
    return earlier, every


@pytest.fixture(scope="module")
def previous(landings, tmp_path_factory) -> Path:
    """A warehouse folder after a successful run on the earlier files (tests copy it)."""
    folder = tmp_path_factory.mktemp("previous")
    assert _run_in_process(landings[0], folder / "wh.duckdb") == 0
    return folder


@pytest.fixture(scope="module")
def expected(landings, previous, tmp_path_factory) -> Tables:
    """The tables after the same second run, with nothing running out."""
    folder = tmp_path_factory.mktemp("uninterrupted") / "wh"
    shutil.copytree(previous, folder)
    assert _run_in_process(landings[1], folder / "wh.duckdb") == 0
    return table_contents(folder / "wh.duckdb")


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[Callable[[Path, int], Path]]:
    """Mount a tmpfs of a given size on a new folder; unmounted after the test."""
    mounted: list[Path] = []

    def mount(folder: Path, size_bytes: int) -> Path:
        folder.mkdir(parents=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs",
                               str(folder)], capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); needs root")
        mounted.append(folder)
        return folder

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE tests cover a full disk")
    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", str(folder)], check=False)


def _run(
    landing: Path,
    warehouse: Path,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    clean["DAGSTER_HOME"] = str(_dagster_home(warehouse))
    command = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "orders_pipeline.cli"]
    return subprocess.run(
        [*command, "run", "--landing", str(landing), "--warehouse", str(warehouse)],
        cwd=PROJECT, capture_output=True, text=True, timeout=300,
        env={**clean, **(env or {})}, preexec_fn=preexec_fn,
    )  # fmt: skip


def _run_in_process(landing: Path, warehouse: Path) -> int:
    """What :func:`_run` runs, with no limit, in this process (``cli_run_in_process``): the
    runs that set up a state or follow a fault, whose process is not what is tested."""
    return cli_run_in_process(landing, warehouse, _dagster_home(warehouse))


def _dagster_home(warehouse: Path) -> Path:
    # a Dagster instance of this warehouse's own: the session's shared one holds every earlier
    # test's runs, and its SQLite files are past the file-size limits these tests set
    return warehouse.parent.with_name(warehouse.parent.name + "_dagster")


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child, before exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _used_bytes(folder: Path, without: tuple[str, ...] = ()) -> int:
    """What the files of ``folder`` (but those named in ``without``) take on a tmpfs (whole
    pages)."""
    return sum(
        -(-p.stat().st_size // 4096) * 4096
        for p in folder.rglob("*")
        if p.is_file() and p.name not in without
    )


MODELLING = "modelling"
# An error line names the asset a step was building (``staging/stg_order_events``), or the
# step when it failed outside one (opening the warehouse): a validated table, a model, the
# identity tables.
MODELLING_STEPS = (
    "validated_sources", "staging/", "staging__", "intermediate/", "intermediate__",
    "resolved_customers", "core/", "core__",
    "audit/", "audit__", "reporting/", "reporting__",
)  # fmt: skip
# Failures before anything is modelled: landing, or validating a source.
VALIDATED_ODP_EVENTS = "staging/odp_event_records"
INGESTING = ("land_new_files", "validated_sources", VALIDATED_ODP_EVENTS)


def _error_line(done: subprocess.CompletedProcess[str], step: str, *phrases: str) -> str:
    """The run failed cleanly: exit 1, no traceback, no raw DuckDB error, and the first error
    line names ``step`` and says each of ``phrases`` (among them the file that could not be
    written: the fault hit what the scenario means it to hit)."""
    assert done.returncode == 1, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert "run FAILED" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert "_duckdb." not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors, done.stderr
    first = errors[0]
    # a step name, or the modelling phase as a whole: any step after landing and before
    # publishing (where exactly the bytes run out moves as models grow more incremental)
    steps = MODELLING_STEPS if step == MODELLING else (step,)
    assert first.startswith(tuple(f"error: {s}" for s in steps)), (
        f"the fault hit another step: {first}"
    )
    for phrase in phrases:
        assert phrase in first, f"{phrase!r} missing from: {first}"
    return first


def _failed_step(error_line: str) -> str:
    """The step an ``error: <step>: <message>`` line names."""
    return error_line.removeprefix("error: ").split(":", 1)[0]


def _assert_consistent(folder: Path, previous: Path, failed_step: str) -> None:
    """What the failed run left is a consistent state: every landed file whole and in the
    audit, every validated file reconciled, the analyst copy the previous run's, and the
    models the previous run's when the run failed before modelling."""
    warehouse = folder / "wh.duckdb"
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        unreconciled, half_landed = con.execute(
            """select
                 (select count(*) from audit.loads
                  where validated_at is not null
                    and records <> accepted + quarantined + duplicates),
                 (select count(*)
                  from audit.loads as a
                  full join (select file, count(*) as n from raw.odp_events group by file) as r
                      using (file)
                  where a.records is distinct from coalesce(r.n, 0))"""
        ).fetchall()[0]
    finally:
        con.close()
    assert (unreconciled, half_landed) == (0, 0)
    assert table_contents(folder / "analytics.duckdb") == table_contents(
        previous / "analytics.duckdb"
    )
    if failed_step.startswith(INGESTING):
        models = ("core", "reporting")
        assert table_contents(warehouse, models) == table_contents(previous / "wh.duckdb", models)


def _assert_rerun_completes(landing: Path, folder: Path, expected: Tables) -> None:
    assert _run_in_process(landing, folder / "wh.duckdb") == 0
    assert table_contents(folder / "wh.duckdb") == expected
    assert not list(folder.glob(".analytics.duckdb.*.tmp*"))


DISK_FULL = [
    # (label, free bytes left on the disk when the run starts, the step that hits it, the
    # file it cannot write); measured: 1.3 MB runs out while validating, 2 MB in the first
    # staging model (write-ahead log), 3 MB in the ledger (the warehouse file), 4 to 11 MB
    # while publishing
    ("already full", 0, "land_new_files", "wh.duckdb.wal"),
    ("fills while modelling", 2_500_000, MODELLING, "wh.duckdb"),
    ("fills while publishing", 8 * MB, "publish__analytics_database", ".analytics.duckdb."),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("label", "free", "step", "file"), DISK_FULL, ids=[d[0] for d in DISK_FULL]
)
def test_a_full_disk_fails_cleanly_and_the_next_run_completes(
    landings, previous, expected, tmpfs, tmp_path, label, free, step, file
):
    # the publication that fills the disk copies the analyst database, as when a reader
    # holds its spare: updating the spare in place writes too little to fill it (a disk full
    # while it does falls back to a full publication, which fits where the spare was)
    left_out = (".analytics.duckdb.spare",) if step == "publish__analytics_database" else ()
    folder = tmpfs(tmp_path / "disk", _used_bytes(previous, without=left_out) + free + 8192)
    shutil.copytree(previous, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*left_out))

    done = _run(landings[1], folder / "wh.duckdb")

    line = _error_line(done, step, "the disk is full", f"could not write {folder}/{file}",
                       "No space left on device", "run again")  # fmt: skip
    assert "ORDERS_WAREHOUSE" in line
    _assert_consistent(folder, previous, _failed_step(line))
    subprocess.run(["mount", "-o", "remount,size=512m", str(folder)], check=True)
    _assert_rerun_completes(landings[1], folder, expected)


FILE_SIZE_LIMITS = [
    # (label, RLIMIT_FSIZE, the step that hits it, the file it cannot write). The write-ahead
    # log grows from nothing: measured, it passes the limit while landing from about 0.45 to
    # 0.6 MB (below, Dagster's own SQLite storage hits it first), while validating at 0.8 to
    # 1.25 MB, in the first staging model at 1.4 to 1.7 MB. The warehouse file is bigger
    # than those limits; it may not grow past ``+ above`` its size before the run (which a
    # checkpoint does while modelling from 0.1 MB above to beyond 2.5 MB above).
    ("write-ahead log while landing", 520_000, "land_new_files", "wh.duckdb.wal"),
    ("write-ahead log while modelling", 1_550_000, MODELLING, "wh.duckdb.wal"),
    ("checkpoint while modelling", "+ 700_000", MODELLING, "wh.duckdb "),  # not its .wal
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("label", "limit", "step", "file"), FILE_SIZE_LIMITS, ids=[f[0] for f in FILE_SIZE_LIMITS]
)
def test_a_file_size_limit_fails_cleanly_and_the_next_run_completes(
    landings, previous, expected, tmp_path, label, limit, step, file
):
    folder = tmp_path / "wh"
    shutil.copytree(previous, folder)
    if isinstance(limit, str):  # bytes above the warehouse file's size
        limit = (folder / "wh.duckdb").stat().st_size + int(limit.removeprefix("+ "))

    done = _run(landings[1], folder / "wh.duckdb", preexec_fn=_file_size_limit(limit))

    line = _error_line(done, step, "a file size limit was reached",
                       f"could not write {folder}/{file}", "File too large", "ulimit -f",
                       "run again")  # fmt: skip
    _assert_consistent(folder, previous, _failed_step(line))
    _assert_rerun_completes(landings[1], folder, expected)


@pytest.mark.slow
def test_duckdb_out_of_memory_fails_cleanly_and_the_next_run_completes(
    landings, previous, expected, tmp_path
):
    folder = tmp_path / "wh"
    shutil.copytree(previous, folder)

    done = _run(landings[1], folder / "wh.duckdb", env={"ORDERS_DUCKDB_MEMORY_LIMIT": "20MB"})

    _error_line(done, VALIDATED_ODP_EVENTS, "DuckDB ran out of memory", "limit in use",
                "Raise ORDERS_DUCKDB_MEMORY_LIMIT", "run again")  # fmt: skip
    _assert_consistent(folder, previous, VALIDATED_ODP_EVENTS)
    _assert_rerun_completes(landings[1], folder, expected)


@pytest.mark.slow
def test_a_full_spill_folder_fails_cleanly_and_the_next_run_completes(
    landings, previous, expected, tmpfs, tmp_path
):
    spill = tmpfs(tmp_path / "spill", 64 * 1024)
    folder = tmp_path / "wh"
    shutil.copytree(previous, folder)
    # measured: 30 to 45 MB makes validation offload blocks (60 MB does not; 20 MB runs out
    # of memory it cannot offload)
    env = {"ORDERS_DUCKDB_MEMORY_LIMIT": "36MB", "ORDERS_DUCKDB_TEMP_DIR": str(spill)}

    done = _run(landings[1], folder / "wh.duckdb", env=env)

    _error_line(done, VALIDATED_ODP_EVENTS, "could not spill to disk",
                "ORDERS_DUCKDB_TEMP_DIR", "ORDERS_DUCKDB_MEMORY_LIMIT", "run again")  # fmt: skip
    _assert_consistent(folder, previous, VALIDATED_ODP_EVENTS)
    _assert_rerun_completes(landings[1], folder, expected)
