"""``orders-pipeline``: run the whole pipeline in-process (README, "Running it on your data")."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence

from orders_pipeline import bench
from orders_pipeline.checks import CHECKS
from orders_pipeline.config import ConfigError, Settings
from orders_pipeline.interrupts import RunInterrupted
from orders_pipeline.runner import RunSummary, configure_progress_output, run_pipeline
from orders_pipeline.warehouse import WarehouseLocked

# 128 + SIGINT, as shells report a program stopped by Ctrl-C (also used for SIGTERM)
EXIT_INTERRUPTED = 130


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
    """Entry point of the console script; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "bench":
        return bench.main(args)
    try:
        settings = Settings.from_env().with_overrides(
            landing_dir=args.landing, warehouse=args.warehouse, base_currency=args.base_currency
        )
    except ConfigError as error:
        print(f"orders-pipeline: configuration error: {error}", file=sys.stderr)
        return 2
    if not settings.landing_dir.is_dir():
        print(
            f"orders-pipeline: the landing folder {settings.landing_dir} does not exist "
            "(set ORDERS_LANDING_DIR or pass --landing)",
            file=sys.stderr,
        )
        return 2
    configure_progress_output()
    # SIGTERM (a service manager, `kill`) stops a run like Ctrl-C; Dagster maps it so too
    # while a step runs, so both end the same way: one line and exit 130
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        print(f"orders-pipeline run: {settings.landing_dir} -> {settings.warehouse}")
        started = time.perf_counter()
        summary = run_pipeline(
            settings, quiet=not args.verbose, full_refresh=args.full_refresh, engine=args.engine
        )
        print_summary(summary, time.perf_counter() - started)
    except (RunInterrupted, KeyboardInterrupt) as stopped:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not add a traceback
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if not isinstance(stopped, RunInterrupted):
            stopped = RunInterrupted("between steps")
        print(f"orders-pipeline: {stopped}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except WarehouseLocked as error:
        print(f"orders-pipeline: {error}", file=sys.stderr, flush=True)
        return 1
    return 0 if summary.success else 1


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
    # a failed blocking check says what it guards and what to do (its description)
    explained = {f"{'/'.join(c.asset)}:{c.name}": c.description for c in CHECKS}
    for label in summary.failed_checks:
        reason = f" — {explained[label]}" if label in explained else ""
        print(f"check failed: {label}{reason}", file=sys.stderr)
    for error in summary.errors:
        print(f"error: {error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
