"""Landing JSON-family files (``.json``, ``.ndjson``, ``.jsonl``) into a raw table: one row per
record with its text exactly as received (SEMANTICS §2, "what a record is").

- NDJSON/JSONL: one record per non-blank line; ``record_no`` is the 1-based line number, so
  a person can open the file at that line. A trailing CR (CRLF files) and a UTF-8 BOM are
  removed; a line that is not JSON is still a record (validation quarantines it).
- ``.json``: an array gives one record per element (``record_no`` = 1-based position); any
  other document, valid or not, is one record.

Reading and splitting happen inside DuckDB; Python only touches the bytes of a file that is
not valid UTF-8 (or that DuckDB's reader refuses), line by line, so that its good lines still
load. Both readers agree on what a blank line is and strip the same BOM and CRs.
"""

from __future__ import annotations

import errno
import re
from datetime import datetime

import duckdb
import polars as pl

from orders_pipeline.landing.files import LandedFile
from orders_pipeline.warehouse import ARRIVAL_STRIDE

JSON_SUFFIXES = (".json", ".ndjson", ".jsonl")
_BOM = "\ufeff"
# Named, so a raw table with extra columns of its own (a CSV source's parsed ``doc``) takes
# these rows too, leaving its extra columns NULL.
RAW_INSERT_COLUMNS = "file_seq, file, record_no, arrival_seq, raw, decode_error, loaded_at"
# A blank line (not a record): JSON whitespace and BOMs only, as RE2's \s in _NDJSON_INSERT.
_BLANK = re.compile(r"[\t\n\f\r \ufeff]*")
# DuckDB's file readers expand these in a path: `orders[1].json` would read `orders1.json`,
# `orders?.json` every matching file. Each is escaped as a one-character class.
_GLOB_CHARACTERS = re.compile(r"([\[\]*?])")

# Lines are split once into a list and unnested with their positions; a lateral
# ``unnest(...) with ordinality`` over read_text's row grew with lines × file size
# (a 5,000-line file ran out of memory).
_NDJSON_INSERT = """
insert into {table} ({columns})
with lines as (
    select unnest(parts) as line, generate_subscripts(parts, 1) as idx
    from (select string_split(content, chr(10)) as parts from read_text(?3))
)
select ?1, ?2, idx, ?1::bigint * {stride} + idx,
       rtrim(case when idx = 1 then ltrim(line, chr(65279)) else line end, chr(13)),
       null, ?4
from lines
where not regexp_full_match(line, '[\\s\\x{{FEFF}}]*')
"""

_JSON_SHAPE = """
select json_valid(doc) as is_json, case when json_valid(doc) then json_type(doc) end as kind
from (select ltrim(content, chr(65279)) as doc from read_text(?))
"""

# json_extract(doc, '$[*]') keeps a null element as the text `null` (a cast to json[] makes
# it SQL NULL, and the record would lose its raw text).
_JSON_ARRAY_INSERT = """
insert into {table} ({columns})
select ?1, ?2, e.idx, ?1::bigint * {stride} + e.idx, e.element::varchar, null, ?4
from (select ltrim(content, chr(65279)) as doc from read_text(?3)) as r,
     unnest(json_extract(r.doc, '$[*]')) with ordinality as e(element, idx)
"""

_JSON_DOCUMENT_INSERT = """
insert into {table} ({columns})
select ?1, ?2, 1, ?1::bigint * {stride} + 1, ltrim(content, chr(65279)), null, ?4
from read_text(?3)
"""


def land_json_file(
    con: duckdb.DuckDBPyConnection,
    table: str,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
    *,
    in_python: bool = False,
) -> int:
    """Insert the file's records into ``table`` (a trusted raw table name) and return how
    many records the file holds. A file that is not valid UTF-8, or ``in_python`` (the
    caller's retry after DuckDB's reader failed), is split by Python instead."""
    before = _count(con, table, file_seq)
    if landed.utf8 and not in_python:
        _land_utf8(con, table, landed, [file_seq, landed.relative, literal_path(landed), loaded_at])
    else:
        _land_split_in_python(con, table, landed, file_seq, loaded_at)
    return _count(con, table, file_seq) - before


def literal_path(landed: LandedFile) -> str:
    """The file's path as a DuckDB file pattern that matches only this file."""
    return _GLOB_CHARACTERS.sub(r"[\1]", str(landed.path))


def _land_utf8(
    con: duckdb.DuckDBPyConnection, table: str, landed: LandedFile, params: list[object]
) -> None:
    # A pattern that matches nothing reads as an empty file: the file would be recorded as
    # loaded with no records and, being "already loaded", never read again when it is back.
    matches = con.execute("select count(*) from glob(?)", [params[2]]).fetchall()[0][0]
    if matches != 1:
        raise FileNotFoundError(errno.ENOENT, "vanished before it could be read", landed.relative)
    fill = {"table": table, "stride": ARRIVAL_STRIDE, "columns": RAW_INSERT_COLUMNS}
    if landed.path.name.lower().endswith((".ndjson", ".jsonl")):
        con.execute(_NDJSON_INSERT.format(**fill), params)
        return
    row = con.execute(_JSON_SHAPE, [params[2]]).fetchall()[0]
    if row is not None and row[0] and row[1] == "ARRAY":
        con.execute(_JSON_ARRAY_INSERT.format(**fill), params)
    else:
        con.execute(_JSON_DOCUMENT_INSERT.format(**fill), params)


def _land_split_in_python(
    con: duckdb.DuckDBPyConnection,
    table: str,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
) -> None:
    """A file with bytes that are not UTF-8 (or one DuckDB's reader refused): every line (or
    the whole document) becomes a record; undecodable ones keep their text with the bad
    bytes escaped and a ``decode_error`` that validation turns into a quarantine reason.
    Line splitting, BOM, CR and blank-line rules are those of ``_NDJSON_INSERT``."""
    data = landed.path.read_bytes()
    by_line = landed.path.name.lower().endswith((".ndjson", ".jsonl"))
    chunks = list(enumerate(data.split(b"\n") if by_line else [data], start=1))
    rows: list[tuple[int, str, str | None]] = []
    for record_no, chunk in chunks:
        if by_line:  # a whole document keeps its text as it is
            chunk = chunk.rstrip(b"\r")
        try:
            text, error = chunk.decode("utf-8"), None
        except UnicodeDecodeError as bad:
            text = chunk.decode("utf-8", "backslashreplace")
            error = f"invalid UTF-8 byte at offset {bad.start} of the record"
        if record_no == 1:
            text = text.lstrip(_BOM)
        if not by_line or not _BLANK.fullmatch(text):
            rows.append((record_no, text, error))
    frame = pl.DataFrame(
        {
            "record_no": [r[0] for r in rows],
            "raw": [r[1] for r in rows],
            "decode_error": [r[2] for r in rows],
        },
        schema={"record_no": pl.Int64, "raw": pl.String, "decode_error": pl.String},
    )
    con.register("undecodable_records", frame)
    try:
        con.execute(
            f"""insert into {table} ({RAW_INSERT_COLUMNS})
            select ?1, ?2, record_no, ?1::bigint * {ARRIVAL_STRIDE} + record_no, raw,
                   decode_error, ?3
            from undecodable_records""",  # noqa: S608 - trusted table name
            [file_seq, landed.relative, loaded_at],
        )
    finally:
        con.unregister("undecodable_records")


def _count(con: duckdb.DuckDBPyConnection, table: str, file_seq: int) -> int:
    row = con.execute(
        f"select count(*) from {table} where file_seq = ?",  # noqa: S608 - trusted table name
        [file_seq],
    ).fetchall()[0]
    return int(row[0]) if row else 0
