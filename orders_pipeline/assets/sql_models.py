"""The SQL models as a few Dagster steps: one subsettable multi-asset per layer (the folders
of ``sql/``), split only where Dagster needs it. Each step opens the warehouse once, builds
its selected models in dependency order, and reports every model as its own asset: its
materialisation with row count, timing and what the build did, then its checks.

Why few steps: each step costs Dagster's bookkeeping and a prepared DuckDB session; with one
step per model that was half of a small run (issue 15). Dependencies still come from the
tables each model reads, so the asset graph in the UI is the same.

Where the split comes from: all assets of a multi-asset share one partitions definition, so
a layer's partitioned models form their own step; and a step cannot run both before and
after another step, so a layer is cut where a path leaves it and comes back (the core models
that read the identity tables run in a second core step, after the identity step).
"""

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
import duckdb

from orders_pipeline import live_progress, progress
from orders_pipeline.assets.metadata import table_metadata
from orders_pipeline.assets.pools import WAREHOUSE_POOL
from orders_pipeline.assets.steps import (
    BuildFailed,
    check_spec,
    checks_of,
    evaluate_checks,
    metadata_on_materialization,
    selected_checks,
)
from orders_pipeline.automation import skips_up_to_date
from orders_pipeline.checks import SqlCheck
from orders_pipeline.models import (
    ModelRun,
    SqlModel,
    build_model,
    drop_other_kinds,
    validated_tables,
)
from orders_pipeline.partition_start import partition_salt
from orders_pipeline.partitions import FULL_REFRESH_TAG, range_bounds
from orders_pipeline.resources import OrdersWarehouse

# Single-run backfills are what partitioned DuckDB models want (orders_pipeline.partitions);
# Dagster marks the parameter beta.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")

# A step checkpoints after each model that wrote (inserted or deleted) at least this many
# rows, as when each model was a step of its own (closing a connection checkpoints): the
# write-ahead log never holds several big models' rows, and a rebuilt table's old blocks are
# freed before the next model writes, so the disk a run needs stays the same. A model that
# wrote fewer leaves its few pages to the next checkpoint (a later model's, or the step's
# own at its end: resources.RunConnection.end_step). On small data (every test's run) most
# models write a handful of rows, and a checkpoint each was the largest of the statements a
# run makes: 44 of 58 checkpoints, 0.15 of 0.2 s in a three-event run (session 19).
CHECKPOINT_AFTER_ROWS = 1_000


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(name.split("."))


def _name(key: dg.AssetKey) -> str:
    return ".".join(key.path)


@dataclass(frozen=True)
class ModelGroup:
    """The models one step builds: a layer, partitioned or not, and which cut of it."""

    layer: str
    partitioned: bool
    models: tuple[SqlModel, ...]  # in dependency order
    cut: int = 1

    @property
    def step_name(self) -> str:
        kind = "partitioned" if self.partitioned else "models"
        return f"{self.layer}__{kind}" + (f"_{self.cut}" if self.cut > 1 else "")


def group_models(
    models: Sequence[SqlModel],
    python_deps: Mapping[str, frozenset[str]],
    check_deps: Mapping[str, frozenset[str]],
) -> list[ModelGroup]:
    """Few acyclic groups of models: by layer and partitioning, cut only where a path leaves
    the group and comes back into it. ``python_deps``: every table a Python step writes,
    with what that step reads; ``check_deps``: for a model, the tables its checks also read
    (built before the check runs)."""
    by_name = {m.qualified_name: m for m in models}
    python_step = dict(python_deps)

    def reads(node: str) -> set[str]:
        if node in by_name:
            model = by_name[node]
            refs = {f"{s}.{t}" for s, t in model.references}
            return (refs | check_deps.get(node, frozenset())) - {node}
        return set(python_step.get(node, frozenset()))

    def label(node: str) -> tuple[str, bool] | str:
        model = by_name.get(node)
        if model is None:
            return f"python:{node}"
        return (model.schema, model.partition_column is not None)

    nodes = sorted(set(by_name) | set(python_step))
    order = _topological(nodes, lambda n: [r for r in reads(n) if r in by_name or r in python_step])
    # the earliest cut of each node: a read from another label moves it one cut on
    cut: dict[str, int] = {}
    for node in order:
        cut[node] = max(
            (cut[r] + (0 if label(r) == label(node) else 1) for r in reads(node) if r in cut),
            default=0,
        )
    groups: dict[tuple[object, int], set[str]] = {}
    for node in order:
        groups.setdefault((label(node), cut[node]), set()).add(node)
    merged = _merge_groups(list(groups.values()), label, reads)
    position = {node: i for i, node in enumerate(order)}
    result = []
    cuts: dict[tuple[str, bool], int] = {}
    for members in sorted(merged, key=lambda g: min(position[n] for n in g)):
        first = by_name.get(next(iter(members)))
        if first is None:
            continue  # a Python step
        layer = (first.schema, first.partition_column is not None)
        cuts[layer] = cuts.get(layer, 0) + 1
        ordered = tuple(by_name[n] for n in sorted(members, key=position.__getitem__))
        result.append(ModelGroup(layer[0], layer[1], ordered, cuts[layer]))
    return result


def _topological(nodes: Sequence[str], reads: Callable[[str], list[str]]) -> list[str]:
    """``nodes`` with every node after those it reads (ties by name)."""
    done: set[str] = set()
    order: list[str] = []

    def visit(node: str, path: tuple[str, ...]) -> None:
        if node in done:
            return
        if node in path:
            raise ValueError(f"models read each other in a cycle: {path + (node,)}")
        for upstream in sorted(reads(node)):
            visit(upstream, path + (node,))
        done.add(node)
        order.append(node)

    for node in nodes:
        visit(node, ())
    return order


def _merge_groups(
    groups: list[set[str]],
    label: Callable[[str], object],
    reads: Callable[[str], set[str]],
) -> list[set[str]]:
    """Merge groups of one label wherever the steps stay acyclic."""
    groups = [set(g) for g in groups]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                a, b = groups[i], groups[j]
                if label(next(iter(a))) != label(next(iter(b))):
                    continue
                candidate = [g for k, g in enumerate(groups) if k not in (i, j)] + [a | b]
                if _acyclic(candidate, reads):
                    groups = candidate
                    merged = True
                    break
            if merged:
                break
    return groups


def _acyclic(groups: list[set[str]], reads: Callable[[str], set[str]]) -> bool:
    where = {node: i for i, group in enumerate(groups) for node in group}
    edges = {
        i: {where[r] for node in group for r in reads(node) if r in where} - {i}
        for i, group in enumerate(groups)
    }
    state: dict[int, int] = {}

    def visit(i: int) -> bool:
        if state.get(i) == 1:
            return False
        if state.get(i) == 2:
            return True
        state[i] = 1
        if not all(visit(j) for j in edges[i]):
            return False
        state[i] = 2
        return True

    return all(visit(i) for i in edges)


def group_asset(
    group: ModelGroup,
    known_tables: set[str],
    partitions: dg.DailyPartitionsDefinition,
    checks: Sequence[SqlCheck],
) -> dg.AssetsDefinition:
    """The step that builds ``group``'s selected models in dependency order, each reported
    as its own asset with its checks. A model whose blocking check fails stops the models
    of the step that read it (and, through Dagster, the later steps); the step then fails."""
    partition_start = partition_salt(partitions.start.date())
    specs = [
        dg.AssetSpec(
            _key(model.qualified_name),
            deps=[
                _key(f"{s}.{t}") for s, t in sorted(model.references) if f"{s}.{t}" in known_tables
            ],
            group_name=model.schema,
            kinds={"duckdb", "sql"},
            description=model.description or None,
            metadata={"sql_file": dg.MetadataValue.path(str(model.path))},
            skippable=True,
        )
        for model in group.models
    ]
    keys = [spec.key for spec in specs]
    own_checks = checks_of(checks, keys)

    @dg.multi_asset(
        name=group.step_name,
        specs=specs,
        check_specs=[check_spec(c) for c in own_checks],
        can_subset=True,
        pool=WAREHOUSE_POOL,
        partitions_def=partitions if group.partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if group.partitioned else None,
    )
    def _build(context: dg.AssetExecutionContext, warehouse: OrdersWarehouse):
        full_refresh = context.run.tags.get(FULL_REFRESH_TAG) == "true"
        skip = skips_up_to_date(context.run.tags)
        first = last = None
        # Dagster records one materialisation per partition key of the range, each with this
        # metadata: a range of years (a first run, a backfill) made thousands of copies of the
        # column schema and the preview (a run of the vendors' examples over 4,170 days: 31.6
        # CPU s with them, 27.2 s without). A range of several days records counts and timings
        # only; a daily run (one key) and the unpartitioned models record everything.
        brief = False
        if group.partitioned:
            key_range = context.partition_key_range
            first, last = range_bounds(partitions, key_range)
            brief = key_range.start != key_range.end
        selected = [
            m for m in group.models if _key(m.qualified_name) in context.selected_asset_keys
        ]
        pending = selected_checks(context, own_checks)
        with (
            warehouse.connect() as con,
            live_progress.task(
                f"modelling {group.step_name.replace('__', '/')}",
                total_models=len(selected),
                con=con,
            ) as live,
        ):
            # no model validates anything: what audit.loads says holds for the whole step
            validated = validated_tables(con)
            for name in drop_other_kinds(con, selected):
                context.log.info(f"{name}: its model changed kind; the old one was dropped")

            def build(model: SqlModel) -> ModelRun:
                if live is not None:  # the terminal shows which model runs (issue 16)
                    live.start_model(f"{model.schema}/{model.name}")
                run = build_model(
                    con,
                    model,
                    first,
                    last,
                    full_refresh=full_refresh,
                    salt=partition_start,
                    skip_up_to_date=skip,
                    validated=validated,
                )
                if live is not None:
                    live.finish_model()
                return run

            for event in _build_in_order(con, selected, pending, build, brief=brief):
                yield metadata_on_materialization(context, event)

    return _build


def _build_in_order(
    con: duckdb.DuckDBPyConnection,
    selected: Sequence[SqlModel],
    pending: Sequence[SqlCheck],
    build: Callable[[SqlModel], ModelRun],
    brief: bool = False,
) -> Iterator[object]:
    """Build the models, then evaluate each check once its asset and the tables it also
    reads (when this step builds them) are built. Models reading a model that failed a
    blocking check are not built. ``brief``: the materialisations carry counts and timings,
    not the column schema and preview (a range of many partition keys)."""
    in_step = {m.qualified_name for m in selected}
    built: set[str] = set()
    stopped: set[str] = set()  # failed a blocking check, or read one that did
    pending = list(pending)
    for model in selected:
        name = model.qualified_name
        if any(f"{s}.{t}" in stopped for s, t in model.references):
            stopped.add(name)
            continue
        try:
            run = build(model)
            if run.rows_written >= CHECKPOINT_AFTER_ROWS:
                con.execute("checkpoint")
            # a partition range's materialisation records the rows of its days (issue 16)
            rows = run.range_rows if run.range_rows is not None else run.rows
            metadata = table_metadata(
                con, name, run.seconds, rows=rows, is_view=model.is_view, brief=brief
            )
        except Exception as error:
            raise BuildFailed(f"{model.schema}/{model.name}") from error
        metadata["build"] = dg.MetadataValue.text(run.did())
        # the progress line says what this build did (ModelRun.did), never the table's totals
        progress.report(f"{model.schema}/{model.name}", run.inserted, run.seconds, run.did())
        yield dg.MaterializeResult(asset_key=_key(name), metadata={**metadata, **run.metadata()})
        built.add(name)
        ready = [
            c
            for c in pending
            if ".".join(c.asset) in built
            and all(".".join(d) in built or ".".join(d) not in in_step for d in c.additional_deps)
        ]
        pending = [c for c in pending if c not in ready]
        for result, blocked in evaluate_checks(con, ready):
            yield result
            if blocked:
                stopped.add(_name(result.asset_key))
    # checks run on their own (a check-only run from the UI)
    for result, _ in evaluate_checks(con, [c for c in pending if ".".join(c.asset) not in in_step]):
        yield result


def model_assets(
    models: list[SqlModel],
    python_assets: Sequence[dg.AssetsDefinition],
    partitions: dg.DailyPartitionsDefinition,
    checks: Sequence[SqlCheck] = (),
) -> list[dg.AssetsDefinition]:
    """The steps that build every model; a reference to a table that neither a model nor a
    Python asset builds is an error, so a typo in a model fails at load time, not in the
    middle of a run. ``checks`` on models are evaluated in their step."""
    python_deps = _python_step_deps(python_assets)
    known = {m.qualified_name for m in models} | set(python_deps)
    for model in models:
        unknown = sorted(f"{s}.{t}" for s, t in model.references if f"{s}.{t}" not in known)
        if unknown:
            raise ValueError(f"{model.path}: reads {', '.join(unknown)}, which no asset builds")
    check_deps = {
        name: frozenset(
            ".".join(d) for c in checks if ".".join(c.asset) == name for d in c.additional_deps
        )
        for name in {m.qualified_name for m in models}
    }
    groups = group_models(models, python_deps, check_deps)
    return [group_asset(group, known, partitions, checks) for group in groups]


def _python_step_deps(python_assets: Sequence[dg.AssetsDefinition]) -> dict[str, frozenset[str]]:
    """Each Python step's tables, all reading what the step reads."""
    deps: dict[str, frozenset[str]] = {}
    for asset in python_assets:
        own = {_name(k) for k in asset.keys}
        reads = {_name(d) for key in asset.keys for d in asset.asset_deps[key]}
        reads |= {_name(d) for spec in asset.check_specs for d in spec.additional_deps}
        for table in own:
            deps[table] = frozenset(reads - own)
    return deps
