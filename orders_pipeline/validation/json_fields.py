"""SQL building blocks for reading fields out of JSON records with explicit types, shared by
every source's candidate extraction (docs/pitfalls.md: never let inference type a field): the
kinds a field may have, money as kind + text + "casts exactly", timestamps, repeated keys, nesting
depth and visible text. Each returns SQL text over a JSON column ``doc`` (or given
expressions); all of it is code, never input data."""

from __future__ import annotations

from orders_pipeline.validation.rules import NUMBER_KINDS

# a key that is missing, or sent as JSON null
NOT_SENT = ("ABSENT", "NULL")
# RFC 3339 offsets only: DuckDB's cast would also take "+25:00" or "+14:60" and shift by it.
ISO_WITH_OFFSET = (
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s*"
    r"(Z|z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)$"
)
# Plausible event times, epoch seconds or ISO alike: from 1970 to 2100. Anything outside is a
# typo or a unit error (milliseconds), and would also make daily partitions up to that date.
MAX_EPOCH = 4102444800
# Deepest nesting of objects and arrays a record may have (an event itself uses 5 levels).
# Deeper records are refused: duplicate detection walks every node with its path, which costs
# depth x size, and tools that read `custom` recursively (Python's json) stop near 1,000.
MAX_DEPTH = 64
# Kinds a text field may have: numbers are kept as their text (a phone sent as a number).
TEXT_KINDS = ("VARCHAR", "UBIGINT", "BIGINT", "DOUBLE", "NULL", "ABSENT")


def visible(text: str) -> str:
    """True when ``text`` has a character a person can see: an identifier of spaces,
    zero-width or control characters identifies nobody (the macro ``has_visible_character``
    of ``sql/macros.sql``: the same rule that normalises identifiers)."""
    return f"has_visible_character({text})"


def money_columns(path: str, field: str, alias: str | None = None) -> str:
    """``<alias>_kind``, ``_text`` and ``_exact`` of the money field ``field`` of the object at
    ``path``, each read with a JSON call of its own (for sources with a few fields)."""
    return money_columns_of(
        f"json_type(doc, '{path}.{field}')", f"json_extract_string(doc, '{path}.{field}')",
        alias or field,
    )  # fmt: skip


def money_columns_of(kind: str, text: str, name: str) -> str:
    """``<name>_kind``, ``_text`` and ``_exact`` of a money field from its JSON kind (SQL NULL
    when absent) and text, already extracted."""
    kind = f"coalesce({kind}, 'ABSENT')"
    return f"""
        {kind} as {name}_kind,
        {text} as {name}_text,
        case when {kind} in {NUMBER_KINDS} then coalesce(
            try_cast({text} as decimal(38, 10)) = try_cast({text} as decimal(18, 4)), false)
        end as {name}_exact"""


def ts_expression(kind: str, text: str) -> str:
    """A UTC timestamp from a JSON ``ts`` of kind ``kind`` and text ``text``: epoch seconds
    (a number or digits) or ISO-8601 with an RFC 3339 offset, within 1970-2100; else NULL."""
    parsed = f"""case
        when {kind} in {NUMBER_KINDS} or regexp_full_match(trim({text}), '\\d{{1,10}}(\\.\\d+)?')
            then case when try_cast({text} as double) between 0 and {MAX_EPOCH}
                      then to_timestamp(try_cast({text} as double)) end
        when {kind} = 'VARCHAR' and regexp_matches(trim({text}), '{ISO_WITH_OFFSET}')
            then try_cast(upper(trim({text})) as timestamptz)
        end"""
    return f"""case when {parsed} between to_timestamp(0) and to_timestamp({MAX_EPOCH})
        then {parsed} end"""


def unique_keys(path: str) -> str:
    """True unless the object at ``path`` repeats a key (json_keys is [] for non-objects)."""
    return keys_unique(f"json_keys(doc, '{path}')")


def keys_unique(keys: str) -> str:
    """True unless an object repeats a key; ``keys`` is its ``json_keys`` list ([] for a
    non-object, NULL when the path is absent)."""
    return f"coalesce(len({keys}) = len(list_distinct({keys})), true)"


def nesting_sql() -> str:
    """CTEs ``deep_records`` / ``nesting``: the nesting depth of each record that could be
    deeper than MAX_DEPTH (it has more opening brackets than that; the others are never
    looked at). Brackets inside strings are removed first; the depth is the running count
    of openers minus closers, computed in one window pass (linear, unlike json_tree)."""
    return f"""
    deep_records as (
        select arrival_seq,
               regexp_replace(regexp_replace(raw, '"(?:[^"\\\\]|\\\\.)*"', '', 'g'),
                              '[^\\[\\]{{}}]', '', 'g') as brackets
        from records
        where decode_error is null
          -- the bracket count before json_valid, which parses the whole record: DuckDB may
          -- reorder the terms of an AND, not the branches of a CASE (issue 15). Bytes, not
          -- characters: a bracket is one byte in UTF-8, never part of another character.
          and case when strlen(raw) - strlen(replace(replace(raw, '[', ''), '{{', ''))
                        > {MAX_DEPTH}
                   then json_valid(raw) else false end
    ),
    nesting as (
        select arrival_seq, max(level) as depth
        from (
            select arrival_seq,
                   sum(case when bracket in ('[', '{{') then 1 else -1 end) over (
                       partition by arrival_seq order by position
                       rows between unbounded preceding and current row) as level
            from (
                -- a list unnested beside its subscripts, not a lateral unnest: that copied
                -- the record's brackets once per bracket (10,000 items ran out of memory)
                select arrival_seq, unnest(brackets) as bracket,
                       generate_subscripts(brackets, 1) as position
                from (select arrival_seq, string_split(brackets, '') as brackets
                      from deep_records)
            )
        )
        group by arrival_seq
    )"""
