"""When DuckDB compacts the analyst database: in one publication in :data:`COMPACT_EVERY`,
not in every one.

At a checkpoint DuckDB *vacuums* the tables that changed: it merges row groups that deletes
and small appends left underfull and drops the deleted rows, rewriting those row groups
whole. An incremental publication deletes and re-inserts a few thousand rows of the keyed
tables (``core.customers``, ``core.order_customers``, ...), spread over all their row groups,
and appends a small row group to the others; so every publication's checkpoint rewrote
several full row groups (at 10M line items about 400,000 rows of each of ``core.customers``,
``core.order_customers`` and ``core.order_products_sold``: the checkpoint took 1.22 s and
wrote 40.6 MB, against 0.21 s and 10.8 MB without vacuuming; docs/performance.md, session
22).

The rows are the same either way: vacuuming only changes how they are stored. So a
publication vacuums only when it writes build ``n`` with ``n % COMPACT_EVERY == 0``
(``state.publication_builds``; DuckDB's ``max_vacuum_tasks`` is 0 while the others write).
In between, deleted rows stay in their row groups (every scan skips them) and each
publication adds a small row group per table it appends to; the compacting one merges them.
:data:`COMPACT_EVERY` is odd, so compacting publications alternate between the analyst
database and its spare (a publication updates the file of the build before the last:
publish.py). A full publication writes every table afresh anyway.

The warehouse keeps DuckDB's default: its loads append in many small commits (landing
batches, validation slices), whose row groups only vacuuming merges (without it, a small
warehouse's file grew from 11 to 19 MB in its first run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb

# a week of daily runs
COMPACT_EVERY = 7


def compacts(build_no: int) -> bool:
    """Whether the publication of build ``build_no`` (1, 2, ...) compacts the file it writes."""
    return build_no > 0 and build_no % COMPACT_EVERY == 0


@contextlib.contextmanager
def vacuuming_only_when_compacting(con: duckdb.DuckDBPyConnection, build_no: int) -> Iterator[bool]:
    """Within the block, checkpoints (of every database ``con`` has attached) vacuum only when
    publication build ``build_no`` compacts (module docstring); DuckDB's setting is restored
    after. Yields whether they vacuum."""
    (before,) = con.execute("select current_setting('max_vacuum_tasks')").fetchall()[0]
    vacuums = compacts(build_no)
    if not vacuums:
        con.execute("set max_vacuum_tasks = 0")
    try:
        yield vacuums
    finally:
        # after a failure that invalidated the database (a full disk) this fails too: the
        # first error is the one raised
        with contextlib.suppress(duckdb.Error):
            con.execute("set max_vacuum_tasks = ?", [int(before)])
