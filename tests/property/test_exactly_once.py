"""Issue 11, item 1, as a state machine: any sequence of operations on one warehouse — files
landed (new, re-sent, corrected, late; events, exchange rates, Orders-object updates),
ingestion alone, modelling alone, a full run, a run killed or interrupted after a random
step, a changed setting — ends, after one successful run, with the tables of one fresh run
over the same files and settings.

The suite runs a few short sequences; ``make soak`` runs many long ones
(``ORDERS_SOAK_EXAMPLES``, ``ORDERS_SOAK_STEPS``)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from orders_pipeline.automation import INGEST_JOB, MODELS_JOB
from orders_pipeline.config import PROJECT_ROOT, Settings
from orders_pipeline.definitions import build_definitions
from orders_pipeline.instance_storage import ephemeral_instance
from orders_pipeline.jobs_in_process import QUIET_RUN_CONFIG
from orders_pipeline.partitions import daily_partitions, plan_model_run
from orders_pipeline.progress import INTERRUPT_AFTER
from orders_pipeline.runner import run_pipeline
from orders_pipeline.warehouse import connect
from tests.conftest import day, odp_event, write_ndjson

pytestmark = pytest.mark.heavy(seconds=110)  # scheduled first (tests/conftest.py)

DERIVED = ("staging", "intermediate", "core", "reporting")
ORDERS = [f"O{n}" for n in range(1, 7)]

events = st.lists(
    st.builds(
        lambda action, order, n, amount, currency: odp_event(
            action, order, day(n), subtotal=amount, currency=currency
        ),
        st.sampled_from(["purchase", "purchase", "refund", "return", "cancel"]),
        st.sampled_from(ORDERS),
        st.integers(1, 12),
        st.integers(1, 200),
        st.sampled_from(["USD", "EUR"]),
    ),
    min_size=1,
    max_size=4,
)
LANDINGS = (
    "new events",
    "a copy",
    "a correction",
    "a late event",
    "a rate",
    "an order update",
    "a linking order",
)
# the settings that change derived numbers: each is one of its two values, as Settings fields
SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "base currency": ({"base_currency": "USD"}, {"base_currency": "EUR"}),
    # the lifecycle thresholds move together: a loyal customer needs more orders than a
    # repeat one, and a run refuses anything else (config.py)
    "lifecycle thresholds": (
        {"repeat_min_orders": 2, "loyal_min_orders": 3},
        {"repeat_min_orders": 3, "loyal_min_orders": 4},
    ),
    "identity fan-out limit": ({"identity_max_fanout": 25}, {"identity_max_fanout": 1}),
    # events before the first partition belong to it
    "partition start": (
        {"partition_start": date(2024, 1, 1)},
        {"partition_start": date(2026, 6, 5)},
    ),
}


def setting_fields(chosen: dict[str, int]) -> dict[str, Any]:
    """The Settings fields of the chosen value (0 or 1) of every setting."""
    return {field: value for name, index in chosen.items()
            for field, value in SETTINGS[name][index].items()}  # fmt: skip


def _derived_tables(
    warehouse: Path, schemas: tuple[str, ...] = DERIVED
) -> dict[str, list[tuple[Any, ...]]]:
    """Every staging, core and reporting table (``schemas``), as rows, without arrival numbers.

    One fresh run takes its files in path order, folder first (docs/semantics.md §3), so a rate file
    landed between two event files arrives before both there: the sequence numbers (arrival
    and revision: ``revised_seq`` is the arrival number of an event's latest rows) differ,
    while the order within each source, which is all the rules read (ties between events,
    the latest rate of a day, the latest update of an order), is the same."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        columns = con.execute(
            """select table_schema || '.' || table_name,
                      list(column_name order by column_name) filter (
                          where column_name not in ('file_seq', 'loaded_at', 'validated_at',
                                                    'revised_seq')
                            and column_name not like '%arrival_seq')
               from information_schema.columns
               where list_contains(?, table_schema)
               group by 1""",
            [list(schemas)],
        ).fetchall()
        tables = {}
        for table, cols in columns:
            rows = con.execute(f"select {', '.join(cols)} from {table}").fetchall()
            tables[table] = sorted(rows, key=repr)
        return tables
    finally:
        con.close()


class ExactlyOnce(RuleBasedStateMachine):
    """One landing folder and one warehouse, driven like a user would."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="exactly_once_"))
        self.landing = self.root / "landing"
        self.warehouse = self.root / "wh.duckdb"
        self.chosen = dict.fromkeys(SETTINGS, 0)  # the value in use of each setting
        self.files = 0  # names sort in landing order, as one fresh run takes them
        self.event_files: list[Path] = []

    def settings(self, warehouse: Path | None = None) -> Settings:
        return Settings(
            landing_dir=self.landing,
            warehouse=warehouse or self.warehouse,
            **setting_fields(self.chosen),
        )

    def _name(self, suffix: str) -> str:
        self.files += 1
        return f"{self.files:03d}{suffix}"

    def _land_events(self, records: list[Any]) -> None:
        path = write_ndjson(self.landing / "odp_events" / self._name(".ndjson"), records)
        self.event_files.append(path)

    @initialize(first=events)
    def first_run(self, first: list[dict[str, Any]]) -> None:
        # rates into either base currency, from before every event
        rates = self.landing / "exchange_rates" / self._name(".csv")
        rates.parent.mkdir(parents=True)
        rates.write_text(
            "date,base_currency,currency,rate_to_base\n"
            "2026-05-01,USD,EUR,1.1\n2026-05-01,EUR,USD,0.9\n"
        )
        self._land_events(first)
        assert run_pipeline(self.settings()).success

    @rule(kind=st.sampled_from(LANDINGS), data=st.data())
    def land(self, kind: str, data: st.DataObject) -> None:
        """Land one file of the chosen kind (one rule, so runs are drawn as often as files)."""
        if kind == "new events":
            self.land_new_events(data.draw(events))
        elif kind == "a copy":
            self.land_a_copy(data)
        elif kind == "a correction":
            self.land_a_correction(data, data.draw(events))
        elif kind == "a late event":
            self.land_a_late_event(data.draw(st.sampled_from(ORDERS)), data.draw(st.integers(1, 3)))
        elif kind == "a rate":
            self.land_a_rate(
                data.draw(st.sampled_from(["1.2", "0.8"])), data.draw(st.integers(1, 12))
            )
        elif kind == "an order update":
            self.land_an_order_update(
                data.draw(st.sampled_from(ORDERS)), data.draw(st.integers(1, 300))
            )
        else:
            self.land_a_linking_order(
                data.draw(st.sampled_from(ORDERS)),
                data.draw(st.sampled_from(ORDERS)),
                data.draw(st.integers(0, 2)),
            )

    def land_new_events(self, batch: list[dict[str, Any]]) -> None:
        # a blank line numbers the records after it past the file's record count
        self._land_events([batch[0], "", *batch[1:]])

    def land_a_copy(self, data: st.DataObject) -> None:
        """The same bytes again under another name: nothing new."""
        source = data.draw(st.sampled_from(self.event_files))
        shutil.copyfile(source, self.landing / "odp_events" / self._name(".ndjson"))

    def land_a_correction(self, data: st.DataObject, extra: list[dict[str, Any]]) -> None:
        """An earlier file's records re-sent (counted duplicates) with new ones."""
        source = data.draw(st.sampled_from(self.event_files))
        resent = [line for line in source.read_text().splitlines() if line]
        self._land_events([*resent, *extra])

    def land_a_late_event(self, order: str, n: int) -> None:
        """An event dated before most of what is loaded."""
        self._land_events([odp_event("return", order, day(n, hour=1), subtotal=5)])

    def land_a_rate(self, rate: str, n: int) -> None:
        path = self.landing / "exchange_rates" / self._name(".csv")
        # a rate to USD, in the layout that names no base (docs/semantics.md §6)
        path.write_text(f"date,currency,rate_to_base\n2026-06-{n:02d},EUR,{rate}\n")

    def land_a_linking_order(self, first: str, second: str, phone: int) -> None:
        """docs/semantics.md §5: a new order carrying the email of two earlier orders'
        customers (each order's default email) and a phone: it merges those customers, or
        (with ORDERS_IDENTITY_MAX_FANOUT=1) makes identifiers stop linking and splits them."""
        self.files += 1
        self._land_events(
            [
                odp_event(
                    "purchase",
                    f"L{self.files}",
                    day(self.files % 12 + 1),
                    identifiers={"email": f"{first.lower()}@example.com",
                                 "phone": f"+1555000{phone}"},
                    email=f"{second.lower()}@example.com",
                    subtotal=10,
                )
            ]
        )  # fmt: skip

    def land_an_order_update(self, order: str, total: int) -> None:
        path = self.landing / "odp_orders" / self._name(".ndjson")
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"order_id": order, "status": "shipped", "total": total}))

    def _job(self, name: str, tags: dict[str, str] | None = None) -> None:
        with ephemeral_instance() as instance:
            build_definitions(self.settings()).resolve_job_def(name).execute_in_process(
                instance=instance, run_config=QUIET_RUN_CONFIG, raise_on_error=False, tags=tags
            )

    @rule()
    def ingest_only(self) -> None:
        """What the daily schedule starts."""
        self._job(INGEST_JOB)

    @rule()
    def models_only(self) -> None:
        """What the models sensor starts, over the days it plans."""
        settings = self.settings()
        with connect(settings, read_only=True) as con:
            plan = plan_model_run(con, daily_partitions(settings.partition_start))
        self._job(MODELS_JOB, plan.tags)

    @rule()
    def full_run(self) -> None:
        run_pipeline(self.settings())

    @rule(step=st.integers(1, 70), kind=st.sampled_from(["INT", "KILL"]))
    def interrupted_run_rule(self, step: int, kind: str) -> None:
        """:meth:`interrupted_run` as a drawn step: Hypothesis fails a rule that returns a
        value (its exit code) without a bundle to put it in. A run refused for its
        configuration (exit code 2) would pass for an interrupted one: it is a failure."""
        assert self.interrupted_run(step, kind) != 2, "the run refused its configuration"

    def interrupted_run(self, step: int | str, kind: str) -> int:
        """A run that gets SIGINT or SIGKILL right after its ``step``-th progress line (or the
        line of the asset ``step`` names); its exit code."""
        # the machine's settings as the CLI reads them, every variable (Settings.to_env: a
        # variable written out by hand here once missed one the settings had changed)
        env = {**os.environ, **self.settings().to_env(), INTERRUPT_AFTER: f"{step}:{kind}"}
        return subprocess.run(
            [sys.executable, "-m", "orders_pipeline.cli", "run"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            timeout=600,
        ).returncode

    @rule(name=st.sampled_from(sorted(SETTINGS)))
    def change_a_setting(self, name: str) -> None:
        self.chosen[name] = 1 - self.chosen[name]

    def teardown(self) -> None:
        try:
            if self.files:  # the machine started
                final = run_pipeline(self.settings())
                assert final.success, (final.failed_checks, final.errors)
                fresh = self.root / "fresh" / "wh.duckdb"
                assert run_pipeline(self.settings(fresh)).success
                assert _derived_tables(self.warehouse) == _derived_tables(fresh)
                # and the analyst database the sequence's publications left (a copy, the
                # spare or a fresh file, by the key change log) holds the warehouse's tables
                published = ("core", "reporting")
                analytics = self.settings().analytics_path
                assert _derived_tables(analytics, published) == _derived_tables(
                    self.warehouse, published
                )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


ExactlyOnce.TestCase.settings = settings(
    max_examples=int(os.environ.get("ORDERS_SOAK_EXAMPLES", "2")),
    stateful_step_count=int(os.environ.get("ORDERS_SOAK_STEPS", "3")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize="ORDERS_SOAK_EXAMPLES" not in os.environ,
)
test_any_sequence_of_runs_ends_with_the_tables_of_one_fresh_run = ExactlyOnce.TestCase


def test_a_run_interrupted_and_a_run_killed_end_with_the_tables_of_one_fresh_run():
    """A fixed sequence besides the drawn ones, so that every CI run sends both signals at
    least once (a few short drawn sequences need not draw an interrupted run at all), and
    kills a run between identity resolution and the customer models."""
    machine = ExactlyOnce()
    try:
        machine.first_run([odp_event("purchase", "O1", day(1), subtotal=100, currency="EUR")])
        machine.land_new_events(
            [
                odp_event("purchase", "O2", day(2), subtotal=50),
                odp_event("refund", "O1", day(3), subtotal=30, currency="USD"),
            ]
        )
        # Ctrl-C once the new events are staged, before any model has read them
        assert machine.interrupted_run("intermediate/int_order_events", "INT") == 130
        machine.land_a_rate("1.2", 2)
        machine.land_a_late_event("O2", 1)
        # killed outright once the ledger is rebuilt, before the models after it
        assert machine.interrupted_run("core/order_ledger", "KILL") == -signal.SIGKILL
        # customers merged by a new order, the run killed once identity resolution has
        # committed, before the customer models read what it regrouped (issue 15)
        machine.land_a_linking_order("O1", "O2", 1)
        assert machine.interrupted_run("core/customer_identifiers", "KILL") == -signal.SIGKILL
    finally:
        machine.teardown()


def test_every_combination_of_the_machines_settings_is_one_a_run_accepts(tmp_path):
    """The machine changes its settings in any combination, and its final run must end in a
    fresh run's tables: a combination a run refuses would end it in a configuration error
    instead (the soak drew ORDERS_LIFECYCLE_REPEAT_MIN=3 beside the default
    ORDERS_LIFECYCLE_LOYAL_MIN=3, which must be greater)."""
    for values in itertools.product((0, 1), repeat=len(SETTINGS)):
        chosen = dict(zip(SETTINGS, values, strict=True))
        Settings(
            landing_dir=tmp_path, warehouse=tmp_path / "wh.duckdb", **setting_fields(chosen)
        ).validate()


def test_a_changed_lifecycle_threshold_ends_with_the_tables_of_one_fresh_run():
    """The soak's failing sequence, shrunk: a run, new events, the lifecycle thresholds changed
    (and the base currency), then the final run."""
    machine = ExactlyOnce()
    try:
        machine.first_run([odp_event("purchase", "O1", day(1), subtotal=138, currency="USD")])
        machine.land_new_events([odp_event("purchase", "O4", day(1), subtotal=1, currency="USD")])
        machine.change_a_setting("lifecycle thresholds")
        machine.change_a_setting("base currency")
    finally:
        machine.teardown()
