"""Identity resolution (docs/semantics.md §5): customers are the connected components of the
graph in which two identifiers are joined when they appear on the same order.

Which identifiers may link (fan-out guard, blocklist) is decided in SQL
(``sql/core/identifier_fanout.sql``). This module only finds the components, in linear time,
with scipy's union-find-like search over integer node ids: a long chain of identifiers (A–B,
B–C, … over 10,000 links) costs no more passes than a star, unlike label propagation or a
recursive CTE (docs/pitfalls.md). The ``customer_id`` of a component is derived from its smallest
member, so the same data gives the same key on every run, whatever the input order.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from orders_pipeline.warehouse import transaction

_NODES = """
create or replace temp table identity_nodes as
select
    cast(row_number() over (order by identifier_type, identifier_value) - 1 as bigint)
        as node_id,
    identifier_type,
    identifier_value
from core.identifier_fanout
where links
"""

# Each order joins its linking identifiers in a star around the smallest one: k − 1 edges for
# k identifiers instead of k².
_EDGES = """
with order_nodes as (
    select distinct i.order_id, n.node_id
    from intermediate.int_order_identifiers as i
    join identity_nodes as n using (identifier_type, identifier_value)
)
select node_id as source, min(node_id) over (partition by order_id) as target
from order_nodes
"""

_CUSTOMER_IDENTIFIERS = """
create or replace table core.customer_identifiers as
with labelled as (
    select n.identifier_type, n.identifier_value, c.component
    from identity_nodes as n
    join identity_components as c using (node_id)
),
keyed as (
    select
        identifier_type,
        identifier_value,
        'cus_' || substr(md5(min(identifier_type || ':' || identifier_value)
                             over (partition by component)), 1, 16) as customer_id
    from labelled
)
select k.identifier_type, k.identifier_value, k.customer_id, f.fanout, f.order_count
from keyed as k
join core.identifier_fanout as f using (identifier_type, identifier_value)
"""

_ORDER_CUSTOMERS = """
create or replace table core.order_customers as
select distinct i.order_id, c.customer_id
from intermediate.int_order_identifiers as i
join core.customer_identifiers as c using (identifier_type, identifier_value)
"""


@dataclass(frozen=True)
class IdentityReport:
    """Sizes of the resolved graph, for asset metadata."""

    identifiers: int
    customers: int
    largest_customer: int
    linked_orders: int


def resolve_customers(con: duckdb.DuckDBPyConnection) -> IdentityReport:
    """Rebuild ``core.customer_identifiers`` and ``core.order_customers`` in one transaction."""
    # imported here: scipy costs every process that loads the definitions ~0.4 s, and most
    # (a run with nothing to do, the UI's code server) never resolve customers
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    con.execute(_NODES)
    node_count = int(con.execute("select count(*) from identity_nodes").fetchall()[0][0])  # type: ignore[index]
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
        with transaction(con):
            con.execute(_CUSTOMER_IDENTIFIERS)
            con.execute(_ORDER_CUSTOMERS)
    finally:
        con.unregister("identity_components")
        con.execute("drop table if exists identity_nodes")
    row = con.execute(
        """select count(*), count(distinct customer_id),
                  coalesce(max(n), 0), (select count(*) from core.order_customers)
           from core.customer_identifiers
           join (select customer_id, count(*) as n from core.customer_identifiers group by 1)
               using (customer_id)"""
    ).fetchall()[0]
    assert row is not None
    return IdentityReport(
        identifiers=int(row[0]),
        customers=int(row[1]),
        largest_customer=int(row[2]),
        linked_orders=int(row[3]),
    )
