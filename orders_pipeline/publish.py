"""The analyst copy (CONTRACT: analysts never block the pipeline and never see half a run).

DuckDB allows one writer per file, and a reader holding the working warehouse would break
scheduled runs (docs/pitfalls.md). So after every successful run the core, reporting and audit
tables are written into a temporary file beside the target, which is then renamed over the analyst
database in one atomic step. A reader that has the old file open keeps reading the old
snapshot; the next connection sees the new one. A crash before the rename leaves the previous
analyst database untouched.

Publishing is incremental: the temporary file starts as the spare or as a byte copy of the
previous publication, and only what changed since is rewritten in it.

- **The spare** (``spare_path``: ``.<name>.spare`` beside the analyst database) is the
  publication before the last, kept under a second name when the last one replaced it. The
  next publication renames it to its temporary file and brings it up to date in place: two
  publications' changes instead of one, but no copy of the whole file (at 10M line items a
  1.7 GB copy, written again to disk by the fsync, on every run). It is used only when it is
  a file of its own, open in no connection of this process, and DuckDB's lock can be taken
  (a reader that opened it as the analyst database two publications ago still holds it);
  otherwise, or when it is neither build last − 1 nor build last of this warehouse, the last
  publication is copied as before (a spare of build last − 1 is a base even when the last
  publication went to another file: the key change log keeps what it lacks). An incremental
  publication keeps the file it replaces as the spare. A full one may replace a file of
  another PII setting, which must not linger: it keeps a byte copy of its own file instead
  (``_copy_as_spare``), so that the first run after it updates that rather than copying
  then, as every later run does.

- A partitioned table (``-- partition_by: col``) is brought up to date from the warehouse's
  ``state.partition_builds`` log: the copy remembers the last build it holds, and only the
  days re-derived since are deleted and re-inserted (a full rebuild since, or a change of
  columns, copies the table whole).
- A view whose tables are all published stays a view, re-created from the warehouse's own
  view SQL: it reads the copy's tables, so the copy stands alone. Other views are
  materialised as tables.
- A table with a unique key (``keyed``: the entity models' ``-- unique_key``, the identity
  tables) is brought up to date by key (issue 15: copying core.orders whole was most of an
  incremental run's publication): the keys whose rows changed have their rows deleted from
  the copy and inserted again from the warehouse. Which keys those are, the builds logged
  (``key_changes.py``: the keys each build replaced since the publication the file holds;
  a table with none is left as it is), checked afterwards by the row counts. Where the log
  cannot say (a whole-table build, a log begun after the copy was made, counts that
  disagree), they are found by comparing each row's hash with its key's hash in the
  warehouse and the copy (a changed row goes unseen only if its key and 64-bit row hash both
  equal an old row's).
- The audit tables that validation appends to, one row per record (``compared``:
  ``audit.quarantine``, ``audit.duplicates``), grow with the history and no build logs
  them: their rows are compared in the same way on every publication, so only the rows of
  new records are written (copied whole, they were a third of the rows a day's publication
  wrote at 10M line items).
- Every other table is copied whole; tables gone from the warehouse are dropped.
- The checkpoints of an incremental publication vacuum (merge underfull row groups) only in
  one publication in seven (``compaction.py``).

The analyst file therefore also holds a ``state`` schema: ``state.publication`` (each
published table and the last partition build it holds) and ``state.publication_settings``
(a format version, a keyed fingerprint of the PII key, the id of the warehouse it was
published from and that warehouse's publication build number, when it was published). The
warehouse keeps its id (``state.warehouse_identity``, a random UUID made once) and its
builds (``state.publication_builds``). A fresh, full publication is written instead when
there is no previous file, it cannot be read, it was made with another PII setting or
format, it belongs to another warehouse or to another build of this one (a stale file beside
a new warehouse, a file restored from a backup: issue 11), more than half of it is free
space (deleted rows are not returned to the file, docs/pitfalls.md), or a full refresh asks for it.
Failing to reuse the previous file never fails the run: it only makes the publication a full
one, and the log says why.

In hash mode (``ORDERS_PII_MODE=hash``) each column is published as the column dictionary
(``orders_pipeline/dictionary.py``, ``privacy.PUBLISHED_COLUMNS``) says: as is, a keyed hash,
or withheld. Either way every published table and column carries the dictionary's
description as its ``COMMENT``, in the analyst database and in the warehouse.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb

from orders_pipeline import key_changes
from orders_pipeline.compaction import vacuuming_only_when_compacting
from orders_pipeline.config import Settings
from orders_pipeline.dictionary import apply_comments
from orders_pipeline.models import SqlModel, model_reads, table_versions
from orders_pipeline.privacy import hashed_expression, install_pii_hash, key_fingerprint
from orders_pipeline.warehouse import table_exists, transaction

LOGGER = logging.getLogger(__name__)

# What analysts get: everything but the raw records and the intermediate staging tables.
PUBLISHED_SCHEMAS = ("core", "reporting", "audit")
# Bump when the copy's layout or the publication state changes: the next one is full.
# 2: bound to its warehouse (id and build), PII by the column dictionary.
FORMAT_VERSION = 2
PUBLICATION = "publish.analytics_database"  # its row in state.table_versions


def publication_version(con: duckdb.DuckDBPyConnection, settings: Settings) -> str:
    """What a publication now would be made from: the version of every table
    (``models.table_versions``), the files the landing scan skipped (analysts see them in
    audit.skipped_files), the target and the PII setting. A publication recorded with this
    version is the one a new publication would write (``freshness.stale_tables``)."""
    versions = table_versions(con)
    versions.pop(PUBLICATION, None)
    skipped = con.execute(
        "select list(source || '/' || file || ':' || reason order by all) from audit.skipped_files"
    ).fetchall()[0][0]
    parts = [
        f"format={FORMAT_VERSION}",
        f"target={settings.analytics_path.resolve()}",
        f"pii={settings.pii_mode}:{key_fingerprint(settings.pii_key or None)}",
        f"skipped={skipped}",
        *(f"{name}={version}" for name, version in sorted(versions.items())),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class PublishReport:
    """What one publication wrote."""

    path: Path
    tables: int  # tables and views published
    rows: int  # rows written (whole copies and re-inserted day ranges)
    seconds: float
    whole: int = 0  # tables copied whole
    by_range: int = 0  # partitioned tables updated by a day range
    by_key: int = 0  # tables with a unique key updated by the keys that changed
    unchanged: int = 0  # partitioned tables left as they were
    views: int = 0  # views published as views
    full_reason: str | None = None  # why this was a fresh, full publication (None: it was not)
    # of ``by_key``: the tables whose changed keys were found by comparing every row (the
    # key change log could not say which: key_changes.py; or no build logs them: the
    # ``compared`` audit tables), not read from the log
    compared: int = 0
    # what was brought up to date: the spare (the publication before the last, updated in
    # place), a copy of the last publication, or None (a fresh file: ``full_reason``)
    base: Literal["spare", "copy"] | None = None

    @property
    def summary(self) -> str:
        """One line for the progress log."""
        kind = f"full ({self.full_reason})" if self.full_reason else f"incremental, {self.base}"
        return (
            f"{self.tables} tables: {self.whole} whole, {self.by_range} by day range, "
            f"{self.by_key} by key ({self.compared} compared), {self.unchanged} unchanged, "
            f"{self.views} views; {kind} "
            f"-> {self.path}"
        )


def partition_columns(models: Iterable[SqlModel]) -> dict[str, str]:
    """``{"schema.table": partition column}`` of the partitioned models."""
    return {m.qualified_name: m.partition_column for m in models if m.partition_column}


def unique_keys(models: Iterable[SqlModel]) -> dict[str, tuple[str, ...]]:
    """``{"schema.table": key columns}`` of the models that declare a unique key."""
    return {m.qualified_name: m.unique_key for m in models if m.unique_key}


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple[str, str]]:
    return _columns_of(con, None, schema, table)


def _columns_of(
    con: duckdb.DuckDBPyConnection, database: str | None, schema: str, table: str
) -> list[tuple[str, str]]:
    """``(name, type)`` of a table's columns in ``database`` (None: the warehouse)."""
    return con.execute(
        """select column_name, data_type from information_schema.columns
           where table_catalog = coalesce(?, current_database()) and table_schema = ?
             and table_name = ?
           order by ordinal_position""",
        [database, schema, table],
    ).fetchall()


def _warehouse_binding(con: duckdb.DuckDBPyConnection) -> tuple[str, int]:
    """The warehouse's id (a random UUID, created on its first publication) and the build
    number of its last publication (0: none yet). A previous analyst database is a base only
    when it carries both (issue 11: a stale file beside a new warehouse is never reused)."""
    con.execute("create schema if not exists state")
    con.execute(
        """create table if not exists state.warehouse_identity (
               warehouse_id varchar not null,
               created_at   timestamptz not null
           )"""
    )
    con.execute(
        """insert into state.warehouse_identity
           select uuid()::varchar, now()
           where not exists (select 1 from state.warehouse_identity)"""
    )
    con.execute(
        """create table if not exists state.publication_builds (
               build_no     bigint not null,  -- 1, 2, ...: one per publication
               published_at timestamptz not null,
               path         varchar not null  -- the analyst database it was written to
           )"""
    )
    row = con.execute(
        """select (select min(warehouse_id) from state.warehouse_identity),
                  (select coalesce(max(build_no), 0) from state.publication_builds)"""
    ).fetchall()[0]
    return str(row[0]), int(row[1])


def _select_list(con: duckdb.DuckDBPyConnection, schema: str, table: str, hash_pii: bool) -> str:
    """The published columns of a table: in hash mode, what the column dictionary
    (``privacy.PUBLISHED_COLUMNS``) allows of each."""
    if not hash_pii:
        return "*"
    select = []
    for name, data_type in _columns(con, schema, table):
        expression = hashed_expression(schema, table, name, data_type)
        select.append(f'{expression} as "{name}"' if expression else f'"{name}"')
    return ", ".join(select)


@dataclass
class _Tally:
    whole: int = 0
    by_range: int = 0
    by_key: int = 0
    unchanged: int = 0
    views: int = 0
    rows: int = 0
    compared: int = 0
    published: list[tuple[str, int | None]] = field(default_factory=list)


@dataclass(frozen=True)
class _Range:
    """Days of a partitioned table to rewrite (None: open on that side)."""

    column: str
    first: date | None
    last: date | None


@dataclass(frozen=True)
class _Keys:
    """The key columns by which a table of the copy is brought up to date, and where the
    keys to replace come from: every row compared, the key change log (key_changes.py), or
    none (the log lists no change)."""

    columns: tuple[str, ...]
    found_by: Literal["compared", "logged", "none"] = "compared"


class _NotReusable(Exception):
    """The previous publication cannot be updated in place: publish a fresh one."""


_ALIAS = "analytics_publish"


def publish_analytics(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    pii_key: str | None = None,
    partitioned: Mapping[str, str] | None = None,
    fresh: bool = False,
    keyed: Mapping[str, tuple[str, ...]] | None = None,
    compared: Mapping[str, tuple[str, ...]] | None = None,
) -> PublishReport:
    """Publish the published schemas of the open warehouse to ``target``, atomically.

    ``partitioned`` maps ``schema.table`` to the partition column of each partitioned model
    (``partition_columns``): only their re-derived days are rewritten in the previous
    publication (without it, every table is copied whole). With a ``pii_key``, each column
    is published as the column dictionary says (``privacy.PUBLISHED_COLUMNS``: as is, a keyed
    hash or withheld). ``fresh`` writes a new file from scratch, as when there is no previous
    publication. ``keyed`` maps ``schema.table`` to its unique key (``unique_keys``): those
    tables are updated by the keys whose rows changed instead of copied whole, as the key
    change log says. ``compared`` maps the tables that no build logs (the audit tables
    validation appends to) to a key: their rows are compared with the copy's on every
    publication, and only the keys that differ are rewritten. Only a publication of this
    warehouse's last build is ever a base.
    """
    started = time.perf_counter()
    partitioned = dict(partitioned or {})
    for name, column in partitioned.items():
        if not _IDENTIFIER.match(column):
            raise ValueError(f"{name}: {column!r} is not a column name")
    target.parent.mkdir(parents=True, exist_ok=True)
    # copies left by a run killed mid-publication (writers hold the lock, so none is live)
    for stale in target.parent.glob(_temporary_file(target, "*").name + "*"):
        _remove(stale)
    staging_file = _temporary_file(target)
    hash_pii = pii_key is not None
    if pii_key is not None:
        install_pii_hash(con, pii_key)
    warehouse_id, last_build = _warehouse_binding(con)
    # the column dictionary's descriptions on the warehouse's tables too (a model build
    # replaces its table, and the comments with it)
    apply_comments(con)
    keyed = dict(keyed or {})
    compared = dict(compared or {})
    for name, columns in {**keyed, **compared}.items():
        if not all(_IDENTIFIER.match(column) for column in columns):
            raise ValueError(f"{name}: {columns!r} are not column names")
    publication = _Publication(
        con,
        hash_pii,
        key_fingerprint(pii_key),
        partitioned,
        warehouse_id,
        last_build,
        keyed,
        compared,
    )

    reason: str | None = None
    tally: _Tally | None = None
    base: Literal["spare", "copy"] | None = None
    spare = spare_path(target)
    if fresh:
        reason = "a full publication was asked for"
    elif not target.exists():
        reason = "no previous publication"
    else:
        tally = _update_spare(publication, spare, target, staging_file)
        if tally is not None:
            base = "spare"
        else:
            try:
                shutil.copyfile(target, staging_file)
                tally = publication.write(staging_file, base_build=last_build)
                base = "copy"
            except (OSError, duckdb.Error, _NotReusable) as error:
                _remove(staging_file)
                _remove(Path(f"{staging_file}.wal"))
                detail = _named(error, hash_pii)
                reason = f"the previous publication could not be reused: {detail}"
                LOGGER.warning("publishing %s in full: %s", target, reason)
    if tally is None:
        tally = publication.write(staging_file, base_build=None)

    _fsync(staging_file)
    # before the rename: a failure here leaves the previous analyst database untouched, and a
    # crash between the two leaves the warehouse a build ahead of it: published afresh next
    try:
        with transaction(con):
            con.execute(
                "insert into state.publication_builds values (?, now(), ?)",
                [last_build + 1, str(target)],
            )
            # the new file holds every key change logged so far: marked as this build's (the
            # spare of the next publication lacks them, so they are kept until the one after)
            key_changes.clear(con, last_build + 1)
    except BaseException:
        _remove(staging_file)
        raise
    # the publication replaced stays, under another name, as the next one's spare: only
    # after an incremental publication (a full one may replace a file of another PII setting,
    # which must not linger: it keeps a copy of its own file instead, below)
    _remove(spare)
    if base is not None:
        with contextlib.suppress(OSError):  # a file system without hard links: no spare
            os.link(target, spare)
    os.replace(staging_file, target)
    _fsync(target.parent)
    _remove(Path(f"{staging_file}.wal"))
    if base is None:
        _copy_as_spare(target, spare)
    return PublishReport(
        path=target,
        tables=len(tally.published),
        rows=tally.rows,
        seconds=time.perf_counter() - started,
        whole=tally.whole,
        by_range=tally.by_range,
        by_key=tally.by_key,
        unchanged=tally.unchanged,
        views=tally.views,
        full_reason=reason,
        compared=tally.compared,
        base=base,
    )


def _temporary_file(target: Path, name: str | None = None) -> Path:
    """A file beside ``target`` that a publication writes before renaming it (a new
    publication, a copy for the spare); ``name`` instead of a random one for a glob of them
    all. One a crash leaves behind is removed by the next publication."""
    return target.with_name(f".{target.name}.{name or uuid.uuid4().hex}.tmp")


def spare_path(target: Path) -> Path:
    """Where the publication before the last is kept beside ``target``: the next publication
    updates it in place instead of copying the last one (module docstring)."""
    return target.with_name(f".{target.name}.spare")


def _copy_as_spare(target: Path, spare: Path) -> None:
    """Keep a byte copy of a full publication ``target`` as the spare. Copied under a
    temporary name first: a crash mid-copy leaves a temporary file the next publication
    removes, never a partial spare. Not synced: a spare the disk lost part of fails DuckDB's
    checksums when it is updated, and the next publication then copies the last one
    (``_update_spare``). Failing to copy (a full disk) only leaves no spare."""
    partial = _temporary_file(target)
    try:
        shutil.copyfile(target, partial)
        os.replace(partial, spare)
    except OSError as error:
        _remove(partial)
        LOGGER.info("publishing %s: no spare kept (%s)", target, error)


def _update_spare(
    publication: _Publication, spare: Path, target: Path, staging_file: Path
) -> _Tally | None:
    """Bring the spare (the publication before the last, or a copy of the last one kept by a
    full publication) up to date in ``staging_file``; None when there is none this
    publication can use, which is then gone."""
    if not _spare_is_free(spare, target):
        return None
    try:
        # renamed before it is written: a crash from here on leaves a temporary file, removed
        # by the next publication, never a half-updated spare
        os.replace(spare, staging_file)
        last = publication.last_build
        return publication.write(staging_file, base_build=(last - 1, last))
    except (OSError, duckdb.Error, _NotReusable) as error:
        _remove(staging_file)
        _remove(Path(f"{staging_file}.wal"))
        LOGGER.info(
            "publishing %s: the spare is not used (%s); copying the last one",
            target,
            _named(error, publication.hash_pii),
        )
        return None


def _either(builds: tuple[int, ...]) -> str:
    """``4``, ``3 or 4``: the builds a file may hold, for a message."""
    return " or ".join(str(build) for build in builds)


def _named(error: Exception, hash_pii: bool) -> object:
    """Why a previous file could not be used, for the log: in hash mode a database error may
    quote a value, so only its type is named."""
    return error if isinstance(error, _NotReusable) or not hash_pii else type(error)


def _spare_is_free(spare: Path, target: Path) -> bool:
    """Whether the spare may be written in place: a file of its own (not the target under a
    second name, as a crash between linking it and replacing the target leaves it), and open
    in no connection of this process. A reader in another process holds DuckDB's lock on
    it, which makes attaching it for writing fail (``_update_spare`` then copies)."""
    try:
        held = spare.stat()
        published = target.stat()
    except OSError:
        return False
    if held.st_nlink != 1 or os.path.samestat(held, published):
        return False
    return not _open_in_this_process(held)


def _open_in_this_process(file: os.stat_result) -> bool:
    """Whether one of this process's file descriptors is ``file`` (True when that cannot be
    told): DuckDB's file lock does not stop a second connection of the same process."""
    for folder in (Path("/proc/self/fd"), Path("/dev/fd")):
        try:
            descriptors = os.listdir(folder)
        except OSError:
            continue
        for descriptor in descriptors:
            with contextlib.suppress(OSError):
                if os.path.samestat(os.stat(folder / descriptor), file):
                    return True
        return False
    return True


@dataclass
class _Publication:
    """Writing the published schemas of the warehouse ``con`` into one attached file."""

    con: duckdb.DuckDBPyConnection
    hash_pii: bool
    digest: str
    partitioned: dict[str, str]
    warehouse_id: str
    last_build: int  # the warehouse's last publication build; this one is the next
    keyed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    compared: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the publication build the file written holds (None: a new file), and what the key
    # change log says changed since it (None: it cannot say)
    base_build: int | None = None
    changes: dict[str, key_changes.Changes] | None = None

    def write(self, staging_file: Path, base_build: int | tuple[int, ...] | None) -> _Tally:
        """Bring ``staging_file`` (a publication of build ``base_build`` of this warehouse, of
        one of those builds when a tuple, or a new file when None) up to date, checkpoint and
        detach it; on failure it is removed."""
        con = self.con
        alias = _ALIAS
        previous = base_build is not None
        wanted = (base_build,) if isinstance(base_build, int) else base_build
        self.base_build = self.changes = None
        con.execute(f"attach ? as {alias}", [str(staging_file)])
        try:
            # its checkpoints rewrite underfull row groups only one publication in seven
            with vacuuming_only_when_compacting(con, self.last_build + 1):
                built = self._previous_state(wanted) if wanted is not None else {}
                tally = self._update(built, previous)
                con.execute(f"checkpoint {alias}")
        except BaseException:
            # on a full disk the detach fails too (its checkpoint cannot be written); the
            # copy and its log are removed either way, and the first error is the one raised
            with contextlib.suppress(duckdb.Error):
                con.execute(f"detach {alias}")
            _remove(staging_file)
            _remove(Path(f"{staging_file}.wal"))
            raise
        try:
            con.execute(f"detach {alias}")
        except BaseException:
            _remove(staging_file)
            _remove(Path(f"{staging_file}.wal"))
            raise
        return tally

    def _previous_state(self, wanted: tuple[int, ...]) -> dict[str, int | None]:
        """The partition build each table of the attached previous publication holds, which
        must be one of the publication builds ``wanted`` (then ``base_build``, and
        ``changes``: what the key change log says changed since); raises ``_NotReusable``
        when the file must not be updated in place."""
        con, alias = self.con, _ALIAS
        kinds = _catalog(con, alias, ("state",))
        if (
            kinds.get(("state", "publication_settings")) != "BASE TABLE"
            or kinds.get(("state", "publication")) != "BASE TABLE"
        ):
            raise _NotReusable("it holds no publication state")
        columns = {name for name, _ in _columns_of(con, alias, "state", "publication_settings")}
        if not {"format_version", "pii", "warehouse_id", "publication_build"} <= columns:
            raise _NotReusable("it was made with another PII setting or format")
        settings = con.execute(
            f"""select format_version, pii, warehouse_id, publication_build
                from {alias}.state.publication_settings"""
        ).fetchall()
        if len(settings) != 1 or settings[0][:2] != (FORMAT_VERSION, self.digest):
            raise _NotReusable("it was made with another PII setting or format")
        warehouse_id, build = settings[0][2:]
        if warehouse_id != self.warehouse_id:
            raise _NotReusable(
                "it was published from another warehouse (a stale file beside a new one)"
            )
        if build not in wanted:
            raise _NotReusable(
                f"it holds publication build {build} of this warehouse, whose last "
                f"publication is build {self.last_build}"
                + ("" if wanted == (self.last_build,) else f" (wanted {_either(wanted)})")
            )
        self.base_build = build
        self.changes = key_changes.changes_since_publication(con, build)
        used, free = con.execute(
            "select used_blocks, free_blocks from pragma_database_size() where database_name = ?",
            [alias],
        ).fetchall()[0]
        if free > used:
            raise _NotReusable(f"{free} of its {used + free} blocks are free space")
        return dict(
            con.execute(f"select table_name, build_no from {alias}.state.publication").fetchall()
        )

    def _update(self, built: dict[str, int | None], previous: bool) -> _Tally:
        con, alias = self.con, _ALIAS
        tally = _Tally()
        for schema in (*PUBLISHED_SCHEMAS, "state"):
            con.execute(f"create schema if not exists {alias}.{schema}")
        source = _catalog(con, None, PUBLISHED_SCHEMAS)
        existing = _catalog(con, alias, PUBLISHED_SCHEMAS)
        # gone from the warehouse: gone from the copy
        for schema, table in sorted(set(existing) - set(source)):
            _drop(con, existing, schema, table)
        last_builds = self._last_builds()
        views = {key for key, kind in source.items() if kind == "VIEW"}
        as_views = self._views_kept_as_views(views, set(source))
        plans: dict[tuple[str, str], _Range | _Keys | Literal["unchanged"] | None] = {}
        for (schema, table), kind in sorted(source.items()):
            if (schema, table) not in as_views:
                name = f"{schema}.{table}"
                column = self.partitioned.get(name) if kind == "BASE TABLE" else None
                key = self.keyed.get(name) or self.compared.get(name)
                key = key if kind == "BASE TABLE" else None
                if previous and column is not None:
                    plan = self._range_plan(schema, table, column, built.get(name), existing)
                elif previous and key is not None:
                    plan = self._key_plan(schema, table, key, existing)
                else:
                    plan = None
                plans[schema, table] = plan
        # make room first: the freed blocks of what is replaced are reused by the new copies
        # once checkpointed, so the file does not grow by a whole publication every time
        for schema, table in sorted(
            as_views | {key for key, plan in plans.items() if plan is None}
        ):
            _drop(con, existing, schema, table)
        if previous:
            con.execute(f"checkpoint {alias}")
        for (schema, table), plan in plans.items():
            name = f"{schema}.{table}"
            if plan is None:
                tally.rows += self._copy_whole(schema, table)
                tally.whole += 1
            elif plan == "unchanged":
                tally.unchanged += 1
            elif isinstance(plan, _Keys):
                written, compared = self._update_by_key(schema, table, plan)
                tally.rows += written or 0
                tally.compared += compared
                if written is None:
                    tally.unchanged += 1
                else:
                    tally.by_key += 1
            else:
                tally.rows += self._apply_range(schema, table, plan)
                tally.by_range += 1
            held = last_builds.get(name) if name in self.partitioned else None
            tally.published.append((name, held))
        for schema, table in _dependency_order(as_views):
            self._create_view(schema, table)
            tally.views += 1
            tally.published.append((f"{schema}.{table}", None))
        con.execute(
            f"""create or replace table {alias}.state.publication (
                    table_name varchar not null,  -- schema.table (or view) published
                    build_no   bigint             -- the last partition build it holds
                )"""
        )
        con.executemany(f"insert into {alias}.state.publication values (?, ?)", tally.published)
        con.execute(
            f"""create or replace table {alias}.state.publication_settings as
                select ?::integer as format_version,
                       ?::varchar as pii,  -- 'none', or a keyed fingerprint of the PII key
                       ?::varchar as warehouse_id,  -- the warehouse it was published from
                       ?::bigint as publication_build,  -- and that warehouse's build of it
                       now() as published_at""",
            [FORMAT_VERSION, self.digest, self.warehouse_id, self.last_build + 1],
        )
        apply_comments(con, alias)
        return tally

    def _last_builds(self) -> dict[str, int]:
        """The warehouse's last partition build of each partitioned model."""
        if not table_exists(self.con, "state", "partition_builds"):
            return {}
        return dict(
            self.con.execute(
                "select model, max(build_no) from state.partition_builds group by model"
            ).fetchall()
        )

    def _range_plan(
        self,
        schema: str,
        table: str,
        column: str,
        build_no: int | None,
        existing: dict[tuple[str, str], str],
    ) -> _Range | Literal["unchanged"] | None:
        """What brings a partitioned table of the copy up to date with the days re-derived
        since its build ``build_no``: a day range, "unchanged" when no build happened since,
        or None when it must be copied whole (a full rebuild since, other columns, unknown
        history)."""
        con, alias = self.con, _ALIAS
        if build_no is None or existing.get((schema, table)) != "BASE TABLE":
            return None
        if not table_exists(con, "state", "partition_builds"):
            return None
        columns = _select_list(con, schema, table, self.hash_pii)
        wanted = con.execute(f"describe select {columns} from {schema}.{table} limit 0").fetchall()
        held = con.execute(f"describe {alias}.{schema}.{table}").fetchall()
        if [row[:2] for row in wanted] != [row[:2] for row in held]:
            return None
        if column not in {row[0] for row in held}:
            return None
        builds, full, first, last, open_first, open_last = con.execute(
            """select count(*),
                      count(*) filter (where first_day is null and last_day is null),
                      min(first_day), max(last_day),
                      bool_or(first_day is null), bool_or(last_day is null)
               from state.partition_builds
               where model = ? and build_no > ?""",
            [f"{schema}.{table}", build_no],
        ).fetchall()[0]
        if builds == 0:
            return "unchanged"
        if full:
            return None
        return _Range(column, None if open_first else first, None if open_last else last)

    def _same_columns(self, schema: str, table: str) -> bool:
        """Whether the copy's table has the columns (names and types) the warehouse's would
        be published with."""
        con, alias = self.con, _ALIAS
        columns = _select_list(con, schema, table, self.hash_pii)
        wanted = con.execute(f"describe select {columns} from {schema}.{table} limit 0").fetchall()
        held = con.execute(f"describe {alias}.{schema}.{table}").fetchall()
        return [row[:2] for row in wanted] == [row[:2] for row in held]

    def _key_plan(
        self,
        schema: str,
        table: str,
        key: tuple[str, ...],
        existing: dict[tuple[str, str], str],
    ) -> _Keys | None:
        """Update by key (by the logged keys when the key change log can say which), or
        None when the table must be copied whole (the copy has no such table, or other
        columns)."""
        if existing.get((schema, table)) != "BASE TABLE" or not self._same_columns(schema, table):
            return None
        if (
            f"{schema}.{table}" in self.compared
            or self.changes is None
            or not self._keys_published(schema, table, key)
        ):
            return _Keys(key)
        changed = self.changes.get(f"{schema}.{table}")
        if changed is None:
            return _Keys(key, "none")
        return _Keys(key, "compared" if changed.whole else "logged")

    def _update_by_key(self, schema: str, table: str, plan: _Keys) -> tuple[int | None, bool]:
        """Bring a keyed table of the copy up to date: the rows written (None: none, the
        log listing no change) and whether every row was compared. The log's answer is
        checked against the row counts, and rows are compared when they disagree."""
        written = None
        if plan.found_by != "compared":
            if plan.found_by == "logged":
                written = self._apply_logged_keys(schema, table, plan.columns)
            if self._same_count(schema, table):
                return written, False
            LOGGER.warning(
                "publishing %s.%s: the key change log does not match its rows; comparing them",
                schema,
                table,
            )
        return (written or 0) + self._apply_keys(schema, table, plan), True

    def _keys_published(self, schema: str, table: str, key: tuple[str, ...]) -> bool:
        """Whether every key column is in the copy (as is, or hashed): withheld, the
        copy's rows of a logged key cannot be found."""
        if not self.hash_pii:
            return True
        types = dict(_columns(self.con, schema, table))
        return all(
            not (hashed_expression(schema, table, c, types[c]) or "").startswith("null::")
            for c in key
        )

    def _same_count(self, schema: str, table: str) -> bool:
        """Whether the copy's table has as many rows as the warehouse's (the check on what
        the key change log said)."""
        con, alias = self.con, _ALIAS
        rows = con.execute(
            f"select (select count(*) from {schema}.{table}), "
            f"(select count(*) from {alias}.{schema}.{table})"
        ).fetchall()[0]
        return rows[0] == rows[1]

    def _apply_logged_keys(self, schema: str, table: str, key: tuple[str, ...]) -> int:
        """Replace the copy's rows of the keys the key change log lists for the table (key
        values logged as text, cast back to the key columns' types): the rows written."""
        con, alias = self.con, _ALIAS
        base_build = self.base_build
        assert base_build is not None  # logged keys update a previous publication
        types = dict(_columns(con, schema, table))
        typed = ", ".join(
            f'cast(key[{i}] as {types[c]}) as "{c}"' for i, c in enumerate(key, start=1)
        )
        # the keys as the copy holds them (hash mode: hashed as the column dictionary says)
        hashed = {
            c: hashed_expression(schema, table, c, types[c]) if self.hash_pii else None for c in key
        }
        published = ", ".join((hashed[c] or f'"{c}"') + f' as "{c}"' for c in key)
        con.execute(
            f"""create or replace temp table publish_logged_keys as
                select distinct {typed} from ({key_changes.UNPUBLISHED})
                where table_name = ? and key is not null""",
            [base_build, f"{schema}.{table}"],
        )
        try:
            match = _tuple(key)
            con.execute(
                f"delete from {alias}.{schema}.{table} where {match} in "
                f"(select {match} from (select {published} from publish_logged_keys))"
            )
            # the rows found by their key columns alone, then read whole by row id: a filter on
            # the key would read every column of every row (core.orders at 10M line items:
            # 1.1 CPU s), the row ids only the few row groups that hold them
            inserted = con.execute(
                f"insert into {alias}.{schema}.{table} "
                f"select {_select_list(con, schema, table, self.hash_pii)} "
                f"from {schema}.{table} where rowid in ("
                f"select rowid from {schema}.{table} where {match} in "
                f"(select {match} from publish_logged_keys))"
            ).fetchall()
        finally:
            con.execute("drop table if exists publish_logged_keys")
        return int(inserted[0][0])

    def _apply_keys(self, schema: str, table: str, plan: _Keys) -> int:
        """Replace the copy's rows of the keys whose rows differ from the warehouse's (module
        docstring): the rows written. Keys are compared by hash, so a NULL key is one too."""
        con, alias = self.con, _ALIAS
        columns = _select_list(con, schema, table, self.hash_pii)
        key = "hash(row(" + ", ".join(f'"{c}"' for c in plan.columns) + "))"
        published = f"(select {columns} from {schema}.{table})"
        # rows counted, so that a key whose rows repeat (audit.duplicates: a record of a
        # file sent twice under one name) differs when one side holds a repeat more
        con.execute(
            f"""create or replace temp table publish_changed_keys as
                with warehouse_rows as (
                    select {key} as key_hash, hash(x) as row_hash, count(*) as copies
                    from {published} as x
                    group by all
                ),
                copy_rows as (
                    select {key} as key_hash, hash(x) as row_hash, count(*) as copies
                    from {alias}.{schema}.{table} as x
                    group by all
                )
                select distinct key_hash from (
                    select * from warehouse_rows
                    anti join copy_rows using (key_hash, row_hash, copies)
                    union all
                    select * from copy_rows
                    anti join warehouse_rows using (key_hash, row_hash, copies)
                )"""
        )
        try:
            changed = "(select key_hash from publish_changed_keys)"
            con.execute(f"delete from {alias}.{schema}.{table} where {key} in {changed}")
            inserted = con.execute(
                f"insert into {alias}.{schema}.{table} "
                f"select * from {published} where {key} in {changed}"
            ).fetchall()
        finally:
            con.execute("drop table if exists publish_changed_keys")
        return int(inserted[0][0])

    def _apply_range(self, schema: str, table: str, days: _Range) -> int:
        """Replace the copy's rows of the days with the warehouse's: the rows written."""
        con, alias = self.con, _ALIAS
        columns = _select_list(con, schema, table, self.hash_pii)
        column = days.column
        # the same range test as models.run_model_partitions, on the same partition column
        in_range = (
            f'(?::date is null or "{column}" >= ?::date) '
            f'and (?::date is null or "{column}" <= ?::date)'
        )
        bounds = [days.first, days.first, days.last, days.last]
        con.execute(f"delete from {alias}.{schema}.{table} where {in_range}", bounds)
        inserted = con.execute(
            f"insert into {alias}.{schema}.{table} "
            f"select {columns} from {schema}.{table} where {in_range}",
            bounds,
        ).fetchall()
        return int(inserted[0][0])

    def _copy_whole(self, schema: str, table: str) -> int:
        con, alias = self.con, _ALIAS
        columns = _select_list(con, schema, table, self.hash_pii)
        created = con.execute(
            f"create table {alias}.{schema}.{table} as select {columns} from {schema}.{table}"
        ).fetchall()
        return int(created[0][0])

    def _views_kept_as_views(
        self, views: set[tuple[str, str]], published: set[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """The views that can be views in the copy: every table they read is published and,
        when hashing, every contact-detail column they show is a hashed column of one."""
        kept = set()
        for schema, table in views:
            reads = model_reads(f"{schema}.{table}")
            # no model builds it, or it reads a table the copy lacks: materialised instead
            if not reads or not reads <= published:
                continue
            if self.hash_pii and not self._view_hides_pii(schema, table, reads):
                continue
            kept.add((schema, table))
        return kept

    def _view_hides_pii(self, schema: str, table: str, reads: frozenset[tuple[str, str]]) -> bool:
        """Whether the view, reading the copy's tables, shows each of its columns as the
        dictionary says: every column not published as is must be a column of a table it
        reads, of the same name and type, published the same way."""
        con = self.con
        published_upstream = {
            (name, data_type, hashed_expression(ref_schema, ref_table, name, data_type))
            for ref_schema, ref_table in reads
            for name, data_type in _columns(con, ref_schema, ref_table)
        }
        return all(
            (name, data_type, expression) in published_upstream
            for name, data_type in _columns(con, schema, table)
            if (expression := hashed_expression(schema, table, name, data_type)) is not None
        )

    def _create_view(self, schema: str, table: str) -> None:
        """Re-create the warehouse's view in the copy from its own SQL: run with the copy
        as the default database, its tables are the copy's."""
        sql = _view_sql(self.con, schema, table)
        alias = _ALIAS
        cursor = self.con.cursor()
        try:
            cursor.execute(f"use {alias}")
            # SQL of a view in the warehouse, which only sql/ models create
            cursor.execute(sql)
        finally:
            cursor.close()


def _tuple(columns: tuple[str, ...]) -> str:
    """The key columns as one value to compare with ``in``."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    return f"row({quoted})" if len(columns) > 1 else quoted


def _view_sql(con: duckdb.DuckDBPyConnection, schema: str, view: str) -> str:
    return con.execute(
        """select sql from duckdb_views()
           where database_name = current_database() and schema_name = ? and view_name = ?""",
        [schema, view],
    ).fetchall()[0][0]


def _dependency_order(views: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """The views, each after the views it reads (a view binds its reads when created); what
    a view reads is what its model reads (``models.model_reads``)."""
    reads = {v: (model_reads(".".join(v)) or frozenset()) & views for v in views}
    ordered: list[tuple[str, str]] = []
    while len(ordered) < len(views):
        ready = sorted(v for v in views if v not in ordered and reads[v] <= set(ordered))
        if not ready:  # a cycle cannot be created in DuckDB; keep going regardless
            ready = sorted(v for v in views if v not in ordered)
        ordered.extend(ready)
    return ordered


def _catalog(
    con: duckdb.DuckDBPyConnection, database: str | None, schemas: tuple[str, ...]
) -> dict[tuple[str, str], str]:
    """``{(schema, name): 'BASE TABLE' | 'VIEW'}`` of a database (None: the warehouse)."""
    rows = con.execute(
        """select table_schema, table_name, table_type from information_schema.tables
           where table_catalog = coalesce(?, current_database())
             and table_type in ('BASE TABLE', 'VIEW')
             and list_contains(?, table_schema)""",
        [database, list(schemas)],
    ).fetchall()
    return {(schema, table): kind for schema, table, kind in rows}


def _drop(
    con: duckdb.DuckDBPyConnection,
    existing: dict[tuple[str, str], str],
    schema: str,
    table: str,
) -> None:
    """Drop a table or view of the copy, if it has one of that name."""
    kind = {"BASE TABLE": "table", "VIEW": "view"}.get(existing.pop((schema, table), ""))
    alias = _ALIAS
    if kind:
        con.execute(f"drop {kind} if exists {alias}.{schema}.{table}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
