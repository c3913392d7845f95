"""What every multi-asset step shares: its checks as ``check_specs``, evaluated on the
step's one connection right after the asset they check is built, and a failure that names
the asset it happened in (a step builds many)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import dagster as dg
import duckdb

from orders_pipeline.checks import SqlCheck, evaluate_on


class BuildFailed(RuntimeError):
    """Building one asset of a step failed; ``str()`` is the asset (``core/orders``) and
    the cause is the error. The run's error line names the asset, not the step."""


def asset_key(qualified_name: str) -> dg.AssetKey:
    """The asset key of ``schema.table``."""
    return dg.AssetKey(qualified_name.split("."))


def check_spec(check: SqlCheck) -> dg.AssetCheckSpec:
    """The Dagster spec of a SQL check evaluated inside the step of its asset."""
    return dg.AssetCheckSpec(
        name=check.name,
        asset=dg.AssetKey(list(check.asset)),
        description=check.description,
        blocking=check.blocking,
        additional_deps=[dg.AssetKey(list(d)) for d in check.additional_deps],
    )


def checks_of(checks: Iterable[SqlCheck], keys: Iterable[dg.AssetKey]) -> list[SqlCheck]:
    """The checks on any of ``keys``."""
    wanted = set(keys)
    return [c for c in checks if dg.AssetKey(list(c.asset)) in wanted]


def check_key(check: SqlCheck) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(dg.AssetKey(list(check.asset)), check.name)


def selected_checks(
    context: dg.AssetExecutionContext, checks: Sequence[SqlCheck]
) -> list[SqlCheck]:
    """The checks this run of the step evaluates (a subset run may leave some out)."""
    selected = context.selected_asset_check_keys
    return [c for c in checks if check_key(c) in selected]


def evaluate_checks(
    con: duckdb.DuckDBPyConnection, checks: Iterable[SqlCheck]
) -> Iterator[tuple[dg.AssetCheckResult, bool]]:
    """Each check's result, and whether it is a failed blocking one (which stops what
    depends on its asset; Dagster fails the step once it has ended)."""
    for check in checks:
        result = evaluate_on(con, check)
        blocked = (
            check.blocking and not result.passed and check.severity == dg.AssetCheckSeverity.ERROR
        )
        yield result, blocked


Event = TypeVar("Event")


def metadata_on_materialization(context: dg.AssetExecutionContext, event: Event) -> Event:
    """``event``, a ``MaterializeResult``'s metadata moved onto its materialisation alone
    (``add_asset_metadata``); any other event as it is.

    Given to the result itself, the metadata goes into two events: Dagster copies a result's
    metadata into the step's output event (``STEP_OUTPUT``) as well as into the
    materialisation. The column schema and preview were then serialised and stored twice per
    asset: the output events were 462 of the 1,077 KB a three-event run wrote to its event
    log (97 events of 334). The UI shows the metadata on the materialisation, which keeps
    all of it."""
    if not isinstance(event, dg.MaterializeResult) or not event.metadata:
        return event
    key = event.asset_key or context.assets_def.key
    context.add_asset_metadata(event.metadata, asset_key=key)
    return dg.MaterializeResult(  # type: ignore[return-value]
        asset_key=event.asset_key,
        check_results=event.check_results,
        data_version=event.data_version,
        tags=event.tags,
        value=event.value,
    )
