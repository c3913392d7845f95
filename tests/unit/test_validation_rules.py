"""docs/semantics.md §2 rule by rule: what a record is, quarantine with every reason, exact
duplicates, per-file reconciliation, and the forms of `ts` (§1.1) a record may carry.

Most of these rules are about one record or one file at a time, so their cases share one
landing folder and one pipeline run (the module fixture ``landed``): each test declares its own
records with ``case(...)`` (lines of ``odp_events/records.ndjson``) or ``landed_file(...)`` (a
whole file) right above it, with order ids no other case uses. Rules about landing again (a
later run, the same bytes, a corrected file) run the pipeline themselves."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import Warehouse, day, odp_event, write_ndjson

pytestmark = pytest.mark.heavy(seconds=45)  # scheduled first (tests/conftest.py)

RECORDS_FILE = "odp_events/records.ndjson"
_RECORD_LINES: list[str] = []
_FILES: dict[str, str] = {}


def case(*records: dict[str, Any] | str) -> list[str]:
    """Append records (a ``str`` verbatim) to the shared NDJSON file; returns their lines."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    for line in lines:
        assert line not in _RECORD_LINES, f"two cases share the record {line}"
        _RECORD_LINES.append(line)
    return lines


def landed_file(name: str, text: str) -> str:
    """Land ``text`` as ``odp_events/<name>`` in the shared run; returns its path as stored."""
    assert name not in _FILES
    _FILES[name] = text
    return f"odp_events/{name}"


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """One run of the real pipeline over every case of this module."""
    root = tmp_path_factory.mktemp("validation_rules")
    landing = root / "landing"
    write_ndjson(landing / RECORDS_FILE, _RECORD_LINES)
    for name, text in _FILES.items():
        (landing / "odp_events" / name).write_text(text, encoding="utf-8")
    settings = Settings(landing_dir=landing, warehouse=root / "warehouse.duckdb")
    summary = run_pipeline(settings)
    assert summary.success, f"run failed: {summary.failed_steps} {summary.errors}"
    return Warehouse(path=settings.warehouse, summary=summary)


def codes(row: dict[str, Any]) -> list[str]:
    """The reason codes of a quarantined record (a reason reads ``code: explanation``)."""
    return sorted(reason.split(":", 1)[0] for reason in row["reasons"])


def quarantine(wh, file: str | None = None) -> list[dict[str, Any]]:
    rows = wh.dicts(
        "select source, file, record_no, reasons, raw, loaded_at from audit.quarantine "
        "order by file, record_no"
    )
    return [r for r in rows if file is None or r["file"] == file]


def outcomes(wh, lines: list[str]) -> list[list[str]]:
    """For each line of a case: the reason codes it was quarantined with ([] if it was not)."""
    by_raw = {r["raw"]: codes(r) for r in quarantine(wh, RECORDS_FILE)}
    return [by_raw.get(line, []) for line in lines]


def loads(wh, file: str | None = None) -> list[dict[str, Any]]:
    rows = wh.dicts(
        "select file, records, accepted, quarantined, duplicates from audit.loads order by file_seq"
    )
    return [r for r in rows if file is None or r["file"] == file]


def in_ledger(wh, *order_ids: str) -> list[str]:
    """Which of ``order_ids`` have ledger events."""
    rows = wh.query("select distinct order_id from core.order_events order by 1")
    return [r[0] for r in rows if r[0] in order_ids]


def with_raw_amount(event: dict[str, Any], number_text: str) -> str:
    """The event as one JSON line whose ``data.order.subtotal`` is ``number_text`` verbatim
    (for numbers Python's json module cannot write, like ``1e400``)."""
    event["data"]["order"]["subtotal"] = "__AMOUNT__"
    return json.dumps(event).replace('"__AMOUNT__"', number_text)


def purchase(order_id: str, ts: Any = None, **fields: Any) -> dict[str, Any]:
    fields.setdefault("subtotal", 100)
    return odp_event("purchase", order_id, day(1) if ts is None else ts, **fields)


def without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    """``event`` with the key at ``path`` (e.g. ``"data", "order", "order_id"``) removed."""
    node = event
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return event


def with_value(event: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    node = event
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return event


# -- quarantine reasons ------------------------------------------------------------------------

INVALID_JSON = case(
    purchase("IJ1"),
    '{"type": "order", "action": "purchase", "data": {"order": {"order_id": "IJ2"',
)


def test_a_line_that_is_not_json_is_quarantined_as_invalid_json(landed):
    """§2: "a line that is not valid JSON is one quarantined record"."""
    assert outcomes(landed, INVALID_JSON) == [[], ["invalid_json"]]
    assert in_ledger(landed, "IJ1", "IJ2") == ["IJ1"]


NOT_OBJECTS = case("[1, 2]", '"purchase"', "42", "null")


def test_a_record_that_is_not_a_json_object_is_quarantined(landed):
    """§2 / §1.1: one record is one order event object; an array, string, number or null is
    not."""
    assert outcomes(landed, NOT_OBJECTS) == [["not_an_object"]] * 4


EVENT_TYPES = case(
    with_value(purchase("TY1"), "product", "type"),
    without(purchase("TY2"), "type"),
    purchase("TY3"),
)


def test_an_event_whose_type_is_not_order_is_quarantined(landed):
    """§1.1: "`type` must be `order`; any other type is quarantined (`unsupported_event_type`)",
    and so is an event that sends no type."""
    assert outcomes(landed, EVENT_TYPES) == [["unsupported_event_type"]] * 2 + [[]]
    assert in_ledger(landed, "TY1", "TY2", "TY3") == ["TY3"]


ACTIONS = case(
    without(purchase("AC1"), "action"),
    with_value(purchase("AC2"), "", "action"),
    purchase("AC3"),
)


def test_an_event_without_action_is_quarantined(landed):
    """§2: "`action` present" (absent or empty → `missing_action`)."""
    assert outcomes(landed, ACTIONS) == [["missing_action"]] * 2 + [[]]
    assert in_ledger(landed, "AC1", "AC2", "AC3") == ["AC3"]


ORDER_IDS = case(
    without(purchase("OI1"), "data", "order", "order_id"),
    with_value(purchase("OI2"), "", "data", "order", "order_id"),
    with_value(purchase("OI3"), "   ", "data", "order", "order_id"),
    purchase("OI4"),
)


def test_an_event_without_order_id_is_quarantined(landed):
    """§2: "`order_id` present and non-empty" (absent, "" or blank → `missing_order_id`)."""
    assert outcomes(landed, ORDER_IDS) == [["missing_order_id"]] * 3 + [[]]
    assert in_ledger(landed, "OI4") == ["OI4"]


IDENTIFIERS = case(
    purchase("ID1", identifiers={}),
    purchase("ID2", identifiers={}, email="id2@example.com"),
)


def test_an_event_without_any_identifier_is_quarantined(landed):
    """§1.1: "An ODP event with no identifier at all is quarantined (`missing_identifier`)";
    `data.order.email` counts as an identifier."""
    assert outcomes(landed, IDENTIFIERS) == [["missing_identifier"], []]
    assert in_ledger(landed, "ID1", "ID2") == ["ID2"]


AMOUNTS = case(
    purchase("AM1", subtotal="100", total=110),
    with_raw_amount(purchase("AM2", total=110), "NaN"),
    with_raw_amount(purchase("AM3", total=110), "1e400"),
    with_raw_amount(purchase("AM4", total=110), "12345678901234567890"),
    with_raw_amount(purchase("AM5", total=110), "10.12345"),
    with_raw_amount(purchase("AM6", total=110), "10.1234"),
)


def test_amounts_must_be_finite_json_numbers_that_fit_decimal_money(landed):
    """§2: "amounts JSON numbers and finite" (money is DECIMAL(18,4), §6): a quoted amount, NaN,
    1e400, a 20-digit amount and 5 decimals are `invalid_amount`, never altered."""
    assert outcomes(landed, AMOUNTS) == [["invalid_amount"]] * 5 + [[]]
    assert landed.order("AM6")["subtotal"] == Decimal("10.1234")


QUANTITIES = case(
    purchase("QU1", items=[{"product_id": "P1", "price": 10, "quantity": -1}]),
    purchase("QU2", items=[{"product_id": "P1", "price": 10, "quantity": 0}]),
)


def test_a_negative_quantity_is_quarantined(landed):
    """§2: "quantities ≥ 0" (`invalid_quantity`); a quantity of 0 is fine."""
    assert outcomes(landed, QUANTITIES) == [["invalid_quantity"], []]
    assert in_ledger(landed, "QU1", "QU2") == ["QU2"]


TIMESTAMPS = case(
    purchase("TS1", ts="yesterday"),
    purchase("TS2", ts="2026-06-01T12:00:00"),
    purchase("TS3", ts="2026-06-01T12:00:00+02:00"),
)


def test_a_ts_that_cannot_be_parsed_is_quarantined(landed):
    """§2: "`ts` parseable" (§1.1: epoch seconds or ISO-8601 *with offset*): "yesterday" and an
    ISO time without offset are `invalid_ts`."""
    assert outcomes(landed, TIMESTAMPS) == [["invalid_ts"]] * 2 + [[]]
    assert in_ledger(landed, "TS1", "TS2", "TS3") == ["TS3"]


CURRENCIES = case(
    purchase("CU1", currency="US"),
    purchase("CU2", currency="dollars"),
    purchase("CU3", currency="USD"),
)


def test_a_currency_that_is_not_a_3_letter_code_is_quarantined(landed):
    """§2: "currency a 3-letter ISO 4217 code" ("US", "dollars" → `invalid_currency`)."""
    assert outcomes(landed, CURRENCIES) == [["invalid_currency"]] * 2 + [[]]
    assert in_ledger(landed, "CU1", "CU2", "CU3") == ["CU3"]


MISSING_AMOUNTS = case(
    odp_event("purchase", "MA1", day(1)),
    odp_event("return", "MA2", day(1)),
    odp_event("refund", "MA3", day(1), tax=2),
    odp_event("purchase", "MA4", day(1), subtotal=100),
    odp_event("cancel", "MA4", day(2)),
    odp_event("gift_note", "MA4", day(3)),
)


def test_a_purchase_return_or_refund_without_any_amount_is_quarantined(landed):
    """§2: "a purchase, return or refund without any amount (no `subtotal`, no `total`, no
    items) is quarantined (`missing_amount`); a cancel or custom action may carry none"."""
    assert outcomes(landed, MISSING_AMOUNTS) == [["missing_amount"]] * 3 + [[]] * 3
    assert [e["action"] for e in landed.ledger("MA4")] == ["purchase", "cancel", "gift_note"]


INVALID_ONLY_AMOUNT = case(purchase("IA1", subtotal="100"))


def test_an_invalid_amount_is_not_also_reported_as_missing(landed):
    """§2: `missing_amount` is "no `subtotal`, no `total`, no items"; a subtotal that is sent
    but not a number is `invalid_amount` only."""
    assert outcomes(landed, INVALID_ONLY_AMOUNT) == [["invalid_amount"]]


THREE_PROBLEMS = case(
    purchase(
        "RE1",
        ts="yesterday",
        currency="dollars",
        items=[{"product_id": "P1", "price": 10, "quantity": -2}],
    )
)


def test_a_quarantined_record_lists_every_reason_found(landed):
    """§2: a quarantined record is stored with "every reason found": three problems, three
    reasons."""
    [row] = [r for r in quarantine(landed) if r["raw"] == THREE_PROBLEMS[0]]
    assert codes(row) == ["invalid_currency", "invalid_quantity", "invalid_ts"]
    assert len(row["reasons"]) == 3


VERBATIM = case(
    '{ "type":"order",  "action" : "purchase", "identifiers": {"email":"zoë@example.com"},'
    '\t"data": {"ts": 1780315200, "order": {"order_id": "VB1", "subtotal": "ten"}} }'
)


def test_a_quarantined_record_keeps_source_file_record_no_and_raw_text_verbatim(landed):
    """§2: quarantined records are "stored with source, file, record number, every reason
    found, and the raw text"."""
    [row] = [r for r in quarantine(landed) if r["raw"] == VERBATIM[0]]
    assert (row["source"], row["file"]) == ("odp_events", RECORDS_FILE)
    assert row["record_no"] == _RECORD_LINES.index(VERBATIM[0]) + 1
    assert row["loaded_at"] is not None


MIXED = landed_file(
    "mixed.ndjson",
    "\n".join(
        json.dumps(e) for e in (purchase("MX1"), purchase("MX2", subtotal="100"), purchase("MX3"))
    ),
)


def test_good_records_of_a_file_load_and_quarantined_ones_never_reach_the_models(landed):
    """§2: every record ends in exactly one place; a quarantined record "never reaches the
    models", the good records of the same file do."""
    assert in_ledger(landed, "MX1", "MX2", "MX3") == ["MX1", "MX3"]
    assert landed.value("select count(*) from core.orders where order_id = 'MX2'") == 0
    assert landed.value("select count(*) from core.order_items where order_id = 'MX2'") == 0
    assert loads(landed, MIXED) == [
        {"file": MIXED, "records": 3, "accepted": 2, "quarantined": 1, "duplicates": 0}
    ]


# -- exact duplicates ----------------------------------------------------------------------------

TWICE = landed_file("twice.ndjson", "\n".join([json.dumps(purchase("DU1"))] * 2))


def test_the_same_line_twice_in_a_file_is_a_duplicate(landed):
    """§2: a record equal to one already accepted "in the same file" is dropped and counted:
    upstream retries must not double revenue."""
    assert loads(landed, TWICE) == [
        {"file": TWICE, "records": 2, "accepted": 1, "quarantined": 0, "duplicates": 1}
    ]
    assert len(landed.ledger("DU1")) == 1
    assert landed.order("DU1")["subtotal"] == 100


def _reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    return value


_RESENT = purchase("DU2", tax=8, items=[{"product_id": "P1", "quantity": 1, "price": 100}])
RESENT = landed_file(
    "resent.ndjson",
    "\n".join(
        [
            json.dumps(_RESENT),
            json.dumps(_reversed_keys(_RESENT), separators=(",", ":")),
            json.dumps(_RESENT, separators=(" ,  ", " :   ")),
        ]
    ),
)


def test_key_order_and_whitespace_do_not_make_a_record_different(landed):
    """§2: for JSON the canonical content is "the parsed value with keys sorted, so key order
    and whitespace don't matter"."""
    assert loads(landed, RESENT) == [
        {"file": RESENT, "records": 3, "accepted": 1, "quarantined": 0, "duplicates": 2}
    ]
    assert len(landed.ledger("DU2")) == 1
    assert landed.value("select count(*) from core.order_items where order_id = 'DU2'") == 1


_GOOD, _BAD = purchase("RC1"), purchase("RC2", currency="dollars")
RECONCILED = [
    landed_file("rc1.ndjson", "\n".join([json.dumps(_GOOD), json.dumps(_BAD), json.dumps(_GOOD),
                                         "", "not json"])),
    landed_file("rc2.ndjson", "\n".join([json.dumps(_GOOD), json.dumps(purchase("RC3")),
                                         json.dumps(_BAD)])),
    landed_file("rc3.json", json.dumps([_GOOD, purchase("RC4")])),
]  # fmt: skip


def test_records_reconcile_for_every_file(landed):
    """§2: "the counts reconcile per file: `records = accepted + quarantined + duplicates`" —
    a record repeated from an earlier file of the same run is a duplicate, a quarantined one
    repeated is quarantined again."""
    counts = [
        (r["records"], r["accepted"], r["quarantined"], r["duplicates"])
        for file in RECONCILED
        for r in loads(landed, file)
    ]
    assert counts == [(4, 1, 2, 1), (3, 1, 1, 1), (2, 1, 0, 1)]
    every_file = loads(landed)
    assert len(every_file) == len(_FILES) + 1
    for row in every_file:
        assert row["records"] == row["accepted"] + row["quarantined"] + row["duplicates"], row
    assert landed.summary.records == sum(r["records"] for r in every_file)


# Rules about a later run share one sequence of two runs (``two_runs``): each lands its files
# (path under the landing folder: records) before the run it names, with order ids and file
# names of its own.
REPEATED = purchase("LR1", subtotal=100)
CORRECTED = "odp_events/corrected.ndjson"
BEFORE_RUN: list[dict[str, list[dict[str, Any]]]] = [
    {
        "odp_events/repeat_a.ndjson": [REPEATED],
        CORRECTED: [purchase("K1"), purchase("K2", subtotal=50, currency="dollars")],
    },
    {
        "odp_events/repeat_b.ndjson": [purchase("LR2"), REPEATED],
        CORRECTED: [purchase("K1"), purchase("K2", subtotal=50, currency="USD")],
    },
]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Warehouse]:
    """One warehouse run twice, BEFORE_RUN's files landed before each run: a copy of the
    warehouse after each run."""
    root = tmp_path_factory.mktemp("two_runs")
    settings = Settings(landing_dir=root / "landing", warehouse=root / "warehouse.duckdb")
    after: list[Warehouse] = []
    for n, files in enumerate(BEFORE_RUN, start=1):
        for name, records in files.items():
            write_ndjson(settings.landing_dir / name, records)
        summary = run_pipeline(settings)
        assert summary.success, f"run {n} failed: {summary.failed_steps} {summary.errors}"
        copy = root / f"after_run_{n}.duckdb"
        shutil.copy(settings.warehouse, copy)
        after.append(Warehouse(path=copy, summary=summary))
    return after


def test_a_record_repeated_in_a_later_run_is_a_duplicate(two_runs):
    """§2: a duplicate of a record accepted "in the same file or any earlier one" is dropped
    and counted, also when the earlier file was loaded by an earlier run."""
    wh = two_runs[1]
    assert [
        (r["file"], r["accepted"], r["duplicates"])
        for r in loads(wh)
        if r["file"].startswith("odp_events/repeat_")
    ] == [
        ("odp_events/repeat_a.ndjson", 1, 0),
        ("odp_events/repeat_b.ndjson", 1, 1),
    ]
    assert [e["file"] for e in wh.ledger("LR1")] == ["odp_events/repeat_a.ndjson"]
    assert wh.order("LR1")["subtotal"] == 100


# -- landing the same bytes again ------------------------------------------------------------


def _snapshot(wh) -> dict[str, Any]:
    return {
        "loads": wh.query("select file, sha256, records, accepted from audit.loads order by 1"),
        "quarantine": wh.query("select file, record_no, raw from audit.quarantine order by 1, 2"),
        "ledger": wh.query(
            "select event_id, order_id, event_seq, running_subtotal, running_total "
            "from core.order_events order by order_id, event_seq"
        ),
        "orders": wh.query("select order_id, subtotal, total, status from core.orders order by 1"),
        "revenue": wh.query("select * from reporting.daily_revenue order by date"),
    }


def test_landing_the_same_bytes_again_changes_nothing(landing: Path, run_landing):
    """§1: "A file is ingested once: its content hash is recorded, and landing the same bytes
    again changes nothing" — under another name in the same run, or in a later run."""
    folder = landing / "odp_events"
    write_ndjson(
        folder / "a.ndjson",
        [
            purchase("S1"),
            odp_event("refund", "S1", day(2), subtotal=30),
            purchase("S2", subtotal="x"),
        ],
    )
    shutil.copy(folder / "a.ndjson", folder / "a_copy.ndjson")
    first = run_landing(landing)
    assert [r["file"] for r in loads(first)] == ["odp_events/a.ndjson"]
    before = _snapshot(first)
    shutil.copy(folder / "a.ndjson", folder / "z_resent.ndjson")
    second = run_landing(landing)
    assert _snapshot(second) == before
    assert second.summary.records == first.summary.records == 3


def test_a_corrected_file_landed_again_loads_its_fixed_records(two_runs):
    """§2: "A corrected file landed again loads its fixed records; its unchanged good records
    count as duplicates"."""
    first, wh = two_runs  # CORRECTED with K2 in "dollars", then in USD
    assert [codes(r) for r in quarantine(first, CORRECTED)] == [["invalid_currency"]]
    assert [
        (r["records"], r["accepted"], r["quarantined"], r["duplicates"])
        for r in loads(wh, CORRECTED)
    ] == [(2, 1, 1, 0), (2, 1, 0, 1)]
    assert wh.order("K2")["subtotal"] == 50
    assert len(wh.ledger("K1")) == 1
    assert wh.order("K1")["subtotal"] == 100


# -- what a record is ------------------------------------------------------------------------

GAPS = landed_file(
    "gaps.ndjson",
    "\n".join(
        [
            json.dumps(purchase("GP1")),
            "",
            "   ",
            json.dumps(purchase("GP2", subtotal="x")),
            "",
            json.dumps(purchase("GP3")),
        ]
    )
    + "\n\n",
)


def test_ndjson_blank_lines_are_not_records_and_record_no_is_the_line_number(landed):
    """§2: "one line of an NDJSON file (blank lines are not records …)"; the record number
    points at the line."""
    assert loads(landed, GAPS)[0]["records"] == 3
    assert [r["record_no"] for r in quarantine(landed, GAPS)] == [4]
    assert landed.query(
        "select order_id, record_no from core.order_events where file = ? order by 1", [GAPS]
    ) == [("GP1", 1), ("GP3", 6)]


ARRAY = landed_file(
    "array.json",
    json.dumps([purchase("JA1"), purchase("JA2", subtotal="x"), purchase("JA3")], indent=2),
)


def test_a_json_array_file_gives_one_record_per_element(landed):
    """§2: "one element of a JSON array" is one record."""
    assert loads(landed, ARRAY) == [
        {"file": ARRAY, "records": 3, "accepted": 2, "quarantined": 1, "duplicates": 0}
    ]
    assert [r["record_no"] for r in quarantine(landed, ARRAY)] == [2]
    assert in_ledger(landed, "JA1", "JA2", "JA3") == ["JA1", "JA3"]


ONE_OBJECT = landed_file("one.json", json.dumps(purchase("JO1"), indent=4))


def test_a_json_file_holding_one_object_is_one_record(landed):
    """§2: "a whole `.json` file holding one object" is one record, however it is laid out."""
    assert loads(landed, ONE_OBJECT) == [
        {"file": ONE_OBJECT, "records": 1, "accepted": 1, "quarantined": 0, "duplicates": 0}
    ]
    assert in_ledger(landed, "JO1") == ["JO1"]


BROKEN_TEXT = '{"type": "order", "action": "purchase"\n{"type": "order"}\n'
BROKEN = landed_file("broken.json", BROKEN_TEXT)


def test_a_json_file_that_is_not_json_is_one_quarantined_record(landed):
    """§2: "a `.json` file that is not valid JSON is one quarantined record"."""
    assert loads(landed, BROKEN) == [
        {"file": BROKEN, "records": 1, "accepted": 0, "quarantined": 1, "duplicates": 0}
    ]
    [row] = quarantine(landed, BROKEN)
    assert codes(row) == ["invalid_json"]
    assert (row["record_no"], row["raw"]) == (1, BROKEN_TEXT)


# -- ts -----------------------------------------------------------------------------------------

case(odp_event("purchase", "TT1", day(2), ts_at_top=True, subtotal=10))


def test_ts_may_be_sent_at_the_top_level(landed):
    """§1.1: "`ts` may be in `data` or at the top level"."""
    [event] = landed.ledger("TT1")
    assert event["ts"] == datetime(2026, 6, 2, 12, tzinfo=UTC)
    assert event["ts_inferred"] is False


case(odp_event("purchase", "TT2", None, subtotal=10))


def test_a_missing_ts_takes_the_ingestion_time_and_is_marked_inferred(landed):
    """§1.1: "A missing `ts` takes the file's ingestion time and sets `ts_inferred = true`"."""
    [event] = landed.ledger("TT2")
    assert event["ts_inferred"] is True
    loaded_at = landed.value("select loaded_at from audit.loads where file = ?", [RECORDS_FILE])
    assert event["ts"] == loaded_at


case(
    odp_event("purchase", "TF1", day(1), subtotal=10),
    odp_event("purchase", "TF2", day(1) + 0.5, subtotal=10),
    odp_event("purchase", "TF3", "2026-06-01T14:00:00+02:00", subtotal=10),
    odp_event("purchase", "TF4", "2026-06-01T07:30:00-04:30", subtotal=10),
)


def test_ts_as_epoch_int_float_or_iso_with_offset_is_stored_in_utc(landed):
    """§1.1: "epoch seconds (int or float) or ISO-8601 with offset. Stored as UTC
    `TIMESTAMPTZ`"."""
    noon = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert [landed.ledger(o)[0]["ts"] for o in ("TF1", "TF2", "TF3", "TF4")] == [
        noon,
        noon.replace(microsecond=500_000),
        noon,
        noon,
    ]
    assert not any(landed.ledger(o)[0]["ts_inferred"] for o in ("TF1", "TF2", "TF3", "TF4"))
    assert landed.value("select distinct typeof(ts) from core.order_events") == (
        "TIMESTAMP WITH TIME ZONE"
    )
