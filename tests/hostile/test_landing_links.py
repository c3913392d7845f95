"""Issue 13 item 1: landing reads only regular files inside the landing folder. Symbolic
links, to a file, to ``/proc/self/environ`` or to a folder outside, are never followed: each
is listed in the run output and in ``audit.skipped_files`` by its own name, and neither the
secret nor the environment reaches any byte of the warehouse, of the analyst database or of
Dagster's storage."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from orders_pipeline.cli import print_summary
from orders_pipeline.config import Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import bytes_under, day, odp_event, write_ndjson

SECRET = "s3cr3t-canary-7f1c2e"


def environment_entries() -> list[bytes]:
    """``KEY=value`` entries of this process's environment, as /proc/self/environ has them."""
    entries = Path("/proc/self/environ").read_bytes().split(b"\0")
    return [entry for entry in entries if b"=" in entry and len(entry) >= 12]


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_links_are_not_followed_and_nothing_behind_them_is_stored(tmp_path: Path, capsys):
    landing, outside = tmp_path / "landing", tmp_path / "outside"
    write_ndjson(landing / "odp_events" / "good.ndjson", [odp_event("purchase", "L1", day(1))])
    secret = outside / "secret.ndjson"
    write_ndjson(secret, [odp_event("purchase", SECRET, day(1)), json.dumps({"key": SECRET})])
    write_ndjson(outside / "folder" / "more.ndjson", [odp_event("purchase", SECRET, day(2))])
    (landing / "odp_events" / "secret.ndjson").symlink_to(secret)
    (landing / "odp_events" / "env.ndjson").symlink_to("/proc/self/environ")
    (landing / "odp_events" / "linked").symlink_to(outside / "folder")
    (landing / "ometria_orders").symlink_to(outside / "folder")  # a source folder itself
    settings = Settings(landing_dir=landing, warehouse=tmp_path / "w" / "warehouse.duckdb")

    home = tmp_path / "dagster_home"  # a persistent instance, whose files can be read
    home.mkdir()
    with dg.DagsterInstance.local_temp(str(home)) as instance:
        summary = run_pipeline(settings, instance=instance)

    assert summary.success, summary.errors
    links = ["odp_events/env.ndjson", "odp_events/linked", "odp_events/secret.ndjson",
             "ometria_orders"]  # fmt: skip
    assert [file for file, _ in summary.skipped_files] == links
    assert all("symbolic link" in reason for _, reason in summary.skipped_files)
    print_summary(summary, 1.0)
    printed = capsys.readouterr().out
    assert all(f"skipped: {link} (" in printed for link in links)
    assert summary.records == 1  # good.ndjson only

    stored = [settings.warehouse, settings.analytics_path]
    assert all(path.exists() for path in stored)
    for place in [*stored, *tmp_path.glob("w/*.wal"), home]:
        for path, data in bytes_under(place):
            assert SECRET.encode() not in data, f"the secret is in {path.name}"
            leaked = [entry[:20] for entry in environment_entries() if entry in data]
            assert not leaked, f"environment entries in {path.name}: {leaked}"
