"""A CSV or XML source's fields are a declaration (validation/landed.py): landing already
parsed each record into a ``doc`` of a shape it guarantees, and one ``json_transform`` into the
declared shape reads every field from it, as a call per field on the JSON text would.

A new CSV source declares its columns (header, candidate column, kind) and a new XML source
the typed shape of its landed ``doc``; this test reads each declaration against what landing
writes."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from orders_pipeline.landing.optimizely_xml import read_records
from orders_pipeline.samples.optimizely_xml import feed_xml, order_xml
from orders_pipeline.validation import odp_csv, optimizely_xml
from orders_pipeline.validation.csv_rows import decimal_text_message
from orders_pipeline.validation.landed import CsvColumn, CsvRecordFields

# CSV rows as landing writes them: header name -> text as sent (or no doc: an unreadable row)
CSV_DOCS = [
    {"action": " Purchase ", "order_id": "A-1", "item_price": "12.50", "Note": "x"},
    {"action": "", "order_id": "  ", "item_price": "1,5", "subtotal": " 3 "},
    None,
]


def _landed_csv(fields: CsvRecordFields, docs: list[dict | None]) -> pl.DataFrame:
    con = duckdb.connect()
    con.execute(
        "create table raw_rows as select unnest($docs)::json as doc, "
        "generate_subscripts($docs, 1) as arrival_seq",
        {"docs": [None if d is None else json.dumps(d) for d in docs]},
    )
    return con.sql(
        f"""select {fields.cells()}, {fields.entries()} as entries,
                   {fields.cell("note")} as lower_case_note, {fields.cell("Note")} as note
        from (select doc, {fields.extraction()} from raw_rows order by arrival_seq)"""
    ).pl()


def test_csv_columns_are_their_cells_trimmed_and_empty_is_not_sent():
    read = _landed_csv(odp_csv.RECORD_FIELDS, CSV_DOCS)
    assert read.select("action", "order_id", "price_text", "order_subtotal_text").rows() == [
        ("purchase", "A-1", "12.50", None),  # action is declared lower-cased
        (None, None, "1,5", "3"),
        (None, None, None, None),
    ]
    # an undeclared column stays in the row's cells, its header compared exactly
    assert read.select("note", "lower_case_note").rows()[0] == ("x", None)
    assert read["entries"][0].to_list()[-1] == {"key": "Note", "value": "x"}
    assert read["entries"][2] is None


def test_a_money_column_brings_its_rule_with_the_sentence_naming_its_header():
    rules = {(reason, message) for reason, message, _ in odp_csv.RECORD_FIELDS.rules()}
    assert ("invalid_amount", decimal_text_message("item_price")) in rules
    assert ("invalid_amount", decimal_text_message("total")) in rules
    assert not any("item_quantity" in message for _, message in rules)  # a number: no amount
    frame = pl.DataFrame({"price_text": ["12.50", None, "1,5", "1e3", "12.34567"]})
    (_, _, holds) = next(r for r in odp_csv.RECORD_FIELDS.rules() if "item_price" in r[1])
    assert frame.select(holds()).to_series().to_list() == [True, True, False, False, False]


def test_a_csv_declaration_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="unknown CSV column kind"):
        CsvColumn("total", kind="float")
    with pytest.raises(ValueError, match="declared twice"):
        CsvRecordFields(columns=(CsvColumn("total"), CsvColumn("total", "sum")))
    with pytest.raises(ValueError, match="one candidate column"):
        CsvRecordFields(columns=(CsvColumn("a", "x"), CsvColumn("b", "x")))
    with pytest.raises(KeyError):
        CsvRecordFields(columns=(CsvColumn("sku"),)).decimal("sku")


def test_the_xml_declaration_reads_every_part_of_what_landing_writes(tmp_path: Path):
    feed = tmp_path / "feed.xml"
    feed.write_text(
        feed_xml([
            order_xml("O-1", "2026-06-01T10:30:00Z", "EUR", "61,50",
                      [("P1", "2", "12.25", [("size", " XL "), ("", "keyless")]),
                       ("P2", "1.5", "20.00")],
                      subtotal="54.50", shipping="7.00", email=" Ada@Example.com ",
                      attributes=[("note", "x"), ("note", "y")]),
            order_xml("O-2", "2026-06-02", "USD", "1", []),
        ]).replace("<order refCode", '<order Total="9" subtotal="5" refCode', 1),
        encoding="utf-8",
    )  # fmt: skip
    docs = [record.doc for record in read_records(feed)]
    con = duckdb.connect()
    fields = optimizely_xml.RECORD_FIELDS
    read = con.sql(
        f"""select to_json({fields.name})::varchar
        from (select doc, {fields.extraction()}
              from (select unnest($docs)::json as doc, generate_subscripts($docs, 1) as n)
              order by n)""",
        params={"docs": docs},
    ).fetchall()
    declared = json.loads(fields.structure)
    for (parsed,), doc in zip(read, docs, strict=True):
        sent = json.loads(doc)
        # every part of the landed order is declared, except elements nobody reads
        assert set(sent) - {"unknown_elements"} <= set(declared)
        assert {k: v for k, v in json.loads(parsed).items() if k in sent} == {
            k: v for k, v in sent.items() if k in declared
        }
    # attribute names compare exactly: Total is not total, subtotal is the alias of subTotal
    first = json.loads(read[0][0])["order"]
    assert (first["total"], first["Total"], first["subTotal"], first["subtotal"]) == (
        "61,50", "9", "54.50", "5",
    )  # fmt: skip
