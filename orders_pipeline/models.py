"""SQL models: every ``sql/<schema>/<table>.sql`` file builds the table ``<schema>.<table>``.

A model's dependencies are the ``schema.table`` names its SQL reads, found by DuckDB's own
parser (the one that runs the model), so a model never declares them twice. Each model runs
as ``create or replace table ... as`` inside one transaction: readers of the warehouse see the
old table or the new one, never half.

Exactly once by construction (issue 11): every table model records in ``state.model_builds``,
in the transaction that writes its rows, its *position* — the arrival sequence up to which
its inputs held every record they will ever hold — and an incremental or partitioned build
works out what it owes from that record alone: the records in (its recorded position, its
inputs' position now], and the days those and its upstream partition builds change. Nothing
is planned before the run and advanced after it, so no interruption can make a build skip
or repeat a record.

Up to date without a build (issue 15): the same transaction also records the table's
*version* in ``state.table_versions``, a digest of its definition under the session's
settings and of the versions of the tables it read (validated tables: their source's
validated files). Equal versions mean equal contents, so a build whose version would be the
one recorded is skipped (``build_model``): a run with no new file rebuilds nothing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import duckdb

from orders_pipeline.dictionary import TABLES
from orders_pipeline.key_changes import log_keys, log_whole
from orders_pipeline.warehouse import (
    ARRIVAL_STRIDE,
    SETTING_VARIABLES,
    count_rows,
    table_exists,
    transaction,
)


@dataclass(frozen=True)
class SqlModel:
    """One SQL file and the table it builds."""

    path: Path
    schema: str
    name: str
    sql: str
    references: frozenset[tuple[str, str]]  # every schema.table the SQL reads
    # A column of UTC dates when the table is partitioned by day (``-- partition_by: col``).
    partition_column: str | None = None
    # ``-- materialized: view`` makes a view instead of a table.
    is_view: bool = False
    # ``-- materialized: incremental``: the rows of records already built never change, so a
    # build adds only the rows of records that arrived since (``run_incremental_model``).
    is_incremental: bool = False
    # ``-- unique_key: col[, col]`` on an incremental model: a build recomputes only the keys
    # the companion query ``<name>.changed.sql`` lists (``changed_sql``) and replaces their
    # rows. The companion may read the model's own table (its previous build). A model whose
    # keys change exactly when another model's do says ``-- changed_keys_of: schema.name``
    # instead, and takes that model's companion query as its own.
    unique_key: tuple[str, ...] | None = None
    changed_sql: str | None = None
    # ``<name>.pending.sql`` beside a partitioned model: the days the records that arrived in
    # (``incremental_after``, ``incremental_through``] change, as rows (first_day, last_day),
    # NULL meaning open on that side (``run_model_partitions``).
    pending_sql: str | None = None
    # A digest of the model's SQL and of every model it reads, recursively: a change to any of
    # them makes the next incremental build a full one.
    fingerprint: str = ""

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def description(self) -> str:
        """What the table holds, for a user: the column dictionary's sentence for a published
        table (``dictionary.TABLES``), then how it is built, the leading ``--`` comment block
        of the file."""
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            if not is_directive(line):
                lines.append(line.removeprefix("--").strip())
        how = " ".join(lines)
        published = TABLES.get(self.qualified_name)
        if published is None:
            return how
        return f"{published.description}\n\n{how}".strip()


class UnreadableSql(ValueError):
    """SQL that DuckDB's parser rejects, or that is not a query."""


# The parser runs in a connection of its own, one statement at a time (the webserver and the
# daemon load definitions from several threads). Parsing every model once takes about 0.15 CPU
# s this way; with sqlglot (and importing it) it took 0.4-0.5, in every process that runs the
# pipeline or answers "is anything to do?" (a run with no new file, issue 15).
_PARSER: duckdb.DuckDBPyConnection | None = None
_PARSER_LOCK = threading.Lock()


@functools.cache
def table_references(sql: str) -> frozenset[tuple[str, str]]:
    """The schema-qualified tables a query reads (CTE names and table functions excluded):
    the base tables of DuckDB's syntax tree for it (``json_serialize_sql``), which is parsed,
    not bound, so the warehouse need not exist. Raises :class:`UnreadableSql` with DuckDB's
    message for SQL that is not one query."""
    global _PARSER
    with _PARSER_LOCK:
        if _PARSER is None:
            _PARSER = duckdb.connect(config={"threads": 1})
        serialised = _PARSER.execute("select json_serialize_sql(?::varchar)", [sql]).fetchall()
    tree = json.loads(serialised[0][0])
    if tree.get("error"):
        raise UnreadableSql(tree.get("error_message") or "DuckDB could not parse it")
    return frozenset(_base_tables(tree))


def _base_tables(node: object) -> Iterator[tuple[str, str]]:
    """Each (schema, table) of a base-table reference anywhere in a serialised syntax tree: the
    FROM clauses of every CTE, subquery and set operation alike. An unqualified name (a CTE's,
    or a table of the default schema) has no schema and is left out."""
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and node.get("schema_name") and node.get("table_name"):
            yield node["schema_name"], node["table_name"]
        for value in node.values():
            yield from _base_tables(value)
    elif isinstance(node, list):
        for value in node:
            yield from _base_tables(value)


_PARTITION_DIRECTIVE = re.compile(r"^--\s*partition_by:\s*([a-z_][a-z0-9_]*)\s*$", re.M)
_VIEW_DIRECTIVE = re.compile(r"^--\s*materialized:\s*view\s*$", re.M)
_INCREMENTAL_DIRECTIVE = re.compile(r"^--\s*materialized:\s*incremental\s*$", re.M)
_UNIQUE_KEY_DIRECTIVE = re.compile(
    r"^--\s*unique_key:\s*([a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)\s*$", re.M
)
_CHANGED_KEYS_OF_DIRECTIVE = re.compile(
    r"^--\s*changed_keys_of:\s*([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\s*$", re.M
)
_DIRECTIVES = (
    _PARTITION_DIRECTIVE,
    _VIEW_DIRECTIVE,
    _INCREMENTAL_DIRECTIVE,
    _UNIQUE_KEY_DIRECTIVE,
    _CHANGED_KEYS_OF_DIRECTIVE,
)


def is_directive(line: str) -> bool:
    """Whether a line of a model's SQL is one of its ``--`` directives (how it is built)."""
    return any(directive.match(line) for directive in _DIRECTIVES)


# ``sql/<schema>/<name>.changed.sql``: the keys an incremental build of <name> recomputes
CHANGED_SUFFIX = ".changed.sql"
# ``sql/<schema>/<name>.pending.sql``: the days a partitioned build of <name> owes
PENDING_SUFFIX = ".pending.sql"
# ``sql/<schema>/<name>.spark.sql``: the model on Spark, where its SQL does not transpile
# (orders_pipeline/engines/spark/transpile.py)
SPARK_SUFFIX = ".spark.sql"


def partition_column(sql: str) -> str | None:
    """The column named by a ``-- partition_by: <column>`` line of the model, if any."""
    match = _PARTITION_DIRECTIVE.search(sql)
    return match.group(1) if match else None


def discover_models(sql_dir: Path) -> list[SqlModel]:
    """All models under ``sql_dir``, sorted by schema and name."""
    models = []
    paths = [
        path
        for path in sorted(sql_dir.glob("*/*.sql"))
        if not path.name.endswith((CHANGED_SUFFIX, PENDING_SUFFIX, SPARK_SUFFIX))
    ]
    texts = {path: path.read_text(encoding="utf-8") for path in paths}
    companions = _changed_queries(texts)
    for path, sql in texts.items():
        key = _UNIQUE_KEY_DIRECTIVE.search(sql)
        changed_sql = companions.get(path)
        is_incremental = bool(_INCREMENTAL_DIRECTIVE.search(sql))
        if bool(key) != (changed_sql is not None) or (key and not is_incremental):
            raise ValueError(
                f"{path}: an incremental model with '-- unique_key: <column>' needs "
                f"{path.stem}{CHANGED_SUFFIX} (the keys to recompute) or "
                "'-- changed_keys_of: <schema>.<model>', and the other way round"
            )
        pending = path.with_name(path.stem + PENDING_SUFFIX)
        pending_sql = pending.read_text(encoding="utf-8") if pending.exists() else None
        references = _references_of(path, sql)
        own = (path.parent.name, path.stem)
        for label, companion_sql in ((f"{path}'s changed-keys query", changed_sql),
                                     (pending, pending_sql)):  # fmt: skip
            if companion_sql is not None:
                # a companion may read the pipeline's own bookkeeping (``state``: the
                # customers identity resolution regrouped), written with the tables the
                # model reads anyway: not an input of its own
                read = _references_of(label, companion_sql) - {own}
                references = references | {r for r in read if r[0] != "state"}
        models.append(
            SqlModel(
                path=path,
                schema=path.parent.name,
                name=path.stem,
                sql=sql,
                references=references,
                partition_column=partition_column(sql),
                is_view=bool(_VIEW_DIRECTIVE.search(sql)),
                is_incremental=is_incremental,
                unique_key=tuple(c.strip() for c in key.group(1).split(",")) if key else None,
                changed_sql=changed_sql,
                pending_sql=pending_sql,
            )
        )
    # the session macros (normalisation) are part of every model's logic: a change to them
    # must rebuild the incremental models like a change to the models' own SQL
    macros = sql_dir / "macros.sql"
    return _with_fingerprints(models, macros.read_text(encoding="utf-8") if macros.exists() else "")


def _references_of(where: Path | str, sql: str) -> frozenset[tuple[str, str]]:
    """``table_references`` of a file's SQL; an error names the file."""
    try:
        return table_references(sql)
    except UnreadableSql as error:
        raise UnreadableSql(f"{where}: not a query DuckDB can parse: {error}") from None


def _changed_queries(texts: dict[Path, str]) -> dict[Path, str]:
    """The companion query (the keys an incremental build recomputes) of each model that has
    one: its own ``<name>.changed.sql``, or the one of the model its ``-- changed_keys_of:``
    line names (one query for keys that change together, never a copy of it). ``texts``: each
    model's path and SQL."""
    own = {}
    for path in texts:
        companion = path.with_name(path.stem + CHANGED_SUFFIX)
        if companion.exists():
            own[path] = companion.read_text(encoding="utf-8")
    by_name = {(path.parent.name, path.stem): path for path in texts}
    queries = dict(own)
    for path, sql in texts.items():
        borrowed = _CHANGED_KEYS_OF_DIRECTIVE.search(sql)
        if borrowed is None:
            continue
        source = by_name.get((borrowed.group(1), borrowed.group(2)))
        if path in own or source is None or source not in own:
            raise ValueError(
                f"{path}: '-- changed_keys_of: {borrowed.group(1)}.{borrowed.group(2)}' must "
                f"name a model with its own {CHANGED_SUFFIX}, and replaces "
                f"{path.stem}{CHANGED_SUFFIX}"
            )
        queries[path] = own[source]
    return queries


@functools.cache
def logic_of(sql: str) -> str:
    """What a fingerprint is taken from: the directive lines of ``sql`` (``-- materialized:``
    and the like, which change how it is built) and its tokens as DuckDB reads them, one space
    between each, without its comments. A model whose comments or layout alone changed keeps
    its fingerprint, and its tables are not rebuilt (a full rebuild at 10M line items is about
    100 s, and the analyst copy catches up the next day); a change to anything else, a
    string's inner spaces included, gives another fingerprint."""
    directives = [line.strip() for line in sql.splitlines() if is_directive(line)]
    # DuckDB's tokens start at byte offsets of the UTF-8 text
    text = sql.encode()
    tokens = duckdb.tokenize(sql)
    ends = [start for start, _ in tokens[1:]] + [len(text)]
    words = [
        text[start:end].decode().strip()
        for (start, kind), end in zip(tokens, ends, strict=False)  # no token: no end either
        if kind != duckdb.token_type.comment
    ]
    return "\n".join([*directives, " ".join(words)])


def _with_fingerprints(models: list[SqlModel], macros: str) -> list[SqlModel]:
    """The models with their ``fingerprint``: the logic (``logic_of``) of their SQL, of their
    upstream models' SQL and of the session macros they may call."""
    by_name = {(m.schema, m.name): m for m in models}
    memo: dict[tuple[str, str], str] = {}

    def digest(key: tuple[str, str], path: tuple[tuple[str, str], ...]) -> str:
        if key not in memo:
            if key in path:
                raise ValueError(f"models read each other in a cycle: {path + (key,)}")
            model = by_name[key]
            upstream = sorted(
                digest(ref, path + (key,)) for ref in model.references if ref in by_name
            )
            own = [model.sql, model.changed_sql or "", model.pending_sql or "", macros]
            text = [logic_of(sql) for sql in own]
            memo[key] = hashlib.sha256("\0".join([*text, *upstream]).encode()).hexdigest()
        return memo[key]

    return [replace(m, fingerprint=digest((m.schema, m.name), ())) for m in models]


@dataclass(frozen=True)
class ModelRun:
    """What building one model did."""

    rows: int | None  # the table's rows after the build; None for a view
    seconds: float
    incremental: bool = False  # only new records' rows were added
    # a partitioned build: the days re-derived (None: open on that side)
    days: tuple[date | None, date | None] | None = None
    # what this build did (issue 16): rows it deleted and inserted (a full build deletes
    # none and inserts the whole table); None for a view
    deleted: int | None = None
    inserted: int | None = None
    # a partitioned build: the rows of the days its Dagster partition range names, what
    # the materialisation of those partitions records as their row count
    range_rows: int | None = None
    # nothing it reads changed since its last build: not rebuilt (``build_model``)
    up_to_date: bool = False

    def did(self) -> str:
        """What this build did, in words, for its progress line beside the rows it wrote:
        the days it re-derived or the records it read, and the rows it replaced; never the
        table's totals."""
        if self.up_to_date:
            return "up to date: not rebuilt"
        if self.inserted is None:
            return "view"
        replaced = f"{self.deleted or 0:,} rows replaced"
        if self.days is not None:
            first, last = self.days
            return f"days {first or 'start'} .. {last or 'end'} re-derived, {replaced}"
        if self.incremental:
            return f"new records only, {replaced}"
        return f"rebuilt from every record, {replaced}"

    @property
    def detail(self) -> str:
        """:meth:`did`, for the asset's ``build`` metadata."""
        return self.did()

    @property
    def rows_written(self) -> int:
        """The rows this build inserted and deleted (0 for a view or a model not rebuilt)."""
        return (self.inserted or 0) + (self.deleted or 0)

    def metadata(self) -> dict[str, int]:
        """What :meth:`did` says, as numbers, for the materialisation's metadata."""
        if self.inserted is None:
            return {}
        return {"rows_inserted": self.inserted, "rows_deleted": self.deleted or 0}


# No record has a higher arrival sequence: the position of an input that does not follow
# arrivals, and the default bound of ``incremental_through``.
MAX_POSITION = 2**63 - 1


def _source_positions(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The position of every validated table (Python-written, one source each): up to the
    source's first landed file that is not validated yet, else through the last landed file
    of any source. A file landed later takes a higher ``file_seq`` (docs/semantics.md §3) and a
    source's pending files are validated in ``file_seq`` order, a slice of whole files per
    transaction (validation/outcomes.py), so the files before the first pending one are all
    validated: the table already holds every record it will ever hold up to that position."""
    from orders_pipeline.sources import SOURCES  # sources → validation → ... → models

    (last_file,) = con.execute("select coalesce(max(file_seq), 0) from audit.loads").fetchall()[0]
    pending = dict(
        con.execute(
            "select source, min(file_seq) from audit.loads where validated_at is null group by 1"
        ).fetchall()
    )
    positions = {}
    for source in SOURCES:
        first_pending = pending.get(source.name)
        position = (
            first_pending * ARRIVAL_STRIDE
            if first_pending is not None
            else (last_file + 1) * ARRIVAL_STRIDE - 1
        )
        for table in source.staging_tables:
            positions[table] = position
    return positions


@dataclass(frozen=True)
class ValidatedTables:
    """What ``audit.loads`` says of the validated tables: each one's position
    (``_source_positions``) and version (``source_versions``). Only validation changes
    them, so a step that validates nothing (a models step) reads them once
    (:func:`validated_tables`) and hands them to every build: three statements fewer per
    model (0.15 CPU s of a three-event run's 44 builds, session 19)."""

    positions: Mapping[str, int]
    versions: Mapping[str, str]


def validated_tables(con: duckdb.DuckDBPyConnection) -> ValidatedTables:
    """The validated tables' positions and versions now (:class:`ValidatedTables`)."""
    return ValidatedTables(_source_positions(con), source_versions(con))


def _catalog() -> dict[str, SqlModel]:
    """Every model of ``sql/`` by qualified name (views are followed to their inputs)."""
    from orders_pipeline.config import SQL_DIR

    return _catalog_of(SQL_DIR)


def model_reads(table: str) -> frozenset[tuple[str, str]] | None:
    """The tables the model of ``sql/`` that builds ``table`` (``schema.name``) reads; None
    when no model builds it."""
    model = _catalog().get(table)
    return None if model is None else model.references


def readers_of(table: str) -> list[str]:
    """The models whose companion query (``<name>.changed.sql``) reads ``table``, sorted."""
    schema, name = table.split(".")
    return sorted(
        model.qualified_name
        for model in _catalog().values()
        if model.changed_sql is not None and (schema, name) in table_references(model.changed_sql)
    )


def catalog_fingerprint(table: str) -> str:
    """The fingerprint of the model that builds ``table`` (its SQL and its upstream models'),
    empty when no model does."""
    model = _catalog().get(table)
    return model.fingerprint if model is not None else ""


@functools.lru_cache(maxsize=4)
def _catalog_of(sql_dir: Path) -> dict[str, SqlModel]:
    return {m.qualified_name: m for m in discover_models(sql_dir)}


def input_position(
    con: duckdb.DuckDBPyConnection, model: SqlModel, validated: ValidatedTables | None = None
) -> int:
    """How far through the arrivals ``model``'s inputs are complete: the least position of
    the tables it reads. A table's position is the arrival sequence up to which it holds
    every record it will ever hold: recorded in ``state.model_builds`` by the transaction
    that built it (SQL models), derived from ``audit.loads`` (validated tables), the least
    of its own inputs' (views). The identity tables record theirs as models do
    (``identity.py``). ``validated``: what the caller read of the validated tables
    (:func:`validated_tables`), else read here."""
    return references_position(con, model.references, model.qualified_name, validated)


def references_position(
    con: duckdb.DuckDBPyConnection,
    references: Iterable[tuple[str, str]],
    own: str,
    validated: ValidatedTables | None = None,
) -> int:
    """:func:`input_position` of a step named ``own`` that reads ``references`` (a model,
    or identity resolution)."""
    sources = _source_positions(con) if validated is None else validated.positions
    recorded = dict(con.execute("select model, built_through from state.model_builds").fetchall())
    catalog = _catalog()

    def position(name: str, seen: frozenset[str]) -> int:
        if name in sources:
            return sources[name]
        if name in recorded:
            return int(recorded[name])
        upstream = catalog.get(name)
        if upstream is None or name in seen:
            return MAX_POSITION
        return min(
            (position(f"{s}.{t}", seen | {name}) for s, t in upstream.references),
            default=MAX_POSITION,
        )

    return min(
        (position(f"{s}.{t}", frozenset({own})) for s, t in references),
        default=MAX_POSITION,
    )


def latest_partition_build(con: duckdb.DuckDBPyConnection) -> int:
    """The last partition build committed (what a build records it has seen)."""
    return con.execute("select coalesce(max(build_no), 0) from state.partition_builds").fetchall()[
        0
    ][0]


@dataclass(frozen=True)
class Build:
    """A table's last committed build, as ``state.model_builds`` records it."""

    fingerprint: str
    built_through: int
    partition_build_no: int


def last_build(con: duckdb.DuckDBPyConnection, table: str) -> Build | None:
    """The last committed build of ``table`` (schema.name), None when it has none."""
    rows = con.execute(
        "select fingerprint, built_through, partition_build_no from state.model_builds "
        "where model = ?",
        [table],
    ).fetchall()
    return Build(*rows[0]) if rows else None


def record_build(
    con: duckdb.DuckDBPyConnection,
    table: str,
    fingerprint: str,
    through: int,
    partition_build_no: int,
) -> None:
    """What the build of ``table`` consumed, written by the transaction that wrote its rows:
    a build that does not commit consumed nothing."""
    con.execute("delete from state.model_builds where model = ?", [table])
    con.execute(
        "insert into state.model_builds values (?, ?, ?, ?)",
        [table, fingerprint, through, partition_build_no],
    )


def run_model(
    con: duckdb.DuckDBPyConnection,
    model: SqlModel,
    versions: Mapping[str, str] | None = None,
    validated: ValidatedTables | None = None,
) -> ModelRun:
    """(Re)build the model's table (or view) from its SQL in one transaction. A table records
    the position of its inputs (``input_position``), so an incremental model reading it knows
    how far its rows reach. ``versions``: ``table_versions`` as read since the last write
    (``build_model``), else read here; ``validated``: as for ``input_position``."""
    started = time.perf_counter()
    with transaction(con):
        con.execute(f"create schema if not exists {model.schema}")
        kind = "view" if model.is_view else "table"
        through = input_position(con, model, validated)
        replaced = None if model.is_view else _rows_before(con, model)
        fingerprint = _build_fingerprint(con, model)
        version = _version(con, model, fingerprint, versions)
        created = con.execute(f"create or replace {kind} {model.qualified_name} as\n{model.sql}")
        inserted = None if model.is_view else _affected(created)
        record_version(con, model.qualified_name, version)
        if not model.is_view:
            record_build(
                con, model.qualified_name, fingerprint, through, latest_partition_build(con)
            )
    # a view has no count (it would run its query: a join over the whole ledger); a table
    # rebuilt whole holds the rows its create statement inserted
    return ModelRun(
        rows=inserted, seconds=time.perf_counter() - started, deleted=replaced, inserted=inserted
    )


def _exists(con: duckdb.DuckDBPyConnection, model: SqlModel) -> bool:
    """Whether the table or view ``model`` builds exists (a table, for a table model)."""
    return table_exists(con, model.schema, model.name, "view" if model.is_view else "table")


def _rows_before(
    con: duckdb.DuckDBPyConnection, model: SqlModel, exists: bool | None = None
) -> int:
    """The rows a full rebuild replaces (0 when the table does not exist yet; ``exists``:
    whether it does, when the caller knows)."""
    if not (_exists(con, model) if exists is None else exists):
        return 0
    return count_rows(con, model.qualified_name)


def _affected(result: duckdb.DuckDBPyConnection) -> int:
    """The row count DuckDB returns for a create-as, insert or delete statement."""
    row = result.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _span(
    spans: list[tuple[date | None, date | None]],
) -> tuple[date | None, date | None] | None:
    """The one range covering every span (None on a side: open there); None for no span."""
    if not spans:
        return None
    firsts = [first for first, _ in spans]
    lasts = [last for _, last in spans]
    first = None if any(d is None for d in firsts) else min(d for d in firsts if d is not None)
    last = None if any(d is None for d in lasts) else max(d for d in lasts if d is not None)
    return first, last


def _pending_days(
    con: duckdb.DuckDBPyConnection,
    model: SqlModel,
    after: int,
    through: int,
    after_build: int,
) -> tuple[date | None, date | None] | None:
    """The days a partitioned model owes since its last build: those its companion
    ``<name>.pending.sql`` lists for the records that arrived in (``after``, ``through``],
    and those re-derived since partition build ``after_build`` by partitioned models it
    reads. None: nothing is owed."""
    spans = _arrived_days(con, model, after, through)
    upstream = [f"{schema}.{name}" for schema, name in model.references]
    spans += con.execute(
        """select first_day, last_day from state.partition_builds
           where build_no > ? and list_contains(?, model)""",
        [after_build, upstream],
    ).fetchall()
    return _span(spans)


def _arrived_days(
    con: duckdb.DuckDBPyConnection, model: SqlModel, after: int, through: int
) -> list[tuple[date | None, date | None]]:
    """The spans of days its companion ``<name>.pending.sql`` lists for the records that
    arrived in (``after``, ``through``] (none without one); leaves the variables set (a
    build resets them when it ends)."""
    if model.pending_sql is None:
        return []
    con.execute("set variable incremental_after = ?::bigint", [after])
    con.execute("set variable incremental_through = ?::bigint", [through])
    return con.execute(f"select first_day, last_day from ({model.pending_sql})").fetchall()


def days_arrived_since(
    con: duckdb.DuckDBPyConnection, table: str, after: int
) -> tuple[date | None, date | None] | None:
    """The days of the partitioned model that builds ``table`` that the records arrived
    after position ``after`` change, as its ``<name>.pending.sql`` says (the one rule a build
    follows, which a run's plan previews); None on a side: open there; None: no day."""
    try:
        return _span(_arrived_days(con, _catalog()[table], after, MAX_POSITION))
    finally:
        _reset_build_variables(con)


def run_model_partitions(
    con: duckdb.DuckDBPyConnection,
    model: SqlModel,
    first: date | None,
    last: date | None,
    *,
    full_refresh: bool = False,
    salt: str = "",
    versions: Mapping[str, str] | None = None,
    validated: ValidatedTables | None = None,
) -> ModelRun:
    """Re-derive the model's rows whose partition column lies in [first, last] (``None``: open
    on that side, so the first and last partitions also hold anything earlier or later),
    together with every day the model still owes (``_pending_days``), by delete-and-insert
    in one transaction that also records what the build consumed (``state.model_builds``:
    its inputs' position and the partition builds it has seen). So the days to re-derive
    never depend on a plan made before the run: a build that fails or is interrupted leaves
    its debt in place for the next one, and one that commits settles it.

    Re-running a partition never duplicates rows, and rows outside the range are not
    touched. The whole table is rebuilt when it does not exist, when the model's SQL, an
    upstream model's SQL, a setting it reads or ``salt`` (the partition start) changed since
    its last build, or with ``full_refresh``; also when both ends are open. ``versions`` and
    ``validated``: as for ``run_model``."""
    started = time.perf_counter()
    column = model.partition_column
    assert column is not None, f"{model.qualified_name} is not partitioned"
    requested = (first, last)  # the Dagster partition range, before the days owed
    try:
        with transaction(con):
            con.execute(f"create schema if not exists {model.schema}")
            fingerprint = _build_fingerprint(con, model, salt)
            through = input_position(con, model, validated)
            version = _version(con, model, fingerprint, versions)
            partition_build_no = latest_partition_build(con)
            built = last_build(con, model.qualified_name)
            if (
                full_refresh
                or built is None
                or built.fingerprint != fingerprint
                or not _exists(con, model)
            ):
                first = last = None
            else:
                owed = _pending_days(
                    con, model, built.built_through, through, built.partition_build_no
                )
                if owed is not None:
                    first, last = _span([(first, last), owed])  # type: ignore[misc]
            # a model may read only what the range needs (order_ledger: the orders with
            # events in it)
            con.execute("set variable partition_first = ?::date", [first])
            con.execute("set variable partition_last = ?::date", [last])
            in_range = (
                f"(?::date is null or {column} >= ?::date) "
                f"and (?::date is null or {column} <= ?::date)"
            )
            if first is None and last is None:
                deleted = _rows_before(con, model)
                # also takes any change of the model's columns
                inserted = _affected(
                    con.execute(f"create or replace table {model.qualified_name} as\n{model.sql}")
                )
            else:
                bounds = [first, first, last, last]
                deleted = _affected(
                    con.execute(f"delete from {model.qualified_name} where {in_range}", bounds)
                )
                inserted = _affected(
                    con.execute(
                        f"insert into {model.qualified_name} "
                        f"select * from ({model.sql}) where {in_range}",
                        bounds,
                    )
                )
            _record_partition_build(con, model, first, last)
            record_build(con, model.qualified_name, fingerprint, through, partition_build_no)
            record_version(con, model.qualified_name, version)
    finally:
        _reset_build_variables(con)
    range_bounds = [requested[0], requested[0], requested[1], requested[1]]
    range_rows = con.execute(
        f"select count(*) from {model.qualified_name} where {in_range}", range_bounds
    ).fetchall()[0][0]
    return ModelRun(
        rows=count_rows(con, model.qualified_name),
        seconds=time.perf_counter() - started,
        days=(first, last),
        deleted=deleted,
        inserted=inserted,
        range_rows=int(range_rows),
    )


def _reset_build_variables(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # a closed or broken connection resets itself
        con.execute("set variable partition_first = null::date")
        con.execute("set variable partition_last = null::date")
        con.execute("set variable incremental_after = -1::bigint")
        con.execute("set variable incremental_through = ?::bigint", [MAX_POSITION])


def _record_partition_build(
    con: duckdb.DuckDBPyConnection, model: SqlModel, first: date | None, last: date | None
) -> None:
    """Log which days of the model were re-derived (publish.py copies only those; entity
    models and downstream partitioned models consume the log)."""
    con.execute(
        """insert into state.partition_builds
           select ?, coalesce(max(build_no), 0) + 1, ?, ? from state.partition_builds""",
        [model.qualified_name, first, last],
    )


def run_incremental_model(
    con: duckdb.DuckDBPyConnection,
    model: SqlModel,
    full_refresh: bool = False,
    versions: Mapping[str, str] | None = None,
    validated: ValidatedTables | None = None,
) -> ModelRun:
    """Add to the model's table the rows of the records that arrived since its last build.

    The build reads the records in (``incremental_after``, ``incremental_through``]: from
    the position its last build recorded to the position its inputs have now
    (``input_position``: every input holds every record it will ever hold up to there). Its
    import CTEs filter on both bounds, and its rows for earlier records never change: a
    record is validated once, and rows derived from it depend on it and earlier arrivals
    only. The transaction that inserts the rows records the new position in
    ``state.model_builds``, so a record is consumed exactly once, whatever fails or is
    interrupted between builds.

    A model with a ``unique_key`` is an entity (one row per order, per customer; or, as in
    ``core.order_products_sold`` and ``core.customer_months``, the rows of one order or one
    customer: the key is what its rows are replaced by) whose rows may change when new
    records arrive: its companion query lists the keys to recompute
    (into the temp table ``changed_keys``), their rows are deleted, and the model's SQL, which
    then reads only those keys, inserts them again.

    A full build (every record up to the position) happens when the table does not exist
    yet, when the model's SQL or any model upstream of it changed since the last build (its
    fingerprint), when a setting the SQL may read changed (``SETTING_VARIABLES``), or with
    ``full_refresh``. Both kinds of build give the same table. ``versions`` and
    ``validated``: as for ``run_model``.
    """
    started = time.perf_counter()
    try:
        with transaction(con):
            con.execute(f"create schema if not exists {model.schema}")
            through = input_position(con, model, validated)
            fingerprint = _build_fingerprint(con, model)
            version = _version(con, model, fingerprint, versions)
            partition_build_no = latest_partition_build(con)
            built = last_build(con, model.qualified_name)
            exists = _exists(con, model)
            incremental = (
                not full_refresh
                and exists
                and built is not None
                and built.fingerprint == fingerprint
            )
            after = built.built_through if incremental else -1
            con.execute("set variable incremental_after = ?::bigint", [after])
            con.execute("set variable incremental_through = ?::bigint", [through])
            if model.unique_key is not None:
                _set_rederived_days(con, built.partition_build_no if incremental else None)
                _collect_changed_keys(con, model, incremental)
            deleted = 0
            if model.unique_key is not None:
                # what publishing replaces in the analyst copy (key_changes.py); the SQL
                # inserts only the changed keys' rows
                if incremental:
                    log_keys(
                        con, model.qualified_name, model.unique_key, "select * from changed_keys"
                    )
                else:
                    log_whole(con, model.qualified_name)
            if incremental:
                if model.unique_key is not None:
                    matches = " and ".join(
                        f"{model.qualified_name}.{column} = changed_keys.{column}"
                        for column in model.unique_key
                    )
                    deleted = _affected(
                        con.execute(
                            f"delete from {model.qualified_name} using changed_keys where {matches}"
                        )
                    )
                inserted = _affected(
                    con.execute(f"insert into {model.qualified_name}\n{model.sql}")
                )
            else:
                deleted = _rows_before(con, model, exists)
                inserted = _affected(
                    con.execute(f"create or replace table {model.qualified_name} as\n{model.sql}")
                )
            record_build(con, model.qualified_name, fingerprint, through, partition_build_no)
            record_version(con, model.qualified_name, version)
    finally:
        _reset_build_variables(con)
    return ModelRun(
        # a full build holds the rows it inserted
        rows=count_rows(con, model.qualified_name) if incremental else inserted,
        seconds=time.perf_counter() - started,
        incremental=bool(incremental),
        deleted=deleted,
        inserted=inserted,
    )


def _collect_changed_keys(
    con: duckdb.DuckDBPyConnection, model: SqlModel, incremental: bool
) -> None:
    """``changed_keys``: the keys an incremental build recomputes (empty for a full build,
    whose SQL reads every key: ``incremental_after`` is -1)."""
    assert model.unique_key is not None
    columns = ", ".join(model.unique_key)
    typed = ", ".join(f"{column} varchar" for column in model.unique_key)
    present = " and ".join(f"{column} is not null" for column in model.unique_key)
    con.execute(f"create or replace temp table changed_keys ({typed})")
    if incremental:
        con.execute(
            f"insert into changed_keys select distinct {columns} from ({model.changed_sql}) "
            f"where {present}"
        )


def _set_rederived_days(con: duckdb.DuckDBPyConnection, after_build: int | None) -> None:
    """Variables for a companion query: whether partitioned models re-derived any day since
    partition build ``after_build`` (``rederived``), and the span of those days
    (``rederived_first_day``/``rederived_last_day``, NULL when open on that side)."""
    row = con.execute(
        """select count(*) > 0,
                  case when bool_and(first_day is not null) then min(first_day) end,
                  case when bool_and(last_day is not null) then max(last_day) end
           from state.partition_builds where build_no > ?""",
        [after_build if after_build is not None else -1],
    ).fetchall()[0]
    con.execute("set variable rederived = ?::boolean", [row[0]])
    con.execute("set variable rederived_first_day = ?::date", [row[1]])
    con.execute("set variable rederived_last_day = ?::date", [row[2]])


def session_settings(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The settings this session carries (``SETTING_VARIABLES``), as ``name=value`` in name
    order: part of every version and fingerprint a build under other settings must not share
    (the models', identity's)."""
    # every variable, picked here: a third of the cost of filtering and joining them in SQL,
    # for the same text; a build asks two or three times
    variables = sorted(con.execute("select name, value from duckdb_variables()").fetchall())
    return [f"{name}={value}" for name, value in variables if name in SETTING_VARIABLES]


def _build_fingerprint(con: duckdb.DuckDBPyConnection, model: SqlModel, salt: str = "") -> str:
    """The model's fingerprint with the settings of this session: a build under other
    settings (base currency, lifecycle thresholds, identity limits; ``salt``: the partition
    start of a partitioned model) is not comparable."""
    parts = [model.fingerprint, *session_settings(con), salt]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def source_versions(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The version of every validated table: what its source's validated files are. A
    validated table changes only when files of its source are validated (all pending ones
    in one transaction, docs/semantics.md §2), so these counts name its contents."""
    from orders_pipeline.sources import SOURCES  # sources → validation → ... → models

    rows = con.execute(
        """select source, count(*), max(file_seq), sum(records), sum(accepted),
                  sum(quarantined), sum(duplicates)
           from audit.loads where validated_at is not null group by 1"""
    ).fetchall()
    validated = {row[0]: ":".join(str(v) for v in row[1:]) for row in rows}
    return {
        table: f"files:{validated.get(source.name, 'none')}"
        for source in SOURCES
        for table in source.staging_tables
    }


def table_versions(
    con: duckdb.DuckDBPyConnection, validated: ValidatedTables | None = None
) -> dict[str, str]:
    """The current version of every table that has one: validated tables
    (``source_versions``, or ``validated`` when the caller read them) and the tables whose
    build recorded one (``record_version``)."""
    recorded = dict(con.execute("select table_name, version from state.table_versions").fetchall())
    return {**recorded, **(source_versions(con) if validated is None else validated.versions)}


def version_of(
    fingerprint: str, references: Iterable[str], versions: Mapping[str, str]
) -> str | None:
    """The version a table built now by a definition with ``fingerprint`` from
    ``references`` would have; None when one of them has no version (a table nobody
    recorded, or one built before versions were: it is rebuilt to get one)."""
    parts = [fingerprint]
    for name in sorted(set(references)):
        version = versions.get(name)
        if version is None:
            return None
        parts.append(f"{name}={version}")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def model_version(
    con: duckdb.DuckDBPyConnection,
    model: SqlModel,
    salt: str = "",
    versions: Mapping[str, str] | None = None,
) -> str | None:
    """The version ``model`` built now would have (``version_of``)."""
    return _version(con, model, _build_fingerprint(con, model, salt), versions)


def _version(
    con: duckdb.DuckDBPyConnection,
    model: SqlModel,
    fingerprint: str,
    versions: Mapping[str, str] | None,
) -> str | None:
    """:func:`model_version` for the build fingerprint the caller has (``_build_fingerprint``
    with its salt), and ``versions`` when it has read them."""
    return version_of(
        fingerprint,
        (f"{schema}.{name}" for schema, name in model.references),
        table_versions(con) if versions is None else versions,
    )


def record_version(con: duckdb.DuckDBPyConnection, table: str, version: str | None) -> None:
    """Record what ``table`` was built from, in the transaction that built it (None: not
    known, so its next build is never skipped)."""
    con.execute("delete from state.table_versions where table_name = ?", [table])
    if version is not None:
        con.execute("insert into state.table_versions values (?, ?)", [table, version])


def is_up_to_date(
    con: duckdb.DuckDBPyConnection,
    model: SqlModel,
    salt: str = "",
    versions: Mapping[str, str] | None = None,
) -> bool:
    """Whether ``model`` exists and its recorded version is the one a build now would have:
    nothing it reads, its SQL and the settings are as when it was last built."""
    versions = table_versions(con) if versions is None else versions
    recorded = versions.get(model.qualified_name)
    return (
        recorded is not None
        and recorded == model_version(con, model, salt, versions)
        and _exists(con, model)
    )


def drop_other_kinds(con: duckdb.DuckDBPyConnection, models: Iterable[SqlModel]) -> list[str]:
    """Drop each object that has a model's name but not its kind: a table where the model now
    builds a view, or a view where it builds a table (a model whose ``-- materialized:``
    changed since the warehouse was built; ``create or replace`` refuses to swap kinds). Its
    recorded version no longer matches, so the model is rebuilt in this step. The dropped
    names, ``schema.table``; one catalog query however many models."""
    found = con.execute(
        """select schema_name, table_name, 'table' from duckdb_tables()
           where database_name = current_database() and not temporary
           union all
           select schema_name, view_name, 'view' from duckdb_views()
           where database_name = current_database() and not temporary and not internal"""
    ).fetchall()
    kinds = {(schema, name): kind for schema, name, kind in found}
    dropped = []
    for model in models:
        kind = "table" if model.is_view else "view"  # the kind it does not build
        if kinds.get((model.schema, model.name)) == kind:
            con.execute(f"drop {kind} {model.qualified_name}")
            dropped.append(model.qualified_name)
    return dropped


def build_model(
    con: duckdb.DuckDBPyConnection,
    model: SqlModel,
    first: date | None = None,
    last: date | None = None,
    *,
    full_refresh: bool = False,
    salt: str = "",
    skip_up_to_date: bool = False,
    validated: ValidatedTables | None = None,
) -> ModelRun:
    """Build ``model`` the way it is materialised (``run_model_partitions`` over [first,
    last] for a partitioned one, ``run_incremental_model``, ``run_model``). With
    ``skip_up_to_date``, a model that is up to date (``is_up_to_date``) is not rebuilt:
    only its position moves on, since its inputs hold every record up to their position
    now and it holds all they hold. ``validated``: the validated tables as the caller read
    them (:class:`ValidatedTables`: a step that validates nothing reads them once), else
    read here."""
    started = time.perf_counter()
    salt = salt if model.partition_column is not None else ""  # the partition start
    versions = None
    if skip_up_to_date and not full_refresh:
        with transaction(con):
            versions = table_versions(con, validated)
            if is_up_to_date(con, model, salt, versions):
                built = last_build(con, model.qualified_name)
                if built is not None:
                    # its partition builds seen stay: none since of what it reads changed it
                    through = input_position(con, model, validated)
                    if through != built.built_through:
                        record_build(
                            con,
                            model.qualified_name,
                            built.fingerprint,
                            through,
                            built.partition_build_no,
                        )
                rows = None if model.is_view else count_rows(con, model.qualified_name)
                return ModelRun(
                    rows=rows,
                    seconds=time.perf_counter() - started,
                    up_to_date=True,
                    deleted=None if model.is_view else 0,
                    inserted=None if model.is_view else 0,
                )
    # not up to date: nothing was written since ``versions`` were read (this connection is
    # the warehouse's one writer), so the build does not read them again
    if model.partition_column is not None:
        return run_model_partitions(
            con,
            model,
            first,
            last,
            full_refresh=full_refresh,
            salt=salt,
            versions=versions,
            validated=validated,
        )
    if model.is_incremental:
        return run_incremental_model(
            con, model, full_refresh=full_refresh, versions=versions, validated=validated
        )
    return run_model(con, model, versions, validated)
