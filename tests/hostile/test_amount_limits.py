"""Amounts that validation accepts must not fail the models that add or multiply them.

Validation admits any amount that DECIMAL(18,4) holds exactly (14 integer digits). The models
cast sums and products back to DECIMAL(18,4), so valid records can overflow them, and a run
that fails on one model fails on every later run too (models rebuild from the full history):
nothing more is loaded until someone removes the records. Derived amounts (products, sums,
tallies) are therefore DECIMAL(38,4): these cases overflowed DECIMAL(18,4).
"""

from __future__ import annotations

import pytest

from tests.conftest import day, odp_event

BIG = 60_000_000_000_000  # 14 integer digits: a valid amount; two of them do not fit


CASES = [
    pytest.param(
        [
            odp_event("purchase", "BIG1", day(1), subtotal=BIG),
            odp_event("purchase", "BIG2", day(1), subtotal=BIG),
        ],
        id="two-orders-in-one-lifecycle-stage",
    ),
    pytest.param(
        [
            odp_event("purchase", "BIG3", day(1), subtotal=BIG),
            odp_event("purchase", "BIG3", day(2), subtotal=BIG),
        ],
        id="two-events-of-one-order",
    ),
    pytest.param(
        [
            odp_event(
                "purchase",
                "BIG4",
                day(1),
                items=[{"product_id": "P1", "price": 100_000_000_000, "quantity": 1}],
            )
        ],
        id="item-price-times-quantity",
    ),
]


@pytest.mark.parametrize("events", CASES)
def test_sums_of_valid_amounts_do_not_fail_the_run(events, run_events):
    wh = run_events(events)
    assert wh.value("select count(*) from audit.quarantine") == 0
    assert wh.value("select count(*) from core.orders") >= 1
