"""Identity resolution on Spark (docs/semantics.md §5): the connected components of the graph
in which two linking identifiers are joined when they appear on the same order, by iterative
label propagation in Spark SQL, with the same customer keys as ``orders_pipeline.identity``.

Every identifier starts labelled with its own key (``type:value``); each round, it takes
the least label among its own, its neighbours' and its label's label (pointer jumping).
Labels only decrease and stay inside the component, and the component's least key never
changes, so the rounds end when no label changes, every member then holding that least key,
which is exactly what ``orders_pipeline.identity`` hashes into ``customer_id``.

Bound: after round k every identifier within k hops of the component's least key holds it
(pointer jumping only shortens this), so no component needs more rounds than its diameter,
and no diameter exceeds the number of identifiers N: a run that has not converged after
N + 1 rounds is a bug, and raises instead of looping.
"""

from __future__ import annotations

from typing import Any

from orders_pipeline.engines.spark.transpile import view_name

_NODES = f"""
select identifier_type, identifier_value, identifier_type || ':' || identifier_value as node
from {view_name("core", "identifier_fanout")}
where links
"""

# Each order joins its linking identifiers in a star around the least one (as identity.py)
_EDGES = f"""
with order_nodes as (
    select distinct i.order_id, n.node
    from {view_name("intermediate", "int_order_identifiers")} as i
    join identity_nodes as n
      on n.identifier_type = i.identifier_type and n.identifier_value = i.identifier_value
),
star as (
    select node, min(node) over (partition by order_id) as hub from order_nodes
)
select node as a, hub as b from star where node <> hub
union
select hub as a, node as b from star where node <> hub
"""

_ROUND = """
with neighbour_labels as (
    select e.a as node, min(l.label) as label
    from identity_edges as e join identity_labels as l on l.node = e.b
    group by e.a
),
jumped as (
    select l.node, least(l.label, coalesce(n.label, l.label), j.label) as label
    from identity_labels as l
    left join neighbour_labels as n on n.node = l.node
    join identity_labels as j on j.node = l.label
)
select node, label from jumped
"""

_CUSTOMER_IDENTIFIERS = f"""
select n.identifier_type, n.identifier_value,
       'cus_' || substr(md5(l.label), 1, 16) as customer_id,
       f.fanout, f.order_count
from identity_nodes as n
join identity_labels as l on l.node = n.node
join {view_name("core", "identifier_fanout")} as f
  on f.identifier_type = n.identifier_type and f.identifier_value = n.identifier_value
"""

_ORDER_CUSTOMERS = f"""
select distinct i.order_id, c.customer_id
from {view_name("intermediate", "int_order_identifiers")} as i
join {view_name("core", "customer_identifiers")} as c
  on c.identifier_type = i.identifier_type and c.identifier_value = i.identifier_value
"""


class LabelPropagationDidNotConverge(RuntimeError):
    """More rounds than identifiers: impossible for a correct propagation."""


def resolve_customers(spark: Any, write_table: Any) -> int:
    """Build ``core.customer_identifiers`` and ``core.order_customers`` with ``write_table``
    (name, DataFrame) — the runner's writer, which registers each for the next query.
    Returns the number of rounds it took."""
    nodes = spark.sql(_NODES).localCheckpoint()
    nodes.createOrReplaceTempView("identity_nodes")
    spark.sql(_EDGES).localCheckpoint().createOrReplaceTempView("identity_edges")
    labels = spark.sql("select node, node as label from identity_nodes").localCheckpoint()
    labels.createOrReplaceTempView("identity_labels")
    bound = nodes.count() + 1
    rounds = 0
    while True:
        rounds += 1
        if rounds > bound:
            raise LabelPropagationDidNotConverge(f"{rounds} rounds for {bound - 1} identifiers")
        updated = spark.sql(_ROUND).localCheckpoint()
        updated.createOrReplaceTempView("identity_next")
        changed = spark.sql(
            "select count(*) from identity_next as n join identity_labels as l "
            "on l.node = n.node where l.label <> n.label"
        ).collect()[0][0]
        updated.createOrReplaceTempView("identity_labels")
        if changed == 0:
            break
    write_table("core", "customer_identifiers", spark.sql(_CUSTOMER_IDENTIFIERS))
    write_table("core", "order_customers", spark.sql(_ORDER_CUSTOMERS))
    for view in ("identity_nodes", "identity_edges", "identity_labels", "identity_next"):
        spark.catalog.dropTempView(view)
    return rounds
