"""Landing CSV files into a raw table, for any CSV source: one raw record per data row.

What a record is
- The header is the first non-blank row; it is not a record. Its names are trimmed and
  lower-cased. Every later non-blank row is one record; ``record_no`` is the 1-based number of
  the data row (blank lines are not counted, a row with line breaks inside quotes counts once),
  and the raw column ``line_no`` is the file line the row starts on, for a person with an
  editor.
- A well-formed row is stored as a JSON object of header name -> value, every value a string
  exactly as sent (quotes removed, ``""`` unescaped; nothing trimmed, nothing typed: a
  spreadsheet formula such as ``=HYPERLINK(...)`` stays plain text). That object is both the
  ``doc`` column and the ``raw`` text. Line breaks inside a quoted value are stored as LF
  (a CRLF and an LF export of the same data give the same record).
- A row that is not usable keeps its text as received in ``raw``, ``doc`` NULL, and the
  reason in ``csv_error`` (``code: sentence``), which validation turns into a quarantine
  reason: ``ragged_row`` (more or fewer fields than the header), ``unterminated_quote`` (a
  quoted value never closes: the rest of the file is read into that one row, so nothing is
  lost), ``malformed_row`` (a quote inside an unquoted value, text after a closing quote),
  ``unnamed_column`` (a value under a column whose header name is empty; empty values there,
  such as a trailing comma on every line, are ignored), ``invalid_header`` (the header
  repeats a name, or is itself not valid CSV: then every row, header included, is a record).
- A UTF-8 BOM, CRLF line ends and blank lines are handled; a file that is empty or holds only
  a header lands with 0 records.

How: the file is read in chunks of about 2 MiB cut on row boundaries (the last line feed
before which the count of ``"`` is even: RFC 4180 quotes are doubled inside values, so a
line feed after an odd count is inside a quoted value). DuckDB splits each chunk into
lines, joins the lines of each row by the same quote parity, splits rows into fields (a
split on commas for rows without quotes, an RFC 4180 regular expression otherwise) and
builds the JSON. Memory is bounded by the chunk size and DuckDB's memory limit, not the file
size. A chunk that is not valid UTF-8 is decoded line by line in Python, its bad lines
keeping their bytes escaped and a ``decode_error``.

A source using this module declares :data:`CSV_RAW_EXTRA_COLUMNS` as its
``raw_extra_columns`` and validates with ``validation.csv_rows`` (``csv_error`` reasons).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

import duckdb

from orders_pipeline.landing.files import LandedFile
from orders_pipeline.landing.reading import encoding_reason, foreign_encoding, peek
from orders_pipeline.warehouse import ARRIVAL_STRIDE, KEPT_TEXT_STORAGE

CSV_SUFFIXES = (".csv",)
# The raw table of a CSV source has these columns after warehouse.RAW_COLUMNS. The row's
# document is kept as the raw text is (KEPT_TEXT_STORAGE): 240,000 rows of the ODP import in
# 100 files, landed and validated, four runs each: landing 4.20-4.66 -> 3.81-4.15 CPU s,
# validation the same, the warehouse 46.5 -> 22.2 MiB.
CSV_RAW_EXTRA_COLUMNS = f"""\
    doc          json {KEPT_TEXT_STORAGE},  -- the row as a JSON object: header -> value
    line_no      bigint,   -- the file line the row starts on (CSV rows only)
    csv_error    varchar   -- why the row cannot be read as a row of its file"""
RAW_CSV_INSERT_COLUMNS = (
    "file_seq, file, record_no, arrival_seq, raw, decode_error, loaded_at, doc, line_no, csv_error"
)
# Bytes read at a time: bounds the memory a file of any size needs.
BLOCK_BYTES = 2 << 20
# Text kept for the one record of a file in another encoding.
HEAD_BYTES = 64 * 1024
# RFC 4180 fields: a quoted value (quotes doubled inside, any character including line
# breaks) or an unquoted value without quotes or commas.
_FIELD = '"(?:[^"]|"")*"|[^,"]*'
_ROW_PATTERN = f"(?:{_FIELD})(?:,(?:{_FIELD}))*"
_FIELDS_PATTERN = f"(^|,)({_FIELD})"

# The rows of one chunk of whole rows (?1 its text, ?2 the file line it starts on, ?3 / ?4
# the chunk lines that are not UTF-8 and why): split into lines (one CR before each LF
# dropped, a BOM on the file's first line), joined into rows where the count of quotes so far
# is odd, blank rows left out. A row whose quote never closes (only the file's last row can
# end so) is ``unterminated``.
_CHUNK_ROWS_SQL = """
create or replace temp table csv_chunk_rows as
with lines as (
    select unnest(parts) as line, generate_subscripts(parts, 1) as idx
    from (select string_split(?1, chr(10)) as parts)
),
cleaned as (
    select idx,
           case when idx = 1 and ?2 = 1 then ltrim(line, chr(65279)) else line end as line
    from (select idx, case when ends_with(line, chr(13))
                           then substr(line, 1, length(line) - 1) else line end as line
          from lines)
),
quoted as (
    select *, sum(quotes) over (order by idx rows unbounded preceding) as quotes_through
    from (select *, length(line) - length(replace(line, '"', '')) as quotes from cleaned)
),
starts as (
    select *,
           sum(case when (quotes_through - quotes) % 2 = 0 then 1 else 0 end)
               over (order by idx rows unbounded preceding) as row_no
    from quoted
),
grouped as (
    select row_no,
           ?2 + min(idx) - 1 as line_no,
           count(*) as line_count,
           string_agg(line, chr(10) order by idx) as text,
           max(quotes_through) % 2 = 1 as unterminated,
           min((?4::varchar[])[list_position(?3::integer[], idx)]) as decode_error
    from starts
    group by row_no
)
select * from grouped
where line_count > 1 or not regexp_full_match(text, '[ \t]*')
"""


def _fields_sql(text: str) -> str:
    """The unquoted fields of a row's text (meaningful only when the row is well formed). A
    row without quotes is split on commas, 20 times faster than the regular expression."""
    return (
        f"case when not contains({text}, '\"') then string_split({text}, ',') else "
        f"list_transform(regexp_extract_all({text}, '{_FIELDS_PATTERN}', 2), "
        """lambda f: case when starts_with(f, '"') then replace(f[2:-2], '""', '"') else f end)"""
        " end"
    )


def _insert_rows_sql(table: str, positions: list[int]) -> str:
    """Insert the registered ``csv_batch_rows`` into ``table`` (a trusted raw table name).

    Parameters: ?1 file_seq, ?2 file, ?3 loaded_at, ?4 the header's problem (or NULL),
    ?5 header width, ?6 the 1-based positions of unnamed columns, ?7 the chunk's rows up to
    which are not records (the header), ?8 records of the file before this chunk, then one
    parameter per named column: its name. ``positions`` (1-based, of the named columns) are
    integers the code computed; the names themselves are bound, never spliced.
    ``json_object`` with one argument pair per column is 7 times faster than
    ``to_json(map(names, values))``.
    """
    pairs = ", ".join(f"?{9 + n}, fields[{p}]" for n, p in enumerate(positions))
    return f"""
    insert into {table} ({RAW_CSV_INSERT_COLUMNS})
    with parsed as (
        select rows.*,
               regexp_full_match(rows.text, '{_ROW_PATTERN}') as well_formed,
               {_fields_sql("rows.text")} as fields
        from csv_chunk_rows as rows
        where rows.row_no > ?7
    ),
    judged as (
        select parsed.*,
            case
                when unterminated then 'unterminated_quote: the row opens a quoted value that '
                    || 'is never closed, so the rest of the file was read as part of this row '
                    || '(its raw text); close the quote and land the file again'
                when not well_formed then 'malformed_row: the row is not valid CSV (a quote '
                    || 'inside an unquoted value, or text after a closing quote)'
                when ?4 is not null then ?4
                when len(fields) <> ?5 then 'ragged_row: the row has ' || len(fields)
                    || ' fields, the header ' || ?5
                when len(list_filter(?6::integer[], lambda p: fields[p] <> '')) > 0 then
                    'unnamed_column: the row has a value in column '
                    || list_filter(?6::integer[], lambda p: fields[p] <> '')[1]
                    || ', whose name in the header is empty'
            end as csv_error
        from parsed
    ),
    documented as (
        select judged.*,
               case when csv_error is null and decode_error is null
                   then json_object({pairs})
               end as doc
        from judged
    )
    select ?1, ?2, ?8 + data_row_no, ?1::bigint * {ARRIVAL_STRIDE} + ?8 + data_row_no,
           coalesce(doc::varchar, text), decode_error, ?3, doc, line_no, csv_error
    from (select documented.*, row_number() over (order by row_no) as data_row_no
          from documented) as numbered
    """


_HEADER_SQL = f"""
select regexp_full_match(?1, '{_ROW_PATTERN}') as well_formed, {_fields_sql("?1")} as fields
"""


@dataclass
class _Header:
    """What the header row says about every data row."""

    problem: str | None = None  # ``invalid_header: ...`` for every row, or None
    is_record: bool = False  # not valid CSV itself: the header row is a record too
    width: int = 0
    names: list[str] = field(default_factory=list)  # of the named columns, in order
    positions: list[int] = field(default_factory=list)  # 1-based, of the named columns
    unnamed: list[int] = field(default_factory=list)  # 1-based positions of empty names


def read_header(con: duckdb.DuckDBPyConnection, text: str, unterminated: bool) -> _Header:
    """The header of a file from its first non-blank row's text. A header that repeats a name
    or that is not valid CSV makes every row of the file unreadable (``invalid_header``)."""
    well_formed, fields = con.execute(_HEADER_SQL, [text]).fetchall()[0]
    if unterminated or not well_formed:
        return _Header(
            is_record=True,
            problem="invalid_header: the header row is not valid CSV (an unclosed quote, or a "
            "quote inside an unquoted name), so no row of the file can be read; fix the header "
            "and land the file again",
        )
    names = [name.strip().lower() for name in fields]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        listed = ", ".join(f'"{n}"' for n in repeated)
        return _Header(
            problem=f"invalid_header: the header names {listed} more than once, so which "
            "value counts is ambiguous; rename or remove the repeated columns and land the "
            "file again",
            width=len(names),
        )
    named = [(n, i) for i, n in enumerate(names, start=1) if n]
    return _Header(
        width=len(names),
        names=[n for n, _ in named],
        positions=[i for _, i in named],
        unnamed=[i for i, n in enumerate(names, start=1) if not n],
    )


@dataclass
class _FileState:
    """What one pass over a file carries from one chunk to the next."""

    header: _Header | None = None
    records: int = 0


def land_csv_file(
    con: duckdb.DuckDBPyConnection,
    table: str,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
) -> int:
    """Insert the data rows of one CSV file into ``table`` (a trusted raw table name whose
    extra columns are :data:`CSV_RAW_EXTRA_COLUMNS`) and return how many records it holds.
    A file in UTF-16 or UTF-32 is one record that says so (never read as UTF-8)."""
    with landed.open() as handle:
        head, content = peek(handle, HEAD_BYTES)
        encoding = foreign_encoding(head)
        if encoding:
            return _land_foreign(con, table, head, encoding, [file_seq, landed.relative, loaded_at])
        state = _FileState()
        for chunk in _row_chunks(content):
            _land_chunk(con, table, state, chunk, [file_seq, landed.relative, loaded_at])
    con.execute("drop table if exists csv_chunk_rows")
    return state.records


def _land_foreign(
    con: duckdb.DuckDBPyConnection, table: str, head: bytes, encoding: str, params: list[object]
) -> int:
    """The one record of a file in another encoding: its first bytes escaped, and why."""
    con.execute(
        f"""insert into {table} ({RAW_CSV_INSERT_COLUMNS})
        select ?1, ?2, 1, ?1::bigint * {ARRIVAL_STRIDE} + 1, ?4, ?5, ?3, null, 1, null""",  # noqa: S608 - trusted table name
        [*params, head.decode("utf-8", "backslashreplace"), encoding_reason(encoding)],
    )
    return 1


@dataclass(frozen=True)
class _Chunk:
    """Whole rows of a file: their text, the line they start on, and lines not UTF-8."""

    text: str
    first_line: int
    bad_lines: list[int]  # 1-based within the chunk
    bad_reasons: list[str]


def _row_chunks(stream: BinaryIO) -> Iterator[_Chunk]:
    """The file in chunks of about :data:`BLOCK_BYTES` that start and end on row boundaries:
    a chunk is cut at the last line feed before which the count of quotes is even (a line
    feed inside a quoted value is not a boundary). Only the newest block is searched for
    that line feed: what came before it holds none."""
    carry = b""
    first_line = 1
    while block := stream.read(BLOCK_BYTES):
        data = carry + block
        cut = _last_row_end(data, len(carry))
        if cut < 0:
            carry = data
            continue
        yield _decode(data[:cut], first_line)
        first_line += data.count(b"\n", 0, cut) + 1
        carry = data[cut + 1 :]
    if carry:
        yield _decode(carry.removesuffix(b"\n"), first_line)


def _last_row_end(data: bytes, searched: int) -> int:
    """Offset of the last line feed at or after ``searched`` that ends a row, or -1."""
    odd_before = data.count(b'"') % 2 == 1  # quotes before the current end
    end = len(data)
    while (feed := data.rfind(b"\n", searched, end)) >= 0:
        odd_before ^= data.count(b'"', feed, end) % 2 == 1
        if not odd_before:
            return feed
        end = feed
    return -1


def _decode(chunk: bytes, first_line: int) -> _Chunk:
    """A chunk's text; lines that are not UTF-8 keep their bad bytes escaped (``\\xff``) and
    say where they are, so validation can quarantine their rows and load the others."""
    try:
        return _Chunk(chunk.decode("utf-8"), first_line, [], [])
    except UnicodeDecodeError:
        pass
    lines: list[str] = []
    bad_lines: list[int] = []
    bad_reasons: list[str] = []
    for n, line in enumerate(chunk.split(b"\n"), start=1):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError as bad:
            lines.append(line.decode("utf-8", "backslashreplace"))
            bad_lines.append(n)
            bad_reasons.append(
                f"invalid UTF-8 byte at offset {bad.start} of line {first_line + n - 1}"
            )
    return _Chunk("\n".join(lines), first_line, bad_lines, bad_reasons)


def _land_chunk(
    con: duckdb.DuckDBPyConnection,
    table: str,
    state: _FileState,
    chunk: _Chunk,
    params: list[object],
) -> None:
    """Insert the chunk's rows; the file's first row is its header."""
    con.execute(_CHUNK_ROWS_SQL, [chunk.text, chunk.first_line, chunk.bad_lines, chunk.bad_reasons])
    skip = 0  # rows of the chunk up to this one are not records
    if state.header is None:
        first = con.execute(
            "select row_no, text, unterminated from csv_chunk_rows order by row_no limit 1"
        ).fetchall()
        if not first:
            return
        row_no, text, unterminated = first[0]
        state.header = read_header(con, text, unterminated)
        skip = 0 if state.header.is_record else row_no
    header = state.header
    con.execute(
        _insert_rows_sql(table, header.positions),
        [*params, header.problem, header.width, header.unnamed, skip, state.records] + header.names,
    )
    state.records += con.execute(
        "select count(*) from csv_chunk_rows where row_no > ?", [skip]
    ).fetchall()[0][0]
