"""Every connection the pipeline opens is non-interactive (issue 16): DuckDB draws no progress
bar, which would otherwise land on stdout, in the middle of a child process's JSON or a cron
job's log."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# DuckDB decides its default from the process's stdout, which pytest replaces: ask a child
# whose stdout is a pipe, as a cron job's or a parent reading JSON is.
CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from orders_pipeline.config import Settings
    from orders_pipeline.warehouse import connect

    folder = Path(sys.argv[1])
    settings = Settings(landing_dir=folder / "landing", warehouse=folder / "w.duckdb")
    shown = []
    for read_only in (False, True):  # the file exists once the first connection closes
        with connect(settings, read_only=read_only) as con:
            shown += con.execute("select current_setting('enable_progress_bar')").fetchall()
    print(shown)
    """
)


def test_no_connection_draws_a_progress_bar(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == "[(False,), (False,)]", done.stdout + done.stderr
