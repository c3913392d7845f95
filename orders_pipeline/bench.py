"""``orders-pipeline bench``: how fast the whole pipeline runs on this machine, against a floor.

In one invocation:

1. **workload** — a seeded history written by :mod:`orders_pipeline.generator` into
   ``<work>/landing/odp_events`` (``--line-items``, ``--days``, ``--seed``; the generator's
   default mix: ~2.56 items per purchase, ~11 % returns/refunds, ~3 % cancels, ~1 % duplicates,
   ~0.5 % bad records, customers with several emails and phones, a shared shop phone);
2. **floor** — DuckDB reading every byte of those files into a table and nothing more
   (``read_text``: one row per file), in a fresh database file;
3. **plain SQL chain** — ``bench_chain.sql`` in a DuckDB process of its own, on the same
   files: read with explicit columns, typed by one ``json_transform``, exact duplicates
   dropped, items unnested, running tallies per order, orders, customers by email, daily
   revenue (issue 15: the lower bound of a pipeline with the same outputs, without
   quarantine, identity graph, conversion or incremental state);
4. **full run** — ``orders-pipeline run`` as a subprocess, from an empty warehouse;
5. **incremental run** — one more day (~0.1 % of the history) landed into a sub-folder, then
   a second run on top of the full warehouse, once those files are older than landing's
   racy window (:func:`wait_until_settled`);
6. **next day run** — the day after it, the same way: the steady state of a daily schedule
   (both publications update the spare analyst file in place, the incremental run's the
   copy the full run's publication kept: publish.py);
7. **no-op run** — a run with no new file;
8. **ratios** — full ÷ chain, full ÷ floor, incremental ÷ full and next day ÷ full (on wall
   and CPU seconds).

Each process's peak RSS is the largest sum of ``VmRSS`` over the process and all its
descendants, sampled every 50 ms from a thread; its CPU seconds (user + system, its threads
and waited-for children included) come from ``wait4``, the floor's from ``getrusage``: on a
shared machine CPU seconds move less with the load than wall seconds. The figures are printed
as a table and written as JSON.

The generator numbers orders ``O00000001``, ``O00000002``, … from 1 whatever the config, so
the extra day would reuse the history's order ids (and silently add purchases to two-year-old
orders). Its files are therefore rewritten with ``N`` for ``O`` in every order id (the next
day's with ``M``: same length, never clashing) before they are landed; see
:func:`generate_increment`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from orders_pipeline.generator import GenerationStats, GeneratorConfig, generate
from orders_pipeline.landing.files import RACY_NS

DEFAULT_LINE_ITEMS = 1_000_000
DEFAULT_DAYS = 730
# A fixed start keeps the workload seeded; two years from here end before "today", so every
# event falls in its own daily partition (later events would all share today's partition).
DEFAULT_START = date(2024, 6, 1)
INCREMENT_SHARE = 0.001  # the extra day is ~0.1 % of the history's line items
SAMPLE_SECONDS = 0.05
CHAIN_SQL = Path(__file__).with_name("bench_chain.sql")
CHAIN_TABLES = (
    "chain_records", "chain_events", "chain_order_items", "chain_ledger", "chain_orders",
    "chain_customers", "chain_daily_revenue",
)  # fmt: skip

FLOOR_METHOD = "create table floor as select * from read_text('<landing>/**')"
FLOOR_LINES_METHOD = (
    "create table floor_lines as select * from read_csv('<landing>/**', "
    "columns={'line': 'VARCHAR'}, header=false, delim=chr(0), quote='', escape='', "
    "auto_detect=false)"
)

_ORDER_ID = re.compile(r'"O(\d{8})"')
_ASSET_LINE = re.compile(
    r"^  (?P<asset>[\w]+/[\w]+)\s+(?:(?P<rows>[\d,]+) rows)?\s+(?P<seconds>\d+\.\d+) s(?:  |$)"
    r"(?P<detail>.*)$"
)
_RUN_LINE = re.compile(r"^run (?:succeeded|FAILED) in (?P<seconds>\d+(?:\.\d+)?) s")


# ---- results ---------------------------------------------------------------------------------


@dataclass
class Machine:
    """Where the figures were measured."""

    cores: int
    memory_bytes: int
    cpu_model: str
    platform: str
    python: str
    versions: dict[str, str]


@dataclass
class Workload:
    """What the generator wrote for one step: its config, its counts and the files' size."""

    config: dict[str, Any]
    folder: str
    files: int
    bytes: int
    records: int
    events: int
    duplicates: int
    bad_records: int
    line_items: int
    orders: int
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class Floor:
    """DuckDB reading the landing files into a table and nothing more."""

    method: str
    seconds: float
    rows: int
    bytes: int
    cpu_seconds: float = 0.0
    # CPU seconds other processes spent on the machine meanwhile (other_cpu_seconds)
    other_cpu_seconds: float | None = None

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0


@dataclass
class Chain:
    """The plain SQL chain (``bench_chain.sql``) in a process of its own."""

    method: str
    exit_code: int
    wall_seconds: float  # the process, interpreter start-up included
    sql_seconds: float | None  # the SQL alone, as the process measured it
    cpu_seconds: float
    peak_rss_bytes: int
    rss_samples: int
    rows: dict[str, int]  # rows of each table the chain writes
    error: str = ""
    other_cpu_seconds: float | None = None  # other processes' CPU meanwhile

    @property
    def success(self) -> bool:
        return self.exit_code == 0


@dataclass
class AssetTiming:
    """One progress line of ``orders-pipeline run``: an asset, its rows and seconds."""

    asset: str
    rows: int | None
    seconds: float
    detail: str


@dataclass
class WarehouseCounts:
    """Totals read from the warehouse after a run."""

    records: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    ledger_events: int = 0
    orders: int = 0
    customers: int = 0

    def minus(self, before: WarehouseCounts) -> WarehouseCounts:
        """What one run added (every field is a running total)."""
        return WarehouseCounts(
            **{name: value - getattr(before, name) for name, value in asdict(self).items()}
        )


@dataclass
class RunResult:
    """One ``orders-pipeline run`` subprocess."""

    label: str
    command: list[str]
    exit_code: int
    wall_seconds: float
    reported_seconds: float | None  # "run succeeded in X s": without interpreter start-up
    cpu_seconds: float  # user + system of the run's process tree (wait4)
    peak_rss_bytes: int
    rss_samples: int
    added: WarehouseCounts  # what this run added to the warehouse
    totals: WarehouseCounts  # the warehouse after the run
    events_per_second: float  # ledger events added / wall seconds
    records_per_second: float  # landed records / wall seconds
    assets: list[AssetTiming]
    log: str
    other_cpu_seconds: float | None = None  # other processes' CPU meanwhile

    @property
    def success(self) -> bool:
        return self.exit_code == 0

    @property
    def asset_seconds(self) -> float:
        return sum(a.seconds for a in self.assets)


@dataclass
class BenchResult:
    """Every figure of one bench invocation (what ``--json`` writes)."""

    machine: Machine
    history: Workload
    floor: Floor
    floor_lines: Floor
    chain: Chain
    full: RunResult
    increment: Workload | None = None
    incremental: RunResult | None = None
    next_increment: Workload | None = None
    next_day: RunResult | None = None
    noop: RunResult | None = None
    ratios: dict[str, float | None] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    code_version: str = ""  # `git describe --always --dirty` of the project, when available
    started_at: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["floor"]["megabytes_per_second"] = self.floor.megabytes_per_second
        data["floor_lines"]["megabytes_per_second"] = self.floor_lines.megabytes_per_second
        data["chain"]["success"] = self.chain.success
        for name in ("full", "incremental", "next_day", "noop"):
            run = getattr(self, name)
            if run is not None:
                data[name]["success"] = run.success
                data[name]["asset_seconds"] = run.asset_seconds
        return data


# ---- the machine -----------------------------------------------------------------------------


def machine_info() -> Machine:
    """Cores, total memory, CPU model and the versions that matter."""
    versions = {}
    for package in ("duckdb", "dagster", "polars", "pandera", "orders_pipeline"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return Machine(
        cores=os.cpu_count() or 0,
        memory_bytes=_meminfo_kib("MemTotal") * 1024,
        cpu_model=_cpu_model(),
        platform=platform.platform(),
        python=platform.python_version(),
        versions=versions,
    )


def _meminfo_kib(key: str) -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == key:
                return int(rest.split()[0])
    except OSError:
        pass
    return 0


def code_version() -> str:
    """``git describe --always --dirty`` of the project checkout, or "" outside one."""
    try:
        completed = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return completed.stdout.strip() if completed.returncode == 0 else ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


# ---- the workload ----------------------------------------------------------------------------


def history_config(line_items: int, days: int, seed: int, start: date) -> GeneratorConfig:
    """The history: the generator's default (realistic) mix, over ``days`` from ``start``."""
    return GeneratorConfig(seed=seed, line_items=line_items, days=days, start_date=start)


def increment_config(history: GeneratorConfig, later: int = 0) -> GeneratorConfig:
    """One more day after the history (``later`` days after the first one), ~0.1 % of its
    line items, the same customers (seed); each later day draws other orders from them (its
    own ``stream``: with the first day's draws, its identifiers would regroup no customer)."""
    return GeneratorConfig(
        seed=history.seed,
        stream=later,
        line_items=max(1, round(history.line_items * INCREMENT_SHARE)),
        days=1,
        start_date=history.start_date + timedelta(days=history.days + later),
    )


def generate_history(folder: Path, config: GeneratorConfig) -> Workload:
    """Write the history into ``folder`` (which must hold no files yet)."""
    started = time.perf_counter()
    stats = generate(folder, config)
    return _workload(folder, config, stats, time.perf_counter() - started)


def generate_increment(
    folder: Path, scratch: Path, config: GeneratorConfig, prefix: str = "N"
) -> Workload:
    """Write the extra day into ``folder``, a sub-folder of the landing area of its own.

    The generator names files by date (``odp_events_<day>.ndjson``, ``…_batch.json``, …), so a
    later day never overwrites the history's files; but it numbers orders from ``O00000001``
    on every call. The files are generated into ``scratch`` and copied with every order id
    ``"O########"`` rewritten to ``"<prefix>########"`` (write, then rename; ``N`` for the
    first extra day, ``M`` for the next), so the new day's orders are new orders, as they
    would be in production.
    """
    started = time.perf_counter()
    stats = generate(scratch, config)
    folder.mkdir(parents=True, exist_ok=True)
    rewritten = 0
    for name in stats.files:
        text, count = _ORDER_ID.subn(rf'"{prefix}\1"', (scratch / name).read_text(encoding="utf-8"))
        rewritten += count
        partial = folder / f"{name}.partial"
        partial.write_text(text, encoding="utf-8", newline="\n")
        partial.rename(folder / name)
    shutil.rmtree(scratch)
    workload = _workload(folder, config, stats, time.perf_counter() - started)
    workload.notes.append(
        f"order ids rewritten O######## -> {prefix}######## ({rewritten:,} occurrences): the "
        "generator numbers orders from O00000001 on every call, which would clash with the "
        "history"
    )
    return workload


def _workload(
    folder: Path, config: GeneratorConfig, stats: GenerationStats, seconds: float
) -> Workload:
    settings = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(config).items()}
    return Workload(
        config=settings,
        folder=str(folder),
        files=len(stats.files),
        bytes=sum((folder / name).stat().st_size for name in stats.files),
        records=stats.records,
        events=stats.events,
        duplicates=stats.duplicates,
        bad_records=stats.bad_records,
        line_items=stats.line_items,
        orders=stats.orders,
        seconds=seconds,
    )


# ---- the floor -------------------------------------------------------------------------------


def measure_floor(landing: Path, database: Path, lines: bool = False) -> Floor:
    """Time DuckDB reading every file under ``landing`` into a table of a new database file
    (connect, create, close with its checkpoint), with DuckDB's defaults.

    ``read_text`` stores each file's bytes as one row: the cheapest honest "every byte in a
    table". With ``lines`` each line becomes a row (``read_csv`` with no delimiter, quote or
    escape), closer to the per-record work the pipeline must do; shown for information.
    """
    pattern = f"{landing.as_posix()}/**"
    if lines:
        method = FLOOR_LINES_METHOD
        sql = (
            "create table floor_lines as select * from read_csv(?, columns={'line': 'VARCHAR'}, "
            "header=false, delim=chr(0), quote='', escape='', auto_detect=false)"
        )
        count = "select count(*), coalesce(sum(strlen(line)), 0) from floor_lines"
    else:
        method = FLOOR_METHOD
        sql = "create table floor as select * from read_text(?)"
        count = "select count(*), coalesce(sum(size), 0) from floor"
    database.unlink(missing_ok=True)
    busy_before = machine_busy_seconds()
    cpu_before = _own_cpu_seconds()
    started = time.perf_counter()
    con = duckdb.connect(str(database))
    con.execute("set enable_progress_bar = false")  # stdout is the figures table
    try:
        con.execute(sql, [pattern])
    finally:
        con.close()
    seconds = max(time.perf_counter() - started, 1e-9)
    cpu_seconds = _own_cpu_seconds() - cpu_before
    other = other_cpu_seconds(busy_before, cpu_seconds)
    con = duckdb.connect(str(database), read_only=True)
    con.execute("set enable_progress_bar = false")  # stdout is the figures table
    try:
        rows, size = con.execute(count).fetchall()[0]
    finally:
        con.close()
    database.unlink(missing_ok=True)
    return Floor(
        method=method,
        seconds=seconds,
        rows=int(rows),
        bytes=int(size),
        cpu_seconds=cpu_seconds,
        other_cpu_seconds=other,
    )


def _own_cpu_seconds() -> float:
    """User + system seconds of this process so far (every thread, DuckDB's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu_seconds() -> float:
    """User + system seconds of this process's children reaped so far (and theirs). The bench
    starts one child at a time, so the difference around one child's life is that child's."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float | None:
    """CPU seconds the machine's cores have spent busy since boot, every process counted
    (``/proc/stat``: user, nice, system, irq, softirq and steal time); None without it."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()[1:9]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields)
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def other_cpu_seconds(busy_before: float | None, own_seconds: float) -> float | None:
    """The CPU seconds that processes other than the bench's spent on the machine since
    ``busy_before`` (``machine_busy_seconds``), while the bench spent ``own_seconds`` (its
    own process and the child it measured): about 0 on an idle machine. A bench run beside
    other work has its wall seconds inflated by it; this says by how much work."""
    busy_after = machine_busy_seconds()
    if busy_before is None or busy_after is None:
        return None
    return max(0.0, busy_after - busy_before - own_seconds)


def chain_process(argv: list[str]) -> int:
    """The chain's own process: run the SQL into the database file, print the SQL seconds
    and each table's rows as one JSON line."""
    landing, database = Path(argv[0]), Path(argv[1])
    started = time.perf_counter()
    con = duckdb.connect(str(database))
    try:
        con.execute("set enable_progress_bar = false")
        con.execute(chain_sql(landing))
        con.execute("checkpoint")
        seconds = time.perf_counter() - started
        rows = {
            table: int(con.execute(f"select count(*) from {table}").fetchall()[0][0])  # noqa: S608
            for table in CHAIN_TABLES
        }
    finally:
        con.close()
    print(json.dumps({"seconds": seconds, "rows": rows}))
    return 0


# ---- the plain SQL chain ---------------------------------------------------------------------


# The ODP event files by the format DuckDB reads them in (read_json's auto-detection takes
# an NDJSON file with a bad line for another format, whose parse errors cannot be skipped).
CHAIN_FORMATS = (("newline_delimited", (".ndjson", ".jsonl")), ("auto", (".json",)))


def chain_sql(landing: Path) -> str:
    """``bench_chain.sql`` over every event file under ``landing`` (paths of ours, quoted)."""
    reads = []
    for json_format, suffixes in CHAIN_FORMATS:
        files = sorted(path for path in landing.rglob("*") if path.suffix in suffixes)
        if files:
            listed = ", ".join("'" + path.as_posix().replace("'", "''") + "'" for path in files)
            reads.append(f"select * from chain_read([{listed}], '{json_format}')")
    return CHAIN_SQL.read_text(encoding="utf-8").replace("{read}", "\nunion all\n".join(reads))


def measure_chain(landing: Path, database: Path) -> Chain:
    """Run the chain in a fresh database file, in a process of its own (``python -m
    orders_pipeline.bench --chain``): wall and CPU seconds, peak RSS, rows of each table."""
    database.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "orders_pipeline.bench",
        "--chain",
        str(landing),
        str(database),
    ]
    busy_before, own_before = machine_busy_seconds(), _own_cpu_seconds()
    cpu_before = _children_cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeRssSampler(process.pid)
    sampler.start()
    try:
        stdout, stderr = process.communicate()
    finally:
        wall = time.perf_counter() - started
        sampler.stop()
    cpu_seconds = _children_cpu_seconds() - cpu_before
    other = other_cpu_seconds(busy_before, cpu_seconds + _own_cpu_seconds() - own_before)
    report: dict[str, Any] = {}
    if process.returncode == 0:
        report = json.loads(stdout.strip().splitlines()[-1])
    database.unlink(missing_ok=True)
    return Chain(
        method=f"{CHAIN_SQL.name} (read_json with explicit columns, one json_transform)",
        exit_code=process.returncode,
        wall_seconds=wall,
        sql_seconds=report.get("seconds"),
        cpu_seconds=cpu_seconds,
        peak_rss_bytes=sampler.peak_bytes,
        rss_samples=sampler.samples,
        rows=report.get("rows", {}),
        error="" if process.returncode == 0 else stderr.strip()[-2000:],
        other_cpu_seconds=other,
    )


# ---- peak RSS of a process tree --------------------------------------------------------------


class TreeRssSampler(threading.Thread):
    """Samples the summed ``VmRSS`` of a process and all its descendants until stopped.

    ``/proc/<pid>/task/*/children`` needs a kernel option, so descendants are found from the
    parent ids in ``/proc/*/stat`` on every sample.
    """

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        super().__init__(name=f"rss-sampler-{pid}", daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while True:
            total = sum(_rss_bytes(pid) for pid in _tree(self.pid))
            if total:
                self.peak_bytes = max(self.peak_bytes, total)
                self.samples += 1
            if self._halt.wait(self.interval):
                return

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _tree(root: int) -> list[int]:
    """``root`` and every process descending from it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, ()))
    return found


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


# ---- one pipeline run ------------------------------------------------------------------------


def warehouse_counts(warehouse: Path) -> WarehouseCounts:
    """Running totals of a warehouse (all zero before the first run)."""
    if not warehouse.exists():
        return WarehouseCounts()
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("set enable_progress_bar = false")  # stdout is the figures table
    try:
        tables = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        counts = WarehouseCounts()
        if "audit.loads" in tables:
            row = con.execute(
                "select coalesce(sum(records), 0), coalesce(sum(accepted), 0), "
                "coalesce(sum(quarantined), 0), coalesce(sum(duplicates), 0) from audit.loads"
            ).fetchall()[0]
            counts.records, counts.accepted, counts.quarantined, counts.duplicates = map(int, row)
        for attr, table in (
            ("ledger_events", "core.order_events"),
            ("orders", "core.orders"),
            ("customers", "core.customers"),
        ):
            if table in tables:
                value = con.execute(f"select count(*) from {table}").fetchall()[0][0]  # noqa: S608
                setattr(counts, attr, int(value))
        return counts
    finally:
        con.close()


def measure_run(
    label: str, landing: Path, warehouse: Path, log_path: Path, echo: bool
) -> RunResult:
    """Run ``orders-pipeline run`` as a subprocess: wall time, peak RSS of its process tree,
    what it added to the warehouse, and the per-asset seconds it printed."""
    command = [
        sys.executable,
        "-m",
        "orders_pipeline.cli",
        "run",
        "--landing",
        str(landing),
        "--warehouse",
        str(warehouse),
    ]
    before = warehouse_counts(warehouse)
    lines: list[str] = []
    busy_before, own_before = machine_busy_seconds(), _own_cpu_seconds()
    cpu_before = _children_cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
    )
    sampler = TreeRssSampler(process.pid)
    sampler.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if echo:
                print(f"    | {line}", end="", flush=True)
        exit_code = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        wall = time.perf_counter() - started
        sampler.stop()
    cpu_seconds = _children_cpu_seconds() - cpu_before
    other = other_cpu_seconds(busy_before, cpu_seconds + _own_cpu_seconds() - own_before)
    log_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    totals = warehouse_counts(warehouse)
    added = totals.minus(before)
    return RunResult(
        label=label,
        command=command,
        exit_code=exit_code,
        wall_seconds=wall,
        reported_seconds=_reported_seconds(lines),
        cpu_seconds=cpu_seconds,
        peak_rss_bytes=sampler.peak_bytes,
        rss_samples=sampler.samples,
        added=added,
        totals=totals,
        events_per_second=added.ledger_events / wall,
        records_per_second=added.records / wall,
        assets=parse_asset_lines(lines),
        log=str(log_path),
        other_cpu_seconds=other,
    )


def parse_asset_lines(lines: list[str]) -> list[AssetTiming]:
    """The per-asset progress lines of a run (``  schema/table   N rows   S s  detail``)."""
    timings = []
    for line in lines:
        match = _ASSET_LINE.match(line)
        if match:
            rows = match["rows"]
            timings.append(
                AssetTiming(
                    asset=match["asset"],
                    rows=int(rows.replace(",", "")) if rows else None,
                    seconds=float(match["seconds"]),
                    detail=match["detail"].strip(),
                )
            )
    return timings


def _reported_seconds(lines: list[str]) -> float | None:
    for line in reversed(lines):
        match = _RUN_LINE.match(line)
        if match:
            return float(match["seconds"])
    return None


# ---- the whole bench -------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchOptions:
    """What ``orders-pipeline bench`` was asked to do."""

    line_items: int = DEFAULT_LINE_ITEMS
    days: int = DEFAULT_DAYS
    seed: int = 42
    start_date: date = DEFAULT_START
    work_dir: Path | None = None
    keep: bool = False
    json_path: Path = Path("bench-results.json")
    echo: bool = True


def run_bench(options: BenchOptions, work_dir: Path) -> BenchResult:
    """Generate, measure the floor, the chain, the full run, the incremental and next day's
    runs and the no-op run, in that order."""
    landing = work_dir / "landing"
    source = landing / "odp_events"
    warehouse = work_dir / "warehouse" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")

    config = history_config(options.line_items, options.days, options.seed, options.start_date)
    _say(f"generating {config.line_items:,} line items over {config.days} days into {source}")
    history = generate_history(source, config)
    _say(
        f"  {history.records:,} records in {history.files:,} files ({history.bytes / 1e6:,.1f} MB)"
    )

    _say("floor: DuckDB read_text of every landing file into a table")
    floor = measure_floor(landing, work_dir / "floor.duckdb")
    floor_lines = measure_floor(landing, work_dir / "floor.duckdb", lines=True)

    _say(f"plain SQL chain: {CHAIN_SQL.name} on the same files, a process of its own")
    chain = measure_chain(landing, work_dir / "chain.duckdb")
    if not chain.success:
        _say(f"  the chain failed (exit {chain.exit_code}): {chain.error.splitlines()[-1:]}")

    _say("full run: orders-pipeline run, empty warehouse")
    full = measure_run("full run", landing, warehouse, work_dir / "full-run.log", options.echo)
    result = BenchResult(
        machine=machine_info(),
        history=history,
        floor=floor,
        floor_lines=floor_lines,
        chain=chain,
        full=full,
        environment={k: v for k, v in os.environ.items() if k.startswith("ORDERS_")},
        code_version=code_version(),
        started_at=started_at,
    )
    if full.success:
        extra = increment_config(config)
        folder = source / f"increment_{extra.start_date.isoformat()}"
        _say(f"incremental: {extra.line_items:,} line items on {extra.start_date} into {folder}")
        result.increment = generate_increment(folder, work_dir / "increment-scratch", extra)
        wait_until_settled(folder)
        result.incremental = measure_run(
            "incremental run", landing, warehouse, work_dir / "incremental-run.log", options.echo
        )
    if result.incremental is not None and result.incremental.success:
        extra = increment_config(config, later=1)
        folder = source / f"increment_{extra.start_date.isoformat()}"
        _say(f"next day: {extra.line_items:,} line items on {extra.start_date} into {folder}")
        result.next_increment = generate_increment(
            folder, work_dir / "increment-scratch", extra, prefix="M"
        )
        wait_until_settled(folder)
        result.next_day = measure_run(
            "next day run", landing, warehouse, work_dir / "next-day-run.log", options.echo
        )
    if result.next_day is not None and result.next_day.success:
        _say("no-op run: orders-pipeline run again, no new file")
        result.noop = measure_run(
            "no-op run", landing, warehouse, work_dir / "noop-run.log", options.echo
        )
    result.ratios = ratios(result)
    return result


def wait_until_settled(folder: Path) -> None:
    """Wait until the newest file of ``folder`` is older than landing's racy window.

    Landing hashes a file again on the next run when its timestamps fall within
    ``RACY_NS`` of the moment its hash was recorded (git's "racily clean" rule, landing/files.py).
    The increment is written a moment before the incremental run; landed at once, the no-op
    run after it would hash those files again and measure that instead of a run with nothing
    new. A merchant's files arrive well before the run that lands them, as these now do."""
    newest = max(
        (max(path.stat().st_mtime_ns, path.stat().st_ctime_ns) for path in folder.rglob("*")),
        default=0,
    )
    remaining = (newest + RACY_NS - time.time_ns()) / 1e9
    if remaining > 0:
        time.sleep(remaining + 0.1)


def ratios(result: BenchResult) -> dict[str, float | None]:
    """full ÷ chain, full ÷ floor, incremental ÷ full and next day ÷ full on wall seconds, and
    the same on CPU seconds (``None`` when a run failed)."""

    def figures(run: RunResult | Chain | None) -> tuple[float | None, float | None]:
        if run is None or not run.success:
            return None, None
        return run.wall_seconds, run.cpu_seconds

    def over(part: float | None, whole: float | None) -> float | None:
        return part / whole if part is not None and whole else None

    full, full_cpu = figures(result.full)
    chain, chain_cpu = figures(result.chain)
    incremental, incremental_cpu = figures(result.incremental)
    next_day, next_day_cpu = figures(result.next_day)
    return {
        "full_over_chain": over(full, chain),
        "full_over_floor": over(full, result.floor.seconds),
        "full_over_floor_lines": over(full, result.floor_lines.seconds),
        "incremental_over_full": over(incremental, full),
        "next_day_over_full": over(next_day, full),
        "cpu_full_over_chain": over(full_cpu, chain_cpu),
        "cpu_full_over_floor": over(full_cpu, result.floor.cpu_seconds),
        "cpu_incremental_over_full": over(incremental_cpu, full_cpu),
        "cpu_next_day_over_full": over(next_day_cpu, full_cpu),
    }


# ---- output ----------------------------------------------------------------------------------


def render(result: BenchResult) -> str:
    """The human-readable table."""
    m, h = result.machine, result.history
    out = [
        "",
        f"orders-pipeline bench: {h.line_items:,} line items over {h.config['days']} days "
        f"from {h.config['start_date']} (seed {h.config['seed']})",
        f"machine: {m.cores} cores ({m.cpu_model}), {m.memory_bytes / 2**30:.1f} GiB, "
        f"Python {m.python}, duckdb {m.versions['duckdb']}, dagster {m.versions['dagster']}",
        f"history: {h.files:,} files, {h.bytes / 1e6:,.1f} MB, {h.records:,} records "
        f"({h.events:,} events, {h.duplicates:,} duplicates, {h.bad_records:,} bad), "
        f"{h.orders:,} orders; generated in {h.seconds:.1f} s",
    ]
    for label, i in (("increment", result.increment), ("next day", result.next_increment)):
        if i is not None:
            out.append(
                f"{label}: 1 day ({i.config['start_date']}), {i.line_items:,} line items, "
                f"{i.records:,} records in {i.files} files ({i.bytes / 1e6:,.2f} MB)"
            )
    out += [
        "",
        f"{'step':<34}{'wall s':>9}{'cpu s':>9}{'records':>11}{'events':>11}{'events/s':>10}"
        f"{'records/s':>11}{'peak RSS':>11}",
    ]
    for floor, label in ((result.floor, "floor: read_text -> table"),
                         (result.floor_lines, "  (info) lines -> table")):  # fmt: skip
        out.append(
            f"{label:<34}{floor.seconds:>9.2f}{floor.cpu_seconds:>9.2f}{'':>11}{'':>11}{'':>10}"
            f"{'':>11}{'':>11}   {floor.bytes / 1e6:,.1f} MB at "
            f"{floor.megabytes_per_second:,.0f} MB/s"
        )
    chain = result.chain
    chain_status = "" if chain.success else f"   FAILED (exit {chain.exit_code})"
    out.append(
        f"{'plain SQL chain':<34}{chain.wall_seconds:>9.2f}{chain.cpu_seconds:>9.2f}"
        f"{chain.rows.get('chain_records', 0):>11,}{chain.rows.get('chain_events', 0):>11,}"
        f"{'':>10}{'':>11}{chain.peak_rss_bytes / 2**20:>7,.0f} MiB{chain_status}"
    )
    for run in (result.full, result.incremental, result.next_day, result.noop):
        if run is None:
            continue
        status = "" if run.success else f"   FAILED (exit {run.exit_code})"
        out.append(
            f"{run.label:<34}{run.wall_seconds:>9.2f}{run.cpu_seconds:>9.2f}"
            f"{run.added.records:>11,}{run.added.ledger_events:>11,}"
            f"{run.events_per_second:>10,.0f}{run.records_per_second:>11,.0f}"
            f"{run.peak_rss_bytes / 2**20:>7,.0f} MiB{status}"
        )
    out += ["", f"{'':<34}{'wall':>9}{'cpu':>9}"]
    for key, label in (
        ("full_over_chain", "full / plain SQL chain"),
        ("full_over_floor", "full / floor"),
        ("full_over_floor_lines", "full / floor (lines, info)"),
        ("incremental_over_full", "incremental / full"),
        ("next_day_over_full", "next day / full"),
    ):
        value, cpu = result.ratios.get(key), result.ratios.get(f"cpu_{key}")
        out.append(
            f"{label:<34}{'n/a' if value is None else f'{value:,.3f}':>9}"
            f"{'' if cpu is None else f'{cpu:,.3f}':>9}"
        )
    noop = result.noop
    noop_seconds = "n/a" if noop is None or not noop.success else f"{noop.wall_seconds:,.2f}"
    out.append(f"{'no-op run s':<34}{noop_seconds:>9}")
    peaks = ", ".join(
        f"{label} {run.peak_rss_bytes / 2**20:,.0f} MiB"
        for label, run in (("chain", result.chain), ("full", result.full),
                           ("incremental", result.incremental), ("next day", result.next_day),
                           ("no-op", result.noop))
        if run is not None
    )  # fmt: skip
    out.append(f"{'peak RSS':<34}{peaks}")
    out += other_work_lines(result)
    out.append("")
    out.append(f"floor: {result.floor.method}")
    chain_sql_seconds = "" if chain.sql_seconds is None else f", {chain.sql_seconds:.1f} s of SQL"
    out.append(f"plain SQL chain: {chain.method}{chain_sql_seconds}")
    for run in (result.full, result.incremental, result.next_day, result.noop):
        if run is not None and run.reported_seconds is not None:
            out.append(
                f"{run.label}: {run.reported_seconds:.1f} s inside the run "
                f"({run.wall_seconds - run.reported_seconds:.1f} s interpreter start-up and "
                f"imports), {run.asset_seconds:.1f} s in assets; slowest: "
                + ", ".join(f"{a.asset} {a.seconds:.1f} s" for a in slowest(run.assets, 4))
            )
    return "\n".join(out)


# Other processes' share of the machine above which a step's wall seconds are flagged.
SHARED_MACHINE_SHARE = 0.10


def other_work_lines(result: BenchResult) -> list[str]:
    """What other processes spent on the machine during each step: its CPU seconds and its
    share of the cores' time (``other_cpu_seconds``), and a warning naming the steps whose
    wall seconds it inflated by more than a tenth of the machine."""
    steps = [
        ("floor", result.floor.other_cpu_seconds, result.floor.seconds),
        ("chain", result.chain.other_cpu_seconds, result.chain.wall_seconds),
        *(
            (label, run.other_cpu_seconds, run.wall_seconds)
            for label, run in (("full", result.full), ("incremental", result.incremental),
                               ("next day", result.next_day), ("no-op", result.noop))
            if run is not None
        ),
    ]  # fmt: skip
    cores = max(result.machine.cores, 1)
    known = [(label, other, other / (cores * wall)) for label, other, wall in steps
             if other is not None and wall > 0]  # fmt: skip
    if not known:
        return []
    lines = [
        f"{'other work on the machine':<34}"
        + ", ".join(f"{label} {other:,.1f} cpu s ({share:.0%})" for label, other, share in known)
    ]
    shared = [label for label, _, share in known if share > SHARED_MACHINE_SHARE]
    if shared:
        lines.append(
            f"{'':<34}warning: other processes took over {SHARED_MACHINE_SHARE:.0%} of the "
            f"{cores} cores during {', '.join(shared)}: those wall seconds are inflated; "
            "compare the cpu columns"
        )
    return lines


def slowest(assets: list[AssetTiming], n: int) -> list[AssetTiming]:
    """The ``n`` assets that took longest."""
    return sorted(assets, key=lambda a: a.seconds, reverse=True)[:n]


def write_json(result: BenchResult, path: Path) -> None:
    """Every figure, as JSON (write, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n")
    partial.replace(path)


def _say(message: str) -> None:
    print(f"bench: {message}", flush=True)


# ---- command line ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``orders-pipeline bench``."""
    parser.add_argument(
        "--line-items",
        type=int,
        default=DEFAULT_LINE_ITEMS,
        help=f"line items in the generated history (default {DEFAULT_LINE_ITEMS:,})",
    )
    parser.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help="days of history (default 730)"
    )
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument(
        "--start-date",
        type=date.fromisoformat,
        default=DEFAULT_START,
        help=f"first day of the history, YYYY-MM-DD (default {DEFAULT_START})",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="folder for the landing files and warehouses, kept afterwards; must be empty or "
        "absent (default: a temporary folder, removed afterwards unless --keep)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("bench-results.json"),
        help="where to write the figures (default: bench-results.json in the current folder)",
    )
    parser.add_argument("--quiet", action="store_true", help="don't echo the runs' output")


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    return BenchOptions(
        line_items=args.line_items,
        days=args.days,
        seed=args.seed,
        start_date=args.start_date,
        work_dir=args.work_dir,
        keep=args.keep,
        json_path=args.json,
        echo=not args.quiet,
    )


def main(args: argparse.Namespace) -> int:
    """``orders-pipeline bench``: 0 when the chain and every run succeed, 1 when one fails, 2
    for bad options."""
    options = options_from_args(args)
    problem = _check(options)
    if problem:
        print(f"orders-pipeline bench: {problem}", file=sys.stderr)
        return 2
    temporary = options.work_dir is None
    work_dir = options.work_dir or Path(tempfile.mkdtemp(prefix="orders-bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = run_bench(options, work_dir)
        write_json(result, options.json_path)
        print(render(result))
        print(f"\nfigures written to {options.json_path}", flush=True)
    finally:
        if temporary and not options.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
        else:
            print(f"work folder kept: {work_dir}")
    runs = [result.chain, result.full, result.incremental, result.next_day, result.noop]
    return 0 if all(run is not None and run.success for run in runs) else 1


def _check(options: BenchOptions) -> str | None:
    """Why the options cannot work, or ``None``."""
    if options.line_items < 1:
        return "--line-items must be at least 1"
    if options.days < 1:
        return "--days must be at least 1"
    folder = options.work_dir
    if folder is not None and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        return f"--work-dir {folder} must be an empty folder or not exist yet"
    last = options.start_date + timedelta(days=options.days + 1)  # the next day's
    if last >= date.today():
        print(
            f"orders-pipeline bench: warning: the increment day {last} is not in the past; "
            "events after today all fall into today's partition",
            file=sys.stderr,
        )
    return None


if __name__ == "__main__":  # the chain's own process (measure_chain)
    if sys.argv[1:2] != ["--chain"] or len(sys.argv) != 4:
        sys.exit("usage: python -m orders_pipeline.bench --chain LANDING DATABASE")
    sys.exit(chain_process(sys.argv[2:]))
