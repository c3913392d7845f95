"""One normalisation of emails and phones for every source and model (docs/semantics.md §5,
``sql/macros.sql``): an email or phone sent with spaces, upper case and invisible characters
(a zero-width space, a BOM, a no-break space) is the same value wherever it came from, as an
identifier and as an order's contact."""

from __future__ import annotations

import json
from pathlib import Path

from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import Warehouse, odp_event, write_ndjson

EMAIL_SENT = " \u200bMixed.Case@Example.COM\u00a0"
PHONE_SENT = "\ufeff +44 (20) 7946\u200b 0000 "
EMAIL = "mixed.case@example.com"
PHONE = "+442079460000"


def _landing(root: Path) -> Path:
    landing = root / "landing"
    event = odp_event("purchase", "ODP-1", subtotal=10,
                      identifiers={"email": EMAIL_SENT, "phone": PHONE_SENT})  # fmt: skip
    write_ndjson(landing / "odp_events" / "events.ndjson", [event])
    csv_folder = landing / "odp_csv"
    csv_folder.mkdir(parents=True)
    (csv_folder / "zaius_orders.csv").write_text(
        "action,order_id,ts,subtotal,email,phone\n"
        f'purchase,CSV-1,2026-06-02T10:00:00Z,10,"{EMAIL_SENT}","{PHONE_SENT}"\n',
        encoding="utf-8",
    )
    ometria = {"@type": "order", "id": "OM-1", "timestamp": "2026-06-03T09:00:00+00:00",
               "currency": "USD", "grand_total": 10, "subtotal": 10,
               "customer": {"email": EMAIL_SENT}, "lineitems": []}  # fmt: skip
    write_ndjson(landing / "ometria_orders" / "orders.ndjson", [ometria])
    xml_folder = landing / "optimizely_xml"
    xml_folder.mkdir(parents=True)
    (xml_folder / "feed.xml").write_text(
        '<orders><order refCode="XML-1" orderDate="2026-06-04T10:00:00Z" currency="USD" '
        f'total="10"><user email="{EMAIL_SENT}"/><product refCode="P1" quantity="1" '
        'price="10"/></order></orders>\n',
        encoding="utf-8",
    )
    update = {"order_id": "OBJ-1", "status": "shipped", "email": EMAIL_SENT, "phone": PHONE_SENT}
    (landing / "odp_orders").mkdir(parents=True)
    (landing / "odp_orders" / "updates.ndjson").write_text(json.dumps(update) + "\n")
    return landing


def test_every_source_yields_the_same_normalised_email_and_phone(tmp_path):
    settings = Settings(landing_dir=_landing(tmp_path), warehouse=tmp_path / "w.duckdb")
    summary = run_pipeline(settings)
    assert summary.success, summary.errors
    wh = Warehouse(path=settings.warehouse, summary=summary)
    assert wh.value("select count(*) from audit.quarantine") == 0

    identifiers = set(
        wh.query(
            "select source, identifier_type, identifier_value "
            "from intermediate.int_order_identifiers"
        )
    )
    assert identifiers == {
        ("odp_events", "email", EMAIL), ("odp_events", "phone", PHONE),
        ("odp_csv", "email", EMAIL), ("odp_csv", "phone", PHONE),
        ("ometria_orders", "email", EMAIL),
        ("optimizely_xml", "email", EMAIL),
    }  # fmt: skip
    # the orders' contacts, every event source and the Orders-object update alike
    contacts = set(wh.query("select source, email, phone from intermediate.int_order_events"))
    assert contacts == {
        ("odp_events", EMAIL, PHONE), ("odp_csv", EMAIL, PHONE),
        ("ometria_orders", EMAIL, None), ("optimizely_xml", EMAIL, None),
    }  # fmt: skip
    assert wh.query("select email, phone from intermediate.int_odp_order_updates") == [
        (EMAIL, PHONE)
    ]
    # so they are one customer, whose lists hold the one value each
    assert wh.query("select emails, phones from core.customers") == [([EMAIL], [PHONE])]
    assert (
        wh.value("select count(distinct customer_id) from core.orders where event_count > 0") == 1
    )
