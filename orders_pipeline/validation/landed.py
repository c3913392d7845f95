"""Reading a record that landing already parsed, from one parse (issue 15; docs/pitfalls.md).

The CSV and XML readers of ``landing/`` turn each record into a JSON ``doc`` of a shape they
guarantee: a CSV row is an object of header name -> text as sent (``landing/csv_records``), an
XML element its attributes and children flattened (``landing/optimizely_xml``). A record they
cannot read has no ``doc`` and says why in an error column (``csv_error``, ``parse_error``).
Unlike a JSON record as a sender wrote it (``validation/parsed.py``), such a ``doc`` holds no
kind to check: every value is text. So a source declares the typed shape of its ``doc``
(``LandedRecordFields``), and :func:`landed_record_ctes` parses each record once, by one
``json_transform`` into that shape; the fields are then read from the typed value (a map
lookup, a struct field, a list), never from the JSON text again.

A CSV source declares its columns (``CsvRecordFields``: header name, candidate column, kind):
the row is read as ``MAP(VARCHAR, VARCHAR)`` (header names compare exactly, and columns
without a meaning of their own stay at hand as the map's entries), each declared column is
its cell trimmed, NULL when empty (an empty cell is a value not sent, docs/semantics.md §1.2),
and the kind brings its rule: a ``money`` column is a plain decimal that DECIMAL(18,4) holds
exactly, or the row is quarantined (``invalid_amount``), and is cast once when accepted.

Every method returns SQL text built from code constants, never from input data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from orders_pipeline.validation.csv_rows import decimal_text_fits, decimal_text_message
from orders_pipeline.validation.parsed import sql_literal

# What a CSV cell may be declared as: text (trimmed), text lower-cased, a number or an amount
# kept as text (``<name>_text``) until accepted; an amount brings its ``invalid_amount`` rule.
CSV_KINDS = ("text", "lower", "number", "money")
# A rule of a source: (reason code, sentence, expression true for good rows); ``row_check``
# (validation/rules.py) makes it a pandera check.
Rule = tuple[str, str, Callable[[], pl.Expr]]


@dataclass(frozen=True, kw_only=True)
class LandedRecordFields:
    """The typed shape of the ``doc`` landing writes for each record: its declaration.

    ``structure`` is a ``json_transform`` structure (a JSON text: an object of field -> type,
    or one type as a JSON string, ``'"MAP(VARCHAR, VARCHAR)"'``); ``error_column`` is the raw
    column in which landing says why a record has no ``doc``. The SQL of a field reads the
    column ``name`` that :func:`landed_record_ctes` adds to the row."""

    structure: str
    error_column: str
    name: str = "parsed"

    def extraction(self) -> str:
        """The select-list item that parses ``doc`` once into the declared shape."""
        return f"json_transform(doc, {sql_literal(self.structure)}) as {self.name}"


@dataclass(frozen=True)
class CsvColumn:
    """One declared column of a CSV source: its ``header`` name (lower case, as landing
    keeps it), the candidate column it becomes (``name``, by default the header; a
    ``number`` or ``money`` column becomes ``<name>_text``) and its ``kind``
    (:data:`CSV_KINDS`)."""

    header: str
    name: str = ""
    kind: str = "text"

    def __post_init__(self) -> None:
        if self.kind not in CSV_KINDS:
            raise ValueError(f"unknown CSV column kind {self.kind!r}")
        if not self.name:
            object.__setattr__(self, "name", self.header)

    @property
    def column(self) -> str:
        """The candidate column the cell is read into."""
        return f"{self.name}_text" if self.kind in ("number", "money") else self.name


@dataclass(frozen=True, kw_only=True)
class CsvRecordFields(LandedRecordFields):
    """The columns a CSV source reads from each row (``landing/csv_records``): its
    declaration. Columns it does not declare are kept in the row's map (:meth:`entries`)."""

    columns: tuple[CsvColumn, ...]
    structure: str = '"MAP(VARCHAR, VARCHAR)"'
    error_column: str = "csv_error"
    _by_header: dict[str, CsvColumn] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_header = {c.header: c for c in self.columns}
        if len(by_header) != len(self.columns):
            raise ValueError("a CSV column is declared twice")
        if len({c.column for c in self.columns}) != len(self.columns):
            raise ValueError("two CSV columns are read into one candidate column")
        object.__setattr__(self, "_by_header", by_header)

    def cell(self, header: str) -> str:
        """The cell of a column (declared or not): NULL when absent or empty, spaces trimmed."""
        return f"nullif(trim({self.name}[{sql_literal(header)}]), '')"

    def cells(self) -> str:
        """The select-list items of the declared columns, in declaration order."""
        items = []
        for c in self.columns:
            cell = self.cell(c.header)
            items.append(f"{'lower(' + cell + ')' if c.kind == 'lower' else cell} as {c.column}")
        return ",\n            ".join(items)

    def entries(self) -> str:
        """The row's cells as a list of ``{key, value}`` (header name, text as sent); NULL
        for a row landing could not read."""
        return f"map_entries({self.name})"

    def rules(self) -> list[Rule]:
        """The rules the declared kinds bring: each ``money`` column, when sent, is a plain
        decimal that DECIMAL(18,4) holds exactly (``invalid_amount``, naming its header)."""
        return [
            ("invalid_amount", decimal_text_message(c.header),
             lambda column=c.column: pl.col(column).is_null()
             | decimal_text_fits(pl.col(column)))
            for c in self.columns
            if c.kind == "money"
        ]  # fmt: skip

    def decimal(self, header: str, row: str = "c") -> str:
        """The accepted value of a ``number`` or ``money`` column: its text cast once."""
        c = self._by_header[header]
        if c.kind not in ("number", "money"):
            raise KeyError(f"{header!r} is not declared as a number")
        return f"cast({row}.{c.column} as decimal(18, 4))"


def landed_record_ctes(raw_table: str, fields: LandedRecordFields) -> str:
    """The CTEs every source of landed documents (CSV rows, XML elements) starts from, ending
    in ``landed``: one row per raw record of the batch's files (``batch_files``) with
    ``row_id`` (its ``arrival_seq``), ``file_seq``, ``file``, ``record_no``, ``loaded_at``,
    ``decode_error``, the landing error column, ``doc``, ``readable`` (landing read it: no
    decode or landing error, so it has a ``doc``) and the ``doc`` parsed once
    (``fields.extraction()``)."""
    error = fields.error_column
    return f"""
    records as not materialized (
        select r.*
        from {raw_table} as r
        join batch_files as b using (file_seq)
    ),
    landed as materialized (
        -- materialized: a source reads it more than once (its events' keys, its
        -- attributes), and an inlined CTE parsed each record once per reading (issue 15)
        select
            arrival_seq as row_id, file_seq, file, record_no, loaded_at, decode_error,
            {error}, doc,
            {error} is null and decode_error is null as readable,
            {fields.extraction()}
        from records
    )"""
