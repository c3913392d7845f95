"""Amounts that validation accepts must not fail the models that add or multiply them.

Validation admits any amount that DECIMAL(18,4) holds exactly (14 integer digits). The models
cast sums and products back to DECIMAL(18,4), so valid records can overflow them, and a run
that fails on one model fails on every later run too (models rebuild from the full history):
nothing more is loaded until someone removes the records. Derived amounts (products, sums,
tallies) are therefore DECIMAL(38,4): these cases overflowed DECIMAL(18,4).
"""

from __future__ import annotations

import pytest

from tests.conftest import Warehouse, day, odp_event, run_examples

BIG = 60_000_000_000_000  # 14 integer digits: a valid amount; two of them do not fit


# each case's order ids are its own: one run over them all (a file per case) instead of a
# run per case; an overflow in any of them fails that run
CASES = {
    "two-orders-in-one-lifecycle-stage": [
        odp_event("purchase", "BIG1", day(1), subtotal=BIG),
        odp_event("purchase", "BIG2", day(1), subtotal=BIG),
    ],
    "two-events-of-one-order": [
        odp_event("purchase", "BIG3", day(1), subtotal=BIG),
        odp_event("purchase", "BIG3", day(2), subtotal=BIG),
    ],
    "item-price-times-quantity": [
        odp_event(
            "purchase",
            "BIG4",
            day(1),
            items=[{"product_id": "P1", "price": 100_000_000_000, "quantity": 1}],
        )
    ],
}


@pytest.fixture(scope="module")
def wh(tmp_path_factory) -> Warehouse:
    return run_examples(tmp_path_factory.mktemp("amount_limits"), CASES)


@pytest.mark.parametrize("case", CASES)
def test_sums_of_valid_amounts_do_not_fail_the_run(case, wh):
    file = f"odp_events/{case}.ndjson"
    assert wh.value("select count(*) from audit.quarantine where file = ?", [file]) == 0
    orders = {event["data"]["order"]["order_id"] for event in CASES[case]}
    assert wh.value("select count(*) from core.orders where list_contains(?, order_id)",
                    [sorted(orders)]) == len(orders)  # fmt: skip
