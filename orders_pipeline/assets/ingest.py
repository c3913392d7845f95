"""Landing and validation assets (docs/semantics.md §1, §2): one step lands the new files of
every registered source into ``raw.<source>``, one validates them into staging (a source at a
time, each in its own transaction, each source's tables their own assets)."""

import time
from collections.abc import Iterator, Sequence

import dagster as dg
import duckdb

from orders_pipeline import live_progress, progress
from orders_pipeline.assets.metadata import table_metadata
from orders_pipeline.assets.pools import WAREHOUSE_POOL
from orders_pipeline.assets.steps import (
    BuildFailed,
    check_spec,
    checks_of,
    evaluate_checks,
    metadata_on_materialization,
    selected_checks,
)
from orders_pipeline.checks import SqlCheck
from orders_pipeline.config import Settings
from orders_pipeline.landing.land import land_new_files
from orders_pipeline.live_progress import LiveProgress
from orders_pipeline.privacy import pii_hash
from orders_pipeline.resources import OrdersWarehouse
from orders_pipeline.sources import SOURCES, Source
from orders_pipeline.validation.outcomes import validate_pending


def table_key(qualified_name: str) -> dg.AssetKey:
    """The asset key of ``schema.table``."""
    return dg.AssetKey(qualified_name.split("."))


def _shown_files(settings: Settings, files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(file, error)`` pairs as Dagster may store them: in hash mode a file name may name a
    person, so it is shown as its keyed hash (as ``audit.loads.file`` is published) and the
    error by its kind alone (its text may quote the path)."""
    if settings.pii_mode == "plain":
        return files
    return [(pii_hash(settings.pii_key, f), e.split(":")[0]) for f, e in files]


def landing_asset(sources: tuple[Source, ...]) -> dg.AssetsDefinition:
    """The asset that lands the new files of every source folder into ``raw.<source>``, in
    one step: files first seen in a run take their arrival sequence in lexicographic order
    of their path, across sources (docs/semantics.md §3)."""
    specs = [
        dg.AssetSpec(
            table_key(source.raw_table),
            group_name="raw",
            kinds={"duckdb", *source.kinds},
            description=f"{source.description}, landed as received: one row per record with "
            "its raw text, file, record number and arrival sequence. Each file is loaded "
            "once (sha256).",
        )
        for source in sources
    ]

    @dg.multi_asset(name="land_new_files", specs=specs, pool=WAREHOUSE_POOL)
    def _land(context: dg.AssetExecutionContext, warehouse: OrdersWarehouse):
        started = time.perf_counter()
        settings = warehouse.settings()
        # landing hashes files and frames their records beside DuckDB (polars)
        with warehouse.connect(memory_beside=True) as con:
            reports = land_new_files(con, settings, sources)
            seconds = time.perf_counter() - started
            metadata = {
                source.name: table_metadata(con, source.raw_table, seconds) for source in sources
            }
        for source in sources:
            report = reports[source.name]
            unreadable = _shown_files(settings, report.unreadable)
            for path, error in unreadable:
                context.log.warning(f"could not read {path}: {error}; it will be retried next run")
            for path, reason in report.skipped:
                context.log.warning(f"skipped {path}: {reason}")
            metadata[source.name].update(
                {
                    "files_loaded": dg.MetadataValue.int(len(report.files_loaded)),
                    "records_landed": dg.MetadataValue.int(report.records_landed),
                    "files_unchanged": dg.MetadataValue.int(report.files_unchanged),
                    "files_unreadable": dg.MetadataValue.int(len(report.unreadable)),
                    "unreadable": dg.MetadataValue.json(
                        [{"file": p, "error": e} for p, e in unreadable]
                    ),
                    "skipped": dg.MetadataValue.json(
                        [{"file": p, "reason": r} for p, r in report.skipped]
                    ),
                }
            )
            progress.report(
                source.raw_table.replace(".", "/"),
                report.records_landed,
                seconds,
                f"{len(report.files_loaded)} new file(s), {report.files_unchanged} unchanged"
                + (f", {len(report.unreadable)} unreadable" if report.unreadable else "")
                + (f", {len(report.skipped)} skipped" if report.skipped else ""),
            )
            yield metadata_on_materialization(
                context,
                dg.MaterializeResult(
                    asset_key=table_key(source.raw_table), metadata=metadata[source.name]
                ),
            )

    return _land


def validation_asset(
    sources: tuple[Source, ...], checks: Sequence[SqlCheck] = ()
) -> dg.AssetsDefinition:
    """The step that validates the landed, not yet validated files of every source (each
    source in its own transaction), each source's staging tables reported as their own
    assets with their ``checks``, evaluated right after that source's validation."""
    specs = []
    for source in sources:
        spec = source.validation
        raw_key = table_key(source.raw_table)
        specs.append(
            dg.AssetSpec(
                table_key(spec.staging_table),
                deps=[raw_key],
                group_name="staging",
                kinds={"duckdb", "pandera"},
                description=f"Accepted records of {source.name}, typed (DECIMAL money, UTC "
                "timestamps); quarantined records go to audit.quarantine with every reason, "
                "exact duplicates to audit.duplicates.",
                skippable=True,
            )
        )
        if spec.staging_items_table:
            specs.append(
                dg.AssetSpec(
                    table_key(spec.staging_items_table),
                    deps=[raw_key],
                    group_name="staging",
                    kinds={"duckdb", "pandera"},
                    description=f"Line items of the accepted records of {source.name}, typed.",
                    skippable=True,
                )
            )
    own_checks = checks_of(checks, [s.key for s in specs])

    @dg.multi_asset(
        name="validated_sources",
        specs=specs,
        check_specs=[check_spec(c) for c in own_checks],
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def _validate(context: dg.AssetExecutionContext, warehouse: OrdersWarehouse):
        pending = selected_checks(context, own_checks)
        # the rules run on Arrow and polars frames beside DuckDB
        with warehouse.connect(memory_beside=True) as con:
            for source in sources:
                tables = [table_key(t) for t in source.staging_tables]
                if not any(key in context.selected_asset_keys for key in tables):
                    continue
                try:
                    with live_progress.task(
                        f"validating {source.name}",
                        total_records=_pending_records(con, source),
                        con=con,
                    ) as live:
                        for event in _validate_source(con, source, live):
                            yield metadata_on_materialization(context, event)
                except Exception as error:
                    raise BuildFailed(source.validation.staging_table.replace(".", "/")) from error
                for result, _ in evaluate_checks(con, checks_of(pending, tables)):
                    yield result

    return _validate


def _pending_records(con: duckdb.DuckDBPyConnection, source: Source) -> int:
    """The records of ``source``'s landed files not validated yet: what its validation reads
    (the total of its live progress)."""
    row = con.execute(
        "select coalesce(sum(records), 0) from audit.loads "
        "where source = ? and validated_at is null",
        [source.name],
    ).fetchall()
    return int(row[0][0])


def _validate_source(
    con: duckdb.DuckDBPyConnection, source: Source, live: LiveProgress | None
) -> Iterator[object]:
    spec = source.validation
    started = time.perf_counter()
    report = validate_pending(con, spec, on_slice=live.part if live is not None else None)
    seconds = time.perf_counter() - started
    metadata = {table: table_metadata(con, table, seconds) for table in source.staging_tables}
    metadata[spec.staging_table].update(
        {
            "batch_files": dg.MetadataValue.int(len(report.files)),
            "batch_records": dg.MetadataValue.int(report.records),
            "batch_accepted": dg.MetadataValue.int(report.accepted),
            "batch_quarantined": dg.MetadataValue.int(report.quarantined),
            "batch_duplicates": dg.MetadataValue.int(report.duplicates),
            "batch_quarantine_reasons": dg.MetadataValue.md(
                "\n".join(f"- `{code}`: {n}" for code, n in report.reasons.items()) or "none"
            ),
        }
    )
    progress.report(
        spec.staging_table.replace(".", "/"),
        report.accepted,
        seconds,
        f"{report.records:,} records: {report.accepted:,} accepted, "
        f"{report.quarantined:,} quarantined, {report.duplicates:,} duplicates",
    )
    for table in source.staging_tables:
        yield dg.MaterializeResult(asset_key=table_key(table), metadata=metadata[table])


def ingest_assets(checks: Sequence[SqlCheck] = ()) -> list[dg.AssetsDefinition]:
    """Landing and validation of every registered source: two steps."""
    return [landing_asset(SOURCES), validation_asset(SOURCES, checks)]
