"""Layers a reader can see (issue 14): the folders of ``sql/`` are the schemas, in the order
data flows through them — staging (typing and renaming) → intermediate (differencing,
grouping, folding, identity) → core → reporting and audit — and no model reads a later
layer's model."""

from __future__ import annotations

from orders_pipeline.config import SQL_DIR
from orders_pipeline.models import discover_models

LAYERS = {"staging": 1, "intermediate": 2, "core": 3, "reporting": 4, "audit": 4}


def test_models_read_only_their_own_or_earlier_layers():
    models = discover_models(SQL_DIR)
    assert {m.schema for m in models} == set(LAYERS)
    built = {(m.schema, m.name) for m in models}
    backwards = [
        f"{m.qualified_name} reads {'.'.join(ref)}"
        for m in models
        for ref in m.references
        if ref in built and LAYERS[ref[0]] > LAYERS[m.schema]
    ]
    assert backwards == []


def test_model_names_carry_their_layer():
    """jaffle-shop's convention: stg_<source>_<thing> in staging, int_<thing> in
    intermediate; core and reporting tables are named for what they hold."""
    for model in discover_models(SQL_DIR):
        prefix = {"staging": "stg_", "intermediate": "int_"}.get(model.schema)
        if prefix:
            assert model.name.startswith(prefix), model.qualified_name
