"""Data-quality asset checks: the loader of the SQL check files beside the models.

Each check is a file, ``sql/<schema>/<table>.checks/<name>.sql``, holding a query that
returns the offending rows, with its description, severity and whether it blocks in its
leading comment (``load_check``). The check passes when the query returns no row, and shows
a sample of them when it fails. The checks of the validated tables (one per source) are
templates in ``sql/staging/every_source.checks/``, filled in from the source registry."""

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from orders_pipeline import key_changes
from orders_pipeline.assets.metadata import PREVIEW_ROWS, PREVIEW_WITHHELD, values_may_be_shown
from orders_pipeline.config import SQL_DIR
from orders_pipeline.resources import OrdersWarehouse
from orders_pipeline.sources import SOURCES, Source
from orders_pipeline.warehouse import ARRIVAL_STRIDE, table_exists, transaction


@dataclass(frozen=True)
class SqlCheck:
    """A check on ``asset``: ``sql`` selects offending rows."""

    name: str
    asset: tuple[str, ...]
    description: str
    sql: str
    blocking: bool = False
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    additional_deps: tuple[tuple[str, ...], ...] = ()
    # ``-- incremental_on: <partition column>`` (issue 15): once the check passed, the rows
    # it can find lie on the days of its (partitioned) table re-derived since, or share a
    # key with one of them; it then reads only those (``days_to_check``).
    # ``-- incremental_on: key_changes``: once it passed, they share a key with a row of its
    # (keyed) table that a build replaced since; it then reads only those (``keys_to_check``)
    incremental_on: str | None = None
    # ``-- incremental_days_of: schema.table`` with ``key_changes``: the rows it can find may
    # also lie on the days of that partitioned table re-derived since the pass
    incremental_days_of: str | None = None


# ``sql/<schema>/<table>.checks/<name>.sql``: a check on the asset ``<schema>/<table>``
CHECKS_SUFFIX = ".checks"
# ``-- incremental_on: key_changes``: by the keys the builds logged (key_changes.py), not by day
BY_KEY_CHANGES = "key_changes"
# ``sql/staging/every_source.checks/<name>.sql``: a template of a check on every source's
# validated table (Python-written, one per source), filled in from the source registry
EVERY_SOURCE = "every_source"

# What a ``key_changes`` check reads once it passed (docs/operating.md): the keys of its
# table that builds logged since the pass, one ``key`` (the key's values as text) per row.
# Defined on the connection before such a check runs, so the rule of "logged since" (the
# log's numbering, key_changes.py) is written once, not in every check's SQL.
KEYS_REPLACED_SINCE_CHECK = """
create or replace temp macro keys_replaced_since_check(checked_table) as table
    select key from state.key_changes
    where table_name = checked_table
        and coalesce(change_no, 0) > getvariable('check_changes_after')
"""

_DIRECTIVE = re.compile(r"^--\s*(?P<key>[a-z_]+):\s*(?P<value>.*?)\s*$")
_VALUE_DIRECTIVES = ("severity", "blocking", "incremental_on", "incremental_days_of")
_SEVERITIES = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}
_BOOLEANS = {"true": True, "false": False}


def load_check(
    path: Path, asset: tuple[str, ...], fill: dict[str, object] | None = None
) -> SqlCheck:
    """The check a file declares: its leading ``--`` comment is the description, save the
    directives ``-- severity: error|warn``, ``-- blocking: true|false`` (both required) and
    ``-- also_after: schema.table`` (an asset the check runs after, besides its own); the
    rest of the file is the query returning the offending rows. ``fill`` fills in a
    template's ``{placeholders}`` (names from the source registry, never input data)."""
    text = path.read_text(encoding="utf-8")
    description, directives = [], {}
    also_after: list[tuple[str, ...]] = []
    lines = text.splitlines()
    while lines and lines[0].startswith("--"):
        line = lines.pop(0)
        match = _DIRECTIVE.match(line)
        if match and match["key"] == "also_after":
            also_after.append(tuple(match["value"].split(".")))
        elif match and match["key"] in _VALUE_DIRECTIVES:
            directives[match["key"]] = match["value"]
        else:
            description.append(line.removeprefix("--").strip())
    if directives.get("severity") not in _SEVERITIES or directives.get("blocking") not in _BOOLEANS:
        raise ValueError(
            f"{path}: a check declares '-- severity: error|warn' and '-- blocking: true|false'"
        )
    sql = "\n".join(lines)
    return SqlCheck(
        name=path.stem,
        asset=asset,
        description=" ".join(description),
        sql=sql.format(**fill) if fill else sql,
        blocking=_BOOLEANS[directives["blocking"]],
        severity=_SEVERITIES[directives["severity"]],
        additional_deps=tuple(also_after),
        incremental_on=directives.get("incremental_on"),
        incremental_days_of=directives.get("incremental_days_of"),
    )


def discover_checks(sql_dir: Path, sources: tuple[Source, ...] = SOURCES) -> tuple[SqlCheck, ...]:
    """Every check file under ``sql_dir``, found like the models: the templates of
    ``staging/every_source.checks/`` once per source, on its validated table, then
    ``<schema>/<table>.checks/*.sql`` on ``<schema>/<table>``."""
    checks = []
    for template in sorted((sql_dir / "staging" / f"{EVERY_SOURCE}{CHECKS_SUFFIX}").glob("*.sql")):
        for source in sources:
            fill = {
                "source": source.name,
                "raw_table": source.raw_table,
                "arrival_stride": ARRIVAL_STRIDE,
            }
            asset = tuple(source.validation.staging_table.split("."))
            checks.append(load_check(template, asset, fill))
    for folder in sorted(sql_dir.glob(f"*/*{CHECKS_SUFFIX}")):
        table = folder.name.removesuffix(CHECKS_SUFFIX)
        if table == EVERY_SOURCE:
            continue
        checks += [
            load_check(path, (folder.parent.name, table)) for path in sorted(folder.glob("*.sql"))
        ]
    return tuple(checks)


CHECKS: tuple[SqlCheck, ...] = discover_checks(SQL_DIR)


def _asset_check(spec: SqlCheck) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(list(spec.asset)),
        name=spec.name,
        description=spec.description,
        blocking=spec.blocking,
        additional_deps=[dg.AssetKey(list(d)) for d in spec.additional_deps],
    )
    def _check(warehouse: OrdersWarehouse) -> dg.AssetCheckResult:
        return evaluate(warehouse, spec)

    return _check


def evaluate(warehouse: OrdersWarehouse, spec: SqlCheck) -> dg.AssetCheckResult:
    """Run one check's query and turn its rows into a result."""
    with warehouse.connect() as con:
        return evaluate_on(con, spec)


def evaluate_on(con: duckdb.DuckDBPyConnection, spec: SqlCheck) -> dg.AssetCheckResult:
    """``evaluate`` on an open connection: what the asset that builds ``spec.asset`` calls
    right after building it (assets/steps.py)."""
    key = dg.AssetKey(list(spec.asset))
    if spec.incremental_on == BY_KEY_CHANGES:
        return _evaluate_by_key(con, spec, key)
    days = days_to_check(con, spec)
    con.execute("set variable check_days_only = ?::boolean", [days is not None])
    con.execute("set variable check_first_day = ?::date", [days[0] if days else None])
    con.execute("set variable check_last_day = ?::date", [days[1] if days else None])
    try:
        result = _evaluate(con, spec, key)
    finally:
        con.execute("set variable check_days_only = false")
    if spec.incremental_on is not None and "not_checked" not in result.metadata:
        _record_pass(con, spec, result.passed)
    return result


def _evaluate_by_key(
    con: duckdb.DuckDBPyConnection, spec: SqlCheck, key: dg.AssetKey
) -> dg.AssetCheckResult:
    """``evaluate_on`` for a ``-- incremental_on: key_changes`` check: when
    ``getvariable('check_keys_only')``, its SQL reads only the keys of ``state.key_changes``
    numbered past ``getvariable('check_changes_after')`` (``keys_to_check``), which the table
    macro ``keys_replaced_since_check('<schema>.<table>')`` lists, and, with
    ``-- incremental_days_of``, the rows of that table's days between ``check_first_day``
    and ``check_last_day``."""
    # the log the SQL reads exists even before any build logged (else it would not be checked)
    key_changes.ensure_log(con)
    # what this evaluation sees: every logging call and partition build up to here (the
    # caller's step is the only writer)
    seen = (key_changes.last_change_no(con), _last_partition_build(con))
    since = keys_to_check(con, spec)
    after, days = since if since is not None else (None, None)
    con.execute(KEYS_REPLACED_SINCE_CHECK)
    con.execute("set variable check_keys_only = ?::boolean", [since is not None])
    con.execute("set variable check_changes_after = ?::bigint", [after])
    con.execute("set variable check_first_day = ?::date", [days[0] if days else None])
    con.execute("set variable check_last_day = ?::date", [days[1] if days else None])
    try:
        result = _evaluate(con, spec, key)
    finally:
        con.execute("set variable check_keys_only = false")
    if "not_checked" not in result.metadata:
        _record_key_pass(con, spec, seen if result.passed else None)
    return result


def _evaluate(
    con: duckdb.DuckDBPyConnection, spec: SqlCheck, key: dg.AssetKey
) -> dg.AssetCheckResult:
    # counted in DuckDB and sampled: a check may find millions of rows (every line item of a
    # merchant without a catalog), which must not become Python objects
    try:
        offending = int(con.execute(f"select count(*) from ({spec.sql})").fetchall()[0][0])
    except duckdb.CatalogException as error:
        # a table the check reads is not built yet (an asset backfill builds the partitioned
        # tables in a later run than the unpartitioned ones): nothing to check yet
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=spec.name,
            passed=True,
            severity=spec.severity,
            metadata={"not_checked": dg.MetadataValue.text(str(error).splitlines()[0])},
        )
    shown = values_may_be_shown(con)
    sample: list[dict[str, object]] = []
    if offending and shown:  # a passing check's query is not bound again for no rows
        relation = con.sql(f"select * from ({spec.sql}) limit {PREVIEW_ROWS}")
        columns = relation.columns
        sample = [dict(zip(columns, map(_plain, row), strict=True)) for row in relation.fetchall()]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=spec.name,
        passed=offending == 0,
        severity=spec.severity,
        metadata={
            "offending_rows": dg.MetadataValue.int(offending),
            # hash mode: the offending rows are in the warehouse, not in Dagster's storage
            "sample": dg.MetadataValue.json(sample)
            if shown
            else dg.MetadataValue.text(PREVIEW_WITHHELD),
        },
    )


# The partition build up to which an ``incremental_on`` check last passed (issue 15).
_PASSES = "state.check_passes"


def _check_id(spec: SqlCheck) -> str:
    """The check and its SQL: a pass of another version of the query says nothing."""
    digest = hashlib.sha256(spec.sql.encode()).hexdigest()[:16]
    return f"{'.'.join(spec.asset)}:{spec.name}:{digest}"


def days_to_check(con: duckdb.DuckDBPyConnection, spec: SqlCheck) -> tuple[date, date] | None:
    """The days an ``incremental_on`` check reads (None: every row): those of its table
    re-derived since it last passed, from ``state.partition_builds`` (an empty range when
    none was; open sides as the earliest or latest date). Every row when it has not passed
    yet, failed last time, its SQL changed, or the table was rebuilt whole since."""
    if spec.incremental_on is None or not table_exists(con, "state", "check_passes"):
        return None
    passed = con.execute(
        f"select max(partition_build_no) from {_PASSES} where check_id = ?", [_check_id(spec)]
    ).fetchall()[0][0]
    if passed is None:
        return None
    return _rederived_days(con, ".".join(spec.asset), passed)


def _rederived_days(
    con: duckdb.DuckDBPyConnection, model: str, passed: int
) -> tuple[date, date] | None:
    """The days of the partitioned ``model`` re-derived after partition build ``passed``
    (an empty range when none was; open sides as the earliest or latest date), None when it
    was rebuilt whole since."""
    builds, whole, first, last, open_first, open_last = con.execute(
        """select count(*),
                  bool_or(first_day is null and last_day is null),
                  min(first_day), max(last_day),
                  bool_or(first_day is null), bool_or(last_day is null)
           from state.partition_builds where model = ? and build_no > ?""",
        [model, passed],
    ).fetchall()[0]
    if not builds:
        return date.max, date.min  # nothing re-derived: no row to read
    if whole:
        return None
    return (date.min if open_first else first), (date.max if open_last else last)


def _record_pass(con: duckdb.DuckDBPyConnection, spec: SqlCheck, passed: bool) -> None:
    """Remember that the check passed as of the last partition build (or forget that it
    did): the next evaluation reads only what was re-derived since."""
    con.execute(
        f"""create table if not exists {_PASSES} (
                check_id            varchar not null,  -- asset:check:digest of its SQL
                partition_build_no  bigint  not null   -- it passed with every build up to here
            )"""
    )
    check_id = _check_id(spec)
    with transaction(con):
        con.execute(f"delete from {_PASSES} where check_id = ?", [check_id])
        if passed:
            con.execute(
                f"""insert into {_PASSES}
                    select ?, coalesce(max(build_no), 0) from state.partition_builds""",
                [check_id],
            )


# The last logging call (key_changes.py) a ``-- incremental_on: key_changes`` check passed with.
_KEY_PASSES = "state.check_key_passes"


def keys_to_check(
    con: duckdb.DuckDBPyConnection, spec: SqlCheck
) -> tuple[int, tuple[date, date] | None] | None:
    """What a ``key_changes`` check reads (None: every row): the keys of its table logged
    after the logging call it last passed with, while the log still lists every one of them
    (no publication cleared one, no build replaced the whole table), and with
    ``incremental_days_of`` the days of that table re-derived since (as ``days_to_check``).
    Every row the first time, after a failure or a change of its SQL."""
    if not table_exists(con, "state", "check_key_passes"):
        return None
    passed = con.execute(
        f"select change_no, partition_build_no from {_KEY_PASSES} where check_id = ?",
        [_check_id(spec)],
    ).fetchall()
    if not passed or not key_changes.keys_since(con, ".".join(spec.asset), passed[0][0]):
        return None
    change_no, build_no = passed[0]
    if spec.incremental_days_of is None:
        return int(change_no), None
    if not table_exists(con, "state", "partition_builds"):
        return None
    days = _rederived_days(con, spec.incremental_days_of, build_no)
    return None if days is None else (int(change_no), days)


def _last_partition_build(con: duckdb.DuckDBPyConnection) -> int:
    """The last partition build (0: none yet)."""
    if not table_exists(con, "state", "partition_builds"):
        return 0
    query = "select coalesce(max(build_no), 0) from state.partition_builds"
    return int(con.execute(query).fetchall()[0][0])


def _record_key_pass(
    con: duckdb.DuckDBPyConnection, spec: SqlCheck, seen: tuple[int, int] | None
) -> None:
    """Remember that the check passed with every logging call and partition build up to
    ``seen`` (None: it failed; forget any pass)."""
    con.execute(
        f"""create table if not exists {_KEY_PASSES} (
                check_id           varchar not null,  -- asset:check:digest of its SQL
                change_no          bigint  not null,  -- it passed with every logging call
                partition_build_no bigint  not null   -- and partition build up to here
            )"""
    )
    check_id = _check_id(spec)
    with transaction(con):
        con.execute(f"delete from {_KEY_PASSES} where check_id = ?", [check_id])
        if seen is not None:
            con.execute(f"insert into {_KEY_PASSES} values (?, ?, ?)", [check_id, *seen])


def _plain(value: object) -> object:
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


ASSET_CHECKS = [_asset_check(spec) for spec in CHECKS]


def standalone_checks(
    checks: Iterable[SqlCheck], inline: Iterable[dg.AssetCheckKey]
) -> list[dg.AssetChecksDefinition]:
    """The checks not evaluated by the step of their asset (``inline``), as steps of their
    own."""
    done = set(inline)
    return [
        _asset_check(spec)
        for spec in checks
        if dg.AssetCheckKey(dg.AssetKey(list(spec.asset)), spec.name) not in done
    ]
