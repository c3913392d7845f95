"""A model is rebuilt in full when its logic changed: its SQL, an upstream model's SQL, or
the session macros every model may call (sql/macros.sql, the one normalisation)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orders_pipeline.config import SQL_DIR
from orders_pipeline.models import discover_models


def fingerprints(sql_dir: Path) -> dict[str, str]:
    return {model.qualified_name: model.fingerprint for model in discover_models(sql_dir)}


def test_a_changed_macro_changes_every_models_fingerprint(tmp_path: Path):
    copy = tmp_path / "sql"
    shutil.copytree(SQL_DIR, copy)
    before = fingerprints(copy)
    macros = copy / "macros.sql"
    macros.write_text(macros.read_text(encoding="utf-8") + "\n-- changed\n", encoding="utf-8")
    after = fingerprints(copy)
    assert before.keys() == after.keys()
    assert all(before[name] != after[name] for name in before)


def test_a_change_to_a_borrowed_companion_query_rebuilds_both_models(tmp_path: Path):
    """core.customer_months recomputes the customers customers.changed.sql lists
    (``-- changed_keys_of: core.customers``): a change to that query is a change of both."""
    copy = tmp_path / "sql"
    shutil.copytree(SQL_DIR, copy)
    before = fingerprints(copy)
    changed = copy / "core" / "customers.changed.sql"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n-- changed\n", encoding="utf-8")
    after = fingerprints(copy)
    assert before["core.customers"] != after["core.customers"]
    assert before["core.customer_months"] != after["core.customer_months"]
    assert before["core.orders"] == after["core.orders"]


def test_changed_keys_of_must_name_a_model_with_a_companion_query(tmp_path: Path):
    copy = tmp_path / "sql"
    shutil.copytree(SQL_DIR, copy)
    months = copy / "core" / "customer_months.sql"
    months.write_text(
        months.read_text(encoding="utf-8").replace(
            "changed_keys_of: core.customers", "changed_keys_of: core.order_items"
        ),
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"customer_months\.sql: '-- changed_keys_of: core"):
        discover_models(copy)


def test_a_model_has_one_companion_query_not_two(tmp_path: Path):
    copy = tmp_path / "sql"
    shutil.copytree(SQL_DIR, copy)
    shutil.copy(
        copy / "core" / "customers.changed.sql", copy / "core" / "customer_months.changed.sql"
    )
    with pytest.raises(ValueError, match="replaces customer_months.changed.sql"):
        discover_models(copy)
