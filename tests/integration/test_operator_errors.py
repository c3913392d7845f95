"""Issue 16: a wrong landing layout or an unusable setting is one line and exit 2, before any
work; Ctrl-C between ingestion and modelling is one line and exit 130. In-process calls of
the CLI's ``main`` (the exit code is its return value)."""

from __future__ import annotations

import signal

import pytest

from orders_pipeline import cli, console, jobs_in_process
from orders_pipeline.interrupts import DUCKDB_SIGNAL_MESSAGE
from tests.conftest import day, odp_event, write_ndjson

SOURCE_FOLDERS = (
    "exchange_rates/, odp_csv/, odp_events/, odp_orders/, ometria_orders/, optimizely_xml/, "
    "products/"
)


@pytest.fixture(autouse=True)
def _restore_signals():
    """``main`` maps SIGTERM to Ctrl-C for the run it starts; put the handlers back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["run", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_files_under_a_misspelt_folder_only_are_a_configuration_error(tmp_path, capsys):
    landing = tmp_path / "landing"
    write_ndjson(landing / "odp_event" / "a.ndjson", [odp_event("purchase", "A1", day(1))])
    write_ndjson(landing / "orders.ndjson", [odp_event("purchase", "A2", day(1))])
    code, out, err = _run(
        capsys, "--landing", str(landing), "--warehouse", str(tmp_path / "wh.duckdb")
    )
    assert code == 2
    assert _one_line(err) == (
        f"orders-pipeline: configuration error: the landing folder {landing} has no source "
        f"folder (expected one or more of {SOURCE_FOLDERS}; found odp_event/, orders.ndjson)"
    )
    assert out == ""
    assert not (tmp_path / "wh.duckdb").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--warehouse",
            "{hostname}/wh.duckdb",
            "ORDERS_WAREHOUSE (--warehouse): {hostname}/wh.duckdb cannot be created, "
            "{hostname} is not a folder",
        ),
        (
            "--warehouse",
            "{tmp}",
            "ORDERS_WAREHOUSE (--warehouse): {tmp} is a folder; expected the path of a DuckDB file",
        ),
        ("--base-currency", "dollars", "ORDERS_BASE_CURRENCY='DOLLARS': expected a 3-letter "),
    ],
)
def test_an_unusable_setting_is_one_line_and_exit_2(tmp_path, capsys, option, value, message):
    landing = tmp_path / "landing"
    (landing / "odp_events").mkdir(parents=True)
    hostname = tmp_path / "hostname"
    hostname.write_text("a file, as /etc/hostname is\n")
    fill = {"hostname": hostname, "tmp": tmp_path}
    args = ["--landing", str(landing), option, value.format(**fill)]
    if option != "--warehouse":
        args += ["--warehouse", str(tmp_path / "wh.duckdb")]
    code, out, err = _run(capsys, *args)
    assert code == 2
    assert _one_line(err).startswith(
        "orders-pipeline: configuration error: " + message.format(**fill)
    )
    assert out == ""


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ORDERS_DUCKDB_MEMORY_LIMIT", "lots"),
        ("ORDERS_LOCK_TIMEOUT", "soon"),
        ("ORDERS_PARTITION_START", "yesterday"),
    ],
)
def test_every_bad_variable_is_named_in_one_line(tmp_path, capsys, monkeypatch, variable, value):
    (tmp_path / "landing" / "odp_events").mkdir(parents=True)
    monkeypatch.setenv(variable, value)
    code, _, err = _run(
        capsys, "--landing", str(tmp_path / "landing"), "--warehouse", str(tmp_path / "w.duckdb")
    )
    assert code == 2
    assert _one_line(err).startswith(f"orders-pipeline: configuration error: {variable}=")


def test_an_unusable_dagster_home_is_a_configuration_error(tmp_path, capsys, monkeypatch):
    (tmp_path / "landing" / "odp_events").mkdir(parents=True)
    (tmp_path / "home").write_text("not a folder")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    code, _, err = _run(
        capsys, "--landing", str(tmp_path / "landing"), "--warehouse", str(tmp_path / "w.duckdb")
    )
    assert code == 2
    assert _one_line(err) == (
        f"orders-pipeline: configuration error: DAGSTER_HOME={tmp_path / 'home'}: not a folder"
    )


def test_unknown_entries_beside_source_folders_are_listed_and_ctrl_c_before_modelling_is_one_line(
    tmp_path, capsys, monkeypatch
):
    """A misspelt folder and a file at the root are listed (with the folder names that are
    read) and the run goes on with the source folders; Ctrl-C while the model run is being
    planned (a DuckDB query between the two jobs) ends with one line and 130."""
    landing = tmp_path / "landing"
    write_ndjson(landing / "odp_events" / "a.ndjson", [odp_event("purchase", "A1", day(1))])
    write_ndjson(landing / "odp_event" / "b.ndjson", [odp_event("purchase", "B1", day(1))])
    (landing / "notes.txt").write_text("hello")
    (landing / ".DS_Store").write_text("")

    def interrupted(*args, **kwargs):
        # what DuckDB's Python client raises when Ctrl-C stops its query (duckdb 2.0)
        raise RuntimeError(DUCKDB_SIGNAL_MESSAGE)

    monkeypatch.setattr(jobs_in_process, "plan_model_run", interrupted)
    code, out, err = _run(
        capsys, "--landing", str(landing), "--warehouse", str(tmp_path / "wh.duckdb")
    )
    assert err.splitlines() == [
        f"orders-pipeline: warning: landing: odp_event/ is not a source folder and is not "
        f"read (source folders: {SOURCE_FOLDERS})",
        f"orders-pipeline: warning: landing: notes.txt is at the landing root and is not "
        f"read; put it in its source's folder ({SOURCE_FOLDERS})",
        "orders-pipeline: interrupted while between steps; the warehouse is consistent (every "
        "step commits whole files or whole builds, and what was cut short was rolled back); "
        "the next run "
        "carries on from there: it lands the files not landed yet and re-derives what they "
        "change",
    ]
    assert code == console.EXIT_INTERRUPTED
    assert "Traceback" not in out


def test_the_ui_command_checks_its_instance_before_starting(tmp_path, capsys, monkeypatch):
    (tmp_path / "home").write_text("not a folder")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert cli.main(["ui"]) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"orders-pipeline: configuration error: DAGSTER_HOME={tmp_path / 'home'}: not a folder"
    )
