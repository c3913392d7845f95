"""Hostile Optimizely XML feeds (docs/semantics.md §1.5: entity expansion and external entities are
disabled): nothing is expanded, read or fetched; every hostile or broken file ends as
quarantined records whose counts reconcile, and the other files of the landing load. A large
feed lands with memory bounded by a batch, not by the file."""

from __future__ import annotations

import http.server
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from orders_pipeline.config import Settings
from orders_pipeline.landing import optimizely_xml as landing_xml
from orders_pipeline.landing.files import LandedFile
from orders_pipeline.runner import run_pipeline
from orders_pipeline.samples.optimizely_xml import feed_xml, order_xml
from orders_pipeline.sources import ensure_source_tables
from orders_pipeline.warehouse import LANDING_DDL, SCHEMAS
from tests.conftest import Warehouse, table_contents

pytestmark = pytest.mark.heavy(seconds=60)  # scheduled first (tests/conftest.py)

SECRET = "s3cr3t-c0ntents-that-must-never-be-read"


def good_feed(prefix: str, count: int = 2) -> str:
    return feed_xml(
        order_xml(f"{prefix}{n}", "2026-06-01T12:00:00Z", "USD", "10.00",
                  [("P1001", "1", "10.00")], email=f"{prefix.lower()}{n}@example.com")
        for n in range(count)
    )  # fmt: skip


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE orders [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">\n'
        for n in range(1, 10)
    )
    + ']>\n<orders><order refCode="&lol9;" orderDate="2026-06-01" currency="USD" total="1">'
    '<product refCode="P1" quantity="1" price="1"/></order></orders>\n'
)


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with an entity body and remembers that it was asked."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        type(self).requests.append(self.path)
        body = f'<!ENTITY fetched "{SECRET}">'.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """A local HTTP server that records any request (none may arrive)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def hostile_feeds(secret_file: Path, url: str) -> dict[str, str]:
    order = (
        '<order refCode="&xxe;" orderDate="2026-06-01" currency="USD" total="1">'
        '<product refCode="P1" quantity="1" price="1"/></order>'
    )
    return {
        "billion_laughs.xml": BILLION_LAUGHS,
        "xxe_file.xml": f'<?xml version="1.0"?>\n<!DOCTYPE orders [<!ENTITY xxe SYSTEM '
        f'"file://{secret_file}">]>\n<orders>{order}</orders>\n',
        "xxe_http.xml": f'<!DOCTYPE orders [<!ENTITY xxe SYSTEM "{url}/entity">]>\n'
        f"<orders>{order}</orders>\n",
        "external_dtd.xml": f'<!DOCTYPE orders SYSTEM "{url}/feed.dtd">\n'
        f"<orders>{order}</orders>\n",
        "parameter_entity.xml": f'<!DOCTYPE orders [<!ENTITY % remote SYSTEM "{url}/pe">'
        f"%remote;]>\n<orders>{order}</orders>\n",
    }


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, http_server: str) -> Warehouse:
    root = tmp_path_factory.mktemp("xml_hostile")
    secret_file = root / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    folder = root / "landing" / "optimizely_xml"
    folder.mkdir(parents=True)
    (folder / "a_good.xml").write_text(good_feed("GA"), encoding="utf-8")
    for name, text in hostile_feeds(secret_file, http_server).items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "z_good.xml").write_text(good_feed("GZ"), encoding="utf-8")
    RecordingHandler.requests.clear()
    settings = Settings(landing_dir=root / "landing", warehouse=root / "w.duckdb")
    summary = run_pipeline(settings)
    assert summary.success, summary.errors
    return Warehouse(path=settings.warehouse, summary=summary)


def test_hostile_documents_are_quarantined_and_the_other_files_load(hostile_run):
    loads = hostile_run.query(
        "select file, records, accepted, quarantined, duplicates from audit.loads order by file"
    )
    hostile = dict.fromkeys(hostile_feeds(Path("x"), "http://x"), (1, 0, 1, 0))
    assert {file.removeprefix("optimizely_xml/"): tuple(counts) for file, *counts in loads} == {
        "a_good.xml": (2, 2, 0, 0),
        "z_good.xml": (2, 2, 0, 0),
        **hostile,
    }
    reasons = hostile_run.query(
        "select q.file, q.reasons, r.parse_error from audit.quarantine as q "
        "join raw.optimizely_xml as r using (file, record_no)"
    )
    assert {tuple(r.split(":", 1)[0] for r in reasons) for _, reasons, _ in reasons} == {
        ("forbidden_xml",)
    }
    assert all(error.startswith("forbidden_xml: the document declares a DTD") for *_, error in
               reasons)  # fmt: skip
    orders = hostile_run.query("select order_id from core.orders order by 1")
    assert orders == [("GA0",), ("GA1",), ("GZ0",), ("GZ1",)]


def test_nothing_is_fetched_read_or_expanded(hostile_run):
    assert RecordingHandler.requests == []
    contents = repr(table_contents(hostile_run.path))
    assert SECRET not in contents
    assert "lollollol" not in contents  # no entity was expanded, not even one level
    longest = hostile_run.value("select max(length(raw)) from raw.optimizely_xml")
    assert longest <= landing_xml.HEAD_BYTES


def test_billion_laughs_is_refused_without_expanding(tmp_path):
    path = tmp_path / "lol.xml"
    path.write_text(BILLION_LAUGHS, encoding="utf-8")
    tracemalloc.start()
    records = list(landing_xml.read_records(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [r.parse_error.split(":", 1)[0] for r in records] == ["forbidden_xml"]
    assert records[0].raw == BILLION_LAUGHS  # the document's head, as received
    # an expanded entity would need gigabytes: the parser stopped at the DTD
    assert peak < 2 * 1024 * 1024


def broken_files() -> dict[str, tuple[bytes, list[str]]]:
    """name -> (bytes, the reason codes of its records in order: '' when not quarantined,
    codes joined by '+' in alphabetical order)."""
    two = good_feed("B").encode()
    truncated = two[: two.index(b"</order>", two.index(b"</order>") + 1) - 20]
    return {
        "truncated.xml": (truncated, ["", "invalid_xml"]),
        "bad_utf8.xml": (two.replace(b"b1@example", b"b1\xff@example"),
                         ["", "invalid_utf8+invalid_xml"]),
        "undefined_entity.xml": (two.replace(b'total="10.00"', b'total="&ten;"', 2)
                                 .replace(b'total="&ten;"', b'total="10.00"', 1),
                                 ["", "invalid_xml"]),
        "junk_after_root.xml": (two + b"<orders/>", ["", "", "invalid_xml"]),
        "wrong_root.xml": (two.replace(b"<orders>", b"<products>")
                           .replace(b"</orders>", b"</products>"), ["unexpected_root"]),
        "empty.xml": (b"", ["invalid_xml"]),
        "latin1.xml": ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<orders><order refCode='
                       '"Ä"/></orders>'.encode("latin-1"), ["invalid_utf8+unsupported_encoding"]),
        "utf16.xml": (good_feed("W").replace("UTF-8", "UTF-16").encode("utf-16"),
                      ["invalid_utf8+unsupported_encoding"]),
        "no_orders.xml": (b"<orders>\n</orders>\n", []),
        "bom.xml": (b"\xef\xbb\xbf" + good_feed("BOM", 1).encode(), [""]),
        "stray_element.xml": (two.replace(b"<orders>\n", b"<orders>\n<note>hi</note>\n"),
                              ["unexpected_element", "", ""]),
    }  # fmt: skip


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    root = tmp_path_factory.mktemp("xml_broken")
    folder = root / "landing" / "optimizely_xml"
    folder.mkdir(parents=True)
    for name, (data, _) in broken_files().items():
        (folder / name).write_bytes(data)
    settings = Settings(landing_dir=root / "landing", warehouse=root / "w.duckdb")
    summary = run_pipeline(settings)
    assert summary.success, summary.errors
    return Warehouse(path=settings.warehouse, summary=summary)


@pytest.mark.parametrize("name", list(broken_files()))
def test_broken_files_end_as_records_that_reconcile(broken_run, name):
    _, expected = broken_files()[name]
    file = f"optimizely_xml/{name}"
    [load] = broken_run.query(
        "select records, accepted, quarantined, duplicates from audit.loads where file = ?",
        [file],
    )
    assert load[0] == load[1] + load[2] + load[3] == len(expected)
    codes = dict(
        broken_run.query(
            "select record_no, array_to_string(list_sort(list_distinct("
            "[split_part(r, ':', 1) for r in reasons])), '+') from audit.quarantine "
            "where file = ?",
            [file],
        )
    )
    assert [codes.get(n, "") for n in range(1, len(expected) + 1)] == expected


def test_the_unparsable_rest_of_a_file_keeps_its_text_and_the_parser_position(broken_run):
    data, _ = broken_files()["truncated.xml"]
    [(raw, error)] = broken_run.query(
        "select raw, parse_error from raw.optimizely_xml "
        "where file = 'optimizely_xml/truncated.xml' and record_no = 2"
    )
    assert data.decode().endswith(raw) and raw.lstrip().startswith('<order refCode="B1"')
    assert error.startswith("invalid_xml: ") and "line" in error and "column" in error


def test_bytes_that_are_not_utf8_are_quarantined_escaped(broken_run):
    [(raw, decode_error, reasons)] = broken_run.query(
        "select r.raw, r.decode_error, q.reasons from raw.optimizely_xml as r "
        "join audit.quarantine as q using (file, record_no) "
        "where r.file = 'optimizely_xml/bad_utf8.xml'"
    )
    assert "b1\\xff@example" in raw and decode_error.startswith("invalid UTF-8 byte")
    assert {r.split(":", 1)[0] for r in reasons} == {"invalid_utf8", "invalid_xml"}


def large_feed(path: Path, orders: int) -> None:
    """A feed of ``orders`` orders written in pieces (the test's own memory stays small)."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n<orders>\n')
        for n in range(orders):
            handle.write(
                order_xml(
                    f"L{n}", f"2026-06-{n % 28 + 1:02d}T{n % 24:02d}:00:00Z", "USD", "30.00",
                    [("P1001", "1", "10.00", [("pricerange", "cheap")]),
                     ("P1004", "2", "10.00", [("pricerange", "mid")])],
                    email=f"c{n % 5000}@example.com", attributes=[("transaction", "cash")],
                )
            )  # fmt: skip
        handle.write("</orders>\n")


def test_a_large_feed_lands_with_memory_bounded_by_a_batch(tmp_path, monkeypatch):
    # batches of 1,000 orders in a feed of 20,000: what is held is a batch, not the file
    # (tracemalloc slows Python's allocations threefold: 50,000 orders in the default
    # batches of 5,000 cost 12 CPU s, these 4.5)
    monkeypatch.setattr(landing_xml, "BATCH_ROWS", 1_000)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for schema in SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    con.execute(LANDING_DDL)
    ensure_source_tables(con)

    def feed(name: str, orders: int) -> LandedFile:
        path = tmp_path / name
        large_feed(path, orders)
        return LandedFile(
            path=path, relative=f"optimizely_xml/{name}", source="optimizely_xml", sha256=name,
            size_bytes=path.stat().st_size,
        )  # fmt: skip

    # what the first landing of a process sets up once is not a batch
    landing_xml.land_records(con, feed("first.xml", 10), 1, datetime.now(UTC))
    big = feed("big.xml", 20_000)
    tracemalloc.start()
    records = landing_xml.land_records(con, big, 2, datetime.now(UTC))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = big.size_bytes
    assert records == 20_000
    assert con.execute(
        "select count(*), max(record_no) from raw.optimizely_xml where file_seq = 2"
    ).fetchall() == [(20_000, 20_000)]
    # Holding the file's rows at once would take several times its size (raw text, JSON and
    # Python objects); streaming holds one batch of orders.
    assert peak < size / 2, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"


def test_a_large_feed_reconciles_through_the_pipeline(tmp_path):
    (tmp_path / "landing" / "optimizely_xml").mkdir(parents=True)
    large_feed(tmp_path / "landing" / "optimizely_xml" / "big.xml", 50_000)
    settings = Settings(landing_dir=tmp_path / "landing", warehouse=tmp_path / "w.duckdb")
    summary = run_pipeline(settings)
    assert summary.success, summary.errors
    wh = Warehouse(path=settings.warehouse, summary=summary)
    assert wh.query("select records, accepted, quarantined, duplicates from audit.loads") == [
        (50_000, 50_000, 0, 0)
    ]
    assert wh.value("select sum(subtotal) from core.orders") == 50_000 * 30
