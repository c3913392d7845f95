"""The quarantine-rate threshold (issue 4): a feed that suddenly sends mostly bad records stops
the run before anything is modelled or published, keeps failing until someone decides, and
goes through once the rate is raised for one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from orders_pipeline.config import ConfigError, Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import day, odp_event, write_ndjson

pytestmark = pytest.mark.heavy(seconds=40)  # scheduled first (tests/conftest.py)

GATE = "staging/odp_event_records:quarantine_rate_within_limit"


def events(count: int, bad: int, prefix: str) -> list[dict | str]:
    """``count`` records of which the last ``bad`` are not JSON."""
    good = [
        odp_event("purchase", f"{prefix}{n}", day(1 + n % 20), subtotal=10) for n in range(count)
    ]
    return [*good[: count - bad], *(f"{{broken {n}" for n in range(bad))]


def settings(landing: Path, tmp_path: Path, **changes) -> Settings:
    return Settings(landing_dir=landing, warehouse=tmp_path / "w.duckdb", **changes)


def test_a_batch_over_the_rate_fails_before_the_models(landing, tmp_path):
    write_ndjson(landing / "odp_events" / "good.ndjson", events(150, 0, "G"))
    first = run_pipeline(settings(landing, tmp_path))
    assert first.success and first.orders == 150

    # 30 of 120 records (25 %) quarantined: over 5 %, and 120 ≥ 100 records
    write_ndjson(landing / "odp_events" / "mostly_bad.ndjson", events(120, 30, "B"))
    blocked = run_pipeline(settings(landing, tmp_path))
    assert not blocked.success
    assert GATE in blocked.failed_checks
    # nothing of the bad batch was modelled or published: the orders are the first run's
    assert blocked.orders == 150
    assert blocked.quarantined == 30  # the files are landed and judged, nothing is lost

    # it keeps failing: the batch is still new to the models
    again = run_pipeline(settings(landing, tmp_path))
    assert not again.success and GATE in again.failed_checks

    # someone accepts the batch by raising the rate for one run
    accepted = run_pipeline(settings(landing, tmp_path, max_quarantine_rate=0.5))
    assert accepted.success and accepted.orders == 240

    # and the next run with the normal rate goes through: the batch is published now
    after = run_pipeline(settings(landing, tmp_path))
    assert after.success and not after.failed_checks


def test_a_small_batch_is_not_judged_by_its_rate(landing, tmp_path):
    # 5 of 10 quarantined, but 10 records say little about a feed (min 100 by default)
    write_ndjson(landing / "odp_events" / "small.ndjson", events(10, 5, "S"))
    summary = run_pipeline(settings(landing, tmp_path))
    assert summary.success and summary.quarantined == 5


def test_the_minimum_batch_size_is_configurable(landing, tmp_path):
    write_ndjson(landing / "odp_events" / "small.ndjson", events(10, 5, "S"))
    summary = run_pipeline(settings(landing, tmp_path, quarantine_min_records=10))
    assert not summary.success and GATE in summary.failed_checks


def test_the_rate_is_a_share_between_zero_and_one():
    with pytest.raises(ConfigError, match="ORDERS_MAX_QUARANTINE_RATE"):
        Settings.from_env({"ORDERS_MAX_QUARANTINE_RATE": "5"})
