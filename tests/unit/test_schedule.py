"""The order the suite is collected in (tests/conftest.py): ``make test`` hands files to its
workers in this order (``--dist loadfile --no-loadscope-reorder``), so long files must come
first and the files that mostly wait on Dagster's daemons must not start side by side."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import pytest_collection_modifyitems


@dataclass
class Item:
    """What the ordering reads of a collected test: its file and its ``heavy`` marker."""

    fspath: str
    heavy: pytest.Mark | None

    def get_closest_marker(self, name: str) -> pytest.Mark | None:
        return self.heavy if name == "heavy" else None


def _suite(files: dict[str, tuple[int, pytest.MarkDecorator | None]]) -> list[Item]:
    return [
        Item(path, decorator.mark if decorator else None)
        for path, (tests, decorator) in files.items()
        for _ in range(tests)
    ]


def _order(items: list[Item]) -> list[str]:
    files: list[str] = []
    for item in items:
        if not files or files[-1] != item.fspath:
            files.append(item.fspath)
    return files


def test_long_files_first_and_the_second_waiting_file_after_the_first_wave(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    heavy = pytest.mark.heavy
    items = _suite(
        {
            "a_short.py": (3, None),
            "b_postgres.py": (1, heavy(seconds=110, waits=True)),
            "c_spark.py": (3, heavy(seconds=120)),
            "d_short.py": (2, None),
            "e_faults.py": (8, heavy(seconds=120)),
            "f_webserver.py": (1, heavy(seconds=250, waits=True)),
            "g_property.py": (2, heavy(seconds=110)),
            "h_unit.py": (5, heavy(seconds=40)),
        }
    )
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    # the longest waiting file, then one file for each of the three other workers, then the
    # other waiting file: the worker with the webserver's one test takes it next
    assert _order(items) == [
        "f_webserver.py",
        "c_spark.py",
        "e_faults.py",
        "g_property.py",
        "b_postgres.py",
        "h_unit.py",
        "a_short.py",
        "d_short.py",
    ]
    assert len(items) == 25  # every test kept


def test_the_suite_collects_each_file_in_one_stretch(request: pytest.FixtureRequest):
    files = _order(request.session.items)  # type: ignore[arg-type]
    assert len(files) == len(set(files))
