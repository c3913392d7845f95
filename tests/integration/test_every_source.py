"""Issue 3's "done means": the default run loads every source in the bundled sample folder,
the summary shows each, and one customer who shops through several sources is one
customer."""

from __future__ import annotations

import shutil
from decimal import Decimal

import duckdb
import pytest

from orders_pipeline.config import PROJECT_ROOT, Settings
from orders_pipeline.runner import run_pipeline
from orders_pipeline.sources import SOURCES
from orders_pipeline.validation import outcomes
from tests.conftest import Warehouse, table_contents

pytestmark = pytest.mark.heavy(seconds=40)  # scheduled first (tests/conftest.py)

SHARED_EMAIL = "shared.customer@example.com"


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Warehouse:
    root = tmp_path_factory.mktemp("sample")
    shutil.copytree(PROJECT_ROOT / "data" / "landing", root / "landing")
    settings = Settings(landing_dir=root / "landing", warehouse=root / "w.duckdb")
    summary = run_pipeline(settings)
    assert summary.success, summary.errors
    return Warehouse(path=root / "w.duckdb", summary=summary)


def test_the_bundled_sample_has_every_source_and_the_summary_shows_each(sample_run):
    assert set(sample_run.summary.by_source) == {source.name for source in SOURCES}
    for name, counts in sample_run.summary.by_source.items():
        assert counts["accepted"] > 0, name
        assert (
            counts["records"] == counts["accepted"] + counts["quarantined"] + counts["duplicates"]
        ), name


def test_every_source_keeps_its_raw_text_compressed_with_zstd(sample_run):
    """Issue 15: a raw table's text, and the document landing parsed from a CSV row or an XML
    order, are written once, read once by validation and kept, so they are stored with ZSTD
    (warehouse.RAW_COLUMNS, the CSV and XML sources' extra columns), which lands them with
    less CPU than DuckDB's default for strings and in less space; every record is there."""
    con = duckdb.connect(str(sample_run.path), read_only=True)
    try:
        for source in SOURCES:
            schema, table = source.raw_table.split(".")
            kept = con.execute(
                "select column_name from duckdb_columns() "
                "where schema_name = ? and table_name = ? and column_name in ('raw', 'doc')",
                [schema, table],
            ).fetchall()
            stored = dict(
                con.execute(
                    "select column_name, string_agg(distinct compression, ',') "
                    "from pragma_storage_info(?) "
                    "where column_name in ('raw', 'doc') and segment_type <> 'VALIDITY' "
                    "group by column_name",
                    [source.raw_table],
                ).fetchall()
            )
            assert stored == {column: "ZSTD" for (column,) in kept}, source.name
            assert ("raw",) in kept, source.name
            landed, missing = con.execute(
                f"select count(*), count(*) filter (where raw is null and decode_error is null) "
                f"from {source.raw_table}"  # noqa: S608 - the source's own table name
            ).fetchall()[0]
            assert landed == sample_run.summary.by_source[source.name]["records"], source.name
            assert missing == 0, source.name
    finally:
        con.close()


def test_every_order_source_reaches_the_ledger(sample_run):
    sources = {row[0] for row in sample_run.query("select distinct source from core.order_events")}
    assert sources == {"odp_events", "odp_csv", "ometria_orders", "optimizely_xml"}
    created = sample_run.query("select count(*) from core.orders where created_by = 'object'")
    assert created[0][0] >= 1


def test_one_customer_across_odp_ometria_and_xml(sample_run):
    [customer_id] = sample_run.query(
        "select customer_id from core.customer_identifiers "
        "where identifier_type = 'email' and identifier_value = ?",
        [SHARED_EMAIL],
    )[0]
    sources = {
        row[0]
        for row in sample_run.query(
            "select distinct source from core.orders where customer_id = ?", [customer_id]
        )
    }
    assert {"odp_events", "odp_csv", "ometria_orders", "optimizely_xml"} <= sources
    customer = sample_run.dicts("select * from core.customers where customer_id = ?", [customer_id])
    assert customer[0]["first_name"] == "Alex"
    # LTV is the sum of the counted orders' base subtotals, whatever their source and currency
    ltv = sample_run.value(
        "select sum(subtotal_base) from core.orders where customer_id = ? and event_count > 0",
        [customer_id],
    )
    assert customer[0]["ltv"] == ltv and ltv > Decimal("0")


def test_every_order_of_the_sample_converts_to_the_base_currency(sample_run):
    assert sample_run.value("select count(*) from core.orders where subtotal_base is null") == 0
    currencies = {row[0] for row in sample_run.query("select distinct currency from core.orders")}
    assert {"USD", "EUR", "GBP"} <= currencies


def test_the_seed_documents_examples_are_in_the_sample(sample_run):
    # Ometria's order 123553 as documented: subtotal 83.33 GBP
    order = sample_run.order("123553")
    assert (order["subtotal"], order["currency"]) == (Decimal("83.33"), "GBP")
    # ODP's refund example: -30 and 30 mean the same
    timeline = sample_run.ledger("ODP-SHARED-1")
    assert [e["subtotal_delta"] for e in timeline] == [Decimal("100"), Decimal("-30")]


def test_the_sample_validated_one_file_at_a_time_equals_one_full_run(
    tmp_path, sample_run, monkeypatch
):
    """Issue 15: validation takes a source's pending files in slices (outcomes.slices), each
    in a transaction of its own, so that a big batch's temp tables fit in memory. With a
    budget below every file's size each file is a slice of its own, and the tables are still
    those of one full run: duplicates across files, idempotence keys and Ometria changes of
    an order sent in an earlier file all look at the slices staged before them."""
    monkeypatch.setattr(outcomes, "SLICE_SHARE_OF_MEMORY_LIMIT", 0)
    sliced_files = []
    validate_slice = outcomes._validate_slice

    def counted(con, spec, files):
        sliced_files.append(files["file"].to_list())
        return validate_slice(con, spec, files)

    monkeypatch.setattr(outcomes, "_validate_slice", counted)
    sliced = tmp_path / "sliced.duckdb"
    summary = run_pipeline(
        Settings(landing_dir=PROJECT_ROOT / "data" / "landing", warehouse=sliced)
    )
    assert summary.success, summary.errors
    schemas = ("staging", "intermediate", "core", "reporting", "audit")
    assert table_contents(sliced, schemas) == table_contents(sample_run.path, schemas)
    # every file of the sample was a slice of its own
    con = duckdb.connect(str(sliced), read_only=True)
    landed = sorted(f for (f,) in con.execute("select file from audit.loads").fetchall())
    con.close()
    assert all(len(files) == 1 for files in sliced_files)
    assert sorted(f for files in sliced_files for f in files) == landed


def test_the_sample_landed_in_three_batches_equals_one_full_run(tmp_path, sample_run):
    """Issue 5: incremental builds (staging adds only new records' rows, the ledger
    re-derives only the days new events change) give the very tables a full run gives, for
    every source. The batches follow the landing order (path order), as a merchant's files
    would arrive."""
    sample = PROJECT_ROOT / "data" / "landing"
    files = sorted(p.relative_to(sample) for p in sample.rglob("*") if p.is_file())
    third = -(-len(files) // 3)
    batches = [files[:third], files[third : 2 * third], files[2 * third :]]
    assert all(batches)

    landing = tmp_path / "landing"
    incremental = tmp_path / "incremental.duckdb"
    for batch in batches:
        for relative in batch:
            (landing / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(sample / relative, landing / relative)
        summary = run_pipeline(Settings(landing_dir=landing, warehouse=incremental))
        assert summary.success, summary.errors

    # the module's one run over the whole sample is the full run
    schemas = ("staging", "intermediate", "core", "reporting", "audit")
    assert table_contents(incremental, schemas) == table_contents(sample_run.path, schemas)
