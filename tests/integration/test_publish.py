"""Incremental publishing: the analyst database is the previous one with only what changed
rewritten, and always equals a fresh, full publication of the same warehouse."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from orders_pipeline.assets.metadata import PREVIEW_OF_VIEW
from orders_pipeline.assets.publish import IDENTITY_KEYS, RECORD_AUDIT_KEYS
from orders_pipeline.config import SQL_DIR, Settings
from orders_pipeline.instance_storage import ephemeral_instance
from orders_pipeline.key_changes import log_keys
from orders_pipeline.models import discover_models
from orders_pipeline.publish import (
    PUBLISHED_SCHEMAS,
    PublishReport,
    partition_columns,
    publish_analytics,
    spare_path,
    unique_keys,
)
from orders_pipeline.runner import run_pipeline
from orders_pipeline.warehouse import connect, ensure_landing_tables
from tests.conftest import day, odp_event, table_contents, write_ndjson

pytestmark = pytest.mark.heavy(seconds=65)  # scheduled first (tests/conftest.py)

KEY = "a-test-key-of-some-length"
PARTITIONED = partition_columns(discover_models(SQL_DIR))
KEYED = {**unique_keys(discover_models(SQL_DIR)), **IDENTITY_KEYS}
# the published ones: the entity and identity tables of core
PUBLISHED_KEYED = len([name for name in KEYED if name.split(".")[0] in PUBLISHED_SCHEMAS])
ITEMS = [{"product_id": "P1", "sku": "S1", "price": 5, "quantity": 2}]


def _first_batch(landing: Path) -> None:
    write_ndjson(
        landing / "odp_events" / "a.ndjson",
        [
            odp_event("purchase", "A1", day(1), subtotal=10, items=ITEMS,
                      identifiers={"email": "ann@example.com"}, first_name="Ann"),
            odp_event("purchase", "B1", day(2), subtotal=20, items=ITEMS),
            odp_event("purchase", "C1", day(3), subtotal=30, items=ITEMS),
        ],
    )  # fmt: skip


def _late_batch(landing: Path) -> None:
    """Events that arrive late, on the first day: a new order and a refund of an old one."""
    write_ndjson(
        landing / "odp_events" / "b.ndjson",
        [
            odp_event("purchase", "D1", day(1, 18), subtotal=40, items=ITEMS,
                      identifiers={"email": "dora@example.com"}, last_name="Dorsey"),
            odp_event("refund", "A1", day(1, 20), subtotal=-4),
        ],
    )  # fmt: skip


def _settings(tmp_path: Path, **options: Any) -> Settings:
    return Settings(landing_dir=tmp_path / "landing", warehouse=tmp_path / "wh.duckdb", **options)


def _run(settings: Settings, instance: dg.DagsterInstance) -> dict[str, Any]:
    """Run the pipeline; the analyst database's materialization metadata."""
    summary = run_pipeline(settings, instance=instance)
    assert summary.success, summary.errors
    event = instance.get_latest_materialization_event(
        dg.AssetKey(["publish", "analytics_database"])
    )
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _fresh_copy(settings: Settings, path: Path, pii_key: str | None = None) -> PublishReport:
    with connect(settings) as con:
        return publish_analytics(con, path, pii_key=pii_key, partitioned=PARTITIONED, fresh=True)


def _published(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return table_contents(path, PUBLISHED_SCHEMAS)


def _dump(path: Path) -> str:
    """Every value of every table and view of the published schemas, as text."""
    return repr(_published(path))


@pytest.fixture
def instance():
    with ephemeral_instance() as instance:
        yield instance


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A folder after one run over the first batch (landing folder, warehouse, analyst
    database), and that run's publication metadata: the start every test but the last shares,
    copied, instead of a run of its own. (A run reads nothing of an earlier run from the
    Dagster instance: its state is in the warehouse.)"""
    folder = tmp_path_factory.mktemp("publish_first_run")
    settings = _settings(folder)
    _first_batch(settings.landing_dir)
    with ephemeral_instance() as instance:
        return folder, _run(settings, instance)


@pytest.fixture
def after_first_run(tmp_path: Path, first_run: tuple[Path, dict[str, Any]]) -> Settings:
    """This test's copy of ``first_run``'s folder: the settings of its warehouse."""
    shutil.copytree(first_run[0], tmp_path, dirs_exist_ok=True)
    return _settings(tmp_path)


def test_a_late_event_on_an_old_day_is_published_by_day_range(
    tmp_path, instance, first_run, after_first_run
):
    settings = after_first_run
    assert first_run[1]["full_publication_reason"] == "no previous publication"

    _late_batch(settings.landing_dir)
    second = _run(settings, instance)

    assert second["full_publication_reason"] == ""
    assert second["updated_by_day_range"] == len(PARTITIONED)
    assert second["views"] == 1  # core.order_events
    # the entity and identity tables by the keys whose rows changed (issue 15), which
    # their builds logged (key_changes.py); only the audit tables of records, which no build
    # logs, have their rows compared
    assert second["updated_by_key"] == PUBLISHED_KEYED + len(RECORD_AUDIT_KEYS) == 8 + 2
    assert second["keys_compared"] == len(RECORD_AUDIT_KEYS)
    assert second["tables"] == (
        second["copied_whole"] + second["updated_by_day_range"] + second["updated_by_key"]
        + second["unchanged"] + second["views"]
    )  # fmt: skip
    fresh = _fresh_copy(settings, tmp_path / "fresh.duckdb")
    assert fresh.full_reason == "a full publication was asked for"
    assert _published(settings.analytics_path) == _published(tmp_path / "fresh.duckdb")
    con = duckdb.connect(str(settings.analytics_path), read_only=True)
    try:
        orders = con.execute("select order_id from core.order_events order by all").fetchall()
    finally:
        con.close()
    assert ("D1",) in orders  # the late order is there
    # plain mode: Dagster shows previews of the data (hash mode withholds them: test_pii.py)
    preview = instance.get_latest_materialization_event(dg.AssetKey(["core", "orders"]))
    assert "ann@example.com" in preview.asset_materialization.metadata["preview"].value
    # but not of a view, whose first rows would cost its whole query (its schema is shown)
    view = instance.get_latest_materialization_event(dg.AssetKey(["core", "order_events"]))
    metadata = view.asset_materialization.metadata
    assert metadata["preview"].value == PREVIEW_OF_VIEW
    assert "customer_id" in {c.name for c in metadata["dagster/column_schema"].value.columns}


def test_a_publication_with_nothing_new_leaves_partitioned_tables_unchanged(after_first_run):
    settings = after_first_run
    before = _published(settings.analytics_path)

    with connect(settings) as con:
        report = publish_analytics(con, settings.analytics_path, partitioned=PARTITIONED)
        assert (report.unchanged, report.by_range, report.full_reason) == (
            len(PARTITIONED),
            0,
            None,
        )
        assert report.tables == report.whole + report.unchanged + report.views
        # a table that gains a column is copied whole even without a partition build
        con.execute("alter table reporting.daily_revenue add column note varchar")
        report = publish_analytics(con, settings.analytics_path, partitioned=PARTITIONED)
        assert report.unchanged == len(PARTITIONED) - 1
        # a table gone from the warehouse is gone from the analyst database
        con.execute("alter table reporting.daily_revenue drop column note")
        con.execute("create table reporting.scratch as select 1 as x")
        publish_analytics(con, settings.analytics_path, partitioned=PARTITIONED)
        con.execute("drop table reporting.scratch")
        publish_analytics(con, settings.analytics_path, partitioned=PARTITIONED)

    assert _published(settings.analytics_path) == before


def _third_batch(landing: Path) -> None:
    """A new order, and a return of the late order D1: its row in core.orders changes."""
    write_ndjson(
        landing / "odp_events" / "c.ndjson",
        [
            odp_event("purchase", "E1", day(4), subtotal=50, items=ITEMS,
                      identifiers={"email": "eve@example.com"}),
            odp_event("return", "D1", day(4, 12), subtotal=-10),
        ],
    )  # fmt: skip


def test_the_publication_before_the_last_is_brought_up_to_date_in_place(
    tmp_path, instance, after_first_run
):
    """The spare: the first run's publication, a full one, keeps a byte copy of its file,
    which the second run updates in place; the third run's publication is the first run's
    file, renamed and updated in place with two runs' changes (no copy of the analyst
    database), and equals a fresh publication; the second run's file is kept as the next
    spare."""
    settings = after_first_run
    analytics, spare = settings.analytics_path, spare_path(settings.analytics_path)
    # a file of its own, with the same tables
    assert not os.path.samestat(spare.stat(), analytics.stat())
    assert _published(spare) == _published(analytics)
    copied = spare.stat()

    _late_batch(settings.landing_dir)
    second = _run(settings, instance)
    assert second["updated_in"] == "spare"
    assert os.path.samestat(analytics.stat(), copied)
    first_file = spare.stat()  # the first publication, kept
    second_publication = _published(analytics)

    _third_batch(settings.landing_dir)
    third = _run(settings, instance)
    assert third["updated_in"] == "spare"
    assert os.path.samestat(analytics.stat(), first_file)
    # both runs' keys from the log, checked by the row counts: none compared but the
    # audit tables of records
    assert (third["updated_by_key"], third["keys_compared"]) == (
        PUBLISHED_KEYED + len(RECORD_AUDIT_KEYS),
        len(RECORD_AUDIT_KEYS),
    )
    assert third["updated_by_day_range"] == len(PARTITIONED)
    assert _published(spare) == second_publication
    _fresh_copy(settings, tmp_path / "fresh.duckdb")
    assert _published(analytics) == _published(tmp_path / "fresh.duckdb")
    assert not list(tmp_path.glob(".analytics.duckdb.*.tmp*"))


def test_a_spare_that_is_the_analyst_database_under_a_second_name_is_never_written(
    tmp_path, instance, after_first_run
):
    """A crash after a publication's transaction, once the replaced file is kept as the spare
    (a hard link) but before the new file replaces the analyst database, leaves the warehouse
    a build ahead and one file under both names, of the build the spare should hold. The next
    publication must not write in place what readers open as the analyst database: it
    publishes afresh, as after any crash in that window."""
    settings = after_first_run
    analytics, spare = settings.analytics_path, spare_path(settings.analytics_path)
    _late_batch(settings.landing_dir)
    _run(settings, instance)  # publication build 2; the spare holds build 1
    # the crash of publication 3: its build recorded, the spare linked, nothing renamed
    with connect(settings) as con:
        con.execute("insert into state.publication_builds values (3, now(), ?)", [str(analytics)])
    spare.unlink()
    os.link(analytics, spare)

    _third_batch(settings.landing_dir)
    fourth = _run(settings, instance)

    assert fourth["updated_in"] == ""
    assert "holds publication build 2" in fourth["full_publication_reason"]
    # a full publication keeps a byte copy of its own file: never the analyst database
    # under a second name
    assert not os.path.samestat(spare.stat(), analytics.stat())
    assert _published(spare) == _published(analytics)
    _fresh_copy(settings, tmp_path / "fresh.duckdb")
    assert _published(analytics) == _published(tmp_path / "fresh.duckdb")


def test_a_run_killed_while_updating_the_spare_leaves_a_temporary_file_the_next_one_removes(
    tmp_path, instance, after_first_run
):
    """What SIGKILL in the middle of updating the spare leaves: no spare, and its file, half
    written, under a temporary name. The next publication removes it and copies the analyst
    database, which the killed run never touched."""
    settings = after_first_run
    analytics, spare = settings.analytics_path, spare_path(settings.analytics_path)
    _late_batch(settings.landing_dir)
    _run(settings, instance)
    half_written = analytics.with_name(f".{analytics.name}.0123abcd.tmp")
    spare.rename(half_written)
    with half_written.open("r+b") as file:
        file.seek(half_written.stat().st_size // 2)
        file.write(b"\xff" * 65536)
    _third_batch(settings.landing_dir)

    third = _run(settings, instance)

    assert (third["updated_in"], third["full_publication_reason"]) == ("copy", "")
    assert not half_written.exists()
    assert spare.exists()  # the second publication, kept for the next one
    _fresh_copy(settings, tmp_path / "fresh.duckdb")
    assert _published(analytics) == _published(tmp_path / "fresh.duckdb")


def test_keyed_tables_are_published_by_their_logged_keys_checked_by_row_count(
    tmp_path, after_first_run
):
    settings = after_first_run

    def publish() -> PublishReport:
        return publish_analytics(con, settings.analytics_path, partitioned=PARTITIONED, keyed=KEYED)

    with connect(settings) as con:
        # nothing logged since the first run's publication: no keyed table is touched
        report = publish()
        assert (report.unchanged, report.by_key, report.compared) == (
            len(PARTITIONED) + PUBLISHED_KEYED,
            0,
            0,
        )
        # a logged key: its rows are replaced from the log, no row compared
        con.execute("update core.orders set currency = 'EUR' where order_id = 'B1'")
        log_keys(con, "core.orders", ("order_id",), "select 'B1' as order_id")
        report = publish()
        assert (report.by_key, report.compared) == (1, 0)
        # a change no build logged (a writer that forgot to): the row counts disagree with
        # the log, so the rows are compared. This publication updates the spare, which
        # lacks the last one's B1 too: the log still lists it (key_changes.py)
        con.execute("delete from core.customers where customer_id in ("
                    "select min(customer_id) from core.customers)")  # fmt: skip
        report = publish()
        assert report.base == "spare"
        assert (report.by_key, report.compared) == (2, 1)
        # a log begun after the copy was made (a warehouse of a version that did not log):
        # every keyed table's rows are compared
        con.execute("update state.key_changes_start set publication_build = 10_000")
        report = publish()
        assert (report.unchanged, report.compared) == (len(PARTITIONED), PUBLISHED_KEYED)

    _fresh_copy(settings, tmp_path / "fresh.duckdb")
    assert _published(settings.analytics_path) == _published(tmp_path / "fresh.duckdb")


def test_the_audit_tables_of_records_are_published_by_comparing_their_rows(
    tmp_path, after_first_run
):
    settings = after_first_run
    fresh = tmp_path / "fresh.duckdb"

    def publish() -> PublishReport:
        report = publish_analytics(
            con,
            settings.analytics_path,
            partitioned=PARTITIONED,
            keyed=KEYED,
            compared=RECORD_AUDIT_KEYS,
        )
        # every publication compares both tables (no build logs them) and copies neither
        assert report.compared == len(RECORD_AUDIT_KEYS)
        return report

    # a.ndjson re-sent under its name with one more record: its first record is a duplicate
    # of the first version's, and each re-sending repeats that same audit row
    resent = """insert into audit.duplicates
                values ('odp_events', 'a.ndjson', 1, 'E1', 'a.ndjson', 1, true)"""
    with connect(settings) as con:
        before = publish()
        con.execute(
            """insert into audit.quarantine
               values ('odp_events', 'a.ndjson', 4, ['invalid_json: not JSON'], '{oops',
                       now(), 2)"""
        )
        con.execute(resent)
        publish()
        con.execute(resent)
        # the spare: the publication before the last, without either row
        publish()
        # the spare again, which holds the first repeat: the second must still be found
        after = publish()
    _fresh_copy(settings, fresh)
    assert _published(settings.analytics_path) == _published(fresh)
    assert len(_published(fresh)["audit.duplicates"]) == 2
    assert after.whole == before.whole


def test_a_table_or_view_that_changed_kind_is_replaced_in_the_analyst_database(
    tmp_path, instance, after_first_run
):
    # the warehouse and both analyst files as a version left them in which core.order_events
    # was a table and reporting.refund_summary a view (the models' `-- materialized:` changed
    # since; DuckDB's `create or replace` will not swap one kind for the other)
    settings = after_first_run
    spare = spare_path(settings.analytics_path)
    assert spare.exists()  # the full publication's byte copy, which the next run updates
    for path in (settings.warehouse, settings.analytics_path, spare):
        con = duckdb.connect(str(path))
        con.execute("drop view core.order_events")
        con.execute("create table core.order_events as select 1 as left_by_an_older_version")
        con.execute("drop table reporting.refund_summary")
        con.execute("create view reporting.refund_summary as select 1 as left_by_an_older_version")
        con.close()

    _late_batch(settings.landing_dir)
    second = _run(settings, instance)

    assert (second["updated_in"], second["full_publication_reason"]) == ("spare", "")
    con = duckdb.connect(str(settings.analytics_path), read_only=True)
    try:
        kinds = dict(
            con.execute(
                "select table_schema || '.' || table_name, table_type "
                "from information_schema.tables "
                "where table_name in ('order_events', 'refund_summary')"
            ).fetchall()
        )
    finally:
        con.close()
    assert kinds == {"core.order_events": "VIEW", "reporting.refund_summary": "BASE TABLE"}
    _fresh_copy(settings, tmp_path / "fresh.duckdb")
    assert _published(settings.analytics_path) == _published(tmp_path / "fresh.duckdb")


def test_switching_pii_mode_or_key_forces_a_full_publication(tmp_path, instance, after_first_run):
    settings = after_first_run
    assert "ann@example.com" in _dump(settings.analytics_path)
    # an incremental publication in plain mode first: the plain file it replaced is the spare
    write_ndjson(
        settings.landing_dir / "odp_events" / "p.ndjson",
        [odp_event("purchase", "P1", day(3, 9), subtotal=7, items=ITEMS)],
    )
    _run(settings, instance)
    assert "ann@example.com" in _dump(spare_path(settings.analytics_path))

    hashed = _settings(tmp_path, pii_mode="hash", pii_key=KEY)
    _late_batch(settings.landing_dir)
    switched = _run(hashed, instance)
    assert "another PII setting" in switched["full_publication_reason"]
    published = _dump(settings.analytics_path)
    for secret in ("ann@example.com", "Ann", "dora@example.com", "Dorsey"):
        assert secret not in published
    # a full publication keeps neither the plain file it replaced nor the older one: its
    # spare is a copy of the hashed file it wrote
    kept = _dump(spare_path(settings.analytics_path))
    for secret in ("ann@example.com", "Ann", "dora@example.com", "Dorsey"):
        assert secret not in kept
    assert KEY not in published and KEY not in repr(
        table_contents(settings.analytics_path, ("state",))
    )

    # the same key: incremental, and the late contact details are hashed by range too
    write_ndjson(
        settings.landing_dir / "odp_events" / "c.ndjson",
        [odp_event("purchase", "E1", day(2, 9), subtotal=5, items=ITEMS,
                   identifiers={"email": "eve@example.com", "phone": "+44 20 7946 0001"},
                   first_name="Evelyn")],
    )  # fmt: skip
    same_key = _run(hashed, instance)
    assert same_key["full_publication_reason"] == ""
    spare = _dump(spare_path(settings.analytics_path))  # the hashed file it replaced
    for secret in ("ann@example.com", "Ann", "dora@example.com", "Dorsey"):
        assert secret not in spare
    assert same_key["updated_by_day_range"] == len(PARTITIONED)
    published = _dump(settings.analytics_path)
    for secret in ("eve@example.com", "Evelyn", "7946"):
        assert secret not in published
    _fresh_copy(hashed, tmp_path / "fresh.duckdb", pii_key=KEY)
    assert _published(settings.analytics_path) == _published(tmp_path / "fresh.duckdb")

    other_key = _run(_settings(tmp_path, pii_mode="hash", pii_key=KEY + "x"), instance)
    assert "another PII setting" in other_key["full_publication_reason"]
    assert _published(settings.analytics_path) != _published(tmp_path / "fresh.duckdb")


@pytest.mark.parametrize("damage", ["garbage", "empty", "no publication state"])
def test_an_unusable_previous_analyst_database_falls_back_to_a_full_publication(
    tmp_path, instance, after_first_run, damage
):
    settings = after_first_run
    analytics = settings.analytics_path
    _damage(analytics, damage)
    spare_path(analytics).unlink()  # and no spare beside it (the next test keeps it)

    _late_batch(settings.landing_dir)
    metadata = _run(settings, instance)

    assert "could not be reused" in metadata["full_publication_reason"]
    assert metadata["copied_whole"] + metadata["views"] == metadata["tables"]
    _fresh_copy(settings, tmp_path / "fresh.duckdb")
    assert _published(analytics) == _published(tmp_path / "fresh.duckdb")
    assert not list(tmp_path.glob(".analytics.duckdb.*.tmp*"))


def _damage(analytics: Path, damage: str) -> None:
    if damage == "garbage":
        analytics.write_bytes(b"\x00not a database\xff" * 4096)
    elif damage == "empty":
        analytics.write_bytes(b"")
    else:
        analytics.unlink()
        duckdb.connect(str(analytics)).execute("create table t as select 1 as x").close()


def test_a_damaged_analyst_database_is_published_from_its_spare(
    tmp_path, instance, after_first_run
):
    """The first run's full publication kept a copy of its file: a damaged analyst database
    is replaced by that copy brought up to date, which equals a fresh publication."""
    settings = after_first_run
    _damage(settings.analytics_path, "garbage")

    _late_batch(settings.landing_dir)
    metadata = _run(settings, instance)

    assert (metadata["updated_in"], metadata["full_publication_reason"]) == ("spare", "")
    _fresh_copy(settings, tmp_path / "fresh.duckdb")
    assert _published(settings.analytics_path) == _published(tmp_path / "fresh.duckdb")


def test_the_ledger_view_stays_a_view_that_stands_alone(tmp_path, instance, after_first_run):
    settings = after_first_run
    _late_batch(settings.landing_dir)
    _run(settings, instance)
    with connect(settings, read_only=True) as con:
        expected = sorted(
            con.execute("select order_id, event_seq, customer_id from core.order_events").fetchall()
        )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(settings.analytics_path, elsewhere / "copy.duckdb")
    settings.warehouse.unlink()  # the warehouse is gone

    con = duckdb.connect(str(elsewhere / "copy.duckdb"), read_only=True)
    try:
        kinds = con.execute(
            """select table_type from information_schema.tables
               where table_schema = 'core' and table_name = 'order_events'"""
        ).fetchall()
        rows = sorted(
            con.execute("select order_id, event_seq, customer_id from core.order_events").fetchall()
        )
    finally:
        con.close()
    assert kinds == [("VIEW",)]
    assert rows == expected and len(rows) == 5


def test_a_stale_analyst_database_beside_a_new_warehouse_is_never_a_base(
    tmp_path, instance, after_first_run
):
    """Issue 11: `make clean` used to keep data/analytics.duckdb; the next warehouse then
    published its new orders into the old file, beside the old ledger and revenue."""
    settings = after_first_run
    settings.warehouse.unlink()  # a new warehouse, over other files, beside the old copy
    shutil.rmtree(settings.landing_dir)
    _late_batch(settings.landing_dir)

    metadata = _run(settings, instance)

    assert "another warehouse" in metadata["full_publication_reason"]
    _fresh_copy(settings, tmp_path / "fresh.duckdb")
    assert _published(settings.analytics_path) == _published(tmp_path / "fresh.duckdb")


def test_an_analyst_database_of_an_older_build_is_never_a_base(tmp_path):
    """A publication the warehouse has moved past (a file restored from a backup, or one
    left at another ORDERS_ANALYTICS_DB) is published afresh, and the log says why."""
    settings = _settings(tmp_path)
    with connect(settings) as con:
        ensure_landing_tables(con)  # a new warehouse: its audit tables are enough here
        publish_analytics(con, settings.analytics_path, partitioned=PARTITIONED)  # build 1
        publish_analytics(con, tmp_path / "elsewhere.duckdb", partitioned=PARTITIONED)
        # the copy of build 1 the first publication kept would be a base (the log keeps what
        # it lacks): without it, the file of build 1 is not
        spare_path(settings.analytics_path).unlink()
        report = publish_analytics(con, settings.analytics_path, partitioned=PARTITIONED)
        again = publish_analytics(con, settings.analytics_path, partitioned=PARTITIONED)
    assert report.full_reason is not None and "holds publication build 1" in report.full_reason
    assert "last publication is build 2" in report.full_reason
    assert again.full_reason is None  # the file it just wrote is this warehouse's last build
