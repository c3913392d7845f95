"""The Spark text of DuckDB constructs that Spark spells otherwise (issue 17,
``orders_pipeline/engines/spark/transpile.py``): what the transpiler writes, without a Spark
session (``tests/spark`` runs the models on Spark and compares their tables with DuckDB's)."""

from __future__ import annotations

import re

import pytest

from orders_pipeline.engines.spark.transpile import to_spark


def _spark(sql: str) -> str:
    """The Spark text of ``sql``, lower case, on one line with single spaces."""
    return re.sub(r"\s+", " ", to_spark(sql, {}, {})).strip().lower()


def test_the_keys_and_values_of_an_object_unnested_together_are_one_lateral_explode():
    """DuckDB unnests the lists of one select in lock-step, so ``json_keys(d)`` beside
    ``json_extract(d, '$.*')`` is one row per entry of the object; Spark allows one generator
    per select: one ``variant_explode`` of the object gives each key with its value, the value
    as JSON text (as every JSON value is on Spark)."""
    sql = """
        select t.id,
               unnest(json_keys(t.doc)) as k,
               unnest(json_extract(t.doc, '$.*')) as v
        from t
        where t.doc is not null
    """
    assert _spark(sql) == (
        "select t.id, v_entry.key as k, to_json(v_entry.value) as v "
        "from t, lateral variant_explode(parse_json(t.doc)) as v_entry "
        "where not t.doc is null"
    )
    # the values first, the document unqualified: the same rule
    swapped = "select unnest(json_extract(doc, '$.*')) as v, unnest(json_keys(doc)) as k from t"
    assert _spark(swapped) == (
        "select to_json(v_entry.value) as v, v_entry.key as k "
        "from t, lateral variant_explode(parse_json(doc)) as v_entry"
    )


def test_json_type_of_a_whole_value_is_duckdbs_type_name():
    """``json_type(v)`` of a JSON text (the values above): DuckDB's names of its type, from
    the type of the parsed variant, NULL for no value (as ``json_each``'s ``type``)."""
    text = _spark("select json_type(v) as kind from t")
    assert text.startswith("select case when not v is null then case ")
    assert "when schema_of_variant(parse_json(v)) = 'void' then 'null'" in text
    assert "when schema_of_variant(parse_json(v)) like 'object%' then 'object'" in text
    assert "when schema_of_variant(parse_json(v)) like 'array%' then 'array'" in text
    assert "json_type" not in text


def test_a_single_unnest_stays_spark_explode():
    assert _spark("select id, unnest(tags) as tag from t") == (
        "select id, explode(tags) as tag from t"
    )


@pytest.mark.parametrize(
    "sql",
    [
        # two lists that are not one object's keys and values
        "select unnest(a) as x, unnest(b) as y from t",
        # the keys of one object with the values of another
        "select unnest(json_keys(d)) as k, unnest(json_extract(e, '$.*')) as v from t",
        # the values of a path below the object
        "select unnest(json_keys(d)) as k, unnest(json_extract(d, '$.a.*')) as v from t",
        # a third unnest
        "select unnest(json_keys(d)) as k, unnest(json_extract(d, '$.*')) as v, "
        "unnest(c) as c from t",
        # unnamed: the rule names the columns from the aliases
        "select unnest(json_keys(d)), unnest(json_extract(d, '$.*')) as v from t",
    ],
)
def test_other_unnests_in_one_select_are_refused(sql):
    """Spark allows one generator per select: any other pairing stops the transpilation
    instead of writing SQL Spark refuses or reads otherwise."""
    with pytest.raises(NotImplementedError, match="several unnests in one select"):
        to_spark(sql, {}, {})
