"""What every multi-asset step shares: its checks as ``check_specs``, evaluated on the
step's one connection right after the asset they check is built, and a failure that names
the asset it happened in (a step builds many)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

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
