"""Deciding and writing what becomes of every landed record (docs/semantics.md §2): accepted,
quarantined with every reason and its raw text, or an exact duplicate of an accepted record.

Works on the files of one source that are landed but not yet validated, in slices of whole
files taken in arrival order (:func:`slices`), and writes each slice in one transaction, so
``records = accepted + quarantined + duplicates`` holds for every file at every commit. A slice
is validated exactly as a run that found only its files would validate them: every rule that
looks beyond one record (duplicates, idempotence keys, an Ometria change's order) looks at the
records staged before it as well as at its own, so slices give the tables of one batch
(docs/semantics.md §2; tests/integration/test_every_source.py).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import pandera.polars as pa
import polars as pl

from orders_pipeline.validation.rules import columns_read, failures_by_row, rows_failing_a_rule
from orders_pipeline.warehouse import transaction

# docs/semantics.md §2: JSON records are equal when their parsed values with keys sorted are equal.
# json_tree lists every node with its full path, so ordering by path sorts the keys. It is
# costly (every node carries its subtree's text), so it runs only on records whose cheap
# dedupe key (the extracted fields, which are key-order independent) is shared with another
# record: records that differ in any extracted field cannot be duplicates of each other.
CANONICAL_FINGERPRINT = """
select d.row_id,
       md5(string_agg(j.fullkey || ':' || j.type || ':' || coalesce(j.atom::varchar, ''),
                      chr(31) order by j.fullkey)) as canonical_id
from {documents} as d, json_tree(d.doc) as j
group by d.row_id
"""


@dataclass(frozen=True)
class JsonSourceValidation:
    """How one source is validated: the SQL that extracts candidates, its pandera schemas,
    and the SQL that types the accepted rows into staging.

    The contract with the SQL it holds:
    - ``candidates_sql`` reads ``raw_table`` joined to the registered ``batch_files``
      (``file_seq``) and returns one row per raw record with at least ``row_id`` (the
      record's ``arrival_seq``), ``file``, ``record_no``, ``loaded_at`` and ``doc`` (the
      record as a JSON value, NULL when it is not one: its canonical content, §2) unless
      ``candidate_document_sql`` rebuilds that from the raw row;
    - ``item_candidates_sql`` (optional) returns one row per item with ``row_id`` and
      ``item_no``; an item's failures quarantine its record;
    - ``accepted_sql`` / ``accepted_items_sql`` select the staging rows of the candidates
      whose ``batch_outcomes.outcome`` is ``accepted`` (``batch_keys`` has their
      ``event_id`` and ``dedupe_key``).

    ``validation_chunk_records`` (optional) hands the candidates to pandera that many records
    at a time (in ``row_id`` order, with the items of those records), so that memory stays
    bounded on big batches; only for schemas whose checks look at one record at a time (no
    ``.over()`` or other rule across records). Setting it says so, and pandera is then also
    handed only the records (and items) that fail a rule (``rules.failures_by_row``).
    """

    source: str
    raw_table: str
    candidates_table: str
    candidates_sql: str
    event_schema: pa.DataFrameSchema
    staging_table: str
    # SQL expression over the candidate row ``c``: equal for records that may be duplicates
    dedupe_key_sql: str
    accepted_sql: Callable[[], str]
    item_candidates_table: str | None = None
    item_candidates_sql: str | None = None
    item_schema: pa.DataFrameSchema | None = None
    staging_items_table: str | None = None
    accepted_items_sql: Callable[[], str] | None = None
    # The canonical JSON document of an already staged record, from its raw row ``r``
    # (compared with the candidates' ``doc`` to find duplicates across files).
    raw_document_sql: str = "json(r.raw)"
    # The canonical JSON document of a candidate ``c`` (its raw row is ``r``), read only for
    # the records whose dedupe key another record shares. A source whose candidates carry no
    # ``doc`` (ODP events: the candidates table then holds no copy of every document, issue
    # 15) rebuilds it from the raw text, as ``raw_document_sql`` does for staged records.
    candidate_document_sql: str = "c.doc"
    # Candidate columns too big or too free-form to hand to pandera, for a schema whose
    # columns read are not known (``rules.columns_read``: otherwise only those are handed).
    unvalidated_columns: tuple[str, ...] = ("doc", "custom")
    validation_chunk_records: int | None = None
    # SQL expression over a record's JSON document ``{doc}`` (a format placeholder): the id
    # its sender gives the event and keeps on every retry (ODP SDKs' ``data.idempotence_id``),
    # NULL when it sends none. Records sharing one are the same event: the first accepted is
    # kept, the others are counted duplicates whatever else changed (a retry's new ``ts``).
    idempotence_key_sql: str | None = None
    # The same key as a SQL expression over the candidate row ``c``, when the candidates SQL
    # reads it with the record's other fields (issue 15: one parse per record); by default
    # ``idempotence_key_sql`` over the candidate's ``doc``.
    candidate_idempotence_key_sql: str | None = None
    # SQL returning (row_id, reason) for candidates that fail because of other records of
    # the batch; it may read ``batch_record_failures`` (row_id, reason: the per-record
    # failures). Its reasons are added to the per-record ones.
    dependent_failures_sql: str | None = None
    # SQL expression over the candidate row ``c``: the record's event id, the md5 of its
    # canonical JSON text. A source whose ``doc`` is already ``json()``'s text (minified:
    # ``parsed.record_ctes``) hashes it as it is: ``json()`` of that text is the same text.
    event_id_sql: str = "md5(json(c.doc))"

    def idempotence_key(self, doc: str) -> str:
        """The idempotence key of the document ``doc`` as SQL (NULL when the source has none)."""
        if self.idempotence_key_sql is None:
            return "cast(null as varchar)"
        return self.idempotence_key_sql.format(doc=doc)


@dataclass
class ValidationReport:
    """Counts of one validation pass, for metadata, the CLI summary and tests."""

    source: str
    files: list[str] = field(default_factory=list)
    records: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


# A slice's raw text is at most this share of DuckDB's memory limit (a bigger file is a slice
# of its own). The candidates of a slice, with their items, take about 2.3 times its raw text
# in memory (ODP events at 10M line items: 242 MB of records, 556 MiB of temp tables), and
# the statements that decide and write the outcomes join them: a batch whose temp tables
# outgrow the limit spills them, and every join over them reads them back from disk. Issue
# 15, the 10M workload's validation alone at the default 3GB: 232 CPU s in one slice, 198 in
# slices of a sixth of the limit, 200 in slices of a twelfth; at 1M (269 MB, one slice at a
# sixth) two slices would cost 0.7 CPU s more.
SLICE_SHARE_OF_MEMORY_LIMIT = 1 / 6
# DuckDB's own rendering of a size (``current_setting('memory_limit')``: '2.7 GiB').
_SIZE = re.compile(r"(?P<number>[0-9.]+)\s*(?P<unit>[KMGT]?i?B|bytes)", re.IGNORECASE)


def pending_files(con: duckdb.DuckDBPyConnection, source: str) -> pl.DataFrame:
    """Files of ``source`` that are landed and not validated yet, in arrival order, with
    their size and records."""
    return con.sql(
        "select file_seq, file, size_bytes, records from audit.loads "
        "where source = ? and validated_at is null order by file_seq",
        params=[source],
    ).pl()


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """DuckDB's memory limit of ``con`` in bytes."""
    setting = str(con.execute("select current_setting('memory_limit')").fetchall()[0][0])
    match = _SIZE.fullmatch(setting.strip())
    if match is None:
        raise ValueError(f"unexpected DuckDB memory_limit {setting!r}")
    unit = match["unit"].upper()  # B, BYTES, KB, KIB, ... TIB
    power = "BKMGT".index(unit[0])  # bytes: 0
    return int(float(match["number"]) * (1024 if "I" in unit else 1000) ** power)


def slices(batch: pl.DataFrame, budget: int) -> list[pl.DataFrame]:
    """The batch's files (``file_seq`` order) in consecutive slices: a file starts the slice
    its preceding files' bytes fall in, so a slice holds at most ``budget`` bytes plus its
    last file."""
    before = pl.col("size_bytes").cum_sum() - pl.col("size_bytes")
    numbered = batch.with_columns((before // max(budget, 1)).alias("slice"))
    return numbered.partition_by("slice", maintain_order=True, include_key=False)


def validate_pending(
    con: duckdb.DuckDBPyConnection,
    spec: JsonSourceValidation,
    on_slice: Callable[[int, int], None] | None = None,
    slice_bytes: int | None = None,
) -> ValidationReport:
    """Validate every pending file of the source, a slice of whole files at a time
    (``slice_bytes`` of raw text, by default :data:`SLICE_SHARE_OF_MEMORY_LIMIT` of DuckDB's
    memory limit), each slice's outcomes written in one transaction. ``on_slice(done,
    records)`` is told each slice's records before it starts (for live progress)."""
    report = ValidationReport(source=spec.source)
    batch = pending_files(con, spec.source)
    if batch.height == 0:
        return report
    report.files = batch["file"].to_list()
    if slice_bytes is None:
        slice_bytes = int(memory_limit_bytes(con) * SLICE_SHARE_OF_MEMORY_LIMIT)
    done = 0
    for files in slices(batch, slice_bytes):
        records = int(files["records"].sum())
        if on_slice is not None:
            on_slice(done, records)
        _validate_slice(con, spec, files)
        done += records
    _fill_report(con, report, batch)
    return report


def _validate_slice(
    con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation, files: pl.DataFrame
) -> None:
    """Validate one slice of files and write its outcomes in one transaction."""
    con.register("batch_files", files.select("file_seq"))
    try:
        _stage_candidates(con, spec)
        failures = _failures(con, spec)
        con.register("batch_failure_rows", failures)
        with transaction(con):
            _write_outcomes(con, spec)
    finally:
        for view in ("batch_files", "batch_failure_rows"):
            _unregister(con, view)
        for temp in (
            spec.candidates_table,
            spec.item_candidates_table,
            "batch_failures",
            "batch_keys",
            "batch_documents",
            "batch_outcomes",
        ):
            if temp:
                con.execute(f"drop table if exists {temp}")


def _stage_candidates(con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation) -> None:
    con.execute(f"create or replace temp table {spec.candidates_table} as {spec.candidates_sql}")
    if spec.item_candidates_table:
        con.execute(
            f"create or replace temp table {spec.item_candidates_table} as "
            f"{spec.item_candidates_sql}"
        )


def _validated_columns(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JsonSourceValidation,
    schema: pa.DataFrameSchema,
    keys: tuple[str, ...] = ("row_id",),
) -> str:
    """The columns of ``table`` pandera is given: the keys and those the schema's rules read
    (issue 15: the free text of addresses and names cost more to hand over than to check),
    or every column but the unvalidated ones when that is not known."""
    columns = con.sql(f"select * from {table} limit 0").columns
    read = columns_read(schema)
    if read is None:
        kept = [c for c in columns if c not in spec.unvalidated_columns]
    else:
        kept = [c for c in columns if c in keys or c in read]
    return ", ".join(f'"{c}"' for c in kept)


def _failures(con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation) -> pl.DataFrame:
    """Every (row_id, reason) of the batch's failing records. A source whose rules look at
    one record at a time (``validation_chunk_records``) is read chunk by chunk, and only the
    records and items that fail a rule are kept (``rules.rows_failing_a_rule``: one polars
    pass over every rule); pandera then names their reasons in one validation of each schema
    (issue 15: nearly every record passes, and each pandera call costs ~45 passes)."""
    per_row = spec.validation_chunk_records is not None
    event_parts, item_parts = [], []
    for bounds in _chunks(con, spec):
        events, items = _chunk_frames(con, spec, bounds)
        if per_row:
            events = rows_failing_a_rule(spec.event_schema, events)
        event_parts.append(events)
        if items is not None and spec.item_schema is not None:
            item_parts.append(rows_failing_a_rule(spec.item_schema, items) if per_row else items)
        del events, items  # one chunk's frames at a time
    failures = failures_by_row(spec.event_schema, pl.concat(event_parts))
    if item_parts and spec.item_schema is not None:
        item_failures = failures_by_row(
            spec.item_schema, pl.concat(item_parts), keys=("row_id", "item_no")
        )
        parts = pl.col("reason").str.splitn(": ", 2)
        item_failures = item_failures.select(
            "row_id",
            pl.concat_str(
                parts.struct.field("field_0"), pl.lit(": item "),
                pl.col("item_no").cast(pl.String), pl.lit(": "), parts.struct.field("field_1"),
            ).alias("reason"),
        )  # fmt: skip
        failures = pl.concat([failures, item_failures])
    if spec.dependent_failures_sql:
        con.register("batch_record_failures", failures)
        try:
            dependent = con.sql(spec.dependent_failures_sql).pl()
        finally:
            _unregister(con, "batch_record_failures")
        failures = pl.concat([failures, dependent.select(failures.columns).cast(failures.schema)])
    return failures.unique().sort("row_id", "reason")


def _chunks(
    con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation
) -> list[tuple[int, int] | None]:
    """(first, last) ``row_id`` of each chunk of candidates that pandera sees at once; one
    chunk of everything (None) unless the source validates in chunks."""
    size = spec.validation_chunk_records
    if not size:
        return [None]
    bounds = con.sql(
        f"""select min(row_id), max(row_id)
        from (select row_id, (row_number() over (order by row_id) - 1) // ? as chunk
              from {spec.candidates_table})
        group by chunk order by chunk""",  # noqa: S608 - a trusted table name
        params=[size],
    ).fetchall()
    return [(first, last) for first, last in bounds] or [None]


def _chunk_frames(
    con: duckdb.DuckDBPyConnection,
    spec: JsonSourceValidation,
    bounds: tuple[int, int] | None,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The candidates (and their items) of one chunk, with the columns pandera reads."""
    table = spec.candidates_table
    columns = _validated_columns(con, table, spec, spec.event_schema)
    if bounds is None:
        events = con.sql(f"select {columns} from {table}").pl()
    else:
        events = con.sql(
            f"select {columns} from {table} where row_id between ? and ?",
            params=list(bounds),
        ).pl()
    if not spec.item_candidates_table or spec.item_schema is None:
        return events, None
    item_table = spec.item_candidates_table
    item_columns = _validated_columns(
        con, item_table, spec, spec.item_schema, keys=("row_id", "item_no")
    )
    if bounds is None:
        items = con.sql(f"select {item_columns} from {item_table}").pl()
    else:
        items = con.sql(
            f"select {item_columns} from {item_table} where row_id between ? and ?",
            params=list(bounds),
        ).pl()
    return events, items


def _write_outcomes(con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation) -> None:
    """Decide every candidate's outcome (docs/semantics.md §2) and write it: the quarantine,
    the duplicates, the accepted rows and each file's counts. Runs inside the batch's
    transaction; the temp tables it leaves are dropped by ``validate_pending``."""
    _group_failures(con)
    _key_passing_records(con, spec)
    _documents_sharing_a_key(con, spec)
    _decide_outcomes(con, spec)
    _write_quarantine(con, spec)
    _write_duplicates(con, spec)
    _write_accepted(con, spec)
    _count_outcomes_per_file(con, spec)


def _group_failures(con: duckdb.DuckDBPyConnection) -> None:
    """``batch_failures``: each failing record with every reason, sorted."""
    con.execute(
        "create or replace temp table batch_failures as "
        "select row_id, list(reason order by reason) as reasons "
        "from batch_failure_rows group by row_id"
    )


def _key_passing_records(con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation) -> None:
    """``batch_keys``: each record that passed, with its event id and its dedupe key (equal
    for records that may be duplicates: the same idempotence key, else the same extracted
    fields)."""
    candidates = spec.candidates_table
    idempotence_key = spec.candidate_idempotence_key_sql or spec.idempotence_key("c.doc")
    con.execute(
        f"""create or replace temp table batch_keys as
        select row_id, event_id,
               -- a record with an idempotence key meets its retries by that key alone
               case when idempotence_key is not null
                    then md5('idempotence_key' || chr(31) || idempotence_key)
                    else dedupe_key end as dedupe_key
        from (
            select c.row_id, {spec.event_id_sql} as event_id,
                   {idempotence_key} as idempotence_key,
                   {spec.dedupe_key_sql} as dedupe_key
            from {candidates} as c
            where c.row_id not in (select row_id from batch_failures)
        )"""  # noqa: S608
    )


def _documents_sharing_a_key(con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation) -> None:
    """``batch_documents``: the JSON documents of the records (new, or staged earlier) whose
    dedupe key another record shares: only those need the costly canonical comparison."""
    candidates = spec.candidates_table
    con.execute(
        f"""create or replace temp table batch_documents as
        with shared_keys as (
            select dedupe_key
            from (select dedupe_key from batch_keys
                  union all
                  select dedupe_key from {spec.staging_table}
                  where dedupe_key in (select dedupe_key from batch_keys))
            group by dedupe_key
            having count(*) > 1
        )
        select row_id, doc, {spec.idempotence_key("doc")} as idempotence_key
        from (
            select k.row_id, {spec.candidate_document_sql} as doc
            from batch_keys as k
            join {candidates} as c using (row_id)
            join {spec.raw_table} as r on r.arrival_seq = k.row_id
            where k.dedupe_key in (select dedupe_key from shared_keys)
            union all
            select s.arrival_seq as row_id, {spec.raw_document_sql} as doc
            from {spec.staging_table} as s
            join {spec.raw_table} as r using (arrival_seq)
            where s.dedupe_key in (select dedupe_key from shared_keys)
        )"""  # noqa: S608
    )


def _decide_outcomes(con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation) -> None:
    """``batch_outcomes``: accepted, duplicate (of an earlier or a first record with the same
    canonical content or idempotence key, with that record's row id) or quarantined."""
    content = "(select * from batch_documents where idempotence_key is null)"
    con.execute(
        f"""create or replace temp table batch_outcomes as
        with canonical as (
            {CANONICAL_FINGERPRINT.format(documents=content)}
            union all
            -- the same idempotence key is the same event, whatever else differs
            select row_id, md5('idempotence_key' || chr(31) || idempotence_key)
            from batch_documents
            where idempotence_key is not null
        ),
        batch as (
            select k.row_id, k.event_id, coalesce(c.canonical_id, k.event_id) as canonical_id
            from batch_keys as k
            left join canonical as c using (row_id)
        ),
        ranked as (
            select row_id, event_id, canonical_id,
                   first_value(row_id) over (partition by canonical_id order by row_id)
                       as first_row_id
            from batch
        ),
        earlier as (
            select c.canonical_id, min(s.arrival_seq) as first_row_id
            from {spec.staging_table} as s
            join canonical as c on c.row_id = s.arrival_seq
            group by c.canonical_id
        )
        select r.row_id, r.event_id, r.canonical_id,
               case when e.canonical_id is not null or r.first_row_id <> r.row_id
                    then 'duplicate' else 'accepted' end as outcome,
               coalesce(e.first_row_id, r.first_row_id) as first_row_id
        from ranked as r
        left join earlier as e using (canonical_id)
        union all
        select row_id, null, null, 'quarantined', null from batch_failures
        """  # noqa: S608 - trusted table names
    )


def _write_quarantine(con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation) -> None:
    """Every failing record into ``audit.quarantine`` with its reasons and raw text."""
    candidates = spec.candidates_table
    con.execute(
        f"""insert into audit.quarantine
        select ?, c.file, c.record_no,
               -- what landing found wrong with the bytes (an offset, or the file's encoding)
               list_transform(f.reasons, lambda reason:
                   case when r.decode_error is not null and starts_with(reason, 'invalid_utf8:')
                        then reason || ' (' || r.decode_error || ')' else reason end),
               r.raw, c.loaded_at, r.file_seq
        from batch_failures as f
        join {candidates} as c using (row_id)
        join {spec.raw_table} as r on r.arrival_seq = f.row_id
        order by f.row_id""",  # noqa: S608 - trusted table names
        [spec.source],
    )


def _write_duplicates(con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation) -> None:
    """Every duplicate into ``audit.duplicates``, with the record it repeats."""
    candidates = spec.candidates_table
    con.execute(
        f"""insert into audit.duplicates
        select ?, c.file, c.record_no,
               coalesce(earlier.event_id, in_batch.event_id) as event_id,
               first.file, first.record_no, first.file_seq = c_raw.file_seq as same_file
        from batch_outcomes as o
        join {candidates} as c using (row_id)
        join {spec.raw_table} as c_raw on c_raw.arrival_seq = o.row_id
        join {spec.raw_table} as first on first.arrival_seq = o.first_row_id
        left join {spec.staging_table} as earlier on earlier.arrival_seq = o.first_row_id
        left join batch_outcomes as in_batch on in_batch.row_id = o.first_row_id
        where o.outcome = 'duplicate'""",  # noqa: S608 - trusted table names
        [spec.source],
    )


def _write_accepted(con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation) -> None:
    """The accepted records (and their items) into the source's validated tables."""
    con.execute(f"insert into {spec.staging_table} {spec.accepted_sql()}")
    if spec.staging_items_table and spec.accepted_items_sql:
        con.execute(f"insert into {spec.staging_items_table} {spec.accepted_items_sql()}")


def _count_outcomes_per_file(con: duckdb.DuckDBPyConnection, spec: JsonSourceValidation) -> None:
    """Each file's accepted, quarantined and duplicate counts in ``audit.loads``, and the
    time it was validated."""
    con.execute(
        f"""update audit.loads as l set
            accepted = coalesce(s.accepted, 0),
            quarantined = coalesce(s.quarantined, 0),
            duplicates = coalesce(s.duplicates, 0),
            validated_at = now()
        from (
            select b.file_seq,
                   count(*) filter (where o.outcome = 'accepted') as accepted,
                   count(*) filter (where o.outcome = 'quarantined') as quarantined,
                   count(*) filter (where o.outcome = 'duplicate') as duplicates
            from batch_files as b
            left join {spec.raw_table} as r using (file_seq)
            left join batch_outcomes as o on o.row_id = r.arrival_seq
            group by b.file_seq
        ) as s
        where l.file_seq = s.file_seq and l.source = ?""",  # noqa: S608 - trusted table names
        [spec.source],
    )


def _fill_report(
    con: duckdb.DuckDBPyConnection, report: ValidationReport, batch: pl.DataFrame
) -> None:
    con.register("reported_files", batch.select("file_seq"))
    try:
        row = con.execute(
            """select sum(records), sum(accepted), sum(quarantined), sum(duplicates)
            from audit.loads where file_seq in (select file_seq from reported_files)"""
        ).fetchall()[0]
        reasons = con.execute(
            """select split_part(reason, ':', 1) as code, count(*)
            from (select unnest(q.reasons) as reason from audit.quarantine as q
                  where q.file_seq in (select file_seq from reported_files))
            group by code order by count(*) desc, code"""
        ).fetchall()
    finally:
        _unregister(con, "reported_files")
    if row:
        report.records, report.accepted, report.quarantined, report.duplicates = (
            int(v or 0) for v in row
        )
    report.reasons = {code: int(n) for code, n in reasons}


def _unregister(con: duckdb.DuckDBPyConnection, name: str) -> None:
    with contextlib.suppress(duckdb.Error):
        con.unregister(name)
