"""Landing the Optimizely offline / historical orders feed (docs/semantics.md §1.5) from
``<landing>/optimizely_xml/``: one raw row per ``<order>`` of an ``.xml`` file.

Each row keeps
- ``raw``: the ``<order>`` element's text exactly as received (the bytes from its start tag to
  its end tag), ``record_no`` its 1-based position among the root's child elements;
- ``doc``: the order parsed into JSON, every value a string exactly as sent, so validation
  reuses the JSON machinery (``JsonSourceValidation``) and duplicate detection compares
  parsed content, not whitespace or attribute order::

      {"element": "order",
       "order": {"refCode": "A1", "orderDate": "...", "currency": "USD", "total": "10.00"},
       "users": [{"email": "a@example.com"}],
       "products": [{"product": {"refCode": "P1", "qty": "1", "price": "10.00"},
                     "attributes": [{"key": "pricerange", "value": "cheap"}]}],
       "attributes": [{"key": "transaction", "value": "debitcard"}],
       "unknown_elements": []}

  (``order``/``users[]``/``product``: the XML attributes of those elements; ``attributes``:
  the ``<attribute key=…>value</attribute>`` children in document order, repeats kept);
- ``parse_error``: set on a record that is not an order, as ``code: message`` (validation
  quarantines it with that code).

Parsing is streaming and hardened: ``defusedxml``'s expat parser fed 64 KiB blocks, with DTDs,
entity declarations and external references refused, so nothing is ever expanded or fetched
(billion laughs, XXE). Only the current order is held in memory, and rows go to DuckDB through
a registered polars frame every ``BATCH_ROWS`` orders.

Whatever the bytes, the file ends as records:
- a document that stops being well-formed XML part way (truncated, a bad token, an undefined
  entity, bytes that are not UTF-8) keeps the orders completed before the error; the rest of
  the file from the end of the last complete order is one more record (``invalid_xml`` with the
  parser's message and line/column; ``decode_error`` as well when those bytes are not UTF-8);
- a DTD or entity declaration (``forbidden_xml``), a root element other than ``<orders>``
  (``unexpected_root``) or an encoding other than UTF-8 (``unsupported_encoding``) make the
  file one record; an empty file is one ``invalid_xml`` record (no element found);
- a child of ``<orders>`` that is not ``<order>`` is its own record (``unexpected_element``);
- ``<orders/>`` with no order is a file of zero records.
Text kept for a record that is not an order is bounded to ``HEAD_BYTES``.
"""

from __future__ import annotations

import codecs
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import polars as pl
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from orders_pipeline.landing.files import LandedFile
from orders_pipeline.landing.reading import foreign_encoding
from orders_pipeline.warehouse import ARRIVAL_STRIDE, KEPT_TEXT_STORAGE

SOURCE = "optimizely_xml"
RAW_TABLE = "raw.optimizely_xml"
SUFFIXES = (".xml",)
# Columns of raw.optimizely_xml beyond warehouse.RAW_COLUMNS (Source.raw_extra_columns).
# The parsed order is kept as the raw text is (warehouse.KEPT_TEXT_STORAGE): 180,000 orders
# in 200 feeds, landed and validated, three runs each: landing 6.89-7.77 -> 6.57-7.03 CPU s,
# validation the same, the warehouse 40.7 -> 20.7 MiB.
RAW_EXTRA_COLUMNS = f"""
    doc          json {KEPT_TEXT_STORAGE},  -- the order parsed from the XML, as sent
    parse_error  varchar   -- `code: message` when the record is not a parsable <order>"""

ROOT = "orders"
ORDER = "order"
# Python holds about 1.2 KB per order (its text and its JSON); a batch of 5,000 is ~6 MB.
BATCH_ROWS = 5_000
# Every order completed in a block is collected before the block's records are handed on.
READ_BYTES = 64 * 1024
# Text kept for a record that is not an order (a refused document, an unparsable remainder).
HEAD_BYTES = 64 * 1024
UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_DECLARED_ENCODING = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)")

_RAW_INSERT = f"""
insert into raw.optimizely_xml
    (file_seq, file, record_no, arrival_seq, raw, decode_error, loaded_at, doc, parse_error)
select ?1, ?2, record_no, ?1::bigint * {ARRIVAL_STRIDE} + record_no, raw, decode_error, ?3,
       json(doc), parse_error
from optimizely_xml_batch
"""
_BATCH_SCHEMA = {
    "record_no": pl.Int64,
    "raw": pl.String,
    "decode_error": pl.String,
    "doc": pl.String,
    "parse_error": pl.String,
}


@dataclass(slots=True)
class RawRecord:
    """One row of ``raw.optimizely_xml`` before its file's metadata is added."""

    record_no: int
    raw: str
    doc: str | None = None
    parse_error: str | None = None
    decode_error: str | None = None


class UnexpectedRoot(Exception):
    """The document's root element is not ``<orders>``: the file is not an orders feed."""

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        self.tag = tag


@dataclass
class _Element:
    """A child of ``<orders>`` being read: where it starts and what it holds so far."""

    tag: str
    start: int  # byte offset of its start tag in the file
    doc: dict[str, Any]
    has_content: bool = False


@dataclass
class OrderCollector:
    """ElementTree parser target that turns each child of ``<orders>`` into a
    :class:`RawRecord` as soon as its end tag is read. ``window`` holds the file's bytes from
    ``window_start`` on (at least from the open order's start tag), so the record keeps its
    exact text; ``expat`` (set after the parser exists) gives the current byte offset."""

    expat: Any = None
    window: bytearray = field(default_factory=bytearray)
    window_start: int = 0
    depth: int = 0
    records: list[RawRecord] = field(default_factory=list)
    record_count: int = 0
    resume_offset: int = 0  # byte offset just after the last complete record
    resume_head: bytearray = field(default_factory=bytearray)  # see trim_window
    resume_head_for: int = 0  # the resume_offset that resume_head starts at
    current: _Element | None = None
    _product: dict[str, Any] | None = None
    _attribute: dict[str, Any] | None = None
    _text: list[str] = field(default_factory=list)

    # -- parser target interface -------------------------------------------------------------

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        """An element starts."""
        depth, self.depth = self.depth, self.depth + 1
        if depth == 0:
            if tag != ROOT:
                raise UnexpectedRoot(tag)
            return
        if depth == 1:
            doc: dict[str, Any] = {"element": tag}
            if tag == ORDER:
                doc.update(order=dict(attrib), users=[], products=[], attributes=[])
                doc["unknown_elements"] = []
            self.current = _Element(tag=tag, start=self.expat.CurrentByteIndex, doc=doc)
            return
        if self.current is None or self.current.tag != ORDER:
            return
        self.current.has_content = True
        self._child_start(depth, tag, attrib)

    def _child_start(self, depth: int, tag: str, attrib: dict[str, str]) -> None:
        doc = self.current.doc if self.current else {}
        if depth == 2 and tag == "user":
            doc["users"].append(dict(attrib))
        elif depth == 2 and tag == "product":
            self._product = {"product": dict(attrib), "attributes": []}
            doc["products"].append(self._product)
        elif tag == "attribute" and (depth == 2 or (depth == 3 and self._product is not None)):
            self._attribute = {"key": attrib.get("key"), "value": ""}
            self._text = []
            owner = doc if depth == 2 else self._product
            if owner is not None:
                owner["attributes"].append(self._attribute)
        elif self._attribute is None:
            doc["unknown_elements"].append(tag)

    def data(self, text: str) -> None:
        """Character data: kept only as the value of an ``<attribute>``."""
        if self.current is not None:
            self.current.has_content = True
        if self._attribute is not None:
            self._text.append(text)

    def end(self, tag: str) -> None:
        """An element ends; the end of a child of ``<orders>`` completes a record."""
        self.depth -= 1
        if self.depth == 1 and self.current is not None:
            self._complete(self.current)
            self.current = None
        elif tag == "attribute" and self._attribute is not None and self.depth in (2, 3):
            self._attribute["value"] = "".join(self._text)
            self._attribute = None
        elif tag == "product" and self.depth == 2:
            self._product = None

    def close(self) -> None:
        """End of the document (nothing to return: records are collected as they end)."""

    # -- records -----------------------------------------------------------------------------

    def _complete(self, element: _Element) -> None:
        end = self._element_end(element)
        text = bytes(self.window[element.start - self.window_start : end - self.window_start])
        self.record_count += 1
        record = RawRecord(record_no=self.record_count, raw=text.decode("utf-8"))
        record.doc = json.dumps(element.doc, ensure_ascii=False, separators=(",", ":"))
        if element.tag != ORDER:
            record.parse_error = (
                f"unexpected_element: <{element.tag}> is not an <order>; an Optimizely orders "
                "feed holds only <order> elements under <orders>"
            )
        self.records.append(record)
        self.resume_offset = end

    def _element_end(self, element: _Element) -> int:
        """Byte offset just after the element's end. expat reports an end tag at its ``<``,
        and the end of an empty-element tag (``<order/>``) just after its ``/>``."""
        index = self.expat.CurrentByteIndex
        at = index - self.window_start
        empty_tag = not element.has_content and self.window[at - 2 : at] == b"/>"
        if self.window[at : at + 2] == b"</" and not empty_tag:
            return self.window.index(b">", at) + 1 + self.window_start
        return index

    def trim_window(self) -> None:
        """Drop the bytes no record can need any more. The first ``HEAD_BYTES`` after the last
        complete record are set aside (``resume_head``): the file is read forward only, and
        they are the text of the record an error later in the file makes."""
        keep = self.keep_window_from()
        if self.resume_head_for != self.resume_offset:
            self.resume_head, self.resume_head_for = bytearray(), self.resume_offset
        start = max(self.resume_offset, self.window_start)
        if start < keep and len(self.resume_head) < HEAD_BYTES:
            wanted = min(keep - start, HEAD_BYTES - len(self.resume_head))
            offset = start - self.window_start
            self.resume_head += self.window[offset : offset + wanted]
        del self.window[: keep - self.window_start]
        self.window_start = keep

    def remainder_head(self) -> bytes:
        """The bytes from the end of the last complete record, as far as read (at most
        ``HEAD_BYTES``)."""
        held = self.resume_head if self.resume_head_for == self.resume_offset else bytearray()
        start = max(self.resume_offset, self.window_start)
        return bytes(held + self.window[start - self.window_start :])[:HEAD_BYTES]

    def keep_window_from(self) -> int:
        """The first byte offset still needed: the open record's start, else the end of what
        has been read."""
        if self.current is not None:
            return self.current.start
        return self.window_start + len(self.window)


def land_records(
    con: duckdb.DuckDBPyConnection,
    landed: LandedFile,
    file_seq: int,
    loaded_at: datetime,
) -> int:
    """Insert the records of one Optimizely XML file into ``raw.optimizely_xml`` and return
    how many it holds."""
    total = 0
    with landed.open() as stream:
        for batch in batches(stream):
            total += _insert_batch(con, batch, file_seq, landed.relative, loaded_at)
            del batch  # before the next batch is read: one batch in memory at a time
    return total


def _insert_batch(
    con: duckdb.DuckDBPyConnection,
    batch: list[RawRecord],
    file_seq: int,
    relative: str,
    loaded_at: datetime,
) -> int:
    frame = pl.DataFrame(
        {
            "record_no": [r.record_no for r in batch],
            "raw": [r.raw for r in batch],
            "decode_error": [r.decode_error for r in batch],
            "doc": [r.doc for r in batch],
            "parse_error": [r.parse_error for r in batch],
        },
        schema=_BATCH_SCHEMA,
    )
    con.register("optimizely_xml_batch", frame)
    try:
        con.execute(_RAW_INSERT, [file_seq, relative, loaded_at])
    finally:
        con.unregister("optimizely_xml_batch")
    return len(batch)


def batches(stream: BinaryIO | Path, size: int | None = None) -> Iterator[list[RawRecord]]:
    """The file's records in lists of at most ``size`` (``BATCH_ROWS``), read as the file
    streams in (one batch in memory at a time)."""
    size = BATCH_ROWS if size is None else size
    batch: list[RawRecord] = []
    for record in read_records(stream):
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_records(source: BinaryIO | Path) -> Iterator[RawRecord]:
    """Every record of one XML file, in document order (module docstring). The file is read
    once, forward only (``landing.reading``: what is landed is what is hashed)."""
    if isinstance(source, Path):
        with source.open("rb") as handle:
            yield from read_records(handle)
        return
    head = source.read(HEAD_BYTES)
    refused = _refused_encoding(head)
    if refused:
        yield _document_record(1, head, refused, at_end=len(head) < HEAD_BYTES)
        return
    collector = OrderCollector()
    parser = DefusedXMLParser(
        target=collector, encoding="utf-8", forbid_dtd=True, forbid_entities=True
    )
    collector.expat = parser.parser
    try:
        for block in itertools.chain([head], iter(lambda: source.read(READ_BYTES), b"")):
            if not block:
                continue
            collector.window += block
            parser.feed(block)
            yield from _drain(collector)
            collector.trim_window()
        parser.close()
        yield from _drain(collector)
        return
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as refused_xml:
        reason = _forbidden_reason(refused_xml)
    except UnexpectedRoot as root:
        reason = (
            f"unexpected_root: the root element is <{root.tag}>, not <{ROOT}>; this file "
            "is not an Optimizely orders feed"
        )
    except ParseError as error:
        reason = (
            f"invalid_xml: {error}; this record is the file from the end of its last "
            "complete order on"
        )
    yield from _drain(collector)
    remainder = collector.remainder_head()
    remainder += source.read(max(0, HEAD_BYTES - len(remainder)))
    at_end = not source.read(1)
    yield _document_record(collector.record_count + 1, remainder, reason, at_end=at_end)


def _drain(collector: OrderCollector) -> Iterator[RawRecord]:
    records, collector.records = collector.records, []
    yield from records


def _refused_encoding(head: bytes) -> str | None:
    """A reason when the file declares (or starts with the mark of) an encoding other than
    UTF-8: offsets and raw text are kept as UTF-8, as for every other source."""
    encoding = foreign_encoding(head)
    if encoding:
        return f"unsupported_encoding: the file is {encoding}; send the feed as UTF-8"
    declared = _DECLARED_ENCODING.match(head)
    if declared:
        name = declared.group(1).decode("ascii", "replace").strip()
        if name.lower() not in UTF8_NAMES:
            return (
                f"unsupported_encoding: the XML declaration says encoding={name!r}; send the "
                "feed as UTF-8"
            )
    return None


def _forbidden_reason(error: Exception) -> str:
    if isinstance(error, DTDForbidden):
        what = f"declares a DTD (<!DOCTYPE {error.name}>)"
    elif isinstance(error, EntitiesForbidden):
        what = f"declares an entity ({error.name!s})"
    else:
        what = "refers to an external entity"
    return (
        f"forbidden_xml: the document {what}; DTDs, entities and external references are "
        "refused, never expanded or fetched: remove them from the feed"
    )


def _document_record(record_no: int, data: bytes, reason: str, *, at_end: bool) -> RawRecord:
    """A record for bytes that are not an order: their text (bounded by the caller), with the
    bad bytes escaped and a ``decode_error`` when they are not UTF-8."""
    try:
        text, decode_error = codecs.getincrementaldecoder("utf-8")().decode(data, at_end), None
    except UnicodeDecodeError as bad:
        text = data.decode("utf-8", "backslashreplace")
        decode_error = f"invalid UTF-8 byte at offset {bad.start} of the record"
    return RawRecord(record_no=record_no, raw=text, parse_error=reason, decode_error=decode_error)
