"""The bench lands its extra day only once landing would trust the files' cached hashes, so
the no-op run after it measures a run with nothing new (landing/files.py: the racy window)."""

from __future__ import annotations

import time

from orders_pipeline.bench import wait_until_settled
from orders_pipeline.landing.files import RACY_NS


def test_the_increment_waits_until_its_newest_file_is_past_the_racy_window(tmp_path):
    (tmp_path / "day").mkdir()
    (tmp_path / "day" / "odp_events.ndjson").write_text('{"type": "order"}\n')
    written = (tmp_path / "day" / "odp_events.ndjson").stat()

    wait_until_settled(tmp_path)

    # a hash recorded from now on is more than the racy window after the file's timestamps
    assert time.time_ns() - RACY_NS > max(written.st_mtime_ns, written.st_ctime_ns)


def test_files_already_past_the_window_are_not_waited_for(tmp_path, monkeypatch):
    (tmp_path / "old.ndjson").write_text("{}\n")
    wait_until_settled(tmp_path)  # now past the window
    slept: list[float] = []
    monkeypatch.setattr("orders_pipeline.bench.time.sleep", slept.append)

    wait_until_settled(tmp_path)

    assert slept == []
