"""The hostile-input corpus (``corpus/odp_events``, outcomes in ``corpus/expected.json``, both
written by ``build_corpus.py``) through the real pipeline: nothing lost, nothing let in.

The cases of one group are landed together under their hostile names and run once (a run
costs seconds); each case is then checked on its own: its ``audit.loads`` counts, the reason
codes, message and raw text of each quarantined record, its accepted records in the ledger,
and values that must be stored exactly as sent.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Warehouse
from tests.hostile import build_corpus
from tests.hostile.support import existing_tables, pipeline_tables

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text("utf-8"))
GROUPS = sorted({case["group"] for case in EXPECTED.values()})
BOM = "\ufeff"
# A reason is "code: message", the message a sentence a person can act on.
REASON = re.compile(r"^(?P<code>[a-z0-9_]+): (?P<message>\S.*\s.*\S)$")


def land_group(group: str, landing: Path) -> Path:
    """Copy the group's cases into ``landing`` under their landing names."""
    for name, case in EXPECTED.items():
        if case["group"] == group:
            target = landing / case["landing_name"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((CORPUS / "odp_events" / name).read_bytes())
    return landing


@pytest.fixture(scope="module")
def group_runs() -> dict[str, Warehouse | AssertionError]:
    return {}


@pytest.fixture
def corpus_run(
    group_runs: dict[str, Warehouse | AssertionError],
    run_landing: Callable[..., Warehouse],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str], Warehouse]:
    """The warehouse of a group's run; the first test that needs a group runs it (a failed
    run is remembered too, so the group's other tests fail at once with its message)."""

    def _run(group: str) -> Warehouse:
        if group not in group_runs:
            folder = tmp_path_factory.mktemp(f"corpus_{group}")
            landing = land_group(group, folder / "landing")
            try:
                group_runs[group] = run_landing(landing, warehouse=folder / "warehouse.duckdb")
            except AssertionError as failed:
                group_runs[group] = failed
        outcome = group_runs[group]
        if isinstance(outcome, AssertionError):
            raise AssertionError(f"the run of group {group!r} failed: {outcome}")
        return outcome

    return _run


def expected_raw(data: bytes, name: str, record_no: int) -> str:
    """The text a record of a corpus file must keep: its line (CR and, on line 1, BOM
    removed) or the whole document; bytes that are not UTF-8 escaped as ``\\xNN``."""
    if name.endswith((".ndjson", ".jsonl")):
        chunk = data.split(b"\n")[record_no - 1].rstrip(b"\r")
        text = chunk.decode("utf-8", "backslashreplace")
        return text.lstrip(BOM) if record_no == 1 else text
    return data.decode("utf-8", "backslashreplace").lstrip(BOM)


def assert_raw_kept(raw: str, data: bytes, name: str, record_no: int) -> None:
    document = expected_raw(data, name, record_no)
    if raw == document:
        return
    # An element of a JSON array is kept as DuckDB writes it, compact: the corpus writes
    # its array elements compactly, so the element's text is found in the file as it is.
    assert name.endswith(".json") and document.lstrip().startswith("["), (name, record_no)
    assert raw in document, f"{name} element {record_no}: {raw[:200]!r} is not in the file"


def table_columns(wh: Warehouse, table: str) -> set[str]:
    schema, name = table.split(".")
    rows = wh.query(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ?",
        [schema, name],
    )
    return {r[0] for r in rows}


def stored_values(wh: Warehouse, spec: list[Any], file: str) -> list[Any]:
    """The values of ``spec = [table, column, key column, key, expected]`` for this file."""
    table, column, key_column, key, _ = spec
    where = f"{key_column} = ?"
    params: list[Any] = [key]
    if "file" in table_columns(wh, table):
        where += " and file = ?"
        params.append(file)
    # table and column names come from expected.json, written by the test suite itself
    return [r[0] for r in wh.query(f"select {column} from {table} where {where}", params)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_case(name: str, corpus_run: Callable[[str], Warehouse]) -> None:
    case = EXPECTED[name]
    wh = corpus_run(case["group"])
    file = case["landing_name"]
    loads = wh.dicts(
        "select records, accepted, quarantined, duplicates from audit.loads where file = ?",
        [file],
    )
    if case.get("ignored"):
        assert loads == [], f"{file} is still being written or hidden: it must not be landed"
        assert wh.value("select count(*) from raw.odp_events where file = ?", [file]) == 0
        return

    assert len(loads) == 1, f"{file} must be landed once: {loads}"
    [load] = loads
    counts = {k: case[k] for k in ("records", "accepted", "quarantined", "duplicates")}
    assert load == counts
    assert load["records"] == load["accepted"] + load["quarantined"] + load["duplicates"]

    data = (CORPUS / "odp_events" / name).read_bytes()
    quarantined = wh.dicts(
        "select record_no, reasons, raw from audit.quarantine where file = ? order by record_no",
        [file],
    )
    found: dict[str, list[str]] = {}
    for row in quarantined:
        matches = [REASON.match(reason) for reason in row["reasons"]]
        assert all(matches), f"{file}:{row['record_no']} reasons must read 'code: message'"
        found[str(row["record_no"])] = sorted(m["code"] for m in matches if m)
        assert_raw_kept(row["raw"], data, name, row["record_no"])
    assert found == case["quarantine"]

    ledger = wh.query("select order_id from core.order_events where file = ?", [file])
    assert sorted(r[0] for r in ledger) == sorted(case["accepted_orders"])

    for spec in case["values"]:
        values = stored_values(wh, spec, file)
        expected = spec[4]
        assert values, f"{file}: no {spec[0]}.{spec[1]} for {spec[2]} = {spec[3]!r}"
        for value in values:
            if isinstance(expected, dict):
                text = str(value)
                assert (len(text), hashlib.md5(text.encode()).hexdigest()) == (
                    expected["length"],
                    expected["md5"],
                ), f"{file}: {spec[0]}.{spec[1]} is not the value sent"
            else:
                assert str(value) == expected, f"{file}: {spec[0]}.{spec[1]} of {spec[3]!r}"


@pytest.mark.parametrize("group", GROUPS)
def test_every_table_survives_and_the_group_reconciles(
    group: str, corpus_run: Callable[[str], Warehouse]
) -> None:
    """SQL-looking values and file names must not have dropped or altered any table, and
    every landed record is accepted, quarantined or a duplicate."""
    wh = corpus_run(group)
    assert wh.summary.success and not wh.summary.errors
    missing = pipeline_tables() - existing_tables(wh)
    assert not missing, f"tables gone after the run: {sorted(missing)}"
    raw = wh.value("select count(*) from raw.odp_events")
    staged = wh.value("select count(*) from staging.odp_event_records")
    quarantined = wh.value("select count(*) from audit.quarantine")
    duplicates = wh.value("select count(*) from audit.duplicates")
    assert raw == staged + quarantined + duplicates
    assert wh.value("select coalesce(sum(records), 0) from audit.loads") == raw


def test_the_corpus_is_what_build_corpus_writes(tmp_path: Path) -> None:
    """The committed files and expected.json are regenerated from build_corpus.py, where each
    case's bytes and expected outcome are declared together."""
    build_corpus.write(tmp_path)
    built = sorted(p.name for p in (tmp_path / "odp_events").iterdir())
    assert built == sorted(p.name for p in (CORPUS / "odp_events").iterdir())
    for name in built:
        committed = (CORPUS / "odp_events" / name).read_bytes()
        assert (tmp_path / "odp_events" / name).read_bytes() == committed, name
    assert (tmp_path / "expected.json").read_text() == (CORPUS / "expected.json").read_text()
