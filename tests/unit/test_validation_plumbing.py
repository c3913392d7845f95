"""How validation and landing hand data on (issue 15): pandera gets the columns its rules read,
and a peeked file is read in whole blocks. Behaviour, not timing: the tables these feed are
checked by the validation and landing tests."""

from __future__ import annotations

import io

import duckdb
import pandera.polars as pa
import polars as pl
import pytest

from orders_pipeline.landing.reading import peek
from orders_pipeline.validation.csv_rows import CsvRowSchema
from orders_pipeline.validation.odp_events import EVENT_SCHEMA, ITEM_SCHEMA
from orders_pipeline.validation.outcomes import memory_limit_bytes, slices
from orders_pipeline.validation.rules import (
    columns_read,
    decimal_places,
    failures_by_row,
    fits_decimal,
    row_check,
    rows_failing_a_rule,
    significant_digits,
)


def test_pandera_is_handed_the_columns_the_event_rules_read_and_not_the_free_text():
    read = columns_read(EVENT_SCHEMA)
    assert read is not None
    assert {"currency", "currency_kind", "total_text", "total_exact", "ts"} <= read
    # a text field is checked by its kind: its value (an address, a name) is not read
    assert {"bill_address", "email", "doc", "custom", "items"}.isdisjoint(read)
    assert {"price_text", "quantity_exact", "sku_kind"} <= columns_read(ITEM_SCHEMA)


def test_a_schema_that_adds_checks_as_it_validates_is_handed_every_column():
    rule = row_check("missing_order_id", "order_id is required", lambda: pl.col("x") > 0)
    assert columns_read(pa.DataFrameSchema(checks=[rule])) == {"x"}
    # CsvRowSchema adds a check per csv_error it finds: it must see that column too
    assert columns_read(CsvRowSchema(checks=[rule])) is None


def test_failures_are_the_same_on_the_columns_read_alone():
    frame = pl.DataFrame({"row_id": [1, 2], "x": [1, -1], "note": ["a", "b"]})
    schema = pa.DataFrameSchema(checks=[row_check("bad_x", "x > 0", lambda: pl.col("x") > 0)])
    kept = ["row_id", *sorted(columns_read(schema))]
    assert failures_by_row(schema, frame.select(kept)).to_dicts() == [
        {"row_id": 2, "reason": "bad_x: x > 0"}
    ]


def test_pandera_names_the_same_reasons_when_handed_only_the_rows_that_fail_a_rule():
    # per-record rules: one polars pass finds the rows failing any rule, pandera names them
    frame = pl.DataFrame(
        {"row_id": [1, 2, 3, 4], "x": [1, -1, None, -2], "code": ["EUR", "EUR", "eur", None]}
    )
    schema = pa.DataFrameSchema(
        checks=[
            row_check("bad_x", "x > 0", lambda: pl.col("x") > 0),
            row_check("bad_code", "upper case", lambda: pl.col("code") == "EUR"),
        ]
    )
    everything = failures_by_row(schema, frame).sort("row_id", "reason")
    screened = failures_by_row(schema, rows_failing_a_rule(schema, frame)).sort("row_id", "reason")
    assert screened.to_dicts() == everything.to_dicts()
    assert everything.to_dicts() == [
        {"row_id": 2, "reason": "bad_x: x > 0"},
        {"row_id": 3, "reason": "bad_code: upper case"},
        {"row_id": 3, "reason": "bad_x: x > 0"},  # a null fails its rule (row_check)
        {"row_id": 4, "reason": "bad_code: upper case"},
        {"row_id": 4, "reason": "bad_x: x > 0"},
    ]
    assert rows_failing_a_rule(schema, frame)["row_id"].to_list() == [2, 3, 4]
    # a schema with declared columns is judged by pandera on every row
    typed = pa.DataFrameSchema(columns={"x": pa.Column(pl.Int64)}, checks=schema.checks)
    assert rows_failing_a_rule(typed, frame).height == 4
    passing = frame.filter(pl.col("row_id") == 1)
    assert failures_by_row(schema, rows_failing_a_rule(schema, passing)).height == 0


def test_an_amount_fits_by_its_pattern_exactly_when_it_fits_by_counting_its_digits():
    texts = [
        "12.5", "100", "-3.25", "0", "0.1000", "12345678901", "12345678901.1234",
        "123456789012", "1234567890.12345", "123456789012.1234", "12.00000000001", "1e400",
        "-1e-11", "1.50e1", "100.0", "99999999999999.9", "123456789012345", "1234567890123456",
        "0.00001", "12345678901234567890123", "١٢", None,
    ]  # fmt: skip
    frame = pl.DataFrame({"text": texts}).join(
        pl.DataFrame({"exact": [True, False, None]}), how="cross"
    )
    text, exact = pl.col("text"), pl.col("exact")
    counted = exact & (decimal_places(text) <= 4) & (significant_digits(text) <= 15)
    verdicts = frame.select(fits=fits_decimal(exact, text), counted=counted)
    assert verdicts["fits"].to_list() == verdicts["counted"].to_list()


def test_a_peeked_stream_gives_whole_blocks_from_its_start():
    data = bytes(range(256)) * 40
    head, stream = peek(io.BytesIO(data), 64)
    assert head == data[:64]
    # one read of a block returns the head and what follows it, not the head alone
    assert stream.read(1000) == data[:1000]
    assert stream.read(100_000) == data[1000:]
    assert stream.read(10) == b""


def test_pending_files_are_validated_in_slices_of_whole_files_in_arrival_order():
    batch = pl.DataFrame(
        {
            "file_seq": [1, 2, 3, 4, 5],
            "file": ["a", "b", "c", "d", "e"],
            "size_bytes": [5, 5, 20, 1, 1],
            "records": [1, 2, 3, 4, 5],
        }
    )
    # a file starts the slice its preceding files' bytes fall in: [0, 10), [10, 20), ...
    assert [s["file"].to_list() for s in slices(batch, 10)] == [["a", "b"], ["c"], ["d", "e"]]
    assert [s["file"].to_list() for s in slices(batch, 1_000)] == [["a", "b", "c", "d", "e"]]
    # a budget smaller than every file: each file a slice of its own, never an empty one
    assert [s["file"].to_list() for s in slices(batch, 0)] == [["a"], ["b"], ["c"], ["d"], ["e"]]


def test_the_slice_budget_reads_duckdbs_memory_limit_in_its_own_units():
    gib, mib = 1 << 30, 1 << 20
    for setting, limit, shown_to in (
        ("3GB", 3 * 10**9, gib),
        ("1GiB", gib, gib),
        ("512MB", 512 * 10**6, mib),
    ):
        con = duckdb.connect(config={"memory_limit": setting})
        shown = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
        # DuckDB shows 3GB as '2.7 GiB': the limit is read back to the tenth of a unit shown
        assert memory_limit_bytes(con) == pytest.approx(limit, abs=shown_to / 10), shown
        con.close()
