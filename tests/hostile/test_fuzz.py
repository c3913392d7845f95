"""Fuzzing the ODP landing: arbitrary JSON, mutated valid events and raw bytes, written as
NDJSON lines (and sometimes as one JSON array file), must never fail a run, and every record
must be accounted for (docs/semantics.md §2: records = accepted + quarantined + duplicates)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import Warehouse, day, odp_event, soak_examples

pytestmark = pytest.mark.heavy(seconds=60)  # scheduled first (tests/conftest.py)

HOSTILE_TEXT = [
    "'); DROP TABLE core.orders; --",
    '=HYPERLINK("http://x","y")',
    "+cmd|' /C calc'!A0",
    "@SUM(1)",
    "Zoë 注文",
    "\u202eevil",
    "",
    " ",
    "null",
    "order",
    "purchase",
    "2026-06-01T08:00:00Z",
    "1780300800",
]
# Leaves: every JSON scalar, with floats that are NaN, infinite or huge, integers beyond any
# machine width, and text with control, non-ASCII and (escaped) lone surrogate characters.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**45), max_value=10**45)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
    | st.sampled_from(HOSTILE_TEXT)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6) | st.sampled_from(["order", "data", "ts"]), children,
                      max_size=4),
    max_leaves=12,
)  # fmt: skip
ACTIONS = st.sampled_from(["purchase", "refund", "return", "cancel", "shipped", "PURCHASE "])
# A blank line is not a record: JSON whitespace and BOMs only (json_records._BLANK).
BLANK = re.compile(r"[\t\n\f\r \ufeff]*")


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into the dicts and lists of ``value``."""
    if not isinstance(value, dict | list):
        return []
    found: list[tuple[Any, ...]] = []
    for key, child in value.items() if isinstance(value, dict) else enumerate(value):
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid ODP event with a few keys dropped or replaced by arbitrary JSON."""
    items = [
        {"product_id": f"P{n}", "price": draw(st.integers(0, 500)), "quantity": 1}
        for n in range(draw(st.integers(0, 2)))
    ]
    event = odp_event(
        draw(ACTIONS),
        draw(st.sampled_from(["F1", "F2", "F3"])),
        draw(st.sampled_from([day(1), day(2), "2026-06-03T10:00:00+02:00", None])),
        items=items or None,
        subtotal=draw(st.integers(0, 1000)),
        first_name=draw(st.sampled_from(HOSTILE_TEXT)),
    )
    for _ in range(draw(st.integers(0, 3))):
        if not paths(event):
            break
        path = draw(st.sampled_from(paths(event)))
        parent = event
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return event


def dumps(value: Any, ascii_only: bool) -> bytes:
    """Compact JSON; without ``ascii_only`` a lone surrogate becomes bytes that are not
    UTF-8, as a broken upstream encoder would write them."""
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


RECORD = st.one_of(
    JSON_VALUES.map(lambda v: ("json", v)),
    mutated_events().map(lambda v: ("json", v)),
    mutated_events().map(lambda v: ("json", v)),
    st.binary(max_size=40).map(lambda b: ("bytes", b.replace(b"\n", b""))),
)


@st.composite
def ndjson_file(draw: st.DrawFn) -> bytes:
    """An NDJSON file of records, blank lines, CRLFs and repeats."""
    lines: list[bytes] = []
    for kind, value in draw(st.lists(RECORD, min_size=1, max_size=12)):
        text = value if kind == "bytes" else dumps(value, draw(st.booleans()))
        lines.append(text + draw(st.sampled_from([b"", b"", b"\r"])))
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from([b"", b"  ", b"\t\r", lines[-1]])))
    return b"\n".join(lines) + draw(st.sampled_from([b"", b"\n"]))


@st.composite
def landing_files(draw: st.DrawFn) -> dict[str, bytes]:
    """Two to eight NDJSON files (a run of seconds lands several fuzzed files at once: more
    inputs for the same runs); sometimes a JSON array."""
    # distinct bytes: a second file with the same bytes is skipped as already loaded
    ndjson = draw(st.lists(ndjson_file(), min_size=2, max_size=8, unique=True))
    files = {f"odp_events/fuzz_{n}.ndjson": data for n, data in enumerate(ndjson)}
    if draw(st.booleans()):
        elements = draw(st.lists(mutated_events() | JSON_VALUES, max_size=6))
        array = json.dumps(elements, allow_nan=True).encode()
        # distinct from the NDJSON files too: an NDJSON file may be the bytes `[]` as well
        if array not in ndjson:
            files["odp_events/fuzz_array.json"] = array
    return files


def has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string with half of a UTF-16 surrogate pair."""
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    return isinstance(value, list) and any(has_lone_surrogate(v) for v in value)


def _in_utf16_or_utf32(data: bytes) -> bool:
    """A UTF-16/UTF-32 byte order mark, or the zero bytes ASCII has in those encodings in
    the first four bytes (RFC 4627 §3): how landing tells a file is not UTF-8."""
    head = data[:4]
    marks = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\xfe\xff", b"\xff\xfe")
    if head.startswith(marks):
        return True
    if len(head) == 4 and (
        (head[:3] == b"\x00\x00\x00" and head[3]) or (head[0] and head[1:] == b"\x00\x00\x00")
    ):
        return True
    return len(head) >= 2 and ((head[0] == 0 and head[1] != 0) or (head[0] != 0 and head[1] == 0))


def expected_records(name: str, data: bytes) -> int:
    """Records of a file as docs/semantics.md §2 counts them: non-blank lines of NDJSON; elements
    of a JSON array (every element is JSON here; but an escaped lone surrogate is not JSON to
    DuckDB, and a .json file that is not JSON is one record)."""
    if _in_utf16_or_utf32(data):
        return 1  # a file in another encoding is one record that says so, never read as UTF-8
    if name.endswith(".json"):
        elements = json.loads(data)
        return 1 if has_lone_surrogate(elements) else len(elements)
    count = 0
    for n, chunk in enumerate(data.split(b"\n"), start=1):
        text = chunk.rstrip(b"\r").decode("utf-8", "backslashreplace")
        count += not BLANK.fullmatch(text.lstrip("\ufeff") if n == 1 else text)
    return count


@settings(
    # about 12 NDJSON files in CI in three runs, the first the simplest two files (`make
    # soak`: ORDERS_SOAK_EXAMPLES examples)
    max_examples=soak_examples(3),
    deadline=None,
    # no shrinking: each example is a pipeline run of seconds, and shrinking one took over
    # five minutes; the failing example is printed whole, which is enough to reproduce it
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(files=landing_files())
def test_any_input_is_accounted_for_and_never_fails_the_run(
    files: dict[str, bytes], run_landing: Callable[..., Warehouse], tmp_path: Path
) -> None:
    example = Path(tmp_path) / f"example_{len(list(tmp_path.iterdir()))}"
    for name, data in files.items():
        (example / "landing" / name).parent.mkdir(parents=True, exist_ok=True)
        (example / "landing" / name).write_bytes(data)
    wh = run_landing(example / "landing", warehouse=example / "warehouse.duckdb")

    loads = {
        r["file"]: r
        for r in wh.dicts(
            "select file, records, accepted, quarantined, duplicates from audit.loads"
        )
    }
    assert sorted(loads) == sorted(files)
    for name, data in files.items():
        load = loads[name]
        assert load["records"] == load["accepted"] + load["quarantined"] + load["duplicates"]
        assert load["records"] == expected_records(name, data), name
        in_ledger = wh.value("select count(*) from core.order_events where file = ?", [name])
        assert in_ledger == load["accepted"], f"{name}: accepted records missing from the ledger"
    assert (
        wh.value("select count(*) from audit.quarantine where raw is null or len(reasons) = 0") == 0
    )
