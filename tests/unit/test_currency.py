"""docs/semantics.md §6: one base currency; other currencies convert at the rate of the latest
exchange_rates date on or before the order's placed_at date; Ometria's base totals are used
as sent; an order with no usable rate keeps NULL base amounts and is reported, never dropped."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import Warehouse, odp_event, write_ndjson

pytestmark = pytest.mark.heavy(seconds=75)  # scheduled first (tests/conftest.py)

RATES = """date,currency,rate_to_base
2026-06-01,EUR,1.10
2026-06-05,EUR,1.20
2026-06-01,GBP,1.25
"""


def write_rates(landing: Path, text: str = RATES, name: str = "rates.csv") -> None:
    folder = landing / "exchange_rates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def purchase(order_id: str, ts: str, currency: str, subtotal: float, **fields) -> dict:
    return odp_event("purchase", order_id, ts, subtotal=subtotal, currency=currency, **fields)


# Examples under RATES whose order ids are their own: one run over all of them serves the
# tests that read only their own orders (``with_rates``), instead of a run each.
WITH_RATES: dict[str, list[dict]] = {}
OMETRIA_SNAPSHOT = {
    "@type": "order", "id": "OM-1", "timestamp": "2026-06-03T09:00:00+00:00",
    "currency": "GBP", "customer": {"email": "om@example.com"},
    "totals": {"local": {"currency": "GBP", "grand_total": 90, "subtotal": 80},
               "base": {"currency": "USD", "grand_total": 117, "subtotal": 104}},
    "lineitems": [{"product_id": "P1", "quantity": 1, "unit_price": 80, "subtotal": 80}],
}  # fmt: skip


@pytest.fixture(scope="module")
def with_rates(tmp_path_factory) -> Warehouse:
    folder = tmp_path_factory.mktemp("with_rates")
    landing = folder / "landing"
    write_rates(landing)
    for name, events in WITH_RATES.items():
        write_ndjson(landing / "odp_events" / f"{name}.ndjson", events)
    (landing / "ometria_orders").mkdir()
    (landing / "ometria_orders" / "orders.json").write_text(
        json.dumps([OMETRIA_SNAPSHOT]), encoding="utf-8"
    )
    settings = Settings(landing_dir=landing, warehouse=folder / "warehouse.duckdb")
    summary = run_pipeline(settings)
    assert summary.success, f"run failed: {summary.failed_steps} {summary.errors}"
    return Warehouse(path=settings.warehouse, summary=summary)


WITH_RATES["placed_at"] = [
    purchase("E1", "2026-06-02T10:00:00Z", "EUR", 100, total=110),
    # a refund after the next rate date still converts at the order's rate (placed 06-02)
    odp_event("refund", "E1", "2026-06-06T10:00:00Z", subtotal=30, currency="EUR"),
    purchase("E2", "2026-06-05T00:00:00Z", "EUR", 100),  # on the day of the new rate
    purchase("E3", "2026-06-07T23:00:00Z", "EUR", 100),  # rates hold until the next one
]


def test_an_order_converts_at_the_rate_of_its_placed_at_date(with_rates):
    wh = with_rates
    assert wh.order("E1")["subtotal_base"] == Decimal("77.0000")  # 70 × 1.10
    assert wh.order("E1")["total_base"] == Decimal("88.0000")  # (110 − 30) × 1.10
    assert wh.order("E2")["subtotal_base"] == Decimal("120.0000")
    assert wh.order("E3")["subtotal_base"] == Decimal("120.0000")
    deltas = [e["subtotal_delta_base"] for e in wh.ledger("E1")]
    assert deltas == [Decimal("110.0000"), Decimal("-33.0000")]
    # local amounts are kept as sent
    assert wh.order("E1")["subtotal"] == Decimal("70.0000")
    assert wh.order("E1")["currency"] == "EUR"


WITH_RATES["two_currencies"] = [  # the only events of 2026-06-04
    purchase("EUR-1", "2026-06-04T10:00:00Z", "EUR", 80),
    purchase("GBP-1", "2026-06-04T10:00:00Z", "GBP", 80),
    purchase("USD-1", "2026-06-04T10:00:00Z", "USD", 80),
]


def test_the_same_total_in_two_currencies_gives_the_expected_base_amounts(with_rates):
    wh = with_rates
    assert wh.order("EUR-1")["subtotal_base"] == Decimal("88.0000")
    assert wh.order("GBP-1")["subtotal_base"] == Decimal("100.0000")
    assert wh.order("USD-1")["subtotal_base"] == Decimal("80.0000")
    # reporting is in the base currency, rounded to cents only there
    gross = "select gross from reporting.daily_revenue where date = '2026-06-04'"
    assert wh.value(gross) == Decimal("268.00")


WITH_RATES["no_usable_rate"] = [
    purchase("J1", "2026-06-03T10:00:00Z", "JPY", 1000),  # no JPY rates at all
    purchase("E0", "2026-05-31T10:00:00Z", "EUR", 10),  # before the first EUR rate
]


def test_an_order_without_a_usable_rate_is_kept_with_null_base_amounts(with_rates):
    # (the other examples of ``with_rates`` all convert: only J1 and E0 can warn)
    wh = with_rates
    for order_id in ("J1", "E0"):
        order = wh.order(order_id)
        assert order["subtotal_base"] is None and order["subtotal"] is not None
    assert "core/orders:convertible_to_base_currency" in wh.summary.warned_checks


def test_ometria_base_totals_are_used_as_sent(with_rates):
    # (OMETRIA_SNAPSHOT) a GBP rate exists, but the merchant's own base total wins
    order = with_rates.order("OM-1")
    assert (order["subtotal"], order["subtotal_base"]) == (Decimal("80"), Decimal("104"))


def test_new_rates_re_derive_the_days_they_change(landing, run_landing):
    """Rates that arrive after the orders convert them on the next (incremental) run."""
    write_ndjson(
        landing / "odp_events" / "e.ndjson",
        [
            purchase("E1", "2026-06-02T10:00:00Z", "EUR", 100),
            purchase("U1", "2026-06-02T10:00:00Z", "USD", 5),
        ],
    )
    first = run_landing(landing)
    assert first.order("E1")["subtotal_base"] is None
    assert first.value("select sum(net) from reporting.daily_revenue") == Decimal("5.00")
    write_rates(landing)
    second = run_landing(landing)
    assert second.order("E1")["subtotal_base"] == Decimal("110.0000")
    assert second.value("select sum(net) from reporting.daily_revenue") == Decimal("115.00")
    assert "exchange rate" in second.summary.plan.reason


def test_a_rate_sent_again_for_the_same_day_replaces_the_earlier_one(landing, run_landing):
    write_rates(landing)
    write_rates(
        landing, "date,currency,rate_to_base\n2026-06-01,EUR,1.15\n", "rates_fix.csv"
    )  # lands after rates.csv
    write_ndjson(
        landing / "odp_events" / "e.ndjson",
        [purchase("E1", "2026-06-02T10:00:00Z", "EUR", 100)],
    )
    wh = run_landing(landing)
    assert wh.order("E1")["subtotal_base"] == Decimal("115.0000")


BAD_RATES = [
    ("2026-06-01,EUR,abc", "invalid_rate"),
    ("2026-06-01,EUR,-1.1", "invalid_rate"),
    ("2026-06-01,EUR,0", "invalid_rate"),
    ("2026-06-01,EUR,1e3", "invalid_rate"),
    ("2026-06-01,EURO,1.1", "invalid_currency"),
    ("2026-06-01,,1.1", "invalid_currency"),
    ("01/06/2026,EUR,1.1", "invalid_date"),
    ("2026-02-30,EUR,1.1", "invalid_date"),
    ("2026-06-01,EUR", "ragged_row"),
]
# Rates that name their base (issue 11), on days of their own: two good, two bad.
BAD_BASES = (
    "date,base_currency,currency,rate_to_base\n"
    "2026-06-22,,EUR,1.1\n"  # an empty base is the undeclared one, USD
    "2026-06-22,USD,USD,1\n"  # harmless: a currency's rate to itself is 1
    "2026-06-21,EURO,GBP,1.1\n"
    "2026-06-21,USD,USD,1.1\n"
)


@pytest.fixture(scope="module")
def bad_rates(tmp_path_factory) -> Warehouse:
    """One run over a rates file per bad row (a good row of a day of its own, then the bad
    one) and over BAD_BASES: the cases share it instead of a run each."""
    folder = tmp_path_factory.mktemp("bad_rates")
    (folder / "landing" / "odp_events").mkdir(parents=True)
    for n, (row, _) in enumerate(BAD_RATES):
        good = f"2026-06-{n + 2:02d},EUR,1.1"
        write_rates(folder / "landing", f"date,currency,rate_to_base\n{good}\n{row}\n",
                    f"bad_{n}.csv")  # fmt: skip
    write_rates(folder / "landing", BAD_BASES, "bad_bases.csv")
    settings = Settings(landing_dir=folder / "landing", warehouse=folder / "warehouse.duckdb")
    summary = run_pipeline(settings)
    assert summary.success, f"run failed: {summary.failed_steps} {summary.errors}"
    return Warehouse(path=settings.warehouse, summary=summary)


@pytest.mark.parametrize(("row", "code"), BAD_RATES)
def test_bad_rates_are_quarantined_with_their_reason(bad_rates, row, code):
    file = f"exchange_rates/bad_{BAD_RATES.index((row, code))}.csv"
    [load] = bad_rates.dicts(
        "select records, accepted, quarantined from audit.loads where file = ?", [file]
    )
    assert load == {"records": 2, "accepted": 1, "quarantined": 1}
    [reasons] = bad_rates.query("select reasons from audit.quarantine where file = ?", [file])[0]
    assert [r.split(":")[0] for r in reasons] == [code]


# Issue 11: one order's amounts are in one currency, the currency of its first event. An
# event sent in another currency converts at the cross rate of the order's placed_at date,
# rate_to_base(sent) / rate_to_base(order), rounded half to even to 4 decimals; with no rate
# it is left unconverted (in the ledger, in no tally) and a check lists it.
MIXED_RATES = """date,currency,rate_to_base
2026-06-01,EUR,1.0850
2026-06-01,GBP,1.2700
2026-06-08,EUR,1.2000
2026-06-01,CHF,2
2026-06-01,SEK,1
"""


def test_a_refund_in_another_currency_converts_to_the_orders_currency(landing, run_landing):
    write_rates(landing, MIXED_RATES)
    write_ndjson(
        landing / "odp_events" / "e.ndjson",
        [
            purchase("U1", "2026-06-02T10:00:00Z", "USD", 100, total=110),
            # refunded in euros after the next EUR rate: the order's placed_at rate applies
            odp_event(
                "refund", "U1", "2026-06-10T10:00:00Z", subtotal=30, total=30, currency="EUR"
            ),
            purchase("G1", "2026-06-03T10:00:00Z", "GBP", 50),
            odp_event("refund", "G1", "2026-06-04T10:00:00Z", subtotal=20, currency="EUR"),
            # rounding half to even: a CHF order (rate 2) refunded in SEK (rate 1)
            purchase("C1", "2026-06-03T10:00:00Z", "CHF", 10),
            odp_event("refund", "C1", "2026-06-04T10:00:00Z", subtotal=2.0001, currency="SEK"),
            odp_event("refund", "C1", "2026-06-05T10:00:00Z", subtotal=2.0003, currency="SEK"),
        ],
    )
    wh = run_landing(landing)
    purchase_row, refund_row = wh.ledger("U1")
    assert (refund_row["currency"], refund_row["sent_currency"]) == ("USD", "EUR")
    assert refund_row["is_unconverted"] is False
    # 30 EUR × 1.0850 / 1 (USD is the base) = 32.5500 USD, not 30 "dollars"
    assert refund_row["subtotal_delta"] == Decimal("-32.5500")
    assert refund_row["running_subtotal"] == Decimal("67.4500")  # 100 − 32.55
    assert refund_row["running_total"] == Decimal("77.4500")  # 110 − 32.55
    order = wh.order("U1")
    assert (order["currency"], order["subtotal"]) == ("USD", Decimal("67.4500"))
    assert order["subtotal_base"] == Decimal("67.4500")
    # GBP order, EUR refund: 20 × 1.0850 / 1.2700 = 17.086614… → 17.0866 GBP
    assert [e["subtotal_delta"] for e in wh.ledger("G1")] == [
        Decimal("50.0000"),
        Decimal("-17.0866"),
    ]
    assert wh.order("G1")["subtotal"] == Decimal("32.9134")
    # in the base currency at the order's rate: 63.5000 − 21.6999(82) = 41.8000
    assert wh.order("G1")["subtotal_base"] == Decimal("41.8000")
    # 2.0001 × 1 / 2 = 1.00005 → 1.0000 (to the even digit); 2.0003 / 2 = 1.00015 → 1.0002
    deltas = [e["subtotal_delta"] for e in wh.ledger("C1")]
    assert deltas == [Decimal("10.0000"), Decimal("-1.0000"), Decimal("-1.0002")]
    assert wh.order("C1")["subtotal_base"] == Decimal("15.9996")  # 7.9998 × 2
    assert wh.value("select sum(net) from reporting.daily_revenue") == Decimal("125.25")
    assert "core/order_ledger:events_in_order_currency" not in wh.summary.warned_checks


def test_an_event_no_rate_converts_stays_out_of_the_tally_until_its_rate_lands(
    landing, run_landing
):
    write_ndjson(
        landing / "odp_events" / "e.ndjson",
        [
            purchase("U2", "2026-06-02T10:00:00Z", "USD", 100),
            odp_event("refund", "U2", "2026-06-04T10:00:00Z", subtotal=3000, currency="JPY"),
        ],
    )
    first = run_landing(landing)
    _, refund = first.ledger("U2")
    assert (refund["sent_currency"], refund["is_unconverted"]) == ("JPY", True)
    assert refund["subtotal_delta"] is None and refund["subtotal_delta_base"] is None
    assert refund["running_subtotal"] == Decimal("100.0000")  # never 100 − 3000
    assert first.order("U2")["subtotal"] == Decimal("100.0000")
    assert first.order("U2")["subtotal_base"] == Decimal("100.0000")
    assert first.value("select sum(net) from reporting.daily_revenue") == Decimal("100.00")
    assert "core/order_ledger:events_in_order_currency" in first.summary.warned_checks

    write_rates(landing, "date,currency,rate_to_base\n2026-06-01,JPY,0.0065\n", "jpy.csv")
    second = run_landing(landing)
    _, refund = second.ledger("U2")
    assert refund["is_unconverted"] is False
    assert refund["subtotal_delta"] == Decimal("-19.5000")  # 3000 × 0.0065
    assert second.order("U2")["subtotal"] == Decimal("80.5000")
    assert second.value("select sum(net) from reporting.daily_revenue") == Decimal("80.50")
    assert "core/order_ledger:events_in_order_currency" not in second.summary.warned_checks


# Issue 11: a rates file names its base (an optional base_currency column); a file without
# one holds rates to USD, the default base (docs/semantics.md §6). Only rates to the
# configured base convert: rates to another base are never relabelled as rates to it.
USD_RATES = """date,base_currency,currency,rate_to_base
2026-06-01,USD,GBP,1.2500
2026-06-01,USD,EUR,1.1000
"""


def test_rates_to_another_base_currency_are_never_relabelled(landing, run_landing):
    write_rates(landing, USD_RATES)
    # the three-column layout: rates to USD, whatever the base currency is set to
    write_rates(landing, "date,currency,rate_to_base\n2026-06-01,GBP,1.3000\n", "rates_plain.csv")
    write_ndjson(
        landing / "odp_events" / "e.ndjson",
        [
            purchase("G1", "2026-06-03T10:00:00Z", "GBP", 80),
            purchase("U1", "2026-06-03T10:00:00Z", "USD", 10),
        ],
    )
    usd = run_landing(landing)
    # rates_plain.csv lands after rates.csv: its GBP rate to USD replaces the declared one
    assert usd.order("G1")["subtotal_base"] == Decimal("104.0000")  # 80 × 1.30
    eur = run_landing(landing, base_currency="EUR")
    # no rate to EUR: GBP and USD orders keep their local amounts, and are reported
    assert eur.order("G1")["subtotal_base"] is None
    assert eur.order("U1")["subtotal_base"] is None
    assert eur.value("select count(*) from reporting.daily_revenue where gross <> 0") == 0
    assert "core/order_ledger:base_currency_is_usable" in eur.summary.warned_checks
    # rates to EUR land: those convert, and only those
    write_rates(
        landing,
        "date,base_currency,currency,rate_to_base\n2026-06-01,EUR,GBP,1.1500\n",
        "to_eur.csv",
    )
    converted = run_landing(landing, base_currency="EUR")
    assert converted.order("G1")["subtotal_base"] == Decimal("92.0000")  # 80 × 1.15
    assert converted.order("U1")["subtotal_base"] is None
    assert "core/order_ledger:base_currency_is_usable" not in converted.summary.warned_checks


def test_bad_rate_bases_are_quarantined_with_their_reason(bad_rates):
    # (BAD_BASES, in the run of ``bad_rates``)
    file = "exchange_rates/bad_bases.csv"
    [load] = bad_rates.dicts(
        "select records, accepted, quarantined from audit.loads where file = ?", [file]
    )
    assert load == {"records": 4, "accepted": 2, "quarantined": 2}
    reasons = bad_rates.query(
        "select record_no, reasons from audit.quarantine where file = ? order by record_no",
        [file],
    )
    assert [[r.split(":")[0] for r in row_reasons] for _, row_reasons in reasons] == [
        ["invalid_base_currency"],
        ["invalid_rate"],
    ]
    staged = bad_rates.query(
        "select base_currency, currency from staging.exchange_rate_records where file = ?",
        [file],
    )
    assert sorted(staged) == [("USD", "EUR"), ("USD", "USD")]
