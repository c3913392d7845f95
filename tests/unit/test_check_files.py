"""Checks are SQL files beside the models (issue 14): ``sql/<schema>/<table>.checks/<name>.sql``
is a check on the asset ``<schema>/<table>``, found like the models, and the loader attaches
every one of them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from orders_pipeline.checks import CHECKS_SUFFIX, EVERY_SOURCE, load_check
from orders_pipeline.config import SQL_DIR
from orders_pipeline.definitions import defs
from orders_pipeline.sources import SOURCES


def _expected_check_keys() -> set[dg.AssetCheckKey]:
    keys = set()
    for path in SQL_DIR.glob(f"*/*{CHECKS_SUFFIX}/*.sql"):
        table = path.parent.name.removesuffix(CHECKS_SUFFIX)
        if table == EVERY_SOURCE:
            assets = [s.validation.staging_table.split(".") for s in SOURCES]
        else:
            assets = [[path.parent.parent.name, table]]
        keys |= {dg.AssetCheckKey(dg.AssetKey(asset), path.stem) for asset in assets}
    return keys


def test_every_check_file_is_loaded_and_attached_to_its_asset():
    graph = defs.get_repository_def().asset_graph
    attached = set(graph.asset_check_keys)
    expected = _expected_check_keys()
    assert len(expected) > 20
    assert expected == attached
    # every check's asset is an asset of the definitions
    assert {key.asset_key for key in attached} <= set(graph.get_all_asset_keys())


def test_the_file_header_declares_severity_blocking_and_what_else_the_check_waits_for():
    check = load_check(
        SQL_DIR / "core" / f"products{CHECKS_SUFFIX}" / "items_have_a_known_product.sql",
        ("core", "products"),
    )
    assert (check.severity, check.blocking) == (dg.AssetCheckSeverity.WARN, False)
    assert check.additional_deps == (("core", "order_items"),)
    assert check.description.startswith("Line items whose product is not in the catalog")
    assert check.sql.lstrip().startswith("select")


def test_a_check_file_without_severity_or_blocking_is_refused(tmp_path: Path):
    path = tmp_path / "rows_exist.sql"
    path.write_text("-- Rows exist.\n-- severity: error\nselect 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="blocking"):
        load_check(path, ("core", "orders"))
