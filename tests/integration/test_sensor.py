"""The landing sensor starts a run for a newly completed file and ignores one being written."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orders_pipeline.automation import build_jobs, build_landing_sensor


def _evaluate(sensor: dg.SensorDefinition, cursor: str | None):
    with dg.build_sensor_context(cursor=cursor) as context:
        result = sensor.evaluate_tick(context)
    return result


def test_sensor_requests_a_run_for_a_completed_file_only(tmp_path: Path):
    landing = tmp_path / "landing"
    (landing / "odp_events").mkdir(parents=True)
    jobs = build_jobs(
        partitioned=[dg.AssetKey(["core", "order_ledger"])],
        ingested=[dg.AssetKey(["raw", "odp_events"])],
    )
    sensor = build_landing_sensor(jobs, landing)

    empty = _evaluate(sensor, None)
    assert not empty.run_requests

    partial = landing / "odp_events" / "day1.ndjson.part"
    partial.write_text('{"type": "order"')
    hidden = landing / "odp_events" / ".day1.ndjson"
    hidden.write_text('{"type": "order"')
    while_writing = _evaluate(sensor, None)
    assert not while_writing.run_requests

    partial.rename(landing / "odp_events" / "day1.ndjson")
    completed = _evaluate(sensor, None)
    assert len(completed.run_requests) == 1
    cursor = completed.cursor

    assert not _evaluate(sensor, cursor).run_requests  # nothing new since

    (landing / "odp_events" / "day2.ndjson").write_text("{}\n")
    again = _evaluate(sensor, cursor)
    assert len(again.run_requests) == 1
    assert again.run_requests[0].run_key != completed.run_requests[0].run_key
