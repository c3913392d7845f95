"""Measure the ODP-events validation step alone: time, CPU and peak memory.

Not a test: a tool to profile ``validate_pending`` on generated data without running the
rest of the pipeline.

    python -m tests.bench.validation_profile prepare --line-items 200000 --root /tmp/vp200k
    python -m tests.bench.validation_profile run --root /tmp/vp200k [--memory-limit 1GB]
    python -m tests.bench.validation_profile explain --root /tmp/vp200k
    python -m tests.bench.validation_profile bisect --root /tmp/vp5k

Set ``VALIDATION_MODULE=<file>`` to measure another version of ``validation/odp_events.py``
(e.g. ``git show <commit>:orders_pipeline/validation/odp_events.py > /tmp/before.py``).

``prepare`` generates the workload and lands it once into ``<root>/landed.duckdb``; ``run``
validates a fresh copy of it in a child process (so peak RSS is that of the step alone) and
prints wall, CPU, peak RSS and the seconds of each stage; ``bisect`` finds the smallest
``memory_limit`` with which validation succeeds.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from orders_pipeline.config import Settings
from orders_pipeline.generator import GeneratorConfig, generate
from orders_pipeline.landing.land import land_new_files
from orders_pipeline.sources import ensure_source_tables, source_named
from orders_pipeline.validation import outcomes
from orders_pipeline.warehouse import connect, ensure_landing_tables

SOURCE = "odp_events"


def _settings(root: Path, database: str, memory_limit: str = "4GB", threads: int = 0) -> Settings:
    return Settings(
        landing_dir=root / "landing",
        warehouse=root / database,
        duckdb_memory_limit=memory_limit,
        duckdb_threads=threads,
        duckdb_temp_dir=root / "spill",
    )


def prepare(root: Path, line_items: int, days: int) -> None:
    """Generate ``line_items`` and land them into ``<root>/landed.duckdb``."""
    started = time.perf_counter()
    generate(root / "landing" / SOURCE, GeneratorConfig(line_items=line_items, days=days))
    generated = time.perf_counter()
    source = source_named(SOURCE)
    settings = _settings(root, "landed.duckdb")
    with connect(settings) as con:
        ensure_landing_tables(con)
        ensure_source_tables(con)
        report = land_new_files(con, settings, [source])[SOURCE]
    print(
        f"generated in {generated - started:.1f} s, landed {report.records_landed:,} records "
        f"of {len(report.files_loaded)} files in {time.perf_counter() - generated:.1f} s"
    )


def _peak_rss_mib() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _timed_stages() -> dict[str, list[float]]:
    """Wrap the stages of ``validate_pending`` to record, for each, [wall seconds, CPU
    seconds, peak RSS in MiB so far]."""
    seconds: dict[str, list[float]] = {}
    for name in ("_stage_candidates", "_failures", "_write_outcomes", "_fill_report"):
        original = getattr(outcomes, name)

        def timed(*args, _original=original, _name=name, **kwargs):
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return _original(*args, **kwargs)
            finally:
                seconds[_name] = [
                    round(time.perf_counter() - started, 2),
                    round(time.process_time() - cpu, 2),
                    _peak_rss_mib(),
                ]

        setattr(outcomes, name, timed)
    return seconds


def _validation(module_file: str | None) -> outcomes.JsonSourceValidation:
    """The source's validation, or the ``VALIDATION`` of another version of its module (a
    file, e.g. the one before a change) to compare with."""
    if not module_file:
        return source_named(SOURCE).validation
    spec = importlib.util.spec_from_file_location("validation_under_test", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VALIDATION


def validate_once(root: Path, memory_limit: str, threads: int) -> dict[str, object]:
    """Validate a fresh copy of the landed warehouse in this process."""
    shutil.copy(root / "landed.duckdb", root / "work.duckdb")
    settings = _settings(root, "work.duckdb", memory_limit, threads)
    validation = _validation(os.environ.get("VALIDATION_MODULE"))
    stages = _timed_stages()
    with connect(settings) as con:
        start_rss = _peak_rss_mib()
        started, cpu = time.perf_counter(), time.process_time()
        try:
            report = outcomes.validate_pending(con, validation)
            error = None
        except Exception as exc:  # noqa: BLE001 - reported, the bisection needs the outcome
            report, error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "ok": error is None,
        "error": error,
        "memory_limit": memory_limit,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mib": _peak_rss_mib(),
        "rss_before_mib": start_rss,
        "stages_wall_cpu_rss": {k.strip("_"): v for k, v in stages.items()},
        "records": report.records if report else None,
        "accepted": report.accepted if report else None,
        "quarantined": report.quarantined if report else None,
        "duplicates": report.duplicates if report else None,
    }


def run_child(root: Path, memory_limit: str, threads: int) -> dict[str, object]:
    """``validate_once`` in a child process (a clean peak RSS)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.validation_profile", "once", "--root", str(root),
         "--memory-limit", memory_limit, "--threads", str(threads)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return {
            "ok": False,
            "error": done.stderr.strip().splitlines()[-1:],
            "memory_limit": memory_limit,
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


def explain(root: Path, memory_limit: str) -> None:
    """EXPLAIN ANALYZE the candidates and item-candidates SQL on a fresh copy."""
    shutil.copy(root / "landed.duckdb", root / "work.duckdb")
    spec = source_named(SOURCE).validation
    with connect(_settings(root, "work.duckdb", memory_limit)) as con:
        batch = outcomes.pending_files(con, SOURCE)
        con.register("batch_files", batch.select("file_seq"))
        con.execute("pragma enable_profiling = 'no_output'")
        for table, sql in (
            (spec.candidates_table, spec.candidates_sql),
            (spec.item_candidates_table, spec.item_candidates_sql),
        ):
            started = time.perf_counter()
            con.execute(f"create or replace temp table {table} as {sql}")
            print(f"== {table}: {time.perf_counter() - started:.2f} s")
            print(con.sql("select * from duckdb_memory() where memory_usage_bytes > 0").fetchall())
            plan = con.sql(f"explain analyze select * from {table} limit 0")
            del plan
        con.execute("pragma disable_profiling")
        for table, sql in (
            (spec.candidates_table, spec.candidates_sql),
            (spec.item_candidates_table, spec.item_candidates_sql),
        ):
            rows = con.sql(f"explain analyze {sql}").fetchall()
            print(f"== EXPLAIN ANALYZE {table}\n{rows[0][1]}")


def bisect(root: Path, low_mb: int, high_mb: int, threads: int) -> None:
    """Smallest memory_limit (MB, to 10 %) with which validation succeeds."""
    while high_mb > low_mb * 1.1:
        middle = (low_mb + high_mb) // 2
        outcome = run_child(root, f"{middle}MB", threads)
        print(f"{middle}MB: {'ok' if outcome['ok'] else outcome['error']}", flush=True)
        if outcome["ok"]:
            high_mb = middle
        else:
            low_mb = middle
    print(f"smallest passing memory_limit: about {high_mb}MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("prepare", "run", "once", "explain", "bisect"))
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--line-items", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--low-mb", type=int, default=8)
    parser.add_argument("--high-mb", type=int, default=2048)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.root, args.line_items, args.days)
    elif args.command == "once":
        print(json.dumps(validate_once(args.root, args.memory_limit, args.threads)))
    elif args.command == "run":
        print(json.dumps(run_child(args.root, args.memory_limit, args.threads)))
    elif args.command == "explain":
        explain(args.root, args.memory_limit)
    else:
        bisect(args.root, args.low_mb, args.high_mb, args.threads)


if __name__ == "__main__":
    main()
