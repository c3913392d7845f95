"""Fixtures that build tiny landing folders, run the real pipeline on them, and query the
warehouse it wrote. They build data; assertions stay in the tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import RunSummary, run_pipeline


def _share_the_cores() -> None:
    """Each xdist worker's DuckDB connections get the worker's share of the cores.

    ``make test`` runs four workers (``-n 4``) on machines with fewer cores (CI: 2), and
    DuckDB gives every connection a thread per core: eight threads on two cores, switching
    (1.5 million involuntary context switches in one suite). With one thread each,
    ``tests/unit`` took 273 and 260 CPU s instead of 292 and 284, 140 and 133 s instead of
    150 and 146 (measured alternately, same machine). A connection that sets ``threads``
    keeps it, and processes the tests start are left alone: the CLI runs of
    ``tests/e2e`` keep DuckDB's default, which their memory limits were measured with. The
    results do not depend on it: ``make soak`` (no workers) and the benches run with the
    default."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    if threads >= cores:
        return
    connect = duckdb.connect

    def with_a_share(database: Any = ":memory:", read_only: bool = False, config: Any = None,
                     **kwargs: Any) -> duckdb.DuckDBPyConnection:  # fmt: skip
        return connect(
            database, read_only=read_only, config={"threads": threads, **(config or {})},
            **kwargs,
        )  # fmt: skip

    duckdb.connect = with_a_share


_share_the_cores()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Each test process collects garbage as the CLI's process does
    (``garbage_collection.tune_garbage_collection``), once every test module is imported:
    most of the suite's CPU is pipeline runs in the test processes themselves
    (``run_pipeline``), and there, with Python's default thresholds, the collector walked
    the imported modules and the collected tests again and again (docs/performance.md,
    session 27)."""
    from orders_pipeline.garbage_collection import tune_garbage_collection

    tune_garbage_collection()


@pytest.fixture(autouse=True, scope="session")
def _dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """CLI runs record into the persistent Dagster instance in ``$DAGSTER_HOME``
    (orders_pipeline/instance.py); the tests' runs go to a throwaway one, never the
    repository's ``.dagster_home``. Tests that need their own home set it themselves."""
    home = tmp_path_factory.mktemp("dagster_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files marked ``heavy(seconds=…)`` come first, the longest first; the rest keep their
    order. ``make test`` runs ``--dist loadfile --no-loadscope-reorder``: each worker takes
    the next file in this order, so the long files start at once and the short ones fill in
    around them (a long file taken last would run alone while the other workers idle).

    A heavy file that mostly waits (``heavy(seconds=…, waits=True)``: on Dagster's daemons,
    whose backfill loop runs every 30 s whatever the load) holds a worker but no core. Two of
    them at once would leave four workers with two busy ones on two cores, so only the
    longest comes first; the next follows the first wave of files (one per worker), where
    the worker that holds the first one takes it: xdist hands a worker its next file while
    it has two tests or fewer left, and a waiting file has one."""
    marked = [(item, item.get_closest_marker("heavy")) for item in items]
    heavy = sorted(  # stable: a file's tests stay together and in order
        ((item, mark) for item, mark in marked if mark),
        key=lambda pair: -float(pair[1].kwargs["seconds"]),  # type: ignore[union-attr]
    )
    rest = [item for item, mark in marked if not mark]
    waiting = [item for item, mark in heavy if mark.kwargs.get("waits")]  # type: ignore[union-attr]
    working = [item for item, mark in heavy if not mark.kwargs.get("waits")]  # type: ignore[union-attr]
    first = [item for item in waiting if item.fspath == waiting[0].fspath] if waiting else []
    later = waiting[len(first) :]
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "4"))
    first_wave = _first_files(working, workers - 1)
    items[:] = first + working[:first_wave] + later + working[first_wave:] + rest


def _first_files(items: list[pytest.Item], files: int) -> int:
    """How many of ``items`` (grouped by file) the first ``files`` files make up."""
    seen: list[Any] = []
    for index, item in enumerate(items):
        if item.fspath not in seen:
            if len(seen) == files:
                return index
            seen.append(item.fspath)
    return len(items)


def stop_process_group(process: subprocess.Popen[Any], grace: float = 30) -> None:
    """Stop a server started with ``start_new_session=True`` and everything it spawned:
    Ctrl-C to its process group, up to ``grace`` seconds for it to shut down, then SIGKILL
    to whatever is left of the group. The last step also reaches a child (a code server, a
    run worker) that its parent started as it was being stopped and then left behind: the
    group outlives its leader while any member lives."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def processes_with_environment(name: str, value: str, settle: float = 30) -> list[str]:
    """The command lines of the live processes whose environment sets ``name=value`` (a test's
    own ``DAGSTER_HOME``: what a server it started left running), after up to ``settle``
    seconds for killed ones to go (Linux ``/proc``; none found elsewhere)."""
    wanted = f"{name}={value}".encode()
    deadline = time.monotonic() + settle
    while True:
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if wanted in (proc / "environ").read_bytes().split(b"\0"):
                    found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:  # gone, or not ours to read
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def soak_examples(ci: int) -> int:
    """Hypothesis examples of a property whose every example runs the pipeline: ``ci`` in
    the suite, ``ORDERS_SOAK_EXAMPLES`` under ``make soak``."""
    return int(os.environ.get("ORDERS_SOAK_EXAMPLES", ci))


def odp_event(
    action: str,
    order_id: str,
    ts: int | float | str | None = 1_700_000_000,
    *,
    identifiers: dict[str, Any] | None = None,
    items: list[dict[str, Any]] | None = None,
    ts_at_top: bool = False,
    **order_fields: Any,
) -> dict[str, Any]:
    """An ODP order event (docs/semantics.md §1.1). ``identifiers`` defaults to one email per order
    so that ODP's identifier rule is met; pass ``{}`` to send none."""
    order: dict[str, Any] = {"order_id": order_id, **order_fields}
    if items is not None:
        order["items"] = items
    data: dict[str, Any] = {"order": order}
    event: dict[str, Any] = {
        "type": "order",
        "action": action,
        "identifiers": {"email": f"{order_id.lower()}@example.com"}
        if identifiers is None
        else identifiers,
        "data": data,
    }
    if ts is not None:
        if ts_at_top:
            event["ts"] = ts
        else:
            data["ts"] = ts
    return event


# For examples dated years back (the vendors' published examples are from 2014-2017): daily
# partitions from here instead of from the month of the earliest event. A run's first build
# covers every partition key from the start to today, and Dagster records a materialisation
# (and a planned one) per key and partitioned asset: from 2015 that is ~26,000 events, about
# 25 s of Dagster bookkeeping per run, for nothing the test asserts. Events before the start
# belong to the first partition and keep their own dates (README, "Operating it with
# Dagster"), so every table
# is the same.
RECENT_PARTITION_START = date(2026, 5, 1)


def day(n: int, hour: int = 12) -> int:
    """Epoch seconds of 2026-06-{n} at ``hour``:00 UTC (n from 1 to 30)."""
    return 1_780_272_000 + (n - 1) * 86_400 + hour * 3_600


@dataclass
class Warehouse:
    """A finished run and read-only access to what it wrote."""

    path: Path
    summary: RunSummary

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            con.execute("set TimeZone = 'UTC'")
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def value(self, sql: str, params: list[Any] | None = None) -> Any:
        rows = self.query(sql, params)
        assert len(rows) == 1 and len(rows[0]) == 1, f"expected one value from {sql!r}: {rows}"
        return rows[0][0]

    def dicts(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            con.execute("set TimeZone = 'UTC'")
            relation = con.sql(sql, params=params or [])
            columns = relation.columns
            return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
        finally:
            con.close()

    def order(self, order_id: str) -> dict[str, Any]:
        rows = self.dicts("select * from core.orders where order_id = ?", [order_id])
        assert len(rows) == 1, f"expected one order {order_id}, got {rows}"
        return rows[0]

    def ledger(self, order_id: str) -> list[dict[str, Any]]:
        return self.dicts(
            "select * from core.order_events where order_id = ? order by event_seq", [order_id]
        )


# Columns that record when a run happened, not what it computed.
CLOCK_COLUMNS = ("loaded_at", "validated_at", "updated_at")


def table_contents(
    warehouse: Path,
    schemas: tuple[str, ...] = ("raw", "staging", "intermediate", "core", "reporting", "audit"),
) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of ``schemas`` as sorted rows, clock columns left out: two warehouses
    that computed the same thing compare equal."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = con.execute(
            """select table_schema || '.' || table_name, list(column_name order by column_name)
               from information_schema.columns
               where list_contains(?, table_schema)
               group by 1""",
            [list(schemas)],
        ).fetchall()
        return {
            table: sorted(
                con.execute(
                    f"select {', '.join(c for c in cols if c not in CLOCK_COLUMNS)} from {table}"
                ).fetchall(),
                key=repr,
            )
            for table, cols in columns
        }
    finally:
        con.close()


def write_ndjson(path: Path, records: Iterable[dict[str, Any] | str]) -> Path:
    """One record per line; a ``str`` is written verbatim (for malformed lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_examples(folder: Path, examples: dict[str, list[dict[str, Any] | str]]) -> Warehouse:
    """Each example as an NDJSON file of its own in one landing folder, and one run over them
    all: for rules whose examples use order ids (and identifiers) of their own, a module pays
    for one pipeline run instead of one per test."""
    landing_dir = folder / "landing"
    for name, events in examples.items():
        write_ndjson(landing_dir / "odp_events" / f"{name}.ndjson", events)
    config = Settings(landing_dir=landing_dir, warehouse=folder / "warehouse.duckdb")
    summary = run_pipeline(config)
    assert summary.success, f"run failed: {summary.failed_steps} {summary.errors}"
    return Warehouse(path=config.warehouse, summary=summary)


def cli_run_in_process(landing_dir: Path, warehouse: Path, dagster_home: Path | None = None) -> int:
    """``orders-pipeline run --landing … --warehouse …`` in this process (``cli.main``): its
    exit code. For the runs whose process a test is not about (a reference run, the run
    after a killed or failed one): the same code, settings and Dagster instance
    (``dagster_home``, by default ``$DAGSTER_HOME``) as the console script, without starting
    Python and importing Dagster again (about 2 CPU seconds a run). No ``ORDERS_*`` variable
    of the test process reaches it, as none reaches a child the tests start with a clean
    environment."""
    from orders_pipeline import cli

    saved = signal.getsignal(signal.SIGTERM)  # the CLI maps SIGTERM to Ctrl-C for its run
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name in [n for n in os.environ if n.startswith("ORDERS_")]:
                patch.delenv(name)
            if dagster_home is not None:
                patch.setenv("DAGSTER_HOME", str(dagster_home))
            return cli.main(["run", "--landing", str(landing_dir), "--warehouse", str(warehouse)])
    finally:
        signal.signal(signal.SIGTERM, saved)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """An empty landing folder."""
    folder = tmp_path / "landing"
    (folder / "odp_events").mkdir(parents=True)
    return folder


@pytest.fixture
def run_landing(tmp_path: Path) -> Callable[..., Warehouse]:
    """Run the pipeline on a landing folder into a warehouse under tmp_path (the same
    warehouse on every call, so a second call is an incremental run)."""

    def _run(landing_dir: Path, warehouse: Path | None = None, **settings: Any) -> Warehouse:
        target = warehouse or tmp_path / "warehouse.duckdb"
        config = Settings(landing_dir=landing_dir, warehouse=target, **settings)
        summary = run_pipeline(config)
        assert summary.success, f"run failed: {summary.failed_steps} {summary.errors}"
        return Warehouse(path=target, summary=summary)

    return _run


@pytest.fixture
def run_events(landing: Path, run_landing: Callable[..., Warehouse]) -> Callable[..., Warehouse]:
    """Write ODP events as one NDJSON file and run the pipeline on them."""

    def _run(
        events: Iterable[dict[str, Any] | str], name: str = "events.ndjson", **settings: Any
    ) -> Warehouse:
        write_ndjson(landing / "odp_events" / name, events)
        return run_landing(landing, **settings)

    return _run


def bytes_under(path: Path) -> Iterator[tuple[Path, bytes]]:
    """Every file's bytes under ``path`` (a file or a folder); for SQLite files (Dagster's
    storage) also every value, with zlib-compressed blobs (Dagster's job snapshots)
    decompressed."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        data = file.read_bytes()
        yield file, data
        if data.startswith(b"SQLite format 3"):
            yield file, b"\n".join(sqlite_values(file))


def sqlite_values(file: Path) -> Iterator[bytes]:
    con = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        tables = con.execute("select name from sqlite_master where type = 'table'").fetchall()
        for (table,) in tables:
            for row in con.execute(f'select * from "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        try:
                            yield zlib.decompress(value)
                        except zlib.error:
                            yield value
                    elif isinstance(value, str):
                        yield value.encode()
    finally:
        con.close()
