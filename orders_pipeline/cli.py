"""``orders-pipeline``: run the whole pipeline in-process (README, "Running it on your data")."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orders_pipeline import bench, live_progress
from orders_pipeline.config import PROJECT_ROOT, ConfigError, Settings
from orders_pipeline.console import end_interrupted, stopped_while_starting
from orders_pipeline.garbage_collection import tune_garbage_collection
from orders_pipeline.instance import open_instance, open_instance_at, prepare_home
from orders_pipeline.interrupts import RunInterrupted, is_interruption
from orders_pipeline.layout import check_landing_layout
from orders_pipeline.runner import RunSummary, configure_progress_output, run_pipeline
from orders_pipeline.sources import SOURCES
from orders_pipeline.warehouse import WarehouseLocked

if TYPE_CHECKING:
    import dagster as dg

# Partitions may start up to this many days before the first event without a hint.
PARTITION_SLACK_DAYS = 31


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orders-pipeline",
        description="Ecommerce order events into a DuckDB warehouse, driven by Dagster.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="land, validate and model everything in the landing folder",
        description="Materialise every asset of the Dagster definitions, in this process.",
    )
    run.add_argument(
        "--landing", help="landing folder (default: $ORDERS_LANDING_DIR or data/landing)"
    )
    run.add_argument(
        "--warehouse",
        help="DuckDB file to write (default: $ORDERS_WAREHOUSE or data/warehouse.duckdb)",
    )
    run.add_argument(
        "--base-currency", help="reporting currency (default: $ORDERS_BASE_CURRENCY or USD)"
    )
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="re-derive every partition, not only the days new events change (after an "
        "upgrade that changes the rules)",
    )
    run.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="where the models run: DuckDB (default) or Spark, into Parquet tables under "
        "$ORDERS_SPARK_OUTPUT (default: spark/ beside the warehouse); landing and validation "
        "always run on DuckDB",
    )
    run.add_argument("--verbose", action="store_true", help="show Dagster's own event log")
    ui = commands.add_parser(
        "ui",
        help="the Dagster UI (dg dev) on the instance `run` records into",
        description="Start `dg dev` with DAGSTER_HOME set to the instance `orders-pipeline "
        "run` uses (default ./.dagster_home), so the UI shows every run, materialisation, "
        "partition and check result of the CLI.",
    )
    ui.add_argument("--host", default="127.0.0.1", help="address to serve on (127.0.0.1)")
    ui.add_argument("--port", default="3000", help="port to serve on (3000)")
    bench_parser = commands.add_parser(
        "bench",
        help="measure the pipeline on a generated workload against a DuckDB floor",
        description="Generate a seeded workload, then time DuckDB reading it (the floor), a "
        "full run from an empty warehouse and an incremental run of one more day; print a "
        "table and write the figures as JSON.",
    )
    bench.add_arguments(bench_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command with ``argv`` (default: ``sys.argv``); returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "bench":
        return bench.main(args)
    if args.command == "ui":
        return _ui(args)
    # every setting is checked before any work: one line and exit 2 (issue 16)
    try:
        settings = Settings.from_env().with_overrides(
            landing_dir=args.landing, warehouse=args.warehouse, base_currency=args.base_currency
        )
        settings.check_paths()
        layout = check_landing_layout(settings.landing_dir, [s.name for s in SOURCES])
        instance = _LazyInstance(prepare_home())
    except ConfigError as error:
        print(f"orders-pipeline: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # checking the settings and the landing folder: nothing done yet
        return stopped_while_starting()
    for line in layout.warnings():
        print(f"orders-pipeline: warning: {line}", file=sys.stderr)
    live_progress.enable()  # a redrawn line on a terminal, a plain line now and then if not
    try:
        return _run(args, settings, instance)
    finally:
        # this run's stdout only: a later run in this process (the tests) prints nothing here
        _detach_progress_output()
        live_progress.disable()
        instance.dispose()


def _detach_progress_output() -> None:
    """Undo ``configure_progress_output``: its handler holds this run's stdout."""
    logger = logging.getLogger("orders_pipeline.progress")
    for handler in list(logger.handlers):
        if getattr(handler, "_orders_progress", False):
            logger.removeHandler(handler)


class _LazyInstance:
    """The run's Dagster instance, opened when a job first needs it: a run with nothing to
    do records nothing and never pays for opening the instance's storage."""

    def __init__(self, home: Path) -> None:
        self.root_directory = str(home)
        self._instance: dg.DagsterInstance | None = None

    def __call__(self) -> dg.DagsterInstance:
        if self._instance is None:
            self._instance = open_instance_at(Path(self.root_directory))
        return self._instance

    def dispose(self) -> None:
        if self._instance is not None:
            self._instance.dispose()


def _run(args: argparse.Namespace, settings: Settings, instance: _LazyInstance) -> int:
    configure_progress_output(live_progress.output())  # in order with the live line
    # SIGTERM (a service manager, `kill`) stops a run like Ctrl-C; Dagster maps it so too
    # while a step runs, so both end the same way: one line and exit 130
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        print(f"orders-pipeline run: {settings.landing_dir} -> {settings.warehouse}")
        # flushed: the step lines that follow go out through a descriptor of their own
        print(f"  Dagster instance: {instance.root_directory} (the UI: make ui)", flush=True)
        started = time.perf_counter()
        summary = run_pipeline(
            settings,
            instance,
            quiet=not args.verbose,
            full_refresh=args.full_refresh,
            engine=args.engine,
        )
        print_summary(summary, time.perf_counter() - started)
        hint = partition_start_hint(settings)
        if hint:
            print(hint)
    except WarehouseLocked as error:
        print(f"orders-pipeline: {error}", file=sys.stderr, flush=True)
        return 1
    except ConfigError as error:  # the instance's dagster.yaml, read when first needed
        print(f"orders-pipeline: configuration error: {error}", file=sys.stderr, flush=True)
        return 2
    # between steps (planning the model run, reading the summary) Ctrl-C stops a DuckDB query
    # or Dagster's own bookkeeping: whatever they raise then (interrupts.is_interruption)
    except (KeyboardInterrupt, Exception) as stopped:
        if not is_interruption(stopped):
            raise
        if not isinstance(stopped, RunInterrupted):
            stopped = RunInterrupted("between steps")
        return end_interrupted(str(stopped))
    return 0 if summary.success else 1


def _ui(args: argparse.Namespace) -> int:
    """Replace this process with ``dg dev`` on the shared instance (orders_pipeline/instance.py),
    run from the project root, where ``pyproject.toml`` says which definitions to load."""
    try:
        Settings.from_env()  # a bad ORDERS_* variable is one line here, not in the UI
        instance = open_instance()
    except ConfigError as error:
        print(f"orders-pipeline: configuration error: {error}", file=sys.stderr)
        return 2
    home = instance.root_directory
    instance.dispose()
    dg_cli = Path(sys.executable).with_name("dg")
    print(f"orders-pipeline ui: Dagster instance {home}; http://{args.host}:{args.port}")
    sys.stdout.flush()
    os.environ["DAGSTER_HOME"] = home
    os.chdir(PROJECT_ROOT)
    os.execv(dg_cli, [str(dg_cli), "dev", "--host", args.host, "--port", str(args.port)])


def partition_start_hint(settings: Settings) -> str | None:
    """A hint when ``ORDERS_PARTITION_START`` puts the daily partitions long before the first
    event (the UI's partition bar and backfill dialog would open on months of empty days).
    None when it is unset (the partitions then start with the data, partitions.py), near
    the data, or nothing is staged."""
    from orders_pipeline.partition_start import first_event_day
    from orders_pipeline.warehouse import connect

    if settings.partition_start is None or not settings.warehouse.exists():
        return None
    with connect(settings, read_only=True) as con:
        first = first_event_day(con)
    if first is None or (first - settings.partition_start).days <= PARTITION_SLACK_DAYS:
        return None
    return (
        f"hint: ORDERS_PARTITION_START={settings.partition_start} starts the daily partitions "
        f"long before the first event ({first}); unset it and they start with your data, on "
        f"{first.replace(day=1)} (the next run then re-derives the partitioned tables once)"
    )


def print_summary(summary: RunSummary, seconds: float) -> None:
    """The closing summary: records by outcome and source, orders, customers, net revenue."""
    print()
    print(
        f"records: {summary.records:,} in {summary.files:,} file(s) — "
        f"{summary.accepted:,} accepted, {summary.quarantined:,} quarantined, "
        f"{summary.duplicates:,} duplicates"
    )
    for source, counts in summary.by_source.items():
        print(
            f"  {source:<16} {counts['files']:>5,} files {counts['records']:>12,} records "
            f"{counts['accepted']:>12,} accepted {counts['quarantined']:>9,} quarantined "
            f"{counts['duplicates']:>9,} duplicates"
        )
    print(
        f"orders: {summary.orders:,} ({summary.anonymous_orders:,} anonymous)   "
        f"customers: {summary.customers:,}"
    )
    print(f"net revenue: {summary.net_revenue:,.2f} {summary.base_currency}")
    if summary.plan is not None:
        print(
            f"partitions: {summary.plan.first_key} .. {summary.plan.last_key} "
            f"({summary.plan.reason})"
        )
    for file, reason in summary.skipped_files:
        print(f"skipped: {file} ({reason})")
    for label in summary.warned_checks:
        print(f"warning: check {label} found rows to look at")
    status = "succeeded" if summary.success else "FAILED"
    print(f"run {status} in {seconds:.1f} s", flush=True)
    if summary.failed_checks:
        # a failed blocking check says what it guards and what to do (its description); the
        # checks are Dagster's, loaded already since one ran
        from orders_pipeline.checks import CHECKS

        explained = {f"{'/'.join(c.asset)}:{c.name}": c.description for c in CHECKS}
        for label in summary.failed_checks:
            reason = f" — {explained[label]}" if label in explained else ""
            print(f"check failed: {label}{reason}", file=sys.stderr)
    for error in summary.errors:
        print(f"error: {error}", file=sys.stderr)


def process_main() -> int:
    """The command in a process of its own: the console script ``orders-pipeline`` (through
    orders_pipeline/console.py, which imports this module) and ``python -m
    orders_pipeline.cli``. Its garbage collector is tuned for a run
    (``garbage_collection.tune_garbage_collection``) before :func:`main`. Code that calls
    :func:`main` from its own process keeps that process's collector as it was (the test
    processes tune theirs once their tests are collected: tests/conftest.py)."""
    tune_garbage_collection()
    return main()


if __name__ == "__main__":
    sys.exit(process_main())
