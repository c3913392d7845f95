"""ORDERS_PII_MODE=hash: analysts can count and join customers without seeing who they are,
and nothing personal reaches the analyst database or Dagster's storage (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orders_pipeline.assets.metadata import table_metadata
from orders_pipeline.config import ConfigError, Settings
from orders_pipeline.dictionary import TABLES
from orders_pipeline.privacy import PUBLISHED_COLUMNS, pii_hash
from orders_pipeline.publish import PUBLISHED_SCHEMAS
from orders_pipeline.runner import RunSummary, run_pipeline
from tests.conftest import bytes_under, day, odp_event, table_contents, write_ndjson

pytestmark = pytest.mark.heavy(seconds=25)  # scheduled first (tests/conftest.py)

KEY = "a-test-key-of-some-length"


def _landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    contact = {"email": "Ann@Example.com", "phone": "+44 20 7946 0000"}
    write_ndjson(
        landing / "odp_events" / "a.ndjson",
        [
            odp_event("purchase", "A1", day(1), identifiers=contact, subtotal=10,
                      first_name="Ann", last_name="Lee", bill_address="1 Main St,,Town"),
            odp_event("purchase", "A2", day(2), identifiers={"email": "ann@example.com"},
                      subtotal=20),
            "{broken ann@example.com",
        ],
    )  # fmt: skip
    return landing


def _dump(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        return "\n".join(
            repr(con.execute(f'select * from "{s}"."{t}"').fetchall()) for s, t in tables
        )
    finally:
        con.close()


def _hashed(folder: Path, key: str) -> Settings:
    """A hash-mode run with ``key`` over ``_landing`` under ``folder``: its settings."""
    settings = Settings(landing_dir=_landing(folder), warehouse=folder / "wh.duckdb",
                        pii_mode="hash", pii_key=key)  # fmt: skip
    assert run_pipeline(settings).success
    return settings


@pytest.fixture(scope="module")
def hashed_with_key(tmp_path_factory) -> Settings:
    """The settings of one hash-mode run with KEY over ``_landing``: the two tests below read
    it, instead of a run each."""
    return _hashed(tmp_path_factory.mktemp("hashed_with_key"), KEY)


def _email_hash(settings: Settings) -> str:
    con = duckdb.connect(str(settings.analytics_path), read_only=True)
    try:
        return con.execute("select email from core.orders where order_id = 'A2'").fetchall()[0][0]
    finally:
        con.close()


def test_hash_mode_hides_contact_details_but_keeps_customers_countable(hashed_with_key):
    settings = hashed_with_key
    published = _dump(settings.analytics_path)
    for secret in ("ann@example.com", "Ann@Example.com", "447946", "Lee", "Main St"):
        assert secret not in published
    con = duckdb.connect(str(settings.analytics_path), read_only=True)
    try:
        customers = con.execute("select count(*), any_value(emails) from core.customers")
        (count, emails) = customers.fetchall()[0]
        joined = con.execute(
            """select count(*) from core.orders as o
               join core.customers as c on list_contains(c.emails, o.email)"""
        ).fetchall()[0][0]
    finally:
        con.close()
    assert count == 1 and len(emails) == 1 and emails[0].startswith("pii_")
    assert joined == 2  # both orders join their customer through the hashed email
    # the working warehouse keeps the real values for the pipeline itself
    assert "ann@example.com" in _dump(settings.warehouse)


def test_hashes_are_stable_for_a_key_and_differ_between_keys(tmp_path: Path, hashed_with_key):
    one = _email_hash(hashed_with_key)
    assert _email_hash(_hashed(tmp_path / "two", KEY)) == one
    assert _email_hash(_hashed(tmp_path / "three", KEY + "x")) != one


def test_hash_mode_without_a_key_is_a_configuration_error():
    with pytest.raises(ConfigError, match="ORDERS_PII_KEY"):
        Settings.from_env({"ORDERS_PII_MODE": "hash"})


# Contact details planted where hash mode used to miss them (issue 13): identifier types
# other than `email` and `phone`, CSV identifier and custom columns, custom order fields of
# every source, XML attributes, names, addresses, an IP address and a file name.
PLANTED = {
    "ann.lee@plant.example": "a file name",
    "plant-email@example.com": "ODP identifiers.email",
    "plant-e-mail@example.com": "ODP identifiers.e-mail",
    "plant-contact@example.com": "ODP identifiers.contact_email",
    "+15550100004": "ODP identifiers.telephone",
    "plant-loyalty-card-5": "ODP identifiers.loyalty_card",
    "plant-order-email@example.com": "ODP data.order.email",
    "+15550100007": "ODP data.order.phone",
    "Plantfirst": "ODP data.order.first_name",
    "Plantlast": "ODP data.order.last_name",
    "12 Plantation Lane": "ODP data.order.bill_address",
    "plant-custom@example.com": "ODP custom field customer_email",
    "plant-item-custom@example.com": "ODP custom field inside an item",
    "plant-broken@example.com": "a quarantined record's raw text",
    "plant-work@example.com": "CSV email column",
    "plant-csv-loyalty-7": "CSV *_customer_id identifier column",
    "plant-csv-custom@example.com": "CSV custom order column",
    "Csvplantname": "CSV first_name",
    "plant-update@example.com": "Orders-object update email",
    "44 Update Plant Road": "Orders-object update ship_address",
    "plant-update-custom@example.com": "Orders-object update custom field",
    "plant-ometria@example.com": "Ometria customer.email",
    "OM-PLANT-CUSTOMER": "Ometria customer.id",
    "Omplantfirst": "Ometria customer.firstname",
    "Omplantlast": "Ometria customer.lastname",
    "Ometria Plant Street": "Ometria shipping_address",
    "203.0.113.77": "Ometria ip_address",
    "plant-ometria-note@example.com": "Ometria properties",
    "Engraved for Plantina": "Ometria line properties",
    "plant-xml-user@example.com": "XML <user email>",
    "XML-PLANT-CUSTOMER": "XML customerId",
    "plant-xml-attribute@example.com": 'XML <attribute key="email">',
    "plant-xml-item@example.com": "XML product attribute",
}


def _planted_landing(landing: Path) -> None:
    """A tiny landing folder of every source holding the ``PLANTED`` values."""
    items = [{"product_id": "P1", "price": 10, "quantity": 1,
              "note": "plant-item-custom@example.com"}]  # fmt: skip
    write_ndjson(
        landing / "odp_events" / "ann.lee@plant.example.ndjson",
        [
            odp_event(
                "purchase", "ODP-1", day(1), subtotal=10, items=items, currency="USD",
                identifiers={"email": "plant-email@example.com",
                             "e-mail": "plant-e-mail@example.com",
                             "contact_email": "plant-contact@example.com",
                             "telephone": "+15550100004",
                             "loyalty_card": "plant-loyalty-card-5"},
                email="plant-order-email@example.com", phone="+15550100007",
                first_name="Plantfirst", last_name="Plantlast",
                bill_address="12 Plantation Lane", customer_email="plant-custom@example.com",
                gift_wrap=True,
            ),
            '{"type": "order", "broken": "plant-broken@example.com"',
        ],
    )  # fmt: skip
    csv = landing / "odp_csv" / "history.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text(
        # ODP's documented zaius_orders layout (docs/semantics.md §1.2)
        "action,ts,order_id,item_product_id,item_price,item_quantity,email,"
        "loyalty_customer_id,customer_note,first_name,currency\n"
        "purchase,2026-06-02T10:00:00Z,CSV-1,P1,20.00,1,plant-work@example.com,"
        "plant-csv-loyalty-7,plant-csv-custom@example.com,Csvplantname,USD\n",
        encoding="utf-8",
    )
    updates = landing / "odp_orders" / "updates.json"
    updates.parent.mkdir(parents=True)
    updates.write_text(json.dumps([{
        "order_id": "CSV-1", "email": "plant-update@example.com",
        "ship_address": "44 Update Plant Road", "note": "plant-update-custom@example.com",
    }]), encoding="utf-8")  # fmt: skip
    ometria = landing / "ometria_orders" / "orders.ndjson"
    write_ndjson(ometria, [{
        "id": "OM-1", "timestamp": "2026-06-03T09:00:00+00:00", "currency": "USD",
        "subtotal": 30, "grand_total": 30, "channel": "online", "ip_address": "203.0.113.77",
        "customer": {"id": "OM-PLANT-CUSTOMER", "email": "plant-ometria@example.com",
                     "firstname": "Omplantfirst", "lastname": "Omplantlast"},
        "shipping_address": {"line_1": "Ometria Plant Street", "city": "Leeds",
                             "country_code": "GB"},
        "properties": {"note": "plant-ometria-note@example.com"},
        "lineitems": [{"product_id": "P1", "quantity": 3, "unit_price": 10, "subtotal": 30,
                       "properties": {"engraving": "Engraved for Plantina"}}],
    }])  # fmt: skip
    xml = landing / "optimizely_xml" / "feed.xml"
    xml.parent.mkdir(parents=True)
    xml.write_text(
        """<?xml version="1.0" encoding="UTF-8"?>
<orders>
  <order refCode="XML-1" orderDate="2026-06-04T09:00:00Z" currency="USD" total="40.00"
         customerId="XML-PLANT-CUSTOMER">
    <user email="plant-xml-user@example.com"/>
    <product refCode="P1" quantity="4" price="10.00">
      <attribute key="email">plant-xml-item@example.com</attribute>
    </product>
    <attribute key="email">plant-xml-attribute@example.com</attribute>
    <attribute key="transaction">debitcard</attribute>
  </order>
</orders>
""",
        encoding="utf-8",
    )
    catalog = landing / "products" / "catalog.csv"
    catalog.parent.mkdir(parents=True)
    catalog.write_text("product_id,sku,name,size\nP1,SKU-1,Mug,M\n", encoding="utf-8")


def _found(secrets: list[str], *places: Path) -> dict[str, list[str]]:
    """Which secrets occur in which files (as UTF-8 bytes, or lower-cased)."""
    found: dict[str, list[str]] = {}
    for place in places:
        for file, data in bytes_under(place):
            lowered = data.lower()
            for secret in secrets:
                if secret.encode() in data or secret.lower().encode() in lowered:
                    found.setdefault(secret, []).append(file.name)
    return found


@pytest.fixture(scope="module")
def hashed_run(tmp_path_factory) -> Iterator[tuple[Settings, Path, RunSummary]]:
    """One hash-mode run over the planted landing folder, with a persistent Dagster instance
    (its SQLite storage and logs in a DAGSTER_HOME folder) whose bytes can be read."""
    root = tmp_path_factory.mktemp("planted")
    _planted_landing(root / "landing")
    settings = Settings(landing_dir=root / "landing", warehouse=root / "wh" / "wh.duckdb",
                        pii_mode="hash", pii_key=KEY)  # fmt: skip
    home = root / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        summary = run_pipeline(settings, instance=instance)
    yield settings, home, summary


def test_the_planted_values_are_in_the_warehouse(hashed_run):
    """The fixture plants what it says: every value reached the working warehouse (so the
    scans below prove hiding, not absence), and only the broken record was refused."""
    settings, _, summary = hashed_run
    assert summary.success, summary.errors
    assert (summary.records, summary.quarantined) == (summary.accepted + 1, 1)
    warehouse = repr(table_contents(settings.warehouse))
    missing = [v for v in PLANTED if v not in warehouse and v.lower() not in warehouse]
    assert missing == []


def test_hash_mode_publishes_no_planted_value_and_not_the_key(hashed_run):
    settings, _, _ = hashed_run
    analytics = settings.analytics_path
    published = repr(table_contents(analytics, (*PUBLISHED_SCHEMAS, "state")))
    in_tables = [v for v in PLANTED if v in published or v.lower() in published.lower()]
    assert in_tables == [], [PLANTED[v] for v in in_tables]
    assert _found([*PLANTED, KEY], analytics) == {}  # the file's bytes too
    # still countable and joinable: every identifier type is hashed alike, with the key
    con = duckdb.connect(str(analytics), read_only=True)
    try:
        types = dict(con.execute(
            "select identifier_type, identifier_value from core.customer_identifiers"
        ).fetchall())  # fmt: skip
        customers = con.execute("select count(*) from core.customers").fetchall()[0][0]
        custom = con.execute(
            "select custom from core.order_ledger where order_id = 'ODP-1'"
        ).fetchall()[0][0]
        # the ledger view shows only its inputs' columns as they are published (hashed where
        # the dictionary says), so it stays a view over the copy's hashed tables
        kind = con.execute(
            "select table_type from information_schema.tables "
            "where table_schema = 'core' and table_name = 'order_events'"
        ).fetchall()
    finally:
        con.close()
    assert kind == [("VIEW",)]
    assert types["e-mail"] == pii_hash(KEY, "plant-e-mail@example.com")
    assert types["loyalty_card"] == pii_hash(KEY, "plant-loyalty-card-5")
    assert customers == 4  # ODP + CSV/update, Ometria, XML
    assert json.loads(custom) == {"gift_wrap": True}  # declared safe: kept


def test_hash_mode_keeps_personal_data_and_the_key_out_of_dagster_storage(hashed_run):
    _, home, _ = hashed_run
    assert _found([*PLANTED, KEY], home) == {}
    assert any(home.rglob("*.db"))  # the scan read Dagster's SQLite storage


def test_every_published_column_is_in_the_column_dictionary(hashed_run):
    settings, _, _ = hashed_run
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        published = {
            row[0]
            for row in con.execute(
                """select table_schema || '.' || table_name || '.' || column_name
                   from information_schema.columns where list_contains(?, table_schema)""",
                [list(PUBLISHED_SCHEMAS)],
            ).fetchall()
        }
    finally:
        con.close()
    assert sorted(published - set(PUBLISHED_COLUMNS)) == []  # declare new columns
    assert sorted(set(PUBLISHED_COLUMNS) - published) == []  # drop gone ones


def test_every_published_column_has_a_comment_in_the_analyst_database(hashed_run):
    """Issue 16: the column dictionary describes every published table and column, and its
    text is their COMMENT in the analyst database and in the warehouse."""
    settings, _, _ = hashed_run
    for database in (settings.analytics_path, settings.warehouse):
        con = duckdb.connect(str(database), read_only=True)
        try:
            uncommented = con.execute(
                """select schema_name || '.' || table_name || '.' || column_name
                   from duckdb_columns()
                   where list_contains(?, schema_name) and coalesce(comment, '') = ''
                   union all
                   select schema_name || '.' || name from (
                       select schema_name, table_name as name, comment from duckdb_tables()
                       union all
                       select schema_name, view_name, comment from duckdb_views())
                   where list_contains(?, schema_name) and coalesce(comment, '') = ''""",
                [list(PUBLISHED_SCHEMAS)] * 2,
            ).fetchall()
            orders_id = con.execute(
                """select comment from duckdb_columns()
                   where schema_name = 'core' and table_name = 'orders'
                     and column_name = 'order_id'"""
            ).fetchall()[0][0]
        finally:
            con.close()
        assert uncommented == [], database
        assert orders_id == TABLES["core.orders"].columns["order_id"].description


def test_dagster_column_schema_carries_the_dictionary_descriptions(hashed_run):
    settings, _, _ = hashed_run
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        schema = table_metadata(con, "core.customers", 0.0, rows=0)["dagster/column_schema"]
        catalog = con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where schema_name = 'core' and table_name = 'customers' order by column_index"
        ).fetchall()
    finally:
        con.close()
    described = {c.name: c.description for c in schema.value.columns}
    assert described["ltv"] == TABLES["core.customers"].columns["ltv"].description
    assert all(described.values())
    # every column, in the table's order, with the type DuckDB's catalog gives it
    assert [(c.name, c.type) for c in schema.value.columns] == catalog
    assert ("ltv", "DECIMAL(38,4)") in catalog  # the full type, precision and scale
