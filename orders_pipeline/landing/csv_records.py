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

How: the file is read in blocks of whole lines, split into numbered lines by polars;
quote parity joins the lines of a row (RFC 4180: a row ends on a line where the
count of ``"`` since its start is even); DuckDB splits each row into fields with one regular
expression and builds the JSON. Memory is bounded by the block size, not the file size. A
block that is not valid UTF-8 is split into lines by Python instead (its bad lines keep their
bytes escaped and a ``decode_error``), and goes through the same SQL.

A source using this module declares :data:`CSV_RAW_EXTRA_COLUMNS` as its
``raw_extra_columns`` and validates with ``validation.csv_rows`` (``csv_error`` reasons).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from orders_pipeline.landing.files import LandedFile
from orders_pipeline.warehouse import ARRIVAL_STRIDE

CSV_SUFFIXES = (".csv",)
# The raw table of a CSV source has these columns after warehouse.RAW_COLUMNS.
CSV_RAW_EXTRA_COLUMNS = """\
    doc          json,     -- the row as a JSON object: header name -> value as sent
    line_no      bigint,   -- the file line the row starts on (CSV rows only)
    csv_error    varchar   -- why the row cannot be read as a row of its file"""
RAW_CSV_INSERT_COLUMNS = (
    "file_seq, file, record_no, arrival_seq, raw, decode_error, loaded_at, doc, line_no, csv_error"
)
# Bytes read at a time: bounds the memory a file of any size needs.
BLOCK_BYTES = 2 << 20
_BOM = "\ufeff"
# RFC 4180 fields: a quoted value (quotes doubled inside, any character including line
# breaks) or an unquoted value without quotes or commas.
_FIELD = '"(?:[^"]|"")*"|[^,"]*'
_ROW_PATTERN = f"(?:{_FIELD})(?:,(?:{_FIELD}))*"
_FIELDS_PATTERN = f"(^|,)({_FIELD})"

_LINES = {"line_no": pl.Int64, "line": pl.String, "decode_error": pl.String}


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
    ?5 header width, ?6 the 1-based positions of unnamed columns, then one parameter per
    named column: its name. ``positions`` (1-based, of the named columns) are integers the
    code computed; the names themselves are bound, never spliced. ``json_object`` with one
    argument pair per column is 7 times faster than ``to_json(map(names, values))``.
    """
    pairs = ", ".join(f"?{7 + n}, fields[{p}]" for n, p in enumerate(positions))
    return f"""
    insert into {table} ({RAW_CSV_INSERT_COLUMNS})
    with parsed as (
        select rows.*,
               regexp_full_match(rows.text, '{_ROW_PATTERN}') as well_formed,
               {_fields_sql("rows.text")} as fields
        from csv_batch_rows as rows
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
    select ?1, ?2, record_no, ?1::bigint * {ARRIVAL_STRIDE} + record_no,
           coalesce(doc::varchar, text), decode_error, ?3, doc, line_no, csv_error
    from documented
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

    def params(self) -> list[object]:
        return [self.problem, self.width, self.unnamed, *self.names]


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
    """What one pass over a file carries from one batch to the next."""

    open_lines: pl.DataFrame  # lines of a row whose quote is still open
    header: _Header | None = None
    records: int = 0


def land_csv_file(
    con: duckdb.DuckDBPyConnection,
    table: str,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
    *,
    in_python: bool = False,
) -> int:
    """Insert the data rows of one CSV file into ``table`` (a trusted raw table name whose
    extra columns are :data:`CSV_RAW_EXTRA_COLUMNS`) and return how many records it holds.
    Lines that are not valid UTF-8 are split by Python; ``in_python`` (the caller's retry
    after a reader refused the file) changes nothing, as no reader here refuses a file."""
    if not landed.path.is_file():
        raise FileNotFoundError(errno.ENOENT, "vanished before it could be read", landed.relative)
    lines = _lines(landed)
    state = _FileState(open_lines=pl.DataFrame(schema=_LINES))
    for batch in lines:
        rows = _complete_rows(state, batch)
        _land_rows(con, table, state, rows, [file_seq, landed.relative, loaded_at])
    if state.open_lines.height:  # a quote opened and never closed: one last row to EOF
        rows = _rows_of(state.open_lines, unterminated=True)
        state.open_lines = state.open_lines.clear()
        _land_rows(con, table, state, rows, [file_seq, landed.relative, loaded_at])
    return state.records


def _lines(landed: LandedFile) -> Iterator[pl.DataFrame]:
    """The file's lines with 1-based line numbers, LF and a CR before it removed, read in
    blocks of :data:`BLOCK_BYTES` cut at a line end (a line feed is never part of a multi-byte
    UTF-8 character). A block that is valid UTF-8 is split by polars; one that is not is split
    by Python, its bad lines keeping their bytes escaped (``\\xff``) with a ``decode_error``
    that says where they are."""
    next_line = 1
    rest = b""
    with landed.path.open("rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            data = rest + block
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1 :]
            lines = _split_lines(data[:cut], next_line)
            next_line += lines.height
            yield lines
    if rest:
        yield _split_lines(rest, next_line)


def _split_lines(block: bytes, first_line: int) -> pl.DataFrame:
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        return _split_undecodable_lines(block, first_line)
    lines = pl.Series("line", [text]).str.split("\n").explode().str.strip_suffix("\r")
    return pl.DataFrame(
        {
            "line_no": pl.int_range(
                first_line, first_line + lines.len(), dtype=pl.Int64, eager=True
            ),
            "line": lines,
            "decode_error": pl.repeat(None, lines.len(), dtype=pl.String, eager=True),
        }
    )


def _split_undecodable_lines(block: bytes, first_line: int) -> pl.DataFrame:
    numbers: list[int] = []
    texts: list[str] = []
    errors: list[str | None] = []
    for line_no, chunk in enumerate(block.split(b"\n"), start=first_line):
        chunk = chunk.removesuffix(b"\r")
        try:
            text, error = chunk.decode("utf-8"), None
        except UnicodeDecodeError as bad:
            text = chunk.decode("utf-8", "backslashreplace")
            error = f"invalid UTF-8 byte at offset {bad.start} of line {line_no}"
        numbers.append(line_no)
        texts.append(text)
        errors.append(error)
    return pl.DataFrame([numbers, texts, errors], schema=_LINES, orient="col")


def _complete_rows(state: _FileState, batch: pl.DataFrame) -> pl.DataFrame:
    """The rows that end in this batch (lines of a row still open wait for the next one)."""
    lines = pl.concat([state.open_lines, batch.select(_LINES.keys())])
    if lines.height == 0:
        return _rows_of(lines, unterminated=False)
    lines = lines.with_columns(
        pl.when(pl.col("line_no") == 1)
        .then(pl.col("line").str.strip_prefix(_BOM))
        .otherwise(pl.col("line"))
    )
    quotes = pl.col("line").str.count_matches('"', literal=True)
    lines = lines.with_columns(quotes_through=quotes.cum_sum()).with_columns(
        row=((pl.col("quotes_through") - quotes) % 2 == 0).cum_sum()
    )
    still_open = lines["quotes_through"][-1] % 2 == 1
    last_row = lines["row"][-1]
    if still_open:
        state.open_lines = lines.filter(pl.col("row") == last_row).select(_LINES.keys())
        lines = lines.filter(pl.col("row") != last_row)
    else:
        state.open_lines = state.open_lines.clear()
    return _rows_of(lines, unterminated=False)


def _rows_of(lines: pl.DataFrame, *, unterminated: bool) -> pl.DataFrame:
    """One row per group of lines (``row``; all lines are one row when it is absent)."""
    if "row" not in lines.columns:
        lines = lines.with_columns(row=pl.lit(1, pl.UInt32))
    return (
        lines.group_by("row", maintain_order=True)
        .agg(
            pl.col("line_no").first(),
            pl.len().alias("line_count"),
            pl.col("line").str.join("\n").alias("text"),
            pl.col("decode_error").drop_nulls().first(),
        )
        .filter((pl.col("line_count") > 1) | ~pl.col("text").str.contains(r"^[ \t]*$"))
        .with_columns(unterminated=pl.lit(unterminated))
        .drop("row")
    )


def _land_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    state: _FileState,
    rows: pl.DataFrame,
    params: list[object],
) -> None:
    """Insert complete rows: the first one of the file is its header."""
    if rows.height == 0:
        return
    if state.header is None:
        first = rows.row(0, named=True)
        state.header = read_header(con, first["text"], first["unterminated"])
        if not state.header.is_record:
            rows = rows.slice(1)
    rows = rows.with_columns(
        record_no=pl.int_range(1, rows.height + 1, dtype=pl.Int64) + state.records
    )
    if rows.height == 0:
        return
    con.register("csv_batch_rows", rows)
    try:
        con.execute(
            _insert_rows_sql(table, state.header.positions), [*params, *state.header.params()]
        )
    finally:
        con.unregister("csv_batch_rows")
    state.records += rows.height
