"""A process Dagster starts to execute a run tunes its garbage collector as
``orders-pipeline`` does (orders_pipeline/garbage_collection.py): the run a code server
spawns for the webserver, the daemon or ``dagster dev``, ``dagster job execute`` and ``dg
launch``; a code server, the webserver or a notebook that loads the same definitions keeps
Python's defaults."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster
import pytest

from orders_pipeline.garbage_collection import runs_dagster_runs

CONSOLE_SCRIPT = str(Path(sys.executable).with_name("dagster"))
DG = str(Path(sys.executable).with_name("dg"))
PYTHON_M = str(Path(dagster.__file__).with_name("__main__.py"))  # python -m dagster
TUNED = (20_000, 20, 100)


@pytest.mark.parametrize(
    ("command", "spawned", "runs"),
    [
        ([CONSOLE_SCRIPT, "job", "execute", "-m", "orders_pipeline.definitions"], False, True),
        ([PYTHON_M, "api", "execute_run", "{}"], False, True),  # a container's run
        ([PYTHON_M, "api", "execute_step", "{}"], False, True),
        ([PYTHON_M, "api", "resume_run", "{}"], False, True),
        ([CONSOLE_SCRIPT, "asset", "materialize", "--select", "*"], False, True),
        ([DG, "launch", "--assets", "*"], False, True),
        ([DG, "dev"], False, False),
        ([PYTHON_M, "api", "grpc", "--lazy-load-user-code"], True, True),  # a run it spawned
        ([PYTHON_M, "api", "grpc", "--lazy-load-user-code"], False, False),  # the server
        ([CONSOLE_SCRIPT, "job", "list", "-m", "orders_pipeline.definitions"], False, False),
        ([CONSOLE_SCRIPT, "dev"], False, False),
        (["/usr/bin/dagster-webserver", "-w", "workspace.yaml"], False, False),
        (["-c"], False, False),  # python -c
        (["/venv/bin/ipykernel_launcher.py", "-f", "kernel.json"], True, False),
        ([], False, False),
    ],
)
def test_only_processes_that_execute_runs_are_tuned(command, spawned, runs):
    assert runs_dagster_runs(command, spawned=spawned) is runs


# What a code server does for each run it is asked to start (dagster/_grpc/server.py,
# StartRun): a child spawned with multiprocessing, which gives it the server's command line,
# loads the code location's definitions and executes the run.
CODE_SERVER = textwrap.dedent(
    """
    import gc, multiprocessing, sys

    def run_process(queue):
        from orders_pipeline.definitions import defs  # the run loads its code location
        queue.put((gc.get_threshold(), gc.get_freeze_count() > 0))

    if __name__ == "__main__":
        sys.argv = [sys.argv[1], "api", "grpc", "--module-name", "orders_pipeline.definitions"]
        from orders_pipeline.definitions import defs  # a code server loads them too
        server = (gc.get_threshold(), gc.get_freeze_count() > 0)
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=run_process, args=(queue,))
        child.start()
        print(repr([server, queue.get(timeout=300)]))
        child.join()
    """
)


def test_a_run_a_code_server_spawns_collects_less_and_the_server_does_not(tmp_path: Path):
    script = tmp_path / "code_server.py"
    script.write_text(CODE_SERVER, encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")},
        "ORDERS_LANDING_DIR": str(tmp_path / "landing"),
        "ORDERS_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
    }
    done = subprocess.run(
        [sys.executable, str(script), PYTHON_M],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    server, run = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert server[0] != TUNED and not server[1]  # Python's defaults, nothing frozen
    assert run == (TUNED, True)
