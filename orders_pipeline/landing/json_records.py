"""Landing JSON-family files (``.json``, ``.ndjson``, ``.jsonl``) into a raw table: one row per
record with its text exactly as received (docs/semantics.md §2, "what a record is").

- NDJSON/JSONL: one record per non-blank line; ``record_no`` is the 1-based line number, so
  a person can open the file at that line. A trailing CR (CRLF files) and a UTF-8 BOM are
  removed; a line that is not JSON is still a record (validation quarantines it).
- ``.json``: an array gives one record per element (``record_no`` = 1-based position, the
  element's text as sent); any other document, valid or not, is one record. A ``.json``
  file that starts as an array but is not valid JSON (truncated, a bad element, bytes that
  are not UTF-8) is one record holding its first :data:`HEAD_BYTES` (the whole file when
  smaller), which validation quarantines.
- A file in UTF-16 or UTF-32 (``reading.foreign_encoding``) is one record with its first
  bytes escaped and a ``decode_error`` naming the encoding: never read as UTF-8.

Memory is bounded by :data:`BLOCK_BYTES` (and the largest record), whatever the file's
size: the file is read in blocks from the one stream landing gives (``LandedFile.open``),
lines are split inside DuckDB a block at a time, and an array is cut into its elements by
:class:`ArraySplitter` as the bytes stream in (a 3 MB pretty-printed array used to need
hundreds of MB in DuckDB's JSON reader: docs/pitfalls.md). Bytes that are not UTF-8 are decoded
line by line in Python, keeping their bad bytes escaped and a ``decode_error``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

import duckdb
import polars as pl

from orders_pipeline.landing.files import LandedFile
from orders_pipeline.landing.reading import encoding_reason, foreign_encoding, peek
from orders_pipeline.warehouse import ARRIVAL_STRIDE

JSON_SUFFIXES = (".json", ".ndjson", ".jsonl")
# Bytes read at a time: bounds the memory a file of any size needs.
BLOCK_BYTES = 16 << 20
# Text kept for the one record of a file that is not valid JSON (or not UTF-8).
HEAD_BYTES = 64 * 1024
_BOM = "\ufeff"
_BOM_BYTES = _BOM.encode()
_JSON_WHITESPACE = b" \t\n\r"
# Named, so a raw table with extra columns of its own (a CSV source's parsed ``doc``) takes
# these rows too, leaving its extra columns NULL.
RAW_INSERT_COLUMNS = "file_seq, file, record_no, arrival_seq, raw, decode_error, loaded_at"
# A blank line (not a record): JSON whitespace and BOMs only, as RE2's \s in _LINES_INSERT.
_BLANK = re.compile(r"[\t\n\f\r \ufeff]*")

# One block of whole lines (?4, starting after line ?5 of the file; ?3 loaded_at). The lines
# are split once into a list and unnested beside their positions (a lateral
# ``unnest(...) with ordinality`` grew with lines x text size).
_LINES_INSERT = """
insert into {table} ({columns})
with lines as (
    select unnest(parts) as line, generate_subscripts(parts, 1) as idx
    from (select string_split(?4, chr(10)) as parts)
)
select ?1, ?2, ?5 + idx, ?1::bigint * {stride} + ?5 + idx,
       -- trimmed only where there is something to trim: a trim copies every line
       case when ?5 + idx = 1 or ends_with(line, chr(13)) then
           rtrim(case when ?5 + idx = 1 then ltrim(line, chr(65279)) else line end, chr(13))
           else line end,
       null, ?3
from lines
-- not blank: it has a character that is neither whitespace nor a BOM (a search that
-- stops at a JSON line's first character); a line that starts with a brace has one, and
-- the test of its first bytes spares nearly every line the regular expression
where starts_with(line, '{{') or regexp_matches(line, '[^\\s\\x{{FEFF}}]')
"""

_ROWS_INSERT = """
insert into {table} ({columns})
select ?1, ?2, record_no, ?1::bigint * {stride} + record_no, raw, decode_error, ?3
from json_landing_rows
"""


class _Records:
    """Inserts one file's records into its raw table."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, table: str, landed: LandedFile, file_seq: int,
        loaded_at: datetime,
    ) -> None:  # fmt: skip
        self.con, self.table, self.file_seq = con, table, file_seq
        self.params: list[object] = [file_seq, landed.relative, loaded_at]
        self.fill = {"table": table, "stride": ARRIVAL_STRIDE, "columns": RAW_INSERT_COLUMNS}
        self.inserted = 0  # rows of this file in the table (what DuckDB reports per insert)

    def lines(self, text: str, lines_before: int) -> None:
        """Insert the non-blank lines of ``text`` (whole lines, valid UTF-8)."""
        done = self.con.execute(
            _LINES_INSERT.format(**self.fill), [*self.params, text, lines_before]
        )
        self.inserted += _inserted(done)

    def rows(self, rows: list[tuple[int, str, str | None]]) -> None:
        """Insert ``(record_no, raw, decode_error)`` rows."""
        if not rows:
            return
        frame = pl.DataFrame(
            rows,
            schema={"record_no": pl.Int64, "raw": pl.String, "decode_error": pl.String},
            orient="row",
        )
        self.con.register("json_landing_rows", frame)
        try:
            self.inserted += _inserted(
                self.con.execute(_ROWS_INSERT.format(**self.fill), self.params)
            )
        finally:
            self.con.unregister("json_landing_rows")

    def discard(self) -> None:
        """Remove what was inserted of this file (its transaction is still open)."""
        self.con.execute(
            f"delete from {self.table} where file_seq = ?",  # noqa: S608 - trusted table name
            [self.file_seq],
        )
        self.inserted = 0

    def invalid_elements(self) -> int:
        """How many of this file's records are not valid JSON (or not UTF-8)."""
        row = self.con.execute(
            f"""select count(*) from {self.table}
            where file_seq = ? and (decode_error is not null or not json_valid(raw))""",  # noqa: S608
            [self.file_seq],
        ).fetchall()[0]
        return int(row[0])

    def count(self) -> int:
        """The file's records in the table (counted as inserted: a count would scan it)."""
        return self.inserted


def _inserted(result: duckdb.DuckDBPyConnection) -> int:
    """The row count DuckDB returns for an insert."""
    row = result.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def land_json_file(
    con: duckdb.DuckDBPyConnection,
    table: str,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
) -> int:
    """Insert the file's records into ``table`` (a trusted raw table name) and return how
    many records the file holds (module docstring)."""
    records = _Records(con, table, landed, file_seq, loaded_at)
    with landed.open() as handle:
        head, content = peek(handle, HEAD_BYTES)
        encoding = foreign_encoding(head)
        if encoding:
            text = head.decode("utf-8", "backslashreplace")
            records.rows([(1, text, encoding_reason(encoding))])
        elif landed.format_name.endswith((".ndjson", ".jsonl")):
            _land_lines(content, records)
        elif head.removeprefix(_BOM_BYTES).lstrip(_JSON_WHITESPACE).startswith(b"["):
            _land_array(content, head, records)
        else:
            records.rows([(1, *_document_text(content.read(), complete=True))])
    return records.count()


def _land_lines(content: BinaryIO, records: _Records) -> None:
    """NDJSON: every non-blank line a record, a block of whole lines at a time."""
    lines_before = 0
    previous = None
    for block in _line_blocks(content):
        # the lines of a block are counted only when another follows it: most files are one
        # block, and counting is a pass over all of its bytes
        if previous is not None:
            lines_before += previous.count(b"\n") + 1
        try:
            records.lines(block.decode("utf-8"), lines_before)
        except UnicodeDecodeError:
            records.rows(_undecodable_lines(block, lines_before))
        previous = block


def _line_blocks(content: BinaryIO) -> Iterator[bytes]:
    """The content in blocks of about :data:`BLOCK_BYTES`, each cut after a line feed (the
    feed itself dropped); the last block is what follows the last line feed."""
    carry = b""
    while block := content.read(BLOCK_BYTES):
        data = carry + block
        cut = data.rfind(b"\n", len(carry))
        if cut < 0:
            carry = data
            continue
        yield data[:cut]
        carry = data[cut + 1 :]
    if carry:
        yield carry


def _undecodable_lines(block: bytes, lines_before: int) -> list[tuple[int, str, str | None]]:
    """Rows for a block that is not valid UTF-8: each line decoded on its own, bad bytes
    escaped with a ``decode_error``; BOM, CR and blank-line rules as in ``_LINES_INSERT``."""
    rows: list[tuple[int, str, str | None]] = []
    for record_no, line in enumerate(block.split(b"\n"), start=lines_before + 1):
        line = line.rstrip(b"\r")
        try:
            text, error = line.decode("utf-8"), None
        except UnicodeDecodeError as bad:
            text = line.decode("utf-8", "backslashreplace")
            error = f"invalid UTF-8 byte at offset {bad.start} of the record"
        if record_no == 1:
            text = text.lstrip(_BOM)
        if not _BLANK.fullmatch(text):
            rows.append((record_no, text, error))
    return rows


def _document_text(data: bytes, *, complete: bool) -> tuple[str, str | None]:
    """A whole document's text (a leading BOM removed) and its ``decode_error``. With
    ``complete`` False, ``data`` is the head of a longer file: a character cut at its end is
    left out rather than reported."""
    data = data.removeprefix(_BOM_BYTES)
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, complete), None
    except UnicodeDecodeError as bad:
        text = data.decode("utf-8", "backslashreplace")
        return text, f"invalid UTF-8 byte at offset {bad.start} of the record"


def _land_array(content: BinaryIO, head: bytes, records: _Records) -> None:
    """A JSON array, element by element as the bytes stream in. If the file turns out not to
    be valid JSON, what was inserted is removed and the file is one record (its head)."""
    splitter = ArraySplitter()
    first = True
    record_no = 0
    at_end = False
    while not at_end:
        block = content.read(BLOCK_BYTES)
        at_end = not block
        if first:
            block, first = block.removeprefix(_BOM_BYTES), False
        elements = splitter.finish() if at_end else splitter.feed(block)
        if splitter.error:
            break
        rows = []
        for element in elements:
            record_no += 1
            try:
                rows.append((record_no, element.decode("utf-8"), None))
            except UnicodeDecodeError:
                splitter.error = "bytes that are not UTF-8"
                break
        if splitter.error:
            break
        records.rows(rows)
    if splitter.error is None and records.invalid_elements() == 0:
        return
    records.discard()
    whole = len(head) < HEAD_BYTES
    records.rows([(1, *_document_text(head, complete=whole))])


# The characters that matter to the array's structure, and the rest of a JSON string after
# its opening quote (escapes skipped; stops before the closing quote or at the end).
_STRUCTURE = re.compile(rb'[\[\]{},"]')
_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)


class ArraySplitter:
    """Cuts the text of a JSON array into the texts of its elements, block by block, keeping
    only the element being read. It follows strings and nesting, not values: an element that
    is not valid JSON is found by ``json_valid`` afterwards; a broken array (a missing or
    extra comma or bracket, text after the array, a truncated file) sets :attr:`error`."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.pos = 0  # next byte of ``buffer`` to look at
        self.state = "before"  # before | first | element | inside | string | after
        self.depth = 0  # of objects and arrays inside the current element
        self.start = 0  # where the current element starts in ``buffer``
        self.error: str | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """Elements completed by ``data``."""
        self.buffer += data
        elements = self._scan()
        keep = self.start if self.state in ("inside", "string") else self.pos
        del self.buffer[:keep]
        self.pos -= keep
        self.start -= keep
        return elements

    def finish(self) -> list[bytes]:
        """At the end of the file: anything but a complete array is an error."""
        elements = self._scan()
        if self.error is None and self.state != "after":
            self.error = "the array is not closed (a truncated file?)"
        return elements

    def _skip_whitespace(self) -> bool:
        """Move past JSON whitespace; False when the buffer ends first."""
        buffer, pos = self.buffer, self.pos
        while pos < len(buffer) and buffer[pos] in _JSON_WHITESPACE:
            pos += 1
        self.pos = pos
        return pos < len(buffer)

    def _scan(self) -> list[bytes]:  # noqa: C901, PLR0912 - one state machine
        elements: list[bytes] = []
        buffer = self.buffer
        while self.error is None:
            if self.state in ("before", "first", "element", "after"):
                if not self._skip_whitespace():
                    break
                byte = buffer[self.pos : self.pos + 1]
                if self.state == "before":
                    if byte != b"[":
                        self.error = "not an array"
                    self.pos += 1
                    self.state = "first"
                elif self.state == "after":
                    self.error = "text after the end of the array"
                elif byte == b"]" and self.state == "first":
                    self.pos += 1
                    self.state = "after"
                elif byte in (b",", b"]"):
                    self.error = "an empty element (two commas, or a comma before ])"
                else:
                    self.start, self.depth, self.state = self.pos, 0, "inside"
            elif self.state == "string":
                body = _STRING_BODY.match(buffer, self.pos)
                end = body.end() if body else self.pos
                if end < len(buffer) and buffer[end : end + 1] == b'"':
                    self.pos, self.state = end + 1, "inside"
                else:  # the string goes on in the next block (``end`` may be a backslash)
                    self.pos = end
                    break
            else:  # inside an element
                found = _STRUCTURE.search(buffer, self.pos)
                if found is None:
                    self.pos = len(buffer)
                    break
                at = found.start()
                byte = buffer[at : at + 1]
                self.pos = at + 1
                if byte == b'"':
                    self.state = "string"
                elif byte in (b"[", b"{"):
                    self.depth += 1
                elif self.depth > 0:
                    if byte != b",":  # a comma inside an object or array is not a boundary
                        self.depth -= 1
                elif byte == b"}":
                    self.error = "a } without its {"
                else:  # , or ] that ends the element
                    elements.append(bytes(buffer[self.start : at]).rstrip(_JSON_WHITESPACE))
                    self.state = "element" if byte == b"," else "after"
        return elements
