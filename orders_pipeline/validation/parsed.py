"""Reading a JSON record's declared fields from one parse (issue 15; docs/pitfalls.md).

A source declares the paths it reads (``JsonRecordFields``); each record is then parsed once,
by one ``json_transform`` into a struct whose leaves are the declared paths as ``JSON``
fragments: nothing is cast or NULLed on the way (a ``JSON`` leaf takes any value), so every
kind check still sees what was sent, and a field's kind and text come from its small fragment.
Two structural facts a struct cannot hold are read beside it, over lists of paths: the kinds
of the objects the leaves sit in (``json_transform`` reads an array or a string where an
object is expected as an object without fields) and the keys of the objects whose keys must
be unique (``json_transform`` keeps the first of repeated keys, like ``json_extract``).

Every method returns SQL text built from code constants (the declared paths), never from
input data. A JSON ``null`` leaf reads as SQL NULL, like an absent key: its kind is
``ABSENT`` (every rule treats the two alike: ``NOT_SENT``); and ``-0`` is written back as
``0``, so it reads as ``UBIGINT`` rather than ``BIGINT`` (every rule reads both as a whole
number). Any other value keeps its kind and text (``tests/unit/test_declared_fields.py``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from orders_pipeline.validation.json_fields import money_columns_of, nesting_sql

# A path segment: a plain key or a double-quoted one ($."@type").
_SEGMENT = re.compile(r'\.(?:"([^"]+)"|([A-Za-z_][A-Za-z0-9_]*))')


def path_segments(path: str) -> tuple[str, ...]:
    """The keys of a ``$.a."b c".d`` path (no array subscripts: lists are read whole)."""
    if not path.startswith("$"):
        raise ValueError(f"a JSON path starts with $: {path!r}")
    rest, keys = path[1:], []
    while rest:
        match = _SEGMENT.match(rest)
        if match is None:
            raise ValueError(f"unsupported JSON path {path!r}")
        keys.append(match.group(1) or match.group(2))
        rest = rest[match.end() :]
    return tuple(keys)


def _path_list(paths: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{path}'" for path in paths) + "]"


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (for names and paths declared in code)."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class JsonRecordFields:
    """The fields a source reads from each JSON record ``doc``: its declaration.

    ``leaves`` are the paths read as values (their kind, text or JSON fragment); every proper
    prefix of a leaf is an object the record may or may not send (its kind is read too).
    ``keyed`` are the objects whose keys must be unique (docs/semantics.md §2). The SQL of a
    field reads the columns that ``extraction()`` adds to the row (named after ``name``)."""

    leaves: tuple[str, ...]
    keyed: tuple[str, ...] = ()
    doc: str = "doc"
    name: str = "parsed"
    _containers: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        containers: list[str] = []
        for leaf in self.leaves:
            segments = path_segments(leaf)
            for depth in range(1, len(segments)):
                prefix = self._path(segments[:depth])
                if prefix in self.leaves:
                    raise ValueError(f"{prefix!r} is read whole and as an object of {leaf!r}")
                if prefix not in containers:
                    containers.append(prefix)
        object.__setattr__(self, "_containers", tuple(containers))

    @property
    def _typed_containers(self) -> tuple[str, ...]:
        """The containers whose kind is read by ``json_type``: those that are not keyed
        (a keyed object's kind follows from its keys, ``json_type``)."""
        return tuple(c for c in self._containers if c not in self.keyed)

    @staticmethod
    def _path(segments: tuple[str, ...]) -> str:
        return "$" + "".join(
            f'."{key}"' if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f".{key}"
            for key in segments
        )

    def structure(self) -> str:
        """The ``json_transform`` structure: nested objects down to a ``JSON`` leaf per path."""
        tree: dict = {}
        for leaf in self.leaves:
            *parents, last = path_segments(leaf)
            node = tree
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = "JSON"
        return json.dumps(tree, separators=(",", ":"))

    def extraction(self) -> str:
        """The select-list items that parse ``doc`` once: the struct, the kinds of the
        objects on the way to the leaves and the keys of the keyed objects."""
        items = [f"json_transform({self.doc}, {sql_literal(self.structure())}) as {self.name}"]
        if self._typed_containers:
            items.append(
                f"json_type({self.doc}, {_path_list(self._typed_containers)}) "
                f"as {self.name}_objects"
            )
        if self.keyed:
            items.append(f"json_keys({self.doc}, {_path_list(self.keyed)}) as {self.name}_keys")
        return ", ".join(items)

    def part(self, path: str) -> str:
        """The value at ``path`` as a JSON fragment (``json_extract(doc, path)``); SQL NULL
        when absent or null. An object holding declared leaves is extracted by a call of its
        own: use it only where rare rows need it (inside a ``case``)."""
        if path in self._containers:
            return f"json_extract({self.doc}, '{path}')"
        if path not in self.leaves:
            raise KeyError(f"{path!r} is not a declared field")
        return self.name + "".join(f"[{sql_literal(key)}]" for key in path_segments(path))

    def json_type(self, path: str) -> str:
        """``json_type(doc, path)``: SQL NULL when the path is absent (or a null leaf)."""
        if path == "$":
            return f"json_type({self.doc})"
        if path in self._containers and path in self.keyed:
            # its keys are read anyway: a key makes it an object, no parse of the record is
            # needed; an empty list is an empty object or another kind (rare: json_type)
            keys = self.keys(path)
            return (
                f"case when {keys} is null then null when len({keys}) > 0 then 'OBJECT' "
                f"else json_type({self.doc}, '{path}') end"
            )
        if path in self._containers:
            return f"{self.name}_objects[{self._typed_containers.index(path) + 1}]"
        # a leaf's fragment is minified JSON text, whose first character names every kind
        # but a number's (issue 15: json_type parses the fragment again; numbers still do,
        # for UBIGINT, BIGINT or DOUBLE)
        fragment = self.part(path)
        return (
            f"case left({fragment}, 1) when '\"' then 'VARCHAR' when '{{' then 'OBJECT' "
            f"when '[' then 'ARRAY' else json_type({fragment}) end"
        )

    def kind(self, path: str) -> str:
        """The JSON kind of the value at ``path`` (``ABSENT`` when not sent)."""
        return f"coalesce({self.json_type(path)}, 'ABSENT')"

    def string(self, path: str) -> str:
        """``json_extract_string(doc, path)``: a string unquoted, any other value's JSON text
        (the fragment itself: only a string is parsed again, to unescape it)."""
        fragment = self.part(path)
        return (
            f"case when starts_with({fragment}, '\"') then json_extract_string({fragment}, '$') "
            f"else {fragment}::varchar end"
        )

    def text(self, path: str, name: str) -> str:
        """``<name>`` (trimmed text) and ``<name>_kind`` of the value at ``path``."""
        return f"trim({self.string(path)}) as {name}, {self.kind(path)} as {name}_kind"

    def money(self, path: str, field: str, alias: str | None = None) -> str:
        """``<alias>_kind``, ``_text`` and ``_exact`` of the money field at ``path.field``."""
        at = f"{path}.{field}"
        return money_columns_of(self.json_type(at), self.string(at), alias or field)

    def keys(self, path: str) -> str:
        """``json_keys(doc, path)`` of a keyed object ([] for a non-object, NULL if absent)."""
        return f"{self.name}_keys[{self.keyed.index(path) + 1}]"

    def unique_keys(self) -> str:
        """True unless one of the keyed objects repeats a key."""
        return " and ".join(
            f"coalesce(len({self.keys(p)}) = len(list_distinct({self.keys(p)})), true)"
            for p in self.keyed
        )


def record_ctes(raw_table: str, fields: JsonRecordFields) -> str:
    """The CTEs every JSON source's candidates start from, ending in ``keyed``: one row per
    raw record of the batch's files (``batch_files``) with ``depth``, ``is_json``,
    ``root_kind`` (INVALID when not JSON), ``doc`` (the record minified, when it is an object:
    its canonical content, docs/semantics.md §2), the declared fields parsed once
    (``fields.extraction()``) and ``unique_keys``."""
    return f"""
    records as not materialized (
        select r.*
        from {raw_table} as r
        join batch_files as b using (file_seq)
    ),
    {nesting_sql()},
    minified as (
        -- one pass for validity, kind and canonical text: json() fails on what json_valid
        -- refuses (try: NULL), and its text starts with '{{' exactly when it is an object
        select
            r.arrival_seq, r.file_seq, r.file, r.record_no, r.raw, r.decode_error, r.loaded_at,
            coalesce(n.depth, 0) as depth,
            case when r.decode_error is null then try(json(r.raw)) end as minified
        from records as r
        left join nesting as n using (arrival_seq)
    ),
    documents as (
        select * exclude (minified),
               minified is not null as is_json,
               case when minified is null then 'INVALID'
                    when starts_with(minified, '{{') then 'OBJECT'
                    else json_type(minified) end as root_kind,
               case when starts_with(minified, '{{') then minified end as doc
        from minified
    ),
    extracted as (
        select *, {fields.extraction()} from documents
    ),
    keyed as (
        select *, {fields.unique_keys()} as unique_keys from extracted
    )"""


def item_ctes(
    candidates: str,
    list_path: str,
    kind_column: str,
    fields: JsonRecordFields,
    list_column: str | None = None,
) -> str:
    """The CTEs every JSON source's item candidates start from, ending in ``items_read``: one
    row per element (``doc``, ``item_no`` from 1) of the list at ``list_path`` of each
    candidate whose ``kind_column`` is ARRAY, with the declared item fields parsed once.
    ``list_column``: a candidate column that already holds that list as JSON (a fragment of
    the record's one parse), read instead of extracting it from the whole record again."""
    items = list_column or f"json_extract(doc, '{list_path}')"
    return f"""
    items as (
        -- the list unnested beside its subscripts, not a lateral unnest over the candidates:
        -- that copied the whole record once per item (10,000 items ran out of memory)
        select row_id, unnest(items) as doc, generate_subscripts(items, 1) as item_no
        from (select row_id, cast({items} as json[]) as items
              from {candidates}
              where {kind_column} = 'ARRAY')
    ),
    items_read as (
        select *, {fields.extraction()} from items
    )"""
