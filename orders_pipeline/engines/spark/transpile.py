"""The DuckDB models as Spark SQL: one set of models, translated, never copied (issue 17).

Each model's SQL is parsed in DuckDB's dialect with sqlglot, then rewritten in three steps
before sqlglot writes it in Spark's dialect:

1. the session macros of ``sql/macros.sql`` are expanded in place (Spark has no macros; a
   macro's body is SQL, so it transpiles like the models do);
2. ``getvariable('name')`` becomes the setting's value as a literal (Spark has no session
   variables in every version we target, and a literal lets Spark fold the conditions);
3. the DuckDB functions whose Spark spelling sqlglot does not know, or knows with another
   meaning, are rewritten into Spark equivalents (``_REWRITES``; each says why).

A model whose construct has no Spark equivalent keeps a named override beside it,
``sql/<schema>/<name>.spark.sql`` (``OVERRIDE_SUFFIX``), read instead of the transpiled text;
``tests/spark/test_spark_models.py`` lists every override and the reason it exists.

Table names: ``schema.table`` becomes the temporary view ``schema__table`` (aliased to the
table's own name, so ``orders.order_id`` still resolves), which the runner registers over
each table's Parquet folder.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import expressions as exp
from sqlglot.optimizer.qualify import qualify

from orders_pipeline.models import SPARK_SUFFIX, SqlModel

# ``sql/<schema>/<name>.spark.sql``: the Spark text of a model whose DuckDB SQL has a
# construct with no Spark equivalent (listed, with its reason, by the override test)
OVERRIDE_SUFFIX = SPARK_SUFFIX

_MACRO = re.compile(
    r"create\s+(?:or\s+replace\s+)?(?:temp\s+|temporary\s+)?macro\s+(\w+)\s*\(([^)]*)\)\s+as\s+",
    re.I,
)


@dataclass(frozen=True)
class Macro:
    """One scalar macro of ``sql/macros.sql``: ``name(params) as body``."""

    name: str
    params: tuple[str, ...]
    body: exp.Expression
    # ``macro name(t) as table select ... from query_table(t)``: a query over a table argument
    is_table: bool = False


def _without_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


@functools.cache
def load_macros(text: str) -> dict[str, Macro]:
    """Every macro of the text of ``sql/macros.sql``, by lower-cased name."""
    text = _without_comments(text)
    macros: dict[str, Macro] = {}
    starts = list(_MACRO.finditer(text))
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        body = text[match.end() : end].strip().rstrip(";")
        params = tuple(p.strip().lower() for p in match.group(2).split(",") if p.strip())
        name = match.group(1).lower()
        is_table = bool(re.match(r"table\b", body, re.I))
        if is_table:
            body = body[len("table") :]
        macros[name] = Macro(name, params, sqlglot.parse_one(body, read="duckdb"), is_table)
    return macros


def _expand_macros(tree: exp.Expression, macros: Mapping[str, Macro]) -> exp.Expression:
    """Each call of a macro replaced by its body with the arguments in place of the
    parameters, until none is left (macros call macros). A table macro called in FROM
    (``from item_totals(items)``) becomes its query as a subquery, ``query_table(t)`` in it
    reading the table or CTE passed as ``t``."""

    def call(node: exp.Expression) -> tuple[Macro, dict[str, exp.Expression]] | None:
        if not isinstance(node, exp.Anonymous) or str(node.this).lower() not in macros:
            return None
        macro = macros[str(node.this).lower()]
        return macro, dict(zip(macro.params, node.expressions, strict=True))

    def bound(macro: Macro, args: dict[str, exp.Expression]) -> exp.Expression:
        def bind(inner: exp.Expression) -> exp.Expression:
            if (
                isinstance(inner, exp.Table)
                and isinstance(inner.this, exp.Anonymous)
                and str(inner.this.this).lower() == "query_table"
            ):
                argument = args[inner.this.expressions[0].name.lower()]
                return exp.Table(
                    this=exp.to_identifier(argument.name),
                    db=exp.to_identifier(argument.table) if argument.table else None,
                    alias=inner.args.get("alias"),
                )
            if isinstance(inner, exp.Column) and not inner.table and inner.name in args:
                return args[inner.name].copy()
            return inner

        return _expand_macros(macro.body.copy().transform(bind), macros)

    def expand(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and (found := call(node.this)) and found[0].is_table:
            macro, args = found
            alias = node.alias or macro.name
            return exp.Subquery(
                this=bound(macro, args), alias=exp.TableAlias(this=exp.to_identifier(alias))
            )
        found = call(node)
        if found is None or found[0].is_table:
            return node
        return bound(*found)

    return tree.transform(expand)


def _literal(value: Any) -> exp.Expression:
    """A Python setting value as a SQL literal (lists as arrays, None as NULL)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("date"))
    if isinstance(value, list | tuple):
        if not value:
            return exp.cast(exp.Array(expressions=[]), exp.DataType.build("array<string>"))
        return exp.Array(expressions=[_literal(v) for v in value])
    return exp.Literal.string(str(value))


def _substitute_variables(tree: exp.Expression, variables: Mapping[str, Any]) -> exp.Expression:
    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "getvariable":
            name = node.expressions[0].name
            if name not in variables:
                raise KeyError(f"getvariable('{name}'): no such setting for Spark")
            return _literal(variables[name])
        return node

    return tree.transform(substitute)


def view_name(schema: str, table: str) -> str:
    """The Spark temporary view of the table ``schema.table``."""
    return f"{schema}__{table}"


def _rename_tables(tree: exp.Expression) -> exp.Expression:
    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db and isinstance(node.this, exp.Identifier):
            alias = node.alias or node.name
            return exp.Table(
                this=exp.to_identifier(view_name(node.db, node.name)),
                alias=exp.TableAlias(this=exp.to_identifier(alias)),
            )
        return node

    return tree.transform(rename)


# --- DuckDB functions Spark spells otherwise or lacks --------------------------------------


def _and_filter(agg: exp.Expression, condition: exp.Expression) -> exp.Expression:
    """``agg`` with ``condition`` added to its FILTER clause."""
    parent = agg.parent
    if isinstance(parent, exp.Filter):
        where = parent.expression
        where.set("this", exp.and_(where.this, condition))
        return agg
    return exp.Filter(this=agg, expression=exp.Where(this=condition))


def _order_key(ordered: list[exp.Ordered]) -> tuple[exp.Expression, bool]:
    """One sortable key for ``order by k1, k2`` (a struct when there are several) and
    whether it sorts descending (Spark's min_by/max_by and array_sort take one key)."""
    descs = {bool(o.args.get("desc")) for o in ordered}
    if len(descs) > 1:
        raise NotImplementedError("an ordered aggregate with mixed ASC/DESC keys")
    keys = [o.this.copy() for o in ordered]
    key = keys[0] if len(keys) == 1 else exp.func("struct", *keys)
    return key, descs.pop()


def _rewrite_arg_min_max(node: exp.Expression) -> exp.Expression:
    # DuckDB's arg_min/arg_max skip rows whose value is NULL; Spark's min_by/max_by do not
    # (DuckDB's arg_min_null is Spark's min_by)
    if isinstance(node, exp.ArgMin | exp.ArgMax) and isinstance(node.expression, exp.Tuple):
        # a key of several columns: Spark orders structs field by field, as DuckDB tuples
        node.set("expression", exp.func("struct", *node.expression.expressions))
    if isinstance(node, exp.ArgMin | exp.ArgMax) and not node.meta.get("null_aware"):
        node.meta["null_aware"] = True
        return _and_filter(node, exp.not_(exp.Is(this=node.this.copy(), expression=exp.Null())))
    if isinstance(node, exp.Anonymous) and str(node.this).lower() in (
        "arg_min_null",
        "arg_max_null",
    ):
        value, key = node.expressions
        if isinstance(key, exp.Tuple):
            key = exp.func("struct", *[k.copy() for k in key.expressions])
        kind = exp.ArgMin if str(node.this).lower() == "arg_min_null" else exp.ArgMax
        built = kind(this=value.copy(), expression=key)
        built.meta["null_aware"] = True
        return built
    return node


def _rewrite_ordered_aggregates(node: exp.Expression) -> exp.Expression:
    # first(x order by k) → min_by(x, k); list(x order by k) → the list sorted by k: Spark's
    # aggregates take no ORDER BY, and collect_list's order is the shuffle's
    where = None
    aggregate = node
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
        aggregate, where = node.this, node.expression
    if not (
        isinstance(aggregate, exp.First | exp.ArrayAgg) and isinstance(aggregate.this, exp.Order)
    ):
        return node
    order = aggregate.this
    value = order.this.copy()
    key, desc = _order_key(list(order.expressions))
    if isinstance(aggregate, exp.First):
        built = (exp.ArgMax if desc else exp.ArgMin)(this=value, expression=key)
        built.meta["null_aware"] = True  # DuckDB's first keeps a NULL value
        return built
    # struct(key, value) is never NULL: collect_list keeps NULL values as DuckDB's list does
    pairs: exp.Expression = exp.func(
        "collect_list",
        exp.Anonymous(
            this="named_struct",
            expressions=[exp.Literal.string("k"), key, exp.Literal.string("v"), value],
        ),
    )
    if where is not None:
        pairs = exp.Filter(this=pairs, expression=where.copy())
    sorted_pairs = exp.func("array_sort", pairs)
    if desc:
        sorted_pairs = exp.func("reverse", sorted_pairs)
    return sqlglot.parse_one("transform(p, e -> e.v)", read="spark").transform(
        lambda n: sorted_pairs if isinstance(n, exp.Column) and n.name == "p" else n
    )


def _decimal_division(node: exp.Expression) -> exp.Expression:
    # DuckDB's decimal_division(x, y, s): x / y rounded half to even to s decimals in exact
    # arithmetic. Spark's decimal ÷ decimal has its own scale rules, so the same is built
    # from integral division and the remainder: q = (x·10^s) div y, r = x·10^s − q·y, and
    # q moves one away from zero when 2|r| > |y|, or when 2|r| = |y| and q is odd.
    if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "decimal_division"):
        return node
    x, y, scale = node.expressions
    digits = int(scale.name)
    scaled = f"(x * cast({10**digits} as decimal({digits + 1}, 0)))"
    quotient = f"cast({scaled} div y as decimal(38, 0))"
    remainder = f"({scaled} - {quotient} * y)"
    text = f"""
        cast(
            ({quotient} + case
                when 2 * abs({remainder}) > abs(y)
                     or (2 * abs({remainder}) = abs(y) and {quotient} % 2 <> 0)
                    then case when (x < 0) = (y < 0) then 1 else -1 end
                else 0 end)
            as decimal(38, 0)
        ) * cast('{10**-digits:.{digits}f}' as decimal({digits + 1}, {digits}))
    """
    tree = sqlglot.parse_one(text, read="spark")
    bound = {"x": x, "y": y}
    return tree.transform(
        lambda n: (
            bound[n.name].copy()
            if isinstance(n, exp.Column) and not n.table and n.name in bound
            else n
        )
    )


def _sign(node: exp.Expression) -> exp.Expression:
    # Spark's sign returns DOUBLE: sign(delta) * amount would leave DECIMAL
    if isinstance(node, exp.Sign):
        value = node.this
        return sqlglot.parse_one(
            "case when v > 0 then 1 when v < 0 then -1 when v = 0 then 0 end", read="spark"
        ).transform(lambda n: value.copy() if isinstance(n, exp.Column) and n.name == "v" else n)
    return node


def _epoch_us(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "epoch_us":
        return exp.func("unix_micros", node.expressions[0].copy())
    return node


def _json_values(node: exp.Expression) -> exp.Expression:
    # JSON is text on Spark: json('{}') and '{}'::json are the text itself (to_json would
    # quote it as a JSON string)
    if isinstance(node, exp.ParseJSON):
        return node.this
    if isinstance(node, exp.Cast) and node.to.is_type("json"):
        return node.this if node.this.is_string else exp.cast(node.this, "string")
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Cast):
        # a JSON value cast to text (customers.changed.sql compares them as text)
        inner = node.this
        if inner.to.is_type("json"):
            return exp.cast(inner.this, node.to)
    return node


def _window_filters(node: exp.Expression) -> exp.Expression:
    # agg(x) FILTER (WHERE c) OVER (...) → agg(CASE WHEN c THEN x END) OVER (...): Spark
    # accepts FILTER only on a grouped aggregate
    if isinstance(node, exp.Window) and isinstance(node.this, exp.Filter):
        agg = node.this.this
        condition = node.this.expression.this
        if isinstance(agg, exp.Count) and isinstance(agg.this, exp.Star):
            agg = exp.Count(this=exp.Literal.number(1))
        argument = agg.this
        agg.set("this", exp.Case(ifs=[exp.If(this=condition, true=argument)]))
        node.set("this", agg)
    return node


def _inline_named_windows(node: exp.Expression) -> exp.Expression:
    # over (w rows between ...) refines the named window w; Spark refines none: each use of
    # a named window gets its definition written out
    if not isinstance(node, exp.Select) or not node.args.get("windows"):
        return node
    named = {w.this.name: w for w in node.args["windows"]}
    definitions = {id(w) for w in node.args["windows"]}
    for window in list(node.find_all(exp.Window)):
        base = window.args.get("alias")
        if id(window) in definitions or base is None or base.name not in named:
            continue
        if window.find_ancestor(exp.Select) is not node:
            continue
        definition = named[base.name]
        window.set("alias", None)
        for arg in ("partition_by", "order"):
            if definition.args.get(arg) and not window.args.get(arg):
                window.set(
                    arg,
                    definition.args[arg].copy()
                    if arg == "order"
                    else [e.copy() for e in definition.args[arg]],
                )
        if definition.args.get("spec") and not window.args.get("spec"):
            window.set("spec", definition.args["spec"].copy())
    node.set("windows", None)
    return node


def _json_type(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.JSONType) and node.expression is None:
        # json_type(value): the type of a whole JSON text (the values of _object_entries),
        # named as DuckDB names it
        kind = exp.Anonymous(
            this="schema_of_variant",
            expressions=[exp.Anonymous(this="parse_json", expressions=[node.this.copy()])],
        )
        bound = {"v": node.this, "t": kind}
        return sqlglot.parse_one(f"case when v is not null then {_JSON_TYPES} end").transform(
            lambda n: bound[n.name].copy() if isinstance(n, exp.Column) and n.name in bound else n
        )
    # json_type(doc, path) by the first character of the value at path
    if isinstance(node, exp.JSONType):
        value = exp.func("ltrim", exp.func("get_json_object", node.this.copy(), node.expression))
        first = exp.func("substr", value, exp.Literal.number(1), exp.Literal.number(1))
        return sqlglot.parse_one(
            "case when v is null then null when f = '[' then 'ARRAY' when f = '{' then 'OBJECT' "
            "else 'VARCHAR' end",
            read="spark",
        ).transform(
            lambda n: (
                (value if n.name == "v" else first).copy()
                if isinstance(n, exp.Column) and n.name in ("v", "f")
                else n
            )
        )
    return node


def _json_list_paths(node: exp.Expression) -> exp.Expression:
    # json_extract_string(doc, '$.a[*]') is a list of strings in DuckDB
    if isinstance(node, exp.JSONExtractScalar) and isinstance(node.expression, exp.JSONPath):
        parts = node.expression.expressions
        if parts and isinstance(parts[-1], exp.JSONPathSubscript):
            path = exp.JSONPath(expressions=[p.copy() for p in parts[:-1]])
            return exp.func(
                "from_json",
                exp.JSONExtract(this=node.this.copy(), expression=path),
                exp.Literal.string("array<string>"),
            )
    return node


# DuckDB's json_type names from Spark's variant schema names
_JSON_TYPES = """
case
    when t = 'VOID' then 'NULL'
    when t = 'STRING' then 'VARCHAR'
    when t = 'BOOLEAN' then 'BOOLEAN'
    when t in ('BIGINT', 'INT', 'SMALLINT', 'TINYINT') then 'BIGINT'
    when t like 'ARRAY%' then 'ARRAY'
    when t like 'OBJECT%' then 'OBJECT'
    else 'DOUBLE'
end
"""


def _is_object_keys(node: exp.Expression) -> bool:
    return isinstance(node, exp.Explode) and isinstance(node.this, exp.JSONKeys)


def _is_object_values(node: exp.Expression) -> bool:
    # json_extract(doc, '$.*'): the values of the object doc
    if not (isinstance(node, exp.Explode) and isinstance(node.this, exp.JSONExtract)):
        return False
    path = node.this.expression
    return isinstance(path, exp.JSONPath) and path.sql(dialect="duckdb") == "'$.*'"


def _object_entries(node: exp.Expression) -> exp.Expression:
    """``select unnest(json_keys(d)) as k, unnest(json_extract(d, '$.*')) as v from t``
    (DuckDB unnests the lists of one select in lock-step: one row per entry of the object
    ``d``, its key and its value) → ``select e.key as k, to_json(e.value) as v from t,
    lateral variant_explode(parse_json(d)) as e``: Spark allows one generator per select.
    ``v`` stays the value's JSON text, as every JSON value is on Spark."""
    if not isinstance(node, exp.Select):
        return node
    generators = [g for p in node.expressions for g in p.find_all(exp.Explode)]
    if len(generators) < 2:
        return node
    key = next((p for p in node.expressions if _is_object_keys(p.unalias())), None)
    value = next((p for p in node.expressions if _is_object_values(p.unalias())), None)
    if (
        len(generators) != 2
        or key is None
        or value is None
        or not (key.alias and value.alias)
        or key.unalias().this.this != value.unalias().this.this
    ):
        raise NotImplementedError(
            "several unnests in one select, other than the named keys and values of one object"
        )
    document = key.unalias().this.this
    entries = exp.to_identifier(f"{value.alias}_entry")
    explode = exp.Anonymous(
        this="variant_explode",
        expressions=[exp.Anonymous(this="parse_json", expressions=[document.copy()])],
    )
    lateral = exp.Lateral(this=explode, alias=exp.TableAlias(this=entries))
    node.append("joins", exp.Join(this=lateral))
    key.replace(exp.alias_(exp.column("key", entries), key.alias))
    value.replace(exp.alias_(exp.func("to_json", exp.column("value", entries)), value.alias))
    return node


def _json_group_object(node: exp.Expression) -> exp.Expression:
    # json_group_object(key, json_value): the object's text around the values' text, entries
    # sorted by key (DuckDB's order is the aggregation's, which no reader may rely on)
    if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "json_group_object"):
        return node
    key, value = node.expressions
    tree = sqlglot.parse_one(
        """concat('{', array_join(array_sort(collect_list(
               concat(substr(to_json(named_struct('k', k)), 6,
                             length(to_json(named_struct('k', k))) - 6),
                      ':', coalesce(cast(v as string), 'null')))), ','), '}')""",
        read="spark",
    )
    bound = {"k": key, "v": value}
    return tree.transform(
        lambda n: (
            bound[n.name].copy()
            if isinstance(n, exp.Column) and not n.table and n.name in bound
            else n
        )
    )


def _json_object(node: exp.Expression) -> exp.Expression:
    # json_object('k', v, ...) with JSON values: the object's text around the values' text
    # (a JSON value is its text on Spark; to_json(named_struct(...)) would quote it)
    if not isinstance(node, exp.JSONObject):
        return node
    parts: list[exp.Expression] = []
    for index, pair in enumerate(node.expressions):
        key, value = pair.this, pair.expression
        if not key.is_string:
            raise NotImplementedError("json_object with a computed key")
        if value.is_string:  # a text literal is a JSON string
            text: exp.Expression = exp.Literal.string(f'"{value.name}"')
        else:
            text = exp.Coalesce(
                this=exp.cast(value.copy(), "string"), expressions=[exp.Literal.string("null")]
            )
        separator = "," if index else ""
        parts += [exp.Literal.string(f'{separator}"{key.name}":'), text]
    return exp.func("concat", exp.Literal.string("{"), *parts, exp.Literal.string("}"))


def _cte_materialization(node: exp.Expression) -> exp.Expression:
    # ``with x as [not] materialized (...)`` is a DuckDB plan hint (core/orders.sql reads its
    # ledger twice without keeping it); Spark has no such clause and plans CTEs itself
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
    return node


def _regexp_replace(node: exp.Expression) -> exp.Expression:
    # DuckDB replaces the first match unless 'g' is given; Spark replaces every match
    if isinstance(node, exp.RegexpReplace):
        modifiers = node.args.get("modifiers")
        if modifiers is None or "g" not in modifiers.name:
            raise NotImplementedError("regexp_replace without 'g' replaces only the first match")
    return node


_REWRITES: tuple[Callable[[exp.Expression], exp.Expression], ...] = (
    _rewrite_ordered_aggregates,
    _rewrite_arg_min_max,
    _decimal_division,
    _sign,
    _epoch_us,
    _json_values,
    _window_filters,
    _inline_named_windows,
    _object_entries,
    _json_type,
    _json_list_paths,
    _json_group_object,
    _json_object,
    _regexp_replace,
    _cte_materialization,
)


def _needs_columns(tree: exp.Expression) -> bool:
    """Whether the query uses ``* replace/exclude`` or ``union by name``, which Spark lacks
    and which need the columns of the query's inputs to be written out."""
    return any(
        star.args.get("replace") or star.args.get("except") for star in tree.find_all(exp.Star)
    ) or any(union.args.get("by_name") for union in tree.find_all(exp.Union))


def _union_branches(node: exp.Expression) -> list[exp.Expression]:
    if isinstance(node, exp.Union) and node.args.get("by_name"):
        return _union_branches(node.left) + _union_branches(node.right)
    return [node]


def _unions_by_name(tree: exp.Expression) -> exp.Expression:
    """``a union all by name b``, its stars expanded: each branch's columns put in one order
    (the first branch's, then the new names of later ones), NULL where a branch lacks one."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Union) and node.args.get("by_name")):
            return node
        if isinstance(node.parent, exp.Union) and node.parent.args.get("by_name"):
            return node  # the outermost union of the chain rewrites the whole chain
        branches = _union_branches(node)
        if not all(isinstance(b, exp.Select) for b in branches):
            raise NotImplementedError("union by name of a branch that is not a plain select")
        names: list[str] = []
        for branch in branches:
            names += [n for n in branch.named_selects if n not in names]
        rebuilt = []
        for branch in branches:
            by_name = {p.alias_or_name: p for p in branch.expressions}
            branch = branch.copy()
            branch.set(
                "expressions",
                [by_name[n].copy() if n in by_name else exp.alias_(exp.Null(), n) for n in names],
            )
            rebuilt.append(branch)
        distinct = node.args.get("distinct")
        union = rebuilt[0]
        for branch in rebuilt[1:]:
            union = exp.Union(this=union, expression=branch, distinct=distinct)
        return union

    return tree.transform(rewrite)


def to_spark(
    sql: str,
    macros: Mapping[str, Macro],
    variables: Mapping[str, Any],
    schema: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
) -> str:
    """The DuckDB query ``sql`` as Spark SQL. ``schema`` ({db: {table: {column: type}}}, the
    tables the query reads) is needed only for ``* replace (...)`` / ``* exclude (...)``,
    which Spark lacks: sqlglot expands the star into the columns."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = _expand_macros(tree, macros)
    tree = _substitute_variables(tree, variables)
    if _needs_columns(tree):
        if schema is None:
            raise ValueError("a query with * replace/exclude needs the schema of its inputs")
        tree = qualify(
            tree,
            schema=dict(schema),
            dialect="duckdb",
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
        tree = _unions_by_name(tree)
    for rewrite in _REWRITES:
        tree = tree.transform(rewrite)
    tree = _rename_tables(tree)
    return tree.sql(dialect="spark", pretty=True)


def model_override(model: SqlModel) -> Path | None:
    """The model's ``<name>.spark.sql`` beside it, if it has one."""
    path = model.path.with_name(model.name + OVERRIDE_SUFFIX)
    return path if path.exists() else None
