"""The steps of a run share one warehouse connection (issue 15: opening, preparing and closing
the warehouse per step was most of a tiny run's cost), and each step still starts as it did
on a connection of its own: the prepared session's variables, no temporary table of an
earlier step; a step that fails closes the connection, and the run's end releases the
warehouse."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from orders_pipeline import resources
from orders_pipeline.config import Settings
from orders_pipeline.resources import OrdersWarehouse
from orders_pipeline.warehouse import connect, writer_lock


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every connection the resource opens, in order."""
    connections: list[object] = []
    open_duckdb = resources.open_duckdb

    def counting(*args, **kwargs):
        con = open_duckdb(*args, **kwargs)
        connections.append(con)
        return con

    monkeypatch.setattr(resources, "open_duckdb", counting)
    return connections


def _settings(tmp_path: Path) -> Settings:
    return Settings(landing_dir=tmp_path / "landing", warehouse=tmp_path / "w.duckdb")


def _run(tmp_path: Path, *assets: dg.AssetsDefinition) -> dg.ExecuteInProcessResult:
    warehouse = OrdersWarehouse.from_settings(_settings(tmp_path))
    return dg.materialize(list(assets), resources={"warehouse": warehouse}, raise_on_error=False)


def _session(con) -> tuple[object, ...]:
    """What a step may find of an earlier step's session."""
    return con.execute(
        """select getvariable('left_behind'), getvariable('incremental_after'),
                  getvariable('base_currency'),
                  (select count(*) from duckdb_tables() where temporary)"""
    ).fetchall()[0]


def _dirty(con) -> None:
    con.execute("set variable left_behind = 1")
    con.execute("set variable incremental_after = 42::bigint")
    con.execute("create temp table scratch as select 1 as x")


NEW_SESSION = (None, -1, "USD", 0)


def test_a_runs_steps_share_one_connection_each_starting_as_a_new_one(tmp_path, opened):
    seen = []

    @dg.asset
    def first(warehouse: OrdersWarehouse) -> None:
        with warehouse.connect() as con:
            seen.append(_session(con))
            _dirty(con)
            con.execute("create table audit.kept as select 7 as x")

    @dg.asset(deps=[first])
    def second(warehouse: OrdersWarehouse) -> None:
        with warehouse.connect() as con:
            seen.append(_session(con))
            _dirty(con)

    @dg.asset(deps=[second])
    def third(warehouse: OrdersWarehouse) -> None:
        with warehouse.connect() as con:
            seen.append(_session(con))
            seen.append(con.execute("select x from audit.kept").fetchall())

    assert _run(tmp_path, first, second, third).success
    assert len(opened) == 1
    assert seen == [NEW_SESSION, NEW_SESSION, NEW_SESSION, [(7,)]]
    # the run's end closed it and released the warehouse: nobody waits for it
    with writer_lock(_settings(tmp_path).warehouse, timeout_seconds=0):
        pass
    with connect(_settings(tmp_path), read_only=True) as con:
        assert con.execute("select x from audit.kept").fetchall() == [(7,)]


def test_a_failed_step_closes_the_connection_and_the_next_step_opens_another(tmp_path, opened):
    seen = []

    # independent assets, run in the order of their names: the second runs after the failure
    @dg.asset
    def step_1_fails(warehouse: OrdersWarehouse) -> None:
        with warehouse.connect() as con:
            seen.append("failing")
            _dirty(con)
            con.execute("begin transaction")
            con.execute("create table audit.half as select 1 as x")
            raise RuntimeError("a step that fails half way")

    @dg.asset
    def step_2_after(warehouse: OrdersWarehouse) -> None:
        with warehouse.connect() as con:
            seen.append(_session(con))
            seen.append(
                con.execute(
                    "select count(*) from duckdb_tables() where table_name = 'half'"
                ).fetchall()
            )

    result = _run(tmp_path, step_1_fails, step_2_after)
    assert not result.success
    assert len(opened) == 2
    assert seen == ["failing", NEW_SESSION, [(0,)]]  # its open transaction died with its connection


def test_outside_a_run_each_connect_has_a_connection_of_its_own(tmp_path, opened):
    warehouse = OrdersWarehouse.from_settings(_settings(tmp_path))
    for _ in range(2):
        with warehouse.connect() as con:
            assert _session(con) == NEW_SESSION
            _dirty(con)
    assert len(opened) == 2


def _steps_after_a_big_read(seen: list[object]) -> list[dg.AssetsDefinition]:
    """A step that reads a table (DuckDB keeps its blocks), a model step after it, and a step
    that builds its frames beside DuckDB (``memory_beside``) after that."""

    @dg.asset
    def reads_a_lot(warehouse: OrdersWarehouse) -> None:
        with warehouse.connect() as con:
            con.execute("create table audit.big as select range as x from range(300000)")
            seen.append(con.execute("select sum(x) from audit.big").fetchall()[0][0])

    @dg.asset(deps=[reads_a_lot])
    def model_step(warehouse: OrdersWarehouse) -> None:
        with warehouse.connect() as con:
            seen.append(_session(con))
            seen.append(con.execute("select count(*) from audit.big").fetchall()[0][0])

    @dg.asset(deps=[model_step])
    def frames_step(warehouse: OrdersWarehouse) -> None:
        with warehouse.connect(memory_beside=True) as con:
            seen.append(_session(con))
            seen.append(con.execute("select max(x) from audit.big").fetchall()[0][0])

    return [reads_a_lot, model_step, frames_step]


def test_a_step_with_frames_beside_duckdb_starts_without_the_blocks_earlier_steps_cached(
    tmp_path, opened, monkeypatch
):
    """The blocks a step read stay cached for the next model step, but not beside the frames
    of a step that builds them outside DuckDB (validation, identity): the peak memory of a big
    run stays that of a connection per step. That step opens the warehouse again and finds
    what the first wrote."""
    seen: list[object] = []
    # any cached block is more than a step with frames beside DuckDB may find
    monkeypatch.setattr(resources, "SHARED_MEMORY_BYTES", 0)
    assert _run(tmp_path, *_steps_after_a_big_read(seen)).success
    assert len(opened) == 2
    assert seen == [sum(range(300000)), NEW_SESSION, 300000, NEW_SESSION, 299999]


def test_a_step_with_frames_beside_duckdb_shares_a_connection_that_holds_little(
    tmp_path, opened, monkeypatch
):
    seen: list[object] = []
    monkeypatch.setattr(resources, "SHARED_MEMORY_BYTES", 1 << 40)
    assert _run(tmp_path, *_steps_after_a_big_read(seen)).success
    assert len(opened) == 1
    assert seen == [sum(range(300000)), NEW_SESSION, 300000, NEW_SESSION, 299999]


def test_identity_gives_duckdb_s_cache_back_only_to_resolve_every_identifier(tmp_path, monkeypatch):
    """The graph of every identifier is built beside DuckDB, so a first resolution opens the
    warehouse again when DuckDB holds more than the bound; a later run's resolution of the
    few components its identifiers touch keeps the run's connection and its cache."""
    from orders_pipeline.assets import identity as identity_asset
    from orders_pipeline.runner import run_pipeline
    from tests.conftest import day, odp_event, write_ndjson

    seen: list[str] = []
    for name in ("__init__", "begin_step", "close"):
        original = getattr(resources.RunConnection, name)

        def logged(self, *args, _original=original, _name=name, **kwargs):
            seen.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(resources.RunConnection, name, logged)
    resolve = identity_asset._resolve

    def resolving(*args, **kwargs):
        seen.append("resolve")
        return resolve(*args, **kwargs)

    monkeypatch.setattr(identity_asset, "_resolve", resolving)
    monkeypatch.setattr(resources, "SHARED_MEMORY_BYTES", 0)
    landing = tmp_path / "landing"
    settings = Settings(landing_dir=landing, warehouse=tmp_path / "w.duckdb")
    before_resolving = []
    for n, email in enumerate(["ann@example.com", "bob@example.com"], start=1):
        write_ndjson(
            landing / "odp_events" / f"{n}.ndjson",
            [odp_event("purchase", f"O{n}", day(n), identifiers={"email": email}, subtotal=10)],
        )
        seen.clear()
        assert run_pipeline(settings).success
        before_resolving.append(seen[seen.index("resolve") - 2 : seen.index("resolve")])
    # first run: the step's connection closed, and the warehouse opened again
    assert before_resolving[0] == ["close", "__init__"]
    # second run: the step's two connects (its plan, its resolution) share the run's one
    assert before_resolving[1] == ["begin_step", "begin_step"]
