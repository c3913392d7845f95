"""One rule, one place (issue 14): identifier normalisation, the classes of actions, what is a
reduction, what counts as gross, the sum of an event's items and the UTC date of an instant
are each written once, as
macros in ``sql/macros.sql``, and every model, check and validation uses them."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from orders_pipeline.config import PROJECT_ROOT, SQL_DIR
from orders_pipeline.warehouse import MACROS_FILE

# What each rule looks like when it is written out instead of called.
WRITTEN_OUT = {
    # normalisation: the Unicode classes of invisible characters, the digit filter of phones
    "normalisation regex": re.compile(r"\\p\{(?:Cf|Cc|Z)\}|'\[\^0-9\]'"),
    "action classes": re.compile(r"'purchase',\s*'return',\s*'refund',\s*'cancel'"),
    "is a reduction": re.compile(r"in\s*\(\s*'return',\s*'refund',\s*'cancel'\s*\)"),
    "counts as gross": re.compile(r"action_class\s*=\s*'purchase'\s+or\b"),
    "item totals": re.compile(r"sum\(\s*subtotal\s*\)\s+as\s+items_subtotal"),
    "UTC date of an instant": re.compile(r"make_timestamp\(\s*epoch_us\("),
    "first instant of a UTC day": re.compile(r"to_timestamp\(\s*epoch\("),
}


def _code_files() -> list[Path]:
    python = (PROJECT_ROOT / "orders_pipeline").rglob("*.py")
    sql = SQL_DIR.rglob("*.sql")
    return [p for p in [*python, *sql] if p != MACROS_FILE]


def test_the_macros_are_the_only_place_each_rule_is_written():
    copies = [
        f"{path.relative_to(PROJECT_ROOT)}: {rule}"
        for path in _code_files()
        for rule, pattern in WRITTEN_OUT.items()
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert copies == []
    macros = MACROS_FILE.read_text(encoding="utf-8")
    assert all(pattern.search(macros) for pattern in WRITTEN_OUT.values())


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(MACROS_FILE.read_text(encoding="utf-8"))
    return connection


@pytest.mark.parametrize(
    ("action", "action_class", "reduction"),
    [
        ("purchase", "purchase", False),
        ("return", "return", True),
        ("refund", "refund", True),
        ("cancel", "cancel", True),
        ("shipped", "custom", False),
    ],
)
def test_action_classes_and_reductions(con, action, action_class, reduction):
    """docs/semantics.md §3: the four actions are themselves, any other is custom; return,
    refund and cancel reduce the order."""
    row = con.execute(
        "select action_class(?), is_reduction(action_class(?))", [action, action]
    ).fetchall()[0]
    assert row == (action_class, reduction)


@pytest.mark.parametrize(
    ("action_class", "is_order_creating", "gross"),
    [
        ("purchase", False, True),
        ("custom", True, True),  # a custom action that creates its order
        ("custom", False, False),  # a pass-through
        ("refund", True, False),  # a refund before its purchase is never gross
    ],
)
def test_what_counts_as_gross(con, action_class, is_order_creating, gross):
    """docs/semantics.md §8: gross is purchases and order-creating custom actions."""
    row = con.execute("select counts_as_gross(?, ?)", [action_class, is_order_creating])
    assert row.fetchall()[0][0] == gross


def test_item_totals_add_up_an_events_items(con):
    rows = con.execute(
        """with items as (
               select * from (values ('e1', 10.50, 2, 0), ('e1', 4.00, 1, 1), ('e2', 3.00, 3, 0))
                   as t(event_id, subtotal, quantity, dropped_fields))
           select * from item_totals(items) order by event_id"""
    ).fetchall()
    assert rows == [("e1", Decimal("14.50"), 3, 2, 1), ("e2", Decimal("3.00"), 3, 1, 0)]


def test_visible_characters_follow_the_normalisation(con):
    """Validation refuses an identifier made only of invisible characters: exactly those
    the normalisation reduces to NULL."""
    for text, visible in [("\u200b\ufeff", False), (" \u00a0\t", False), (None, False),
                          ("\u200ba", True)]:  # fmt: skip
        row = con.execute(
            "select has_visible_character(?), clean_identifier(?) is not null", [text, text]
        ).fetchall()[0]
        assert row == (visible, visible), repr(text)
    # every character of the basic plane and beyond, alone, between spaces and after a
    # zero-width one: the search for a visible character agrees with the normalisation
    characters = [chr(c) for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    characters += ["\U0001f600", "\U000e0001", "\U000f0000"]
    disagreements = con.execute(
        """select text from (
               select unnest(?::varchar[]) as c
           ), lateral (select unnest([c, ' ' || c || chr(160), chr(8203) || c]) as text)
           where has_visible_character(text) <> (clean_identifier(text) is not null)""",
        [characters],
    ).fetchall()
    assert disagreements == []


@pytest.mark.parametrize(
    ("sent", "phone"),
    [
        ("+44 (20) 7946 0000", "+442079460000"),
        ("\ufeff +1-555-0100\u00a0", "+15550100"),  # invisible characters first
        ("0044 20 7946", "0044207946"),  # no `+`: the digits as sent
        ("1+2", "12"),  # a `+` counts only in front
        ("++1", "+1"),
        ("+", None),  # no digit: no phone
        ("ext.", None),
        (" \u200b ", None),
        (None, None),
    ],
)
def test_a_phone_is_its_leading_plus_and_its_digits(con, sent, phone):
    """docs/semantics.md §5: a phone alone and as an identifier of type phone (or an alias),
    cleaned by the macro itself or by the model first (int_order_identifiers cleans each value
    once): one rule, one result."""
    row = con.execute(
        """select normalise_phone($1),
                  normalise_identifier('Mobile', $1),
                  normalise_cleaned_identifier(normalise_identifier_type('phone'),
                                               clean_identifier($1))""",
        [sent],
    ).fetchall()[0]
    assert row == (phone, phone, phone)


@pytest.mark.parametrize(
    ("identifier_type", "sent", "normalised"),
    [
        ("Email_Address", " \u200bMixed.Case@Example.COM\u00a0", "mixed.case@example.com"),
        ("customer_id", "\u00a0CUST-01\u200b ", "CUST-01"),  # other ids: cleaned only
        ("email", "\u200b", None),
    ],
)
def test_cleaning_first_gives_the_same_identifier(con, identifier_type, sent, normalised):
    row = con.execute(
        """select normalise_identifier($1, $2),
                  normalise_cleaned_identifier(normalise_identifier_type($1),
                                               clean_identifier($2))""",
        [identifier_type, sent],
    ).fetchall()[0]
    assert row == (normalised, normalised)


@pytest.mark.parametrize(
    ("instant", "day", "month"),
    [
        # a time sent with an offset is dated by its UTC day (docs/semantics.md §8)
        ("2026-05-31 23:30:00-02", "2026-06-01", "2026-06-01"),
        ("2026-06-01 00:30:00+02", "2026-05-31", "2026-05-01"),
        ("2024-02-29 23:59:59.999999+00", "2024-02-29", "2024-02-01"),
        ("1969-12-31 23:00:00+00", "1969-12-31", "1969-12-01"),
        (None, None, None),
    ],
)
@pytest.mark.parametrize("session_zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_an_instant_is_dated_by_its_utc_day_in_any_session(con, session_zone, instant, day, month):
    """utc_day / utc_month give the UTC calendar day and month, and the same ones whatever
    TimeZone the session has (a cast to DATE would give the session's local day)."""
    con.execute(f"set TimeZone = '{session_zone}'")
    try:
        dated = con.execute(
            "select utc_day(?::timestamptz)::varchar, utc_month(?::timestamptz)::varchar",
            [instant, instant],
        ).fetchall()
    finally:
        con.execute("reset TimeZone")
    assert dated == [(day, month)]


@pytest.mark.parametrize(
    "instant",
    [
        "2026-06-01 00:00:00+00",  # the first instant of the day
        "2026-05-31 23:59:59.999999+00",  # the last of the day before
        "2026-06-01 23:59:59.999999+00",
        "2026-06-02 00:00:00+00",
        "2026-06-01 01:30:00+02",  # 2026-05-31 23:30 UTC
        "2024-02-29 12:00:00+00",
        "1969-12-31 23:59:59.999999+00",
    ],
)
@pytest.mark.parametrize("session_zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_a_day_s_instants_are_those_from_its_utc_day_start_to_its_end(con, session_zone, instant):
    """utc_day_start / utc_day_end bound a UTC day by instants, as models compare ts with
    them (issue 15: a plain comparison reaches a table scan through a view): utc_day(ts) >= d
    exactly when ts >= utc_day_start(d), and utc_day(ts) <= d when ts < utc_day_end(d), in
    any session's TimeZone."""
    con.execute(f"set TimeZone = '{session_zone}'")
    try:
        rows = con.execute(
            """with days as (select utc_day(?::timestamptz) + offset_days::integer as day,
                                    ?::timestamptz as ts
                             from range(-1, 2) as r(offset_days))
               select day, utc_day(ts) >= day, ts >= utc_day_start(day),
                      utc_day(ts) <= day, ts < utc_day_end(day)
               from days""",
            [instant, instant],
        ).fetchall()
    finally:
        con.execute("reset TimeZone")
    assert len(rows) == 3
    for _day, on_or_after, from_start, on_or_before, before_next in rows:
        assert (on_or_after, on_or_before) == (from_start, before_next)
    # the instant's own day holds it, by either rule
    assert rows[1][1:] == (True, True, True, True)


def test_through_a_view_only_the_instants_of_a_day_skip_the_other_days_row_groups(tmp_path):
    """Why models select days with utc_day_start / utc_day_end (core.order_ledger through the
    int_order_events view, issue 15): on a table DuckDB prunes row groups by the zone maps of
    ts for either condition, but through a view only for the plain comparison of ts (a
    condition on utc_day(ts) was evaluated on every row of every row group)."""
    con = duckdb.connect()
    con.execute(MACROS_FILE.read_text(encoding="utf-8"))
    # small row groups: ten of them over a fortnight of minutes, in time order as events land
    con.execute(f"attach '{tmp_path / 'days.duckdb'}' as days (row_group_size 2048)")
    con.execute(
        "create table days.events as select timestamptz '2026-06-01 00:00:00+00' "
        "+ to_microseconds(range * 60000000) as ts from range(20000)"
    )
    con.execute("create view days.events_view as select * from days.events")
    con.execute("set variable day = date '2026-06-05'")
    by_day = "utc_day(ts) >= getvariable('day') and utc_day(ts) <= getvariable('day')"
    by_instants = "ts >= utc_day_start(getvariable('day')) and ts < utc_day_end(getvariable('day'))"

    def scanned(source: str, condition: str) -> tuple[int, str]:
        count = con.execute(f"select count(*) from {source} where {condition}").fetchall()[0][0]
        plan = con.execute(f"explain analyze select count(*) from {source} where {condition}")
        match = re.search(r"Row Groups Scanned: (\d+ / \d+)", plan.fetchall()[0][1])
        assert match is not None
        return count, match.group(1)

    assert scanned("days.events", by_day) == (1440, "2 / 10")
    assert scanned("days.events", by_instants) == (1440, "2 / 10")
    assert scanned("days.events_view", by_instants) == (1440, "2 / 10")
    # (through the view, by_day read 10 of 10 with DuckDB 2.0.1: a later DuckDB may prune it
    # too, which would not make the instants wrong)
    assert scanned("days.events_view", by_day)[0] == 1440
