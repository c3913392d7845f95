"""SQL-looking input is data: it is stored verbatim and never runs.

The first tests send SQL payloads through every field of an ODP event and in the landing file
name, and check that every table survives, the values come back as sent and the counts
reconcile. The last test reads the package's source: SQL text built with an f-string or
``.format()`` may only interpolate names the code itself controls (an allow-list, each entry
with the reason it cannot carry input data); every value from input is a bound parameter.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from orders_pipeline.config import PROJECT_ROOT, Settings
from orders_pipeline.runner import run_pipeline
from tests.conftest import Warehouse, day, write_ndjson
from tests.hostile.support import existing_tables, pipeline_tables

PAYLOADS = [
    "'); DROP TABLE core.orders; --",
    '"; DROP TABLE raw.odp_events; --',
    "' OR '1'='1",
    "$$; DROP TABLE audit.loads; $$",
    "{table}{0}%s?$1 :name",  # placeholders of str.format, printf, DB-API and DuckDB
    "getvariable('base_currency')",
]
QUOTES = {'"': "&quot;"}
TEXT_FIELDS = ("first_name", "last_name", "name", "coupon_code", "bill_address", "ship_address")
FILE_NAME = "odp_events/x'); DROP TABLE core.orders; --.ndjson"


def injected_event(n: int, payload: str) -> dict[str, Any]:
    """An event with ``payload`` in every field a merchant controls."""
    return {
        "type": "order",
        "action": payload,
        "identifiers": {"email": f"inj{n}@example.com", payload: payload},
        "data": {
            "ts": day(1),
            "order": {
                "order_id": f"INJ{n}{payload}",
                "subtotal": 10,
                **{field: payload for field in TEXT_FIELDS},
                payload: payload,  # a custom field: key and value
                "items": [{"product_id": payload, "sku": payload, "price": 10, "quantity": 1}],
            },
        },
    }


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file that a payload would write if it ran as SQL."""
    return tmp_path_factory.mktemp("injection") / "pwned.csv"


def rejected_events() -> list[dict[str, Any]]:
    """SQL where the value is validated: the event type and the currency code."""
    wrong_type = {**injected_event(90, "x"), "type": PAYLOADS[0]}
    wrong_currency = injected_event(91, "y")
    wrong_currency["data"]["order"]["currency"] = PAYLOADS[0]
    return [wrong_type, wrong_currency]


@pytest.fixture(scope="module")
def injected(tmp_path_factory, sentinel) -> Warehouse:
    """One run over the injected events, which the tests below only read."""
    root = tmp_path_factory.mktemp("injected")
    copy_out = f"'; COPY (SELECT 42) TO '{sentinel}'; --"
    events: list[Any] = [injected_event(n, p) for n, p in enumerate([*PAYLOADS, copy_out])]
    write_ndjson(root / "landing" / FILE_NAME, [*events, *rejected_events()])
    summary = run_pipeline(Settings(landing_dir=root / "landing", warehouse=root / "w.duckdb"))
    assert summary.success, summary.errors
    return Warehouse(path=root / "w.duckdb", summary=summary)


def test_sql_in_every_field_and_in_the_file_name_leaves_every_table(injected, sentinel):
    missing = pipeline_tables() - existing_tables(injected)
    assert not missing, f"tables gone after the run: {sorted(missing)}"
    assert not sentinel.exists(), "a payload ran as SQL"
    [load] = injected.dicts(
        "select records, accepted, quarantined, duplicates from audit.loads where file = ?",
        [FILE_NAME],
    )
    assert load == {"records": 9, "accepted": 7, "quarantined": 2, "duplicates": 0}
    assert injected.value("select count(*) from core.orders") == 7


@pytest.mark.parametrize("n", range(len(PAYLOADS)))
def test_sql_looking_values_are_stored_verbatim(injected, n):
    payload = PAYLOADS[n]
    order_id = f"INJ{n}{payload}"
    order = injected.order(order_id)
    assert {field: order[field] for field in TEXT_FIELDS} == dict.fromkeys(TEXT_FIELDS, payload)
    assert order["status"] == payload.lower()  # actions are trimmed and lower-cased (§2)

    [event] = injected.ledger(order_id)
    assert event["file"] == FILE_NAME
    assert json.loads(event["custom"]) == {payload: payload}

    [item] = injected.dicts("select * from core.order_items where order_id = ?", [order_id])
    assert (item["product_id"], item["sku"]) == (payload, payload)
    assert json.loads(item["custom"]) == {payload: payload}

    identifiers = injected.query(
        "select identifier_type, identifier_value from intermediate.int_order_identifiers "
        "where order_id = ?",
        [order_id],
    )
    assert (payload.lower(), payload) in identifiers


def test_rejected_sql_values_are_quarantined_with_their_raw_text(injected):
    rows = injected.dicts(
        "select record_no, reasons, raw from audit.quarantine where file = ? order by record_no",
        [FILE_NAME],
    )
    codes = [sorted(r.split(":", 1)[0] for r in row["reasons"]) for row in rows]
    assert codes == [["unsupported_event_type"], ["invalid_currency"]]
    assert [json.loads(row["raw"]) for row in rows] == rejected_events()


def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def injected_everywhere(tmp_path_factory, sentinel):
    """Every other source with SQL in its text fields and in its file names."""
    root = tmp_path_factory.mktemp("every_source")
    landing = root / "landing"
    payloads = [*PAYLOADS, f"'; COPY (SELECT 42) TO '{sentinel}'; --"]
    name = "x'); DROP TABLE core.orders; --"
    files = {
        f"odp_csv/{name}.csv": "action,ts,order_id,item_product_id,item_price,item_quantity,"
        "email,coupon_code\n"
        + "".join(
            f"purchase,2026-06-03T10:00:00Z,{_csv_cell('CSV' + p)},{_csv_cell(p)},1,1,"
            f"csv{n}@example.com,{_csv_cell(p)}\n"
            for n, p in enumerate(payloads)
        ),
        f"odp_orders/{name}.ndjson": "".join(
            json.dumps({"order_id": "CSV" + p, "status": p, "name": p}) + "\n" for p in payloads
        ),
        f"ometria_orders/{name}.ndjson": "".join(
            json.dumps({"id": "OM" + p, "timestamp": "2026-06-03T10:00:00+00:00",
                        "currency": "USD", "grand_total": 1, "status": p,
                        "customer": {"email": f"om{n}@example.com", "firstname": p},
                        "lineitems": [{"product_id": p, "quantity": 1, "unit_price": 1}]})
            + "\n"
            for n, p in enumerate(payloads)
        ),
        f"optimizely_xml/{name}.xml": "<orders>"
        + "".join(
            f'<order refCode="{escape("XML" + p, QUOTES)}" orderDate="2026-06-03T10:00:00Z" '
            f'currency="USD" total="1"><user email="xml{n}@example.com"/>'
            f'<product refCode="{escape(p, QUOTES)}" quantity="1" price="1">'
            f'<attribute key="{escape(p, QUOTES)}">{escape(p)}</attribute></product></order>'
            for n, p in enumerate(payloads)
        )
        + "</orders>",
        f"products/{name}.csv": "product_id,sku,name\n"
        + "".join(f"{_csv_cell(p)},{_csv_cell(p)},{_csv_cell(p)}\n" for p in payloads),
        f"exchange_rates/{name}.csv": "date,currency,rate_to_base\n"
        + "".join(f"2026-06-01,{_csv_cell(p)},1.1\n" for p in payloads),
    }  # fmt: skip
    for relative, text in files.items():
        (landing / relative).parent.mkdir(parents=True, exist_ok=True)
        (landing / relative).write_text(text, encoding="utf-8")
    summary = run_pipeline(Settings(landing_dir=landing, warehouse=root / "w.duckdb"))
    assert summary.success, summary.errors
    return Warehouse(path=root / "w.duckdb", summary=summary), payloads


def test_sql_in_every_source_and_file_name_leaves_every_table(injected_everywhere, sentinel):
    wh, payloads = injected_everywhere
    missing = pipeline_tables() - existing_tables(wh)
    assert not missing, f"tables gone after the run: {sorted(missing)}"
    assert not sentinel.exists(), "a payload ran as SQL"
    loads = wh.dicts("select source, records, accepted, quarantined, duplicates from audit.loads")
    assert {load["source"] for load in loads} == {
        "odp_csv", "odp_orders", "ometria_orders", "optimizely_xml", "products", "exchange_rates"
    }  # fmt: skip
    for load in loads:
        assert load["records"] == len(payloads), load
        assert load["records"] == load["accepted"] + load["quarantined"] + load["duplicates"]
    # a currency code is validated: every SQL-looking one is quarantined, not run
    assert wh.value("select count(*) from staging.exchange_rate_records") == 0


@pytest.mark.parametrize("n", range(len(PAYLOADS)))
def test_sql_looking_values_are_stored_verbatim_in_every_source(injected_everywhere, n):
    wh, payloads = injected_everywhere
    payload = payloads[n]
    assert wh.order("CSV" + payload)["coupon_code"] == payload
    assert wh.order("CSV" + payload)["name"] == payload  # the Orders-object overlay
    assert wh.order("OM" + payload)["first_name"] == payload
    xml_items = wh.dicts("select * from core.order_items where order_id = ?", ["XML" + payload])
    assert [item["product_id"] for item in xml_items] == [payload]
    assert json.loads(xml_items[0]["attributes"]) == {payload: payload}
    product = wh.dicts("select * from core.products where product_id = ?", [payload])
    assert [(p["sku"], p["name"]) for p in product] == [(payload, payload)]


# -- no SQL built from input -------------------------------------------------------------------

SPEC = "a field of a JsonSourceValidation constant (validation/odp_events.VALIDATION): code"
MODEL = "a SqlModel: schema, name and SQL are read from this repository's sql/ files"
CATALOG = (
    "a loop over code constants (SCHEMAS, PUBLISHED_SCHEMAS) or over the warehouse's own "
    "tables, which only the landing DDL and sql/ models create"
)
# Every expression interpolated into SQL text passed to .execute()/.sql(), and why it is not
# input data. A new one fails the test: bind the value as a parameter, or add it here with its
# reason after checking where it comes from.
SPARK_COMPARE = (
    "engines/spark/compare.py: a table read from the Parquet folder of a model named in code "
    "(schema/table from sql/), never input data"
)
SPARK_PATHS = (
    "engines/spark: a folder of the engine's own Parquet output (the operator's "
    "ORDERS_SPARK_OUTPUT, or beside the warehouse) and a table name from code, never input data"
)
DICTIONARY = (
    "dictionary.apply_comments: a description constant of the column dictionary, quoted by _literal"
)
TRUSTED = {
    "spark_rel": SPARK_COMPARE,
    "relation": SPARK_COMPARE,
    "PARTITION_COLUMN": "engines/spark/exchange.py: a column-name constant of that module",
    "target / 'data_0.parquet'": SPARK_PATHS,
    "keys": "engines/spark/runner.py: null-typed columns named by the model's -- unique_key: "
    "directive, " + MODEL,
    "output": SPARK_PATHS,
    "_literal(declared.description)": DICTIONARY,
    "_literal(entry.description)": DICTIONARY,
    "noun": "dictionary.apply_comments: 'table' or 'view', chosen in code",
    "target": "dictionary.apply_comments: a table the dictionary declares (schema.table from "
    "code), prefixed by the analyst database's alias from code",
    "column_name": "dictionary.apply_comments: only a column the dictionary declares gets a "
    "comment, so the name is one of its constants",
    "idempotence_key": "SQL text built in code from the source's own JSON paths",
    "spec.idempotence_key('doc')": "SQL text built in code from the source's own JSON paths",
    "CANONICAL_FINGERPRINT.format(documents=content)": "a SQL template from code over a "
    "column name from code",
    "table": "a table name from code: RAW_TABLE (landing) or a literal tuple (bench)",
    "qualified_name": "schema.table from code: model names or literal table names",
    "temp": "a loop over the validation's own temp-table names",
    "candidates": SPEC,
    "spec.candidates_table": SPEC,
    "spec.item_candidates_table": SPEC,
    "spec.raw_table": SPEC,
    "spec.staging_table": SPEC,
    "spec.staging_items_table": SPEC,
    "spec.candidates_sql": SPEC,
    "spec.item_candidates_sql": SPEC,
    "spec.dedupe_key_sql": SPEC,
    "spec.event_id_sql": SPEC,
    "item_table": "outcomes._chunk_failures: spec.item_candidates_table, " + SPEC,
    "item_columns": "outcomes._validated_columns: the item candidate temp table's own column "
    "names (created by the validation's SQL), quoted",
    "spec.accepted_sql()": SPEC,
    "spec.accepted_items_sql()": SPEC,
    "CANONICAL_FINGERPRINT.format(documents='batch_documents')": "a constant and a literal",
    "model.schema": MODEL,
    "model.qualified_name": MODEL,
    "model.sql": MODEL,
    "model.changed_sql": MODEL,
    "model.pending_sql": MODEL,
    "model.unique_key": MODEL + " (a column name matched by the -- unique_key: directive)",
    "columns": "publish._select_list: column names of the pipeline's own tables (the catalog) "
    "and PII constants; models._collect_changed_keys: model.unique_key, " + MODEL,
    "typed": "models._collect_changed_keys: model.unique_key columns, " + MODEL,
    "present": "models._collect_changed_keys: model.unique_key columns, " + MODEL,
    "matches": "models.run_incremental_model: model.unique_key columns, " + MODEL,
    "in_range": "a fragment of ? placeholders around the model's own partition column",
    "kind": "the literal 'view' or 'table'",
    "alias": "the literal attach alias of the analyst database",
    "schema": CATALOG,
    "ARRIVAL_STRIDE": "a numeric constant",
    "CHANGE_LOG": "assets/identity.py: the literal name of the identity change log table",
    "PREVIEW_ROWS": "a numeric constant",
    "spec.sql": "a SqlCheck's query: a check file of sql/ (checks.load_check), templates "
    "filled in from registry names",
    "RAW_INSERT_COLUMNS": "a constant list of the raw tables' own column names",
    "RAW_CSV_INSERT_COLUMNS": "a constant list of the CSV raw tables' own column names",
    "self.table": "json_records._Records: the raw table name from the source registry",
    "**self.fill": "json_records._Records: {'table': the raw table name from the source "
    "registry, 'stride': ARRIVAL_STRIDE, 'columns': RAW_INSERT_COLUMNS}",
    "spec.raw_document_sql": SPEC,
    "spec.candidate_document_sql": SPEC,
    "temporary_name": "resources.RunConnection.end_step: a temporary table's name from "
    "DuckDB's catalogue; temporary tables are made by the pipeline's own SQL only",
    "variable": "warehouse.prepare_session/restore_session: a session variable's name, a key "
    "of warehouse.session_variables or one the pipeline's code set (duckdb_variables())",
    "value_sql": "warehouse.session_variables: a placeholder or literal from code; the "
    "settings' values are bound as parameters",
    "catalog_function": "warehouse.table_exists: the literal duckdb_tables() or duckdb_views()",
    "name_column": "warehouse.table_exists: the literal table_name or view_name",
    "source.raw_table": "landing.land: the raw table name of a source of the registry "
    "(sources.SOURCES)",
    "key": "publish._apply_keys: hash(row(...)) over a published table's key columns, named in "
    "code (the model's -- unique_key: directive or the identity tables' keys), quoted",
    "published": "publish._apply_keys: a subquery of _select_list (column names from the "
    "catalog, PII constants) over schema.table from the catalog",
    "changed": "publish._apply_keys: a literal subquery over its own temp table",
    "_validated_columns(con, table, spec)": "the candidate temp table's own column names "
    "(created by the validation's SQL), quoted",
    "_PASSES": "checks.py: the literal name of the check-pass table",
    "LOG": "key_changes.py: the literal name of the key change log table",
    "START": "key_changes.py: the literal name of the table saying where the log begins",
    "CLEARED": "key_changes.py: the literal name of the table of the numbers cleared",
    "FORGOTTEN": "key_changes.py: the literal name of the table of the last build forgotten",
    "UNPUBLISHED": "key_changes.py: a constant query over the log's literal name (its "
    "publication build bound as a parameter)",
    "key_changes.UNPUBLISHED": "key_changes.py: a constant query over the log's literal name "
    "(its publication build bound as a parameter)",
    "_KEY_PASSES": "checks.py: the literal name of the by-key check-pass table",
    "SIZES": "identity.py: the literal name of the customer-size table",
    "key_changes.LOG": "key_changes.py: the literal name of the key change log table",
    "keys_sql": "key_changes.log_keys: a select of key columns written in code "
    "(models._collect_changed_keys over model.unique_key, identity.py's constants), " + MODEL,
    "values": "key_changes.log_keys: casts of key column names from code (the model's "
    "-- unique_key: directive or the identity tables' keys), quoted",
    "match": "publish._apply_logged_keys: _tuple over a published table's key columns, named "
    "in code, quoted",
    "_tuple(key)": "publish: a row(...) of a published table's key columns, named in code, quoted",
    "_select_list(con, schema, table, self.hash_pii)": "publish._select_list: column names of "
    "the pipeline's own tables (the catalog) and PII constants",
}
SQL_METHODS = {"execute", "executemany", "sql", "query"}


def interpolated(node: ast.expr, assigned: dict[str, ast.expr]) -> list[str]:
    """The expressions spliced into SQL text: f-string fields, ``.format()`` arguments and
    non-literal operands of ``+``; a local variable is followed to its assignment."""
    if isinstance(node, ast.JoinedStr):
        return [ast.unparse(v.value) for v in node.values if isinstance(v, ast.FormattedValue)]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "format":
            return [ast.unparse(a) for a in node.args] + [
                f"**{ast.unparse(k.value)}" if k.arg is None else ast.unparse(k.value)
                for k in node.keywords
            ]
        return []
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [
            found
            for side in (node.left, node.right)
            for found in (interpolated(side, assigned) or _operand(side))
        ]
    if isinstance(node, ast.Name) and node.id in assigned:
        return interpolated(assigned[node.id], {})
    return []


def _operand(node: ast.expr) -> list[str]:
    return [] if isinstance(node, ast.Constant) else [ast.unparse(node)]


def sql_interpolations(source: str) -> list[tuple[int, str]]:
    """(line, expression) for every expression spliced into the first argument of a
    ``.execute()``/``.sql()`` call in ``source``."""
    found: list[tuple[int, str]] = []
    tree = ast.parse(source)
    scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for scope in [tree, *scopes]:
        assigned = {
            target.id: node.value
            for node in ast.walk(scope)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(scope) if scope is not tree else ast.iter_child_nodes(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_METHODS
                and node.args
            ):
                found.extend((node.lineno, e) for e in interpolated(node.args[0], assigned))
    return sorted(set(found))


def test_the_scan_sees_every_way_of_splicing_sql():
    """The scanner itself: it finds f-strings, .format(), + and a variable holding them."""
    source = (
        "def f(con, user, t):\n"
        "    con.execute(f'select * from x where a = {user}')\n"
        "    con.sql('select {0}'.format(t))\n"
        "    q = 'select ' + user\n"
        "    con.execute(q)\n"
        "    con.execute('select ?', [user])\n"
    )
    assert [e for _, e in sql_interpolations(source)] == ["user", "t", "user"]


def test_no_sql_text_is_built_from_input_data():
    package = PROJECT_ROOT / "orders_pipeline"
    unknown = [
        f"{path.relative_to(PROJECT_ROOT)}:{line}: {{{expression}}}"
        for path in sorted(package.rglob("*.py"))
        for line, expression in sql_interpolations(path.read_text(encoding="utf-8"))
        if expression not in TRUSTED
    ]
    assert not unknown, (
        "SQL text interpolates expressions not known to come from code; bind them as "
        "parameters, or add them to TRUSTED with the reason they cannot hold input data:\n"
        + "\n".join(unknown)
    )
