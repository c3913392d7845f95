"""A source's JSON fields are a declaration (validation/parsed.py): one json_transform per
record reads every declared field with the kind and text that a JSON call per path reads, for
every kind a hostile sender may put there (docs/semantics.md §2: a number sent as a string,
``true`` as an identifier, an object where text is expected, 1e400, a 20-digit number).

Each source's declaration is checked on its own paths; a new format declares its paths and
gets the same guarantee from this test by adding its declaration to ``DECLARATIONS``."""

from __future__ import annotations

import json

import duckdb
import pytest

from orders_pipeline.validation import (
    exchange_rates,
    odp_events,
    odp_orders,
    ometria_orders,
    products,
)
from orders_pipeline.validation.parsed import JsonRecordFields, path_segments

DECLARATIONS = {
    "odp_events record": odp_events.EVENT_FIELDS,
    "odp_events item": odp_events.ITEM_READ,
    "odp_orders record": odp_orders.RECORD_FIELDS,
    "ometria_orders record": ometria_orders.RECORD_FIELDS,
    "ometria_orders item": ometria_orders.ITEM_READ,
    "products record": products.RECORD_FIELDS,
    "exchange_rates record": exchange_rates.RECORD_FIELDS,
}
# Raw JSON texts of the values a field may be sent as (numbers kept as written).
HOSTILE_VALUES = (
    '"text"', '"12.50"', '"  "', '"caf\\u00e9 \\"quoted\\" \\n"', "12.5", "1.50", "-0", "0",
    "1e400", "-1e-11", "12345678901234567890123", "18446744073709551615",
    "-9223372036854775808", "true", "false", '{"a":1}', "[1,2]", "[]", "{}",
)  # fmt: skip


def _set(tree: dict, segments: tuple[str, ...], raw: str) -> None:
    for key in segments[:-1]:
        tree = tree.setdefault(key, {})
    tree[segments[-1]] = raw


def _documents(fields: JsonRecordFields) -> list[str]:
    """A document per (leaf, hostile value): every other leaf sent as a string."""
    documents = []
    for leaf in fields.leaves:
        for value in HOSTILE_VALUES:
            tree: dict = {}
            for other in fields.leaves:
                _set(tree, path_segments(other), json.dumps(other) if other != leaf else value)
            documents.append(_render(tree))
    return documents


def _render(tree: dict | str) -> str:
    if isinstance(tree, str):
        return tree
    return "{" + ",".join(f"{json.dumps(k)}:{_render(v)}" for k, v in tree.items()) + "}"


def _read(fields: JsonRecordFields, documents: list[str]) -> list[tuple]:
    """(path, kind, text, fragment) read from the declaration and read path by path."""
    con = duckdb.connect()
    rows = []
    for leaf in fields.leaves:
        selected = con.sql(
            f"""select {fields.kind(leaf)}, {fields.string(leaf)}, {fields.part(leaf)},
                       coalesce(nullif(json_type(doc, '{leaf}'), 'NULL'), 'ABSENT'),
                       json_extract_string(doc, '{leaf}'), json_extract(doc, '{leaf}')
            from (select doc, {fields.extraction()}
                  from (select unnest($documents)::json as doc))""",
            params={"documents": documents},
        ).fetchall()
        rows.extend((leaf, *row) for row in selected)
    return rows


@pytest.mark.parametrize("name", DECLARATIONS)
def test_declared_fields_read_what_a_call_per_path_reads(name):
    fields = DECLARATIONS[name]
    for leaf, kind, text, part, path_kind, path_text, path_part in _read(
        fields, _documents(fields)
    ):
        if (path_kind, path_text) == ("BIGINT", "0"):
            path_kind = "UBIGINT"  # -0 is written back as 0: a whole number either way
        assert (kind, text) == (path_kind, path_text), (name, leaf, part)
        # the fragment is the value as json_extract reads it (JSON null reads as not sent)
        assert part == (None if path_part == "null" else path_part), (name, leaf)


def test_objects_on_the_way_keep_their_kind_and_repeated_keys_are_seen():
    fields = JsonRecordFields(leaves=("$.data.order.total",), keyed=("$", "$.data.order"))
    con = duckdb.connect()
    rows = con.sql(
        f"""select {fields.kind("$.data.order")}, {fields.kind("$.data.order.total")},
                   {fields.unique_keys()}
        from (select doc, {fields.extraction()}
              from (select unnest($documents)::json as doc))""",
        params={
            "documents": [
                '{"data":{"order":{"total":1}}}',
                '{"data":{"order":[{"total":1}]}}',  # an array where an object is expected
                '{"data":{"order":"x"}}',
                '{"data":{"order":null}}',
                '{"data":{"order":{"total":"1","total":2}}}',  # the first of repeated keys
                '{"data":"x"}',
            ]
        },
    ).fetchall()
    assert rows == [
        ("OBJECT", "UBIGINT", True),
        ("ARRAY", "ABSENT", True),
        ("VARCHAR", "ABSENT", True),
        ("NULL", "ABSENT", True),
        ("OBJECT", "VARCHAR", False),
        ("ABSENT", "ABSENT", True),
    ]


def test_a_declaration_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="read whole and as an object"):
        JsonRecordFields(leaves=("$.order", "$.order.total"))
    with pytest.raises(ValueError, match="unsupported JSON path"):
        JsonRecordFields(leaves=("$.items[0].price",))
    with pytest.raises(KeyError):
        JsonRecordFields(leaves=("$.total",)).string("$.tax")
