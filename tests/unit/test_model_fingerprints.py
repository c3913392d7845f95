"""A model is rebuilt in full when its logic changed: its SQL, an upstream model's SQL, or
the session macros every model may call (sql/macros.sql, the one normalisation)."""

from __future__ import annotations

import shutil
from pathlib import Path

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
