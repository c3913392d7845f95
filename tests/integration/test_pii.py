"""ORDERS_PII_MODE=hash: analysts can count and join customers without seeing who they are."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orders_pipeline.config import ConfigError, Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import day, odp_event, write_ndjson

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


def test_hash_mode_hides_contact_details_but_keeps_customers_countable(tmp_path: Path):
    landing = _landing(tmp_path)
    settings = Settings(landing_dir=landing, warehouse=tmp_path / "a" / "wh.duckdb",
                        pii_mode="hash", pii_key=KEY)  # fmt: skip
    assert run_pipeline(settings).success
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


def test_hashes_are_stable_for_a_key_and_differ_between_keys(tmp_path: Path):
    def email_hash(folder: str, key: str) -> str:
        settings = Settings(landing_dir=_landing(tmp_path / folder),
                            warehouse=tmp_path / folder / "wh.duckdb", pii_mode="hash",
                            pii_key=key)  # fmt: skip
        assert run_pipeline(settings).success
        con = duckdb.connect(str(settings.analytics_path), read_only=True)
        try:
            return con.execute("select email from core.orders where order_id = 'A2'").fetchall()[0][
                0
            ]
        finally:
            con.close()

    assert email_hash("one", KEY) == email_hash("two", KEY)
    assert email_hash("three", KEY + "x") != email_hash("one", KEY)


def test_hash_mode_without_a_key_is_a_configuration_error():
    with pytest.raises(ConfigError, match="ORDERS_PII_KEY"):
        Settings.from_env({"ORDERS_PII_MODE": "hash"})
