"""End to end through the real server: `dagster dev` on 127.0.0.1, a partition-range backfill
launched through its GraphQL API, and the warehouse it leaves behind."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import (
    day,
    odp_event,
    processes_with_environment,
    stop_process_group,
    write_ndjson,
)

pytestmark = pytest.mark.heavy(seconds=250, waits=True)  # scheduled first (tests/conftest.py)

PROJECT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
    ... on RunConflict { message }
    ... on NoModeProvidedError { message }
    ... on InvalidSubsetError { message }
    ... on ConflictingExecutionParamsError { message }
  }
}
"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}
"""

ASSETS = "{ assetNodes { assetKey { path } isPartitioned } }"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


def _key(n: int) -> str:
    return datetime.fromtimestamp(day(n), UTC).date().isoformat()


@pytest.mark.slow
def test_partition_range_backfill_through_the_webserver(tmp_path: Path):
    if not DAGSTER.exists():
        pytest.skip("the dagster CLI is not installed beside this Python")
    landing = tmp_path / "landing"
    write_ndjson(
        landing / "odp_events" / "a.ndjson",
        [
            odp_event("purchase", "A1", day(1), subtotal=100),
            odp_event("refund", "A1", day(2), subtotal=30),
            odp_event("purchase", "B1", day(2), subtotal=50),
        ],
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    warehouse = tmp_path / "wh.duckdb"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ORDERS_LANDING_DIR": str(landing),
        "ORDERS_WAREHOUSE": str(warehouse),
        "ORDERS_PARTITION_START": _key(1),
    }
    port = _free_port()
    server = subprocess.Popen(
        [str(DAGSTER), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        nodes = None
        while time.monotonic() < deadline:
            try:
                nodes = _graphql(port, ASSETS)["assetNodes"]
                if nodes:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert nodes, "the webserver did not come up"
        launched = _graphql(
            port,
            LAUNCH,
            {
                "params": {
                    "assetSelection": [{"path": n["assetKey"]["path"]} for n in nodes],
                    "partitionNames": [_key(1), _key(2)],
                    "fromFailure": False,
                }
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        status = None
        deadline = time.monotonic() + 420  # three runs; slow when the machine is busy
        while time.monotonic() < deadline:
            status = _graphql(port, STATUS, {"id": launched["backfillId"]})[
                "partitionBackfillOrError"
            ]["status"]
            if status in (
                "COMPLETED",
                "COMPLETED_SUCCESS",
                "FAILED",
                "COMPLETED_FAILED",
                "CANCELED",
            ):
                break
            time.sleep(2)
        assert status in ("COMPLETED", "COMPLETED_SUCCESS"), status
    finally:
        stop_process_group(server)
    # nothing it spawned (code server, daemon, run workers) outlives it
    assert not processes_with_environment("DAGSTER_HOME", str(home))

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        revenue = con.execute(
            "select date::varchar, gross, refunds, net from reporting.daily_revenue order by 1"
        ).fetchall()
        orders = con.execute("select order_id, subtotal from core.orders order by 1").fetchall()
    finally:
        con.close()
    assert [(d, float(g), float(r), float(n)) for d, g, r, n in revenue] == [
        (_key(1), 100.0, 0.0, 100.0),
        (_key(2), 50.0, 30.0, 20.0),
    ]
    assert [(o, float(s)) for o, s in orders] == [("A1", 70.0), ("B1", 50.0)]
    assert (tmp_path / "analytics.duckdb").exists()
