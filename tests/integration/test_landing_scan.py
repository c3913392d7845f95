"""Issues 5 and 11: a run reads only the landing files it has not loaded yet, and no shortcut
skips changed content. A loaded file whose device, inode, size, mtime and ctime are those
recorded is not hashed again (so a run does not re-read the whole history); a file written
since, even with its size and mtime put back (``cp -p``, ``rsync -t``, ``tar x``), is read
and its new content landed; an entry recorded within the timestamps' granularity is
"racy" and the file is read again (git's rule)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from orders_pipeline.config import Settings
from orders_pipeline.landing import files, land, reading
from orders_pipeline.landing.land import land_new_files
from orders_pipeline.sources import SOURCES, ensure_source_tables
from orders_pipeline.warehouse import connect, ensure_landing_tables
from tests.conftest import day, odp_event, write_ndjson


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the landing pass opens to hash, run after run."""
    names: list[str] = []
    real = reading.OpenedFile.sha256

    def counting(self: reading.OpenedFile) -> str:
        names.append(Path(self.relative).name)
        return real(self)

    monkeypatch.setattr(reading.OpenedFile, "sha256", counting)
    return names


def land_all(landing: Path, warehouse: Path) -> None:
    """One landing pass over every source folder (no validation, no models)."""
    settings = Settings(landing_dir=landing, warehouse=warehouse)
    with connect(settings) as con:
        ensure_landing_tables(con)
        ensure_source_tables(con)
        land_new_files(con, settings, SOURCES)


def landed_orders(warehouse: Path) -> list[str]:
    settings = Settings(warehouse=warehouse)
    with connect(settings, read_only=True) as con:
        rows = con.execute(
            "select raw ->> '$.data.order.order_id' from raw.odp_events order by 1"
        ).fetchall()
    return [row[0] for row in rows]


def test_loaded_files_are_not_read_again_unless_they_change(
    tmp_path: Path, hashed: list[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(files, "RACY_NS", 0)  # the files here are seconds old: trust them
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    first = write_ndjson(
        landing / "odp_events" / "1.ndjson", [odp_event("purchase", "O1", day(1), subtotal=10)]
    )
    land_all(landing, warehouse)
    assert hashed == ["1.ndjson"]

    write_ndjson(
        landing / "odp_events" / "2.ndjson", [odp_event("purchase", "O2", day(2), subtotal=10)]
    )
    hashed.clear()
    land_all(landing, warehouse)
    assert hashed == ["2.ndjson"]  # 1.ndjson: not written since it was loaded

    # rewritten in place with new content of the same size, its mtime put back (cp -p): the
    # ctime moved, so it is read again, and its new record is landed
    stat = first.stat()
    write_ndjson(first, [odp_event("purchase", "O3", day(1), subtotal=10)])
    assert first.stat().st_size == stat.st_size
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    hashed.clear()
    land_all(landing, warehouse)
    assert hashed == ["1.ndjson"]
    assert landed_orders(warehouse) == ["O1", "O2", "O3"]


def nothing_to_land(landing: Path, warehouse: Path) -> bool:
    settings = Settings(landing_dir=landing, warehouse=warehouse)
    with connect(settings) as con:
        return land.nothing_to_land(con, settings, SOURCES)


def test_a_run_knows_without_reading_a_file_that_nothing_is_new(
    tmp_path: Path, hashed: list[str], monkeypatch: pytest.MonkeyPatch
):
    """Issue 15: what lets a run with no new file skip its jobs. Only metadata is looked at;
    a new, changed or vanished file, or an entry that cannot be trusted yet, means work."""
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    first = write_ndjson(landing / "odp_events" / "1.ndjson", [odp_event("purchase", "O1", day(1))])
    land_all(landing, warehouse)
    assert not nothing_to_land(landing, warehouse)  # racy: hashed in the file's clock tick
    monkeypatch.setattr(files, "RACY_NS", 0)
    assert nothing_to_land(landing, warehouse)
    second = write_ndjson(
        landing / "odp_events" / "2.ndjson", [odp_event("purchase", "O2", day(2))]
    )
    assert not nothing_to_land(landing, warehouse)
    land_all(landing, warehouse)
    assert nothing_to_land(landing, warehouse)
    second.unlink()  # a landing pass would forget its hash-cache entry
    assert not nothing_to_land(landing, warehouse)
    land_all(landing, warehouse)
    write_ndjson(first, [odp_event("purchase", "O3", day(1))])
    assert not nothing_to_land(landing, warehouse)
    assert hashed == ["1.ndjson", "2.ndjson"]  # by the landing passes only


def test_a_file_hashed_within_the_clock_tick_is_read_again(tmp_path: Path, hashed: list[str]):
    """Racy entry: the file's ctime is not older than the moment its hash was recorded by
    more than RACY_NS, so a write in the same tick could hide; it is hashed again."""
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    write_ndjson(landing / "odp_events" / "1.ndjson", [odp_event("purchase", "O1", day(1))])
    land_all(landing, warehouse)
    land_all(landing, warehouse)
    assert hashed == ["1.ndjson", "1.ndjson"]


def test_a_same_size_same_mtime_rewrite_is_landed(tmp_path: Path):
    """Issue 11 (a): ``cp -p`` of new content over a loaded file, same size, same mtime."""
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    path = write_ndjson(landing / "odp_events" / "1.ndjson", [odp_event("purchase", "A1", day(1))])
    land_all(landing, warehouse)
    stat = path.stat()
    update = write_ndjson(tmp_path / "update.ndjson", [odp_event("purchase", "B1", day(1))])
    os.utime(update, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(update, path)  # what cp -p / rsync -t leave: other bytes, same size and mtime
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    land_all(landing, warehouse)
    assert landed_orders(warehouse) == ["A1", "B1"]


def test_a_file_replaced_between_hash_and_land_lands_the_bytes_it_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Issue 11 (b): the file is replaced (write-then-rename) after the landing pass hashed
    it and before it landed it. What lands is the bytes that were hashed, under their
    sha256; the replacement is a new file, landed on the next run."""
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    path = write_ndjson(landing / "odp_events" / "1.ndjson", [odp_event("purchase", "A1", day(1))])
    original = path.read_bytes()
    replacement = write_ndjson(tmp_path / "new.ndjson", [odp_event("purchase", "B1", day(1))])
    real_land_file = land._land_file

    def replace_then_land(*args, **kwargs):
        os.replace(replacement, path)
        return real_land_file(*args, **kwargs)

    monkeypatch.setattr(land, "_land_file", replace_then_land)
    land_all(landing, warehouse)
    assert landed_orders(warehouse) == ["A1"]
    monkeypatch.setattr(land, "_land_file", real_land_file)
    land_all(landing, warehouse)
    assert landed_orders(warehouse) == ["A1", "B1"]
    settings = Settings(warehouse=warehouse)
    with connect(settings, read_only=True) as con:
        loads = con.execute("select sha256 from audit.loads order by file_seq").fetchall()
    assert [row[0] for row in loads] == [
        hashlib.sha256(original).hexdigest(),
        hashlib.sha256(path.read_bytes()).hexdigest(),
    ]


def test_a_file_rewritten_in_place_between_hash_and_land_is_landed_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The same handle sees an in-place write: the bytes landed would not be the bytes
    hashed, so nothing of the file is kept this run; the next run lands what it holds."""
    landing, warehouse = tmp_path / "landing", tmp_path / "w.duckdb"
    path = write_ndjson(landing / "odp_events" / "1.ndjson", [odp_event("purchase", "A1", day(1))])
    rewritten = path.read_bytes().replace(b'"A1"', b'"B1"')
    real_land_file = land._land_file

    def rewrite_then_land(*args, **kwargs):
        with path.open("r+b") as handle:
            handle.write(rewritten)
        return real_land_file(*args, **kwargs)

    monkeypatch.setattr(land, "_land_file", rewrite_then_land)
    land_all(landing, warehouse)
    assert landed_orders(warehouse) == []
    monkeypatch.setattr(land, "_land_file", real_land_file)
    land_all(landing, warehouse)
    assert landed_orders(warehouse) == ["B1"]
