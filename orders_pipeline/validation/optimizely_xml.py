"""Validating landed Optimizely offline orders (docs/semantics.md §1.5, §2).

Landing parsed every ``<order>`` into a JSON ``doc`` whose values are the XML's text as sent
(``landing/optimizely_xml.py``); here one ``json_transform`` reads it into its declared typed
shape (``RECORD_FIELDS``, ``validation/landed.py``), pandera checks the fields, and the
generic writer (``validation/outcomes.py``) records every record as accepted
(``staging.optimizely_order_records`` / ``..._record_items``), quarantined or an exact
duplicate (same parsed order: attribute order and whitespace between elements don't matter).

Decisions taken here (the feed's documentation leaves them open):
- Attribute names are the vendor's (docs/semantics.md §1.5), matched case-sensitively: ``<order
  refCode orderDate currency total subTotal? shipping? customerId?>`` and ``<product refCode
  qty price>``. ``subtotal`` and ``quantity`` (this project's earlier names) are read as
  aliases when the documented name is absent; both sent with different values is refused
  (``conflicting_values``).
- ``orderDate`` is ISO-8601 as the vendor writes it: with ``Z`` or an offset (``+02:00``,
  ``+0200``, ``+02``), with a `` GMT`` / `` UTC`` suffix (``2017-04-23T14:25:00 GMT``), with
  or without seconds (``2017-04-23T14:25 GMT``); without a zone it is read as UTC, and a date
  alone (``2026-06-01``) as midnight UTC: the feed has no time zone of its own, and the
  warehouse reports by UTC date. Years 1970–2100 only.
- Amounts (``total``, ``subTotal``, ``shipping``, ``price``) and ``qty`` are XML text, not
  JSON numbers: plain decimals (``12``, ``-3.50``, surrounding spaces ignored), or one decimal
  comma and no point (``158,5``, as in the vendor's own historical-orders example, read as
  158.5), that fit DECIMAL(18,4) exactly — at most 14 integer digits and 4 decimals once
  trailing zeros are dropped. Forms whose meaning must be guessed (``1,234.50``,
  ``1.234,50``, ``1,234,567``, exponents like ``1e3``) are refused as ``ambiguous_number``;
  anything else that is not a number (``$5``) or does not fit (``12.34567``) as
  ``invalid_amount`` / ``invalid_quantity``; never rounded or guessed.
- ``currency`` is trimmed and upper-cased, then must be three letters (ISO 4217).
- ``total``, ``orderDate``, ``currency`` and, on every product, ``refCode``, ``qty`` and
  ``price`` are required; ``subTotal``, ``shipping`` and ``customerId`` are optional.
- ``customerId`` (Optimizely Configured Commerce) is a ``customer_id`` identifier, like
  ``<user email>`` is an ``email`` one; an order with neither is anonymous.
- At most one ``<user>``; when present its ``email`` must have a visible character.
- Every ``<attribute>`` needs a non-empty ``key``. Attributes are kept as JSON objects key →
  value as sent; a key sent more than once keeps all its values, in order, as an array.
- Unknown elements inside an order, and unknown XML attributes, are ignored (they stay in
  the raw text and take part in duplicate detection).
"""

from __future__ import annotations

import json

import pandera.polars as pa
import polars as pl

from orders_pipeline.validation.landed import LandedRecordFields, landed_record_ctes
from orders_pipeline.validation.outcomes import JsonSourceValidation
from orders_pipeline.validation.rules import row_check

SOURCE = "optimizely_xml"
RAW_TABLE = "raw.optimizely_xml"
MONEY_FIELDS = ("total", "subtotal", "shipping")
# Money as DECIMAL(18,4): 14 integer digits and 4 decimals.
MAX_INTEGER_DIGITS = 14
MAX_DECIMALS = 4

# Codes landing gives records that are not a parsable <order> (landing/optimizely_xml.py),
# with the message the quarantine shows; landing keeps its own, more precise, message
# (the parser's, with line and column) in raw.optimizely_xml.parse_error.
LANDING_REASONS = {
    "forbidden_xml": "the document declares a DTD or an entity, or refers to an external "
    "entity; these are refused, never expanded or fetched: remove them from the feed",
    "invalid_xml": "the file is not well-formed XML from here to its end (truncated, a stray "
    "character or an undefined entity); the orders before this point were read, the "
    "parser's line and column are in raw.optimizely_xml.parse_error",
    "unexpected_root": "the root element is not <orders>: the file is not an Optimizely "
    "orders feed",
    "unsupported_encoding": "the file is not UTF-8 (its XML declaration or byte order mark "
    "names another encoding): send the feed as UTF-8",
    "unexpected_element": "a child of <orders> that is not <order>",
}

# RFC 3339 offsets only: DuckDB's cast would also take "+25:00" and shift by it.
_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
_OFFSET = r"(Z|z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)"
# The vendor's own examples write the zone as a word: "2017-04-23T14:25:00 GMT" (§1.5).
_UTC_WORD = r"(GMT|UTC)"
# Attribute names: the vendor's documented name first, then the alias read when it is absent.
ORDER_AMOUNT_ATTRIBUTES = {
    "total": ("total",),
    "subtotal": ("subTotal", "subtotal"),
    "shipping": ("shipping",),
}
QUANTITY_ATTRIBUTES = ("qty", "quantity")
# A number as sent: a plain decimal, or a single decimal comma and no point (158,5).
_PLAIN_DECIMAL = r"^[+-]?\d+(\.\d+)?$"
_DECIMAL_COMMA = r"^[+-]?\d+,\d+$"
# Digits with separators and an optional exponent: a number in some convention.
_NUMBER_LIKE = r"^[+-]?[\d.,]*\d[\d.,]*([eE][+-]?\d+)?$"
_MAX_EPOCH = 4102444800  # 2100-01-01: a later date is a typo


def _ts_sql(text: str) -> str:
    """orderDate as TIMESTAMPTZ (module docstring), NULL when it is not one."""
    value = f"trim({text})"
    parsed = f"""case
        when regexp_full_match({value}, '{_DATE}[Tt ]{_TIME}\\s*{_OFFSET}')
            then try_cast(upper({value}) as timestamptz)
        when regexp_full_match({value}, '{_DATE}[Tt ]{_TIME}\\s+{_UTC_WORD}')
            then try_cast(upper(regexp_replace({value}, '\\s+{_UTC_WORD}$', '')) || '+00:00'
                          as timestamptz)
        when regexp_full_match({value}, '{_DATE}[Tt ]{_TIME}')
            then try_cast(upper({value}) || '+00:00' as timestamptz)
        when regexp_full_match({value}, '{_DATE}')
            then try_cast({value} || 'T00:00:00+00:00' as timestamptz)
        end"""
    return f"""case when {parsed} between to_timestamp(0) and to_timestamp({_MAX_EPOCH})
        then {parsed} end"""


# The typed shape of a landed order (landing/optimizely_xml.py writes it): XML attributes
# as a map (names compare exactly: subTotal and subtotal are two names), children as lists.
# One json_transform per record reads it (validation/landed.py).
_ATTRIBUTES = [{"key": "VARCHAR", "value": "VARCHAR"}]
RECORD_FIELDS = LandedRecordFields(
    structure=json.dumps(
        {
            "element": "VARCHAR",
            "order": "MAP(VARCHAR, VARCHAR)",
            "users": ["MAP(VARCHAR, VARCHAR)"],
            "products": [{"product": "MAP(VARCHAR, VARCHAR)", "attributes": _ATTRIBUTES}],
            "attributes": _ATTRIBUTES,
        }
    ),
    error_column="parse_error",
)


def _attributes_sql(source: str, list_column: str, keys: tuple[str, ...]) -> str:
    """Per ``keys`` row of ``source`` that sends ``<attribute>``s (the typed list
    ``list_column``), them as a JSON object key → value (an array of values for a key sent
    more than once), in the order of each key's first ``<attribute>``."""
    key_columns = ", ".join(keys)
    return f"""
    with sent as (
        -- unnested beside its subscripts (a lateral unnest copied each row once per element)
        select {key_columns}, unnest(attributes) as attribute,
               generate_subscripts(attributes, 1) as position
        from (select {key_columns}, {list_column} as attributes
              from {source}
              where len({list_column}) > 0)
    ),
    by_key as (
        select {key_columns}, attribute.key as key,
               list(attribute.value order by position) as attribute_values,
               min(position) as first_position
        from sent
        where coalesce(attribute.key, '') <> ''
        group by all
    )
    select {key_columns},
           to_json(map_from_entries(list(
               struct_pack(key := key, value := case when len(attribute_values) = 1
                   then to_json(attribute_values[1]) else to_json(attribute_values) end)
               order by first_position))) as attributes
    from by_key
    group by all
    """


def _attribute_counts(list_column: str) -> str:
    """``attribute_count`` and ``keyless_attributes`` of a typed ``<attribute>`` list."""
    return f"""coalesce(len({list_column}), 0) as attribute_count,
            coalesce(len(list_filter({list_column},
                lambda a: coalesce(a.key, '') = '')), 0) as keyless_attributes"""


def _decimal_text_sql(text: str) -> str:
    """The number as DECIMAL text: a single decimal comma becomes a point (158,5 → 158.5);
    other text is left as it is (the checks refuse what is not a plain decimal)."""
    return f"""case when regexp_matches({text}, '{_DECIMAL_COMMA}')
        then replace({text}, ',', '.') else {text} end"""


def _attribute_sql(attributes: str, names: tuple[str, ...], name: str) -> str:
    """``<name>_text``: the first of ``names`` (the documented one, then its aliases) that the
    element's XML ``attributes`` (a map) send, trimmed; ``<name>_decimal_text``: that value
    as DECIMAL text; ``<name>_conflict``: two of the names are sent with different values."""
    values = [f"trim({attributes}['{n}'])" for n in names]
    text = f"coalesce({', '.join(values)})" if len(values) > 1 else values[0]
    conflict = (
        " or ".join(f"{a} <> {b}" for i, a in enumerate(values) for b in values[i + 1 :]) or "false"
    )
    return (
        f"{text} as {name}_text, {_decimal_text_sql(text)} as {name}_decimal_text, "
        f"coalesce({conflict}, false) as {name}_conflict"
    )


def candidates_sql() -> str:
    """One row per raw record of the batch's files (``batch_files``), fields as text."""
    order = "parsed.order"
    money = ",\n".join(_attribute_sql(order, ORDER_AMOUNT_ATTRIBUTES[f], f) for f in MONEY_FIELDS)
    return f"""
    with {landed_record_ctes(RAW_TABLE, RECORD_FIELDS)},
    order_attributes as ({_attributes_sql("landed", "parsed.attributes", ("row_id",))}),
    fields as (
        select
            r.row_id, r.file, r.record_no, r.loaded_at, r.decode_error, r.parse_error, r.doc,
            r.parsed.products,
            split_part(r.parse_error, ':', 1) as landing_code,
            r.parsed.element as element,
            r.readable and coalesce(r.parsed.element = 'order', false) as is_order,
            trim({order}['refCode']) as order_id,
            {order}['orderDate'] as ts_text,
            {order}['currency'] as currency_sent,
            upper(trim({order}['currency'])) as currency,
            {money},
            coalesce(len(r.parsed.users), 0) as user_count,
            r.parsed.users[1]['email'] as email,
            -- Optimizely Configured Commerce's customer id: an identifier (§1.5)
            nullif(trim({order}['customerId']), '') as customer_id,
            has_visible_character(r.parsed.users[1]['email']) as email_visible,
            coalesce(len(r.parsed.products), 0) as item_count,
            coalesce(a.attributes, '{{}}'::json) as custom,
            {_attribute_counts("r.parsed.attributes")}
        from landed as r
        left join order_attributes as a using (row_id)
    )
    select *, {_ts_sql("ts_text")} as ts
    from fields
    """


def item_candidates_sql() -> str:
    """One row per ``<product>`` of the candidate orders, from their parsed order."""
    return f"""
    with products as (
        -- the list unnested beside its subscripts, not a lateral unnest over the candidates:
        -- that copied the whole order once per product (10,000 products ran out of memory)
        select row_id, unnest(products) as product, generate_subscripts(products, 1) as item_no
        from (select row_id, products
              from optimizely_order_candidates
              where is_order)
    ),
    product_attributes as (
        {_attributes_sql("products", "product.attributes", ("row_id", "item_no"))}
    )
    select
        p.row_id, p.item_no,
        trim(p.product.product['refCode']) as product_id,
        {_attribute_sql("p.product.product", ("price",), "price")},
        {_attribute_sql("p.product.product", QUANTITY_ATTRIBUTES, "quantity")},
        coalesce(a.attributes, '{{}}'::json) as attributes,
        {_attribute_counts("p.product.attributes")}
    from products as p
    left join product_attributes as a using (row_id, item_no)
    """


def _integer_digits(text: pl.Expr) -> pl.Expr:
    return text.str.extract(r"^[+-]?(\d+)", 1).str.strip_chars_start("0").str.len_chars()


def _decimals(text: pl.Expr) -> pl.Expr:
    return text.str.extract(r"\.(\d+)$", 1).fill_null("").str.strip_chars_end("0").str.len_chars()


def fits_decimal_text(text: pl.Expr) -> pl.Expr:
    """True when the text is a plain decimal that DECIMAL(18,4) holds without any change:
    optional sign, digits, optional fraction; at most 14 integer digits and 4 decimals
    (trailing zeros aside)."""
    return (
        text.str.contains(_PLAIN_DECIMAL)
        & (_integer_digits(text) <= MAX_INTEGER_DIGITS)
        & (_decimals(text) <= MAX_DECIMALS)
    )


def is_ambiguous_number(text: pl.Expr) -> pl.Expr:
    """Number-like text that is neither a plain decimal nor one with a single decimal comma:
    mixed or repeated separators (1,234.50, 1.234,50, 1,234,567) or an exponent (1e3)."""
    commas, points = text.str.count_matches(","), text.str.count_matches(r"\.")
    return text.str.contains(_NUMBER_LIKE) & (
        text.str.contains("[eE]") | ((commas > 0) & (points > 0)) | (commas > 1) | (points > 1)
    )


def _number_checks(field: str, where: str, skip: pl.Expr) -> list[pa.Check]:
    """The checks every number sent as text shares: not ambiguous, one value per name."""
    text = pl.col(f"{field}_text")
    return [
        row_check(
            "ambiguous_number",
            f"{where} is ambiguous: a comma is read as the decimal separator only when it is "
            "the only separator (158,5 is 158.5); thousands separators (1,234.50, 1.234,50) "
            "and exponents (1e3) are refused rather than guessed",
            lambda: skip | text.is_null() | ~is_ambiguous_number(text),
        ),
        row_check(
            "conflicting_values",
            f"{where} is sent under its documented name and its alias with different values",
            lambda: skip | ~pl.col(f"{field}_conflict"),
        ),
    ]


def text_money_checks(
    field: str, where: str, *, required: bool, applies: pl.Expr | None = None
) -> list[pa.Check]:
    """Checks for a money value sent as text (an XML attribute) and extracted as
    ``<field>_text`` (NULL when not sent) and ``<field>_decimal_text`` (a decimal comma read
    as a point); ``applies`` limits them to some rows."""
    text = pl.col(f"{field}_text")
    decimal_text = pl.col(f"{field}_decimal_text")
    skip = pl.lit(False) if applies is None else ~applies
    checks = [
        row_check(
            "invalid_amount",
            f"{where} must be a decimal (like 12.50, or 12,50 with a decimal comma) with at "
            f"most {MAX_INTEGER_DIGITS} integer digits and {MAX_DECIMALS} decimals (other "
            "values are refused rather than altered)",
            lambda: (
                skip | text.is_null() | is_ambiguous_number(text) | fits_decimal_text(decimal_text)
            ),
        ),
        *_number_checks(field, where, skip),
    ]
    if required:
        checks.append(
            row_check("missing_amount", f"{where} is required", lambda: skip | text.is_not_null())
        )
    return checks


def _event_schema() -> pa.DataFrameSchema:
    col = pl.col
    is_order = col("is_order")
    landing = [
        row_check(code, message, lambda code=code: col("landing_code").fill_null("") != code)
        for code, message in LANDING_REASONS.items()
    ]
    money = [
        check
        for field in MONEY_FIELDS
        for check in text_money_checks(
            field,
            f"<order {ORDER_AMOUNT_ATTRIBUTES[field][0]}>",
            required=field == "total",
            applies=is_order,
        )
    ]
    checks = [
        row_check("invalid_utf8", "the record's bytes are not valid UTF-8",
                  lambda: col("decode_error").is_null()),
        *landing,
        row_check("not_an_order", "the record is not a parsed <order>",
                  lambda: is_order | col("decode_error").is_not_null()
                  | col("landing_code").is_in(list(LANDING_REASONS))),
        row_check("missing_order_id", "<order refCode> is required and must not be empty",
                  lambda: ~is_order | (col("order_id").str.len_chars() > 0)),
        row_check("invalid_ts",
                  "<order orderDate> is required: an ISO-8601 date-time, 1970-2100, with a UTC "
                  "offset (2026-06-01T10:00:00Z); without an offset, or a date alone, it is "
                  "read as UTC",
                  lambda: ~is_order | col("ts").is_not_null()),
        row_check("invalid_currency", "<order currency> must be a 3-letter ISO 4217 code",
                  lambda: ~is_order | col("currency").str.contains(r"^[A-Z]{3}$")),
        *money,
        row_check("missing_items", "an <order> needs at least one <product>",
                  lambda: ~is_order | (col("item_count") > 0)),
        row_check("invalid_user", "an <order> has at most one <user>",
                  lambda: ~is_order | (col("user_count") <= 1)),
        row_check("invalid_user", "<user email> must not be empty",
                  lambda: ~is_order | (col("user_count") == 0) | col("email_visible")),
        row_check("invalid_attribute", "every order <attribute> needs a non-empty key",
                  lambda: ~is_order | (col("keyless_attributes") == 0)),
    ]  # fmt: skip
    return pa.DataFrameSchema(name="optimizely_order", checks=checks)


def _item_schema() -> pa.DataFrameSchema:
    col = pl.col
    quantity = col("quantity_text")
    quantity_decimal = col("quantity_decimal_text")
    checks = [
        row_check("invalid_product", "<product refCode> is required and must not be empty",
                  lambda: col("product_id").str.len_chars() > 0),
        *text_money_checks("price", "<product price>", required=True),
        row_check("invalid_quantity",
                  "<product qty> is required: a decimal ≥ 0 with at most "
                  f"{MAX_INTEGER_DIGITS} integer digits and {MAX_DECIMALS} decimals",
                  lambda: is_ambiguous_number(quantity)
                  | (fits_decimal_text(quantity_decimal) & ~quantity.str.starts_with("-"))),
        *_number_checks("quantity", "<product qty>", pl.lit(False)),
        row_check("invalid_attribute", "every product <attribute> needs a non-empty key",
                  lambda: col("keyless_attributes") == 0),
    ]  # fmt: skip
    return pa.DataFrameSchema(name="optimizely_order_item", checks=checks)


EVENT_SCHEMA = _event_schema()
ITEM_SCHEMA = _item_schema()


STAGING_DDL = """
create table if not exists staging.optimizely_order_records (
    arrival_seq     bigint not null,
    file            varchar not null,
    record_no       bigint not null,
    event_id        varchar not null,   -- md5 of the parsed order's JSON (doc)
    dedupe_key      varchar not null,   -- equal for records that may be duplicates (§2)
    order_id        varchar not null,   -- <order refCode>
    ts              timestamptz not null,
    currency        varchar not null,
    subtotal        decimal(18, 4),
    total           decimal(18, 4) not null,
    shipping        decimal(18, 4),
    email           varchar,            -- <user email> as sent; NULL: anonymous order (§5)
    custom          json not null,      -- order <attribute>s: key -> value as sent
    attribute_count integer not null,   -- order <attribute>s sent
    item_count      integer not null,
    loaded_at       timestamptz not null,
    customer_id     varchar             -- <order customerId> as sent (§1.5: an identifier)
);
-- warehouses created before customerId was read
alter table staging.optimizely_order_records add column if not exists customer_id varchar;
create table if not exists staging.optimizely_order_record_items (
    arrival_seq     bigint not null,
    event_id        varchar not null,
    item_no         integer not null,
    product_id      varchar not null,   -- <product refCode>
    price           decimal(18, 4) not null,   -- per unit
    quantity        decimal(18, 4) not null,
    attributes      json not null,      -- product <attribute>s: key -> value as sent
    attribute_count integer not null    -- product <attribute>s sent
);
"""


def accepted_records_sql() -> str:
    """Typed staging rows of the accepted candidates."""
    # in the staging table's column order
    money = ", ".join(
        f"cast(c.{f}_decimal_text as decimal(18, 4)) as {f}"
        for f in ("subtotal", "total", "shipping")
    )
    return f"""
    select
        c.row_id as arrival_seq, c.file, c.record_no, o.event_id, k.dedupe_key, c.order_id,
        c.ts, c.currency, {money}, c.email, c.custom, c.attribute_count, c.item_count,
        c.loaded_at, c.customer_id
    from optimizely_order_candidates as c
    join batch_outcomes as o using (row_id)
    join batch_keys as k using (row_id)
    where o.outcome = 'accepted'
    """


def accepted_items_sql() -> str:
    """Typed item rows of the accepted candidates."""
    return """
    select
        i.row_id as arrival_seq, o.event_id, i.item_no, i.product_id,
        cast(i.price_decimal_text as decimal(18, 4)) as price,
        cast(i.quantity_decimal_text as decimal(18, 4)) as quantity,
        i.attributes, i.attribute_count
    from optimizely_order_item_candidates as i
    join batch_outcomes as o using (row_id)
    where o.outcome = 'accepted'
    """


VALIDATION = JsonSourceValidation(
    source=SOURCE,
    raw_table=RAW_TABLE,
    candidates_table="optimizely_order_candidates",
    candidates_sql=candidates_sql(),
    item_candidates_table="optimizely_order_item_candidates",
    item_candidates_sql=item_candidates_sql(),
    event_schema=EVENT_SCHEMA,
    item_schema=ITEM_SCHEMA,
    staging_table="staging.optimizely_order_records",
    staging_items_table="staging.optimizely_order_record_items",
    accepted_sql=accepted_records_sql,
    accepted_items_sql=accepted_items_sql,
    raw_document_sql="r.doc",
    unvalidated_columns=("doc", "custom", "products"),
    dedupe_key_sql="""md5(concat_ws(chr(31), c.element, c.order_id, c.ts_text, c.currency_sent,
        c.total_text, c.subtotal_text, c.shipping_text, c.item_count, c.user_count, c.email,
        c.attribute_count))""",
)
