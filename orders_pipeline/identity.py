"""Identity resolution (docs/semantics.md §5): customers are the connected components of the
graph in which two identifiers are joined when they appear on the same order.

Which identifiers may link (fan-out guard, blocklist) is decided in SQL
(``sql/core/identifier_fanout.sql``). This module only finds the components, in linear time,
with scipy's union-find-like search over integer node ids: a long chain of identifiers (A–B,
B–C, … over 10,000 links) costs no more passes than a star, unlike label propagation or a
recursive CTE (docs/pitfalls.md). The ``customer_id`` of a component is derived from its smallest
member, so the same data gives the same key on every run, whatever the input order.

Incremental (issue 15): after the first resolution, a run re-resolves only the components the
identifiers that arrived since touch (``resolve_touched``): the identifiers on the orders that
received identifiers (all of each such order's, old ones too), and every member of the customers
these belonged to. The linking members of that set are closed under the links, so its components
are the graph's, and the stable key gives each the ``customer_id`` a fresh run gives. Why: order
identifiers are only ever added, the blocklist and the fan-out limit are part of the resolution's
fingerprint (a change resolves everything), and an identifier's fan-out only grows, so an
identifier that links now linked at the last resolution too. Take an edge between two identifiers
that link, on order O, one of them in the set. If O received identifiers, both are in the set. If
not, the edge is an old one: both ends linked then, were joined by O, and so are members of one old
customer, which is in the set with its member. (Resolutions before this argument also took the
identifiers on every order of a touched identifier that links: two more scans of the order
identifiers, which by the same argument add only members of those customers.) A component may merge
several old customers or lose an identifier that crossed the fan-out limit. The customers whose
identifiers changed (old and new ids) are logged in ``state.identity_changes`` for the incremental
customer models.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from orders_pipeline.key_changes import log_keys, log_whole
from orders_pipeline.models import session_settings, version_of
from orders_pipeline.warehouse import table_exists, transaction

IDENTITY_TABLES = ("core.customer_identifiers", "core.order_customers")
# what the identity tables are built from (identity.py reads them)
IDENTITY_INPUTS = ("core.identifier_fanout", "intermediate.int_order_identifiers")


def identity_version(con: duckdb.DuckDBPyConnection, versions: dict[str, str]) -> str | None:
    """The version the identity tables built now would have (``models.version_of``): their
    code, the session's settings and the versions of the tables they read."""
    code = Path(__file__).read_bytes()
    fingerprint = hashlib.sha256(code + "\0".join(session_settings(con)).encode()).hexdigest()
    return version_of(fingerprint, IDENTITY_INPUTS, versions)


def identity_up_to_date(con: duckdb.DuckDBPyConnection, versions: dict[str, str]) -> bool:
    """Whether both identity tables exist and were built from what they would be now."""
    current = identity_version(con, versions)
    return (
        current is not None
        and all(versions.get(t) == current for t in IDENTITY_TABLES)
        and all(table_exists(con, *t.split(".")) for t in IDENTITY_TABLES)
    )


# A node id is only a dense number for the graph (the customer key comes from the members'
# values, not from their ids): numbered in scan order, without sorting 2.87M identifiers
# (issue 15: the sort was a sixth of a full resolution at 10M line items).
_NODES = """
create or replace temp table identity_nodes as
select
    cast(row_number() over () - 1 as bigint) as node_id,
    identifier_type,
    identifier_value,
    fanout,
    order_count
from core.identifier_fanout
where links
"""

# Incremental: the identifiers to re-resolve (module docstring), in two steps: those on the
# orders the arrivals reached, then the customers these belonged to, whose rows are replaced.
# ``?``: the position of the last resolution; rows past it are what arrived since. One scan of
# the order identifiers (issue 15: the orders of every touched identifier and their identifiers
# were two more, and added no linking identifier the old customers do not hold: docstring).
_TOUCHED = """
create or replace temp table identity_touched as
select distinct identifier_type, identifier_value
from intermediate.int_order_identifiers
where order_id in (
    select order_id from intermediate.int_order_identifiers
    where arrival_seq > ?
)
"""

# The rows of the customers the touched identifiers belonged to, read once (with their row
# ids, by which they are deleted) for every statement that needs them: the table is not
# scanned again for each.
_OLD_CUSTOMERS = """
create or replace temp table identity_old_customers as
select distinct customer_id
from core.customer_identifiers
inner join identity_touched using (identifier_type, identifier_value)
"""

_OLD_ROWS = """
create or replace temp table identity_old_rows as
select rowid as row_id, identifier_type, identifier_value, customer_id
from core.customer_identifiers
where customer_id in (select customer_id from identity_old_customers)
"""

_TOUCHED_NODES = """
create or replace temp table identity_nodes as
with candidates as (
    select identifier_type, identifier_value from identity_touched
    union
    select identifier_type, identifier_value from identity_old_rows
),

linking as (
    select
        candidates.identifier_type,
        candidates.identifier_value,
        fanout.fanout,
        fanout.order_count
    from candidates
    inner join core.identifier_fanout as fanout using (identifier_type, identifier_value)
    where fanout.links
)

select
    cast(row_number() over () - 1 as bigint) as node_id,
    identifier_type,
    identifier_value,
    fanout,
    order_count
from linking
"""

# Each order joins its linking identifiers in a star around the smallest one: k − 1 edges for
# k identifiers instead of k².
_ORDER_NODES = """
create or replace temp table identity_order_nodes as
select distinct i.order_id, n.node_id
from intermediate.int_order_identifiers as i
join identity_nodes as n using (identifier_type, identifier_value)
"""

_EDGES = """
select node_id as source, min(node_id) over (partition by order_id) as target
from identity_order_nodes
"""

# fan-out and order count as the nodes were read with them from core.identifier_fanout; the
# node id kept, by which the orders find their customer. The key of a component is computed
# once per component (grouped), not once per member over a window (issue 15).
_RESOLVED = """
create or replace temp table identity_resolved as
with labelled as (
    select n.node_id, n.identifier_type, n.identifier_value, n.fanout, n.order_count,
           c.component
    from identity_nodes as n
    join identity_components as c using (node_id)
),
component_keys as (
    select
        component,
        'cus_' || substr(md5(min(identifier_type || ':' || identifier_value)), 1, 16)
            as customer_id
    from labelled
    group by component
)
select labelled.node_id, identifier_type, identifier_value, component_keys.customer_id,
       fanout, order_count
from labelled
join component_keys using (component)
"""

# The columns of core.customer_identifiers, as identity_resolved holds them.
_IDENTIFIER_COLUMNS = "identifier_type, identifier_value, customer_id, fanout, order_count"

_CUSTOMER_IDENTIFIERS = f"""
create or replace table core.customer_identifiers as
select {_IDENTIFIER_COLUMNS} from identity_resolved
"""

# The customer of each order of a resolved identifier (a full build's every order), joined
# by node id rather than by the identifiers' text (issue 15).
_RESOLVED_ORDER_CUSTOMERS = """
select distinct o.order_id, r.customer_id
from identity_order_nodes as o
join identity_resolved as r using (node_id)
"""

_ORDER_CUSTOMERS = "create or replace table core.order_customers as" + _RESOLVED_ORDER_CUSTOMERS

# Incremental: the customers whose identifiers changed (merged, split, new or gone), by
# comparing the old customers' rows with the re-resolved ones; a customer resolved again to
# the same identifiers is not one of them.
_REGROUPED = """
create or replace temp table identity_regrouped as
with old as (
    select identifier_type, identifier_value, customer_id from identity_old_rows
),
new as (
    select identifier_type, identifier_value, customer_id from identity_resolved
),
differing as (
    (select * from old except select * from new)
    union all
    (select * from new except select * from old)
)
select distinct customer_id from differing
"""

# The rows of core.order_customers replaced: the orders of the old customers, and every
# order of a re-resolved identifier (the new ones among them), read once with their row ids.
_OLD_ORDER_ROWS = """
create or replace temp table identity_old_order_rows as
select rowid as row_id, order_id
from core.order_customers
where customer_id in (select customer_id from identity_old_customers)
   or order_id in (select order_id from identity_order_nodes)
"""

_REPLACE_TOUCHED = (
    """delete from core.customer_identifiers
       where rowid in (select row_id from identity_old_rows)""",
    f"insert into core.customer_identifiers select {_IDENTIFIER_COLUMNS} from identity_resolved",
    """delete from core.order_customers
       where rowid in (select row_id from identity_old_order_rows)""",
    "insert into core.order_customers" + _RESOLVED_ORDER_CUSTOMERS,
)

# The keys whose rows ``_REPLACE_TOUCHED`` deletes or inserts, for publishing
# (key_changes.py).
_REPLACED_IDENTIFIERS = """
select identifier_type, identifier_value from identity_old_rows
union
select identifier_type, identifier_value from identity_resolved
"""
_REPLACED_ORDERS = """
select order_id from identity_old_order_rows
union
select order_id from identity_order_nodes
"""

# How many customers have each number of identifiers (``identity_report``'s sizes), kept with
# the identity tables in their transaction: a full resolution counts them all, an
# incremental one subtracts the old customers it replaced and adds the new ones, instead of
# grouping every identifier of core.customer_identifiers by customer again.
SIZES = "state.identity_customer_sizes"

_COUNT_SIZES = f"""
create or replace table {SIZES} as
select identifiers, count(*) as customers
from (select count(*) as identifiers from core.customer_identifiers group by customer_id)
group by identifiers
"""

# (before the old rows are deleted: identity_old_rows holds them)
_UPDATE_SIZES = f"""
create or replace table {SIZES} as
with old_customers as (
    select count(*) as identifiers from identity_old_rows group by customer_id
),

new_customers as (
    select count(*) as identifiers from identity_resolved group by customer_id
),

changes as (
    select identifiers, customers from {SIZES}
    union all
    select identifiers, -count(*) from old_customers group by identifiers
    union all
    select identifiers, count(*) from new_customers group by identifiers
)

select identifiers, sum(customers)::bigint as customers
from changes
group by identifiers
having sum(customers) <> 0
"""

_TEMP_TABLES = (
    "identity_touched",
    "identity_nodes",
    "identity_order_nodes",
    "identity_resolved",
    "identity_old_customers",
    "identity_old_rows",
    "identity_old_order_rows",
    "identity_regrouped",
)


@dataclass(frozen=True)
class IdentityReport:
    """Sizes of the resolved graph, for asset metadata."""

    identifiers: int
    customers: int
    largest_customer: int
    linked_orders: int
    # what this resolution re-resolved: every linking identifier in a full one
    resolved_identifiers: int = 0
    # the customers whose identifiers changed (old and new ids); None: a full resolution
    regrouped_customers: int | None = None


def resolve_customers(con: duckdb.DuckDBPyConnection) -> IdentityReport:
    """Rebuild ``core.customer_identifiers`` and ``core.order_customers`` in one transaction."""
    with transaction(con):
        resolved = resolve_all(con)
    return identity_report(con, resolved)


def resolve_all(con: duckdb.DuckDBPyConnection) -> int:
    """Resolve every linking identifier into the two identity tables (replaced); the caller
    holds the transaction. Returns the identifiers resolved."""
    con.execute(_NODES)
    try:
        resolved = _components(con)
        con.execute(_CUSTOMER_IDENTIFIERS)
        con.execute(_ORDER_CUSTOMERS)
        con.execute("create schema if not exists state")
        con.execute(_COUNT_SIZES)
        log_whole(con, "core.customer_identifiers")
        log_whole(con, "core.order_customers")
    finally:
        _drop_temp_tables(con)
    return resolved


def resolve_touched(
    con: duckdb.DuckDBPyConnection, after: int, log_at: int | None = None
) -> tuple[int, int]:
    """Re-resolve the components that the identifiers landed past position ``after`` touch
    (module docstring) and replace their rows in the identity tables; the caller holds the
    transaction. The customers whose identifiers changed (old and new ids) go to
    ``state.identity_changes`` at position ``log_at`` (None: not logged). Returns the
    identifiers re-resolved and the customers regrouped."""
    try:
        con.execute(_TOUCHED, [after])
        con.execute(_OLD_CUSTOMERS)
        con.execute(_OLD_ROWS)
        con.execute(_TOUCHED_NODES)
        resolved = _components(con)
        con.execute(_OLD_ORDER_ROWS)
        con.execute(_REGROUPED)
        log_keys(
            con,
            "core.customer_identifiers",
            ("identifier_type", "identifier_value"),
            _REPLACED_IDENTIFIERS,
        )
        log_keys(con, "core.order_customers", ("order_id",), _REPLACED_ORDERS)
        counted = table_exists(con, *SIZES.split("."))
        if counted:
            con.execute(_UPDATE_SIZES)
        for statement in _REPLACE_TOUCHED:
            con.execute(statement)
        if not counted:
            # identity tables resolved by a version that did not count: counted once here
            con.execute(_COUNT_SIZES)
        if log_at is not None:
            con.execute(
                "insert into state.identity_changes select ?, customer_id from identity_regrouped",
                [log_at],
            )
        regrouped = int(con.execute("select count(*) from identity_regrouped").fetchall()[0][0])  # type: ignore[index]
    finally:
        _drop_temp_tables(con)
    return resolved, regrouped


def _components(con: duckdb.DuckDBPyConnection) -> int:
    """Label ``identity_nodes`` with their components (``identity_resolved``: each with its
    customer, fan-out and order count), from the edges of every order that carries one
    (``identity_order_nodes``). Returns the nodes."""
    # imported here: scipy costs every process that loads the definitions ~0.4 s, and most
    # (a run with nothing to do, the UI's code server) never resolve customers
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    node_count = int(con.execute("select count(*) from identity_nodes").fetchall()[0][0])  # type: ignore[index]
    con.execute(_ORDER_NODES)
    edges = con.execute(_EDGES).fetchnumpy()
    source = np.asarray(edges["source"], dtype=np.int64)
    target = np.asarray(edges["target"], dtype=np.int64)
    if node_count:
        graph = coo_matrix(
            (np.ones(len(source), dtype=np.int8), (source, target)),
            shape=(node_count, node_count),
        ).tocsr()
        _, labels = connected_components(graph, directed=False)
    else:
        labels = np.zeros(0, dtype=np.int64)
    components = pl.DataFrame(
        {"node_id": np.arange(node_count, dtype=np.int64), "component": labels.astype(np.int64)}
    )
    con.register("identity_components", components)
    try:
        con.execute(_RESOLVED)
    finally:
        con.unregister("identity_components")
    return node_count


def _drop_temp_tables(con: duckdb.DuckDBPyConnection) -> None:
    # a failed statement aborts the transaction, whose rollback drops them: the error that
    # matters is the statement's
    with contextlib.suppress(duckdb.Error):
        for table in _TEMP_TABLES:
            con.execute(f"drop table if exists {table}")


def identity_report(con: duckdb.DuckDBPyConnection, resolved: int = 0) -> IdentityReport:
    """The sizes of the identity tables now (``resolved``: what the build re-resolved), from
    the customer sizes the resolution kept."""
    row = con.execute(
        f"""select coalesce(sum(identifiers * customers), 0), coalesce(sum(customers), 0),
                   coalesce(max(identifiers), 0), (select count(*) from core.order_customers)
            from {SIZES}"""
    ).fetchall()[0]
    assert row is not None
    return IdentityReport(
        identifiers=int(row[0]),
        customers=int(row[1]),
        largest_customer=int(row[2]),
        linked_orders=int(row[3]),
        resolved_identifiers=resolved,
    )
