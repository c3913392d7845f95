"""Hostile CSV files (landing.csv_records, through the ODP CSV source): every case lands,
reconciles per file (records = accepted + quarantined + duplicates, with that many raw rows),
quarantines its bad rows with a reason a person understands and loads its good rows.

The first tests call the lander directly on a scratch DuckDB to pin what a record is; the
pipeline tests land one file per hostile case in one run; the last test lands a 1M-row file
in a subprocess and measures its memory.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orders_pipeline.config import Settings
from orders_pipeline.landing import csv_records
from orders_pipeline.landing.files import LandedFile
from orders_pipeline.runner import run_pipeline
from orders_pipeline.warehouse import raw_table_ddl
from tests.conftest import Warehouse

pytestmark = pytest.mark.heavy(seconds=40)  # scheduled first (tests/conftest.py)

HEADER = "action,ts,order_id,item_product_id,item_price,item_quantity,email,first_name,event_type"


def row(order_id: str, price: str = "10.00", first_name: str = "Alex", product: str = "P1") -> str:
    """A good ODP CSV row of HEADER (9 fields)."""
    email = f"{order_id.lower()}@example.com"
    ts = "2026-05-01T10:00:00Z"
    return f"purchase,{ts},{order_id},{product},{price},1,{email},{first_name},order"


# -- the lander on its own ---------------------------------------------------------------------


def land_bytes(tmp_path: Path, data: bytes, name: str = "f.csv") -> list[dict[str, Any]]:
    """Land ``data`` as one CSV file into a scratch raw table; its rows in record order."""
    path = tmp_path / name
    path.write_bytes(data)
    landed = LandedFile(path, name, "t", hashlib.sha256(data).hexdigest(), len(data))
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(raw_table_ddl("raw.t", csv_records.CSV_RAW_EXTRA_COLUMNS))
    count = csv_records.land_csv_file(con, "raw.t", landed, 7, datetime(2026, 6, 1, tzinfo=UTC))
    relation = con.sql(
        "select record_no, arrival_seq, line_no, raw, doc, decode_error, csv_error "
        "from raw.t order by record_no"
    )
    rows = [dict(zip(relation.columns, r, strict=True)) for r in relation.fetchall()]
    assert count == len(rows)
    return rows


def docs(rows: list[dict[str, Any]]) -> list[Any]:
    return [json.loads(r["doc"]) if r["doc"] else None for r in rows]


def test_record_no_counts_data_rows_and_line_no_where_they_start(tmp_path):
    data = b'\xef\xbb\xbf A ,B\r\n\r\n1,"two\r\nlines"\r\n   \r\n3,4\r\n\r\n'
    rows = land_bytes(tmp_path, data)
    assert [(r["record_no"], r["line_no"]) for r in rows] == [(1, 3), (2, 6)]
    assert [r["arrival_seq"] for r in rows] == [7_000_000_001, 7_000_000_002]
    # header trimmed and lower-cased, BOM gone; a line break inside quotes is stored as LF
    assert docs(rows) == [{"a": "1", "b": "two\nlines"}, {"a": "3", "b": "4"}]
    assert rows[0]["raw"] == rows[0]["doc"]  # good rows: raw is the row as a JSON object


def test_values_are_strings_exactly_as_sent(tmp_path):
    data = b'a,b,c,d\n  padded  ,"=HYPERLINK(""http://x"",""y"")","",007\n'
    [record] = land_bytes(tmp_path, data)
    assert json.loads(record["doc"]) == {
        "a": "  padded  ",
        "b": '=HYPERLINK("http://x","y")',
        "c": "",
        "d": "007",
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("1,2", "ragged_row: the row has 2 fields, the header 3"),
        ("1,2,3,4", "ragged_row: the row has 4 fields, the header 3"),
        ('1,x""y,3', "malformed_row: the row is not valid CSV"),
        ('1,"x"y,3', "malformed_row: the row is not valid CSV"),
    ],
)
def test_a_row_that_is_not_a_row_of_the_file_keeps_its_text(tmp_path, line, reason):
    rows = land_bytes(tmp_path, f"a,b,c\n{line}\n4,5,6\n".encode())
    assert rows[0]["raw"] == line and rows[0]["doc"] is None
    assert rows[0]["csv_error"].startswith(reason)
    assert docs(rows)[1] == {"a": "4", "b": "5", "c": "6"}


def test_a_lone_quote_inside_a_value_opens_a_quoted_value(tmp_path):
    """RFC 4180 has no quotes inside unquoted values: a lone one opens a quoted value that
    runs to the next quote, as in most CSV readers; here none follows."""
    rows = land_bytes(tmp_path, b'a,b,c\n1,5" screen,3\n4,5,6\n')
    assert [r["raw"] for r in rows] == ['1,5" screen,3\n4,5,6']
    assert rows[0]["csv_error"].startswith("unterminated_quote: ")


def test_an_unterminated_quote_takes_the_rest_of_the_file_into_one_record(tmp_path):
    rows = land_bytes(tmp_path, b'a,b\n1,2\n3,"never closed\n5,6\n7,8\n')
    assert docs(rows)[0] == {"a": "1", "b": "2"}
    assert len(rows) == 2
    assert rows[1]["raw"] == '3,"never closed\n5,6\n7,8'
    assert rows[1]["csv_error"].startswith("unterminated_quote: ")


def test_bad_headers(tmp_path):
    repeated = land_bytes(tmp_path, b"a,b,A\n1,2,3\n", "repeated.csv")
    assert repeated[0]["csv_error"].startswith('invalid_header: the header names "a" more')
    unnamed = land_bytes(tmp_path, b"a,,b,\n1,,2,\n3,x,4,\n", "unnamed.csv")
    assert docs(unnamed)[0] == {"a": "1", "b": "2"}  # empty unnamed cells are ignored
    assert unnamed[1]["csv_error"] == (
        "unnamed_column: the row has a value in column 2, whose name in the header is empty"
    )
    broken = land_bytes(tmp_path, b'"a,b\n1,2\n', "broken.csv")
    assert [r["raw"] for r in broken] == ['"a,b\n1,2']  # nothing is lost: it is a record


def test_invalid_utf8_rows_keep_escaped_text_and_the_others_load(tmp_path):
    rows = land_bytes(tmp_path, b"a,b\n1,caf\xc3\xa9\n2,caf\xe9\n3,ok\n")
    assert docs(rows)[0] == {"a": "1", "b": "café"}
    assert rows[1]["raw"] == "2,caf\\xe9" and rows[1]["doc"] is None
    assert rows[1]["decode_error"] == "invalid UTF-8 byte at offset 5 of line 3"
    assert docs(rows)[2] == {"a": "3", "b": "ok"}


@pytest.mark.parametrize("data", [b"", b"a,b,c\n", b"\xef\xbb\xbfa,b\r\n\r\n  \r\n", b"\n\n"])
def test_empty_and_header_only_files_hold_no_records(tmp_path, data):
    assert land_bytes(tmp_path, data) == []


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 5, 8, 13, 64])
def test_rows_are_the_same_whatever_the_read_size(tmp_path, monkeypatch, block_bytes):
    data = b'\xef\xbb\xbfa,b\r\n1,"x\r\n,y"\r\n\r\n2,"""q"""\r\n3,\xff\r\n4\r\n5,"x\n6,7\n'
    expected = land_bytes(tmp_path, data, "reference.csv")
    monkeypatch.setattr(csv_records, "BLOCK_BYTES", block_bytes)
    assert land_bytes(tmp_path, data, f"small-{block_bytes}.csv") == expected
    assert [r["record_no"] for r in expected] == [1, 2, 3, 4, 5]


# -- through the pipeline ----------------------------------------------------------------------

LONG_NAME = "N" * 3_000_000  # one 3 MB field: longer than a read block
CASES: dict[str, bytes] = {
    "quoted.csv": (
        HEADER
        + ",bill_address\n"
        + row("Q1")
        + ',"1 Main St, Apt 2\nSpringfield"\n'
        + row("Q2")
        + ',"He said ""hi"", twice"\n'
    ).encode(),
    "bom_crlf.csv": ("\ufeff" + HEADER + "\r\n" + row("B1") + "\r\n" + row("B2") + "\r\n").encode(),
    "ragged.csv": "\n".join(
        [
            HEADER,
            row("R1"),
            "purchase,2026-05-01T10:00:00Z,R2,P1,10.00,1,r2@example.com",
            row("R3") + ",extra",
            row("R4"),
        ]
    ).encode(),  # fmt: skip
    "unterminated.csv": "\n".join(
        [HEADER, row("U1"), row("U2", first_name='"never closed'), row("U3")]
    ).encode(),
    "formula.csv": "\n".join(
        [
            HEADER,
            row("F1", first_name='"=HYPERLINK(""http://evil"",""x"")"'),
            row("F2", first_name="=1+2"),
            row("F3", first_name="@SUM(A1)"),
        ]
    ).encode(),  # fmt: skip
    "invalid_utf8.csv": (HEADER + "\n").encode()
    + row("V1", first_name="Zoë").encode()
    + b"\n"
    + row("V2", first_name="Zo\xeb").encode("latin-1")
    + b"\n"
    + row("V3").encode()
    + b"\n",
    "header_only.csv": (HEADER + "\n").encode(),
    "empty.csv": b"",
    "blank_lines.csv": (
        "\n\n" + HEADER + "\n\n" + row("L1") + "\n \t\n" + row("L2") + "\n\n\n"
    ).encode(),
    "long_field.csv": (HEADER + "\n" + row("LONG", first_name=LONG_NAME) + "\n").encode(),
    "repeated_header.csv": (HEADER + ",email\n" + row("H1") + ",x@example.com\n").encode(),
}

# file -> (records, accepted, quarantined, duplicates), and the reason codes by record_no
EXPECTED: dict[str, tuple[tuple[int, int, int, int], dict[int, str]]] = {
    "quoted.csv": ((2, 2, 0, 0), {}),
    "bom_crlf.csv": ((2, 2, 0, 0), {}),
    "ragged.csv": (
        (4, 2, 2, 0),
        {
            2: "ragged_row: the row has 7 fields, the header 9",
            3: "ragged_row: the row has 10 fields, the header 9",
        },
    ),  # fmt: skip
    "unterminated.csv": ((2, 1, 1, 0), {2: "unterminated_quote"}),
    "formula.csv": ((3, 3, 0, 0), {}),
    "invalid_utf8.csv": ((3, 2, 1, 0), {2: "invalid_utf8"}),
    "header_only.csv": ((0, 0, 0, 0), {}),
    "empty.csv": ((0, 0, 0, 0), {}),
    "blank_lines.csv": ((2, 2, 0, 0), {}),
    "long_field.csv": ((1, 1, 0, 0), {}),
    "repeated_header.csv": ((1, 0, 1, 0), {1: "invalid_header"}),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    root = tmp_path_factory.mktemp("csv_hostile")
    folder = root / "landing" / "odp_csv"
    folder.mkdir(parents=True)
    for name, data in CASES.items():
        (folder / name).write_bytes(data)
    settings = Settings(landing_dir=root / "landing", warehouse=root / "warehouse.duckdb")
    summary = run_pipeline(settings)
    assert summary.success, summary.errors
    return Warehouse(path=settings.warehouse, summary=summary)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_case_reconciles_and_quarantines_with_a_reason(hostile, name):
    counts, reasons = EXPECTED[name]
    [load] = hostile.query(
        "select records, accepted, quarantined, duplicates from audit.loads where file = ?",
        [f"odp_csv/{name}"],
    )
    assert load == counts
    assert load[0] == load[1] + load[2] + load[3]
    raw_rows = hostile.value("select count(*) from raw.odp_csv where file = ?", [f"odp_csv/{name}"])
    assert raw_rows == load[0]
    quarantined = hostile.query(
        "select record_no, reasons, raw from audit.quarantine where file = ? order by record_no",
        [f"odp_csv/{name}"],
    )
    for record_no, expected in reasons.items():
        [(found, raw)] = [(r[0], text) for n, r, text in quarantined if n == record_no]
        assert found.startswith(expected), found
        assert ": " in found and raw, "a reason is a code and a sentence, with the raw text"
    assert len(quarantined) == len(reasons)


def test_good_rows_load_with_their_values(hostile):
    names = dict(hostile.query("select order_id, first_name from core.orders"))
    assert names["F1"] == '=HYPERLINK("http://evil","x")'  # plain text, never evaluated
    assert names["F2"] == "=1+2" and names["F3"] == "@SUM(A1)"
    assert names["V1"] == "Zoë" and "V2" not in names and names["V3"] == "Alex"
    assert names["LONG"] == LONG_NAME
    assert {"R1", "R4", "U1", "B1", "B2", "L1", "L2"} <= set(names)
    assert not {"R2", "R3", "U2", "U3", "H1"} & set(names)
    addresses = dict(hostile.query("select order_id, bill_address from core.orders"))
    assert addresses["Q1"] == "1 Main St, Apt 2\nSpringfield"
    assert addresses["Q2"] == 'He said "hi", twice'


def test_an_unterminated_quote_keeps_the_rest_of_the_file_as_its_raw_text(hostile):
    raw = hostile.value("select raw from audit.quarantine where file = 'odp_csv/unterminated.csv'")
    assert raw == row("U2", first_name='"never closed') + "\n" + row("U3")


# -- memory --------------------------------------------------------------------------------

STREAMING_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from datetime import UTC, datetime
    from pathlib import Path
    import duckdb
    from orders_pipeline.landing import csv_records
    from orders_pipeline.landing.files import LandedFile
    from orders_pipeline.warehouse import raw_table_ddl

    path, warehouse = Path(sys.argv[1]), sys.argv[2]
    sha = "not hashed here"  # the lander reads the file once; landing hashes it
    con = duckdb.connect(warehouse, config={"memory_limit": "128MB",
                                            "preserve_insertion_order": False})
    con.execute("set enable_progress_bar = false")  # stdout must stay one JSON line
    con.execute("create schema raw")
    con.execute(raw_table_ddl("raw.t", csv_records.CSV_RAW_EXTRA_COLUMNS))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    con.execute("begin")
    landed = LandedFile(path, path.name, "t", sha, path.stat().st_size)
    records = csv_records.land_csv_file(con, "raw.t", landed, 1, datetime.now(UTC))
    con.execute("commit")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bad = con.execute("select count(*) from raw.t where csv_error is not null").fetchall()[0][0]
    print(json.dumps({"records": records, "bad": bad, "growth_kib": after - before}))
    """
)


@pytest.mark.slow
def test_a_million_rows_land_with_bounded_memory(tmp_path):
    """~100 MB of CSV (1% of rows with quoted commas and quotes) lands in one pass; the
    process grows by less than 2x the file (DuckDB's memory limit bounds the rest)."""
    path = tmp_path / "big.csv"
    duckdb.sql(
        f"""copy (
            select 'purchase' as action, 1780272000 + i as ts,
                   'ORD-' || (i // 2) as order_id, 'P' || (i % 500) as item_product_id,
                   '12.50' as item_price, '2' as item_quantity, '25.00' as item_subtotal,
                   'c' || (i // 7) || '@example.com' as email,
                   case when i % 100 = 0 then 'gift, "wrapped"' else 'none' end as order_note
            from range(1000000) as t(i)
        ) to '{path}' (header)"""  # noqa: S608 - a test path
    )
    size = path.stat().st_size
    done = subprocess.run(
        [sys.executable, "-c", STREAMING_CHILD, str(path), str(tmp_path / "w.duckdb")],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert result["records"] == 1_000_000 and result["bad"] == 0
    growth = result["growth_kib"] * 1024  # ru_maxrss is in KiB on Linux
    assert growth < 2 * size, f"RSS grew {growth / 2**20:.0f} MiB for {size / 2**20:.0f} MiB"
