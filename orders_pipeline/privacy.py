"""What the analyst database shows of each column (issue 13: PII mode works by allowlist).

``PUBLISHED_COLUMNS`` is the column dictionary: every column of every published table and
view (``schema.table.column``) with what ``ORDERS_PII_MODE=hash`` publishes of it. A column
that is not in the dictionary is withheld (NULL) in hash mode, and a test fails until it is
declared: nothing is published as is because nobody thought of it.

The kinds:

- ``public``: not personal (amounts, dates, codes, counts, catalog data), published as is.
- ``personal``: replaced by a keyed hash, HMAC-SHA256 with ``ORDERS_PII_KEY``, written
  ``pii_`` + 32 hex digits: the same value gives the same hash with the same key, so
  customers can still be counted and joined; a list has each element hashed, JSON is hashed
  as a whole.
- ``withheld``: NULL (the raw text of a refused record holds everything it was sent with).
- ``label``: a name a merchant's schema gives (an identifier type, an attribute key): as is
  when it looks like one (lower-case letters, digits, ``_``, ``-``, at most 40 characters),
  hashed otherwise (an email sent as a key).
- ``reason_codes``: quarantine reasons, the code alone (``invalid_amount``), without the
  explanation that follows it.
- ``identifier_map``: ``{identifier type: [values]}`` JSON, the types as labels and every
  value hashed, so they join ``core.customer_identifiers``.
- ``custom_json``: free-form JSON (custom order fields, item attributes): only the top-level
  keys ``SAFE_JSON_KEYS`` declares for the column are kept, the rest withheld; anything but
  a JSON object is withheld whole.

In plain mode every column is published as it is in the warehouse.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

import duckdb

Kind = Literal[
    "public", "personal", "withheld", "label", "reason_codes", "identifier_map", "custom_json"
]

_LABEL = "[a-z][a-z0-9_-]{0,39}"

# Keys of custom order fields that carry no personal data: kept in hash mode (ODP's
# `gift_wrap`, Ometria's `channel` and `store`, the XML feed's `transaction`, ...).
SAFE_CUSTOM_KEYS = (
    "channel", "store", "gift_wrap", "transaction", "payment_method", "shipping_method",
)  # fmt: skip
# Keys of line-item attributes that carry no personal data.
SAFE_ITEM_ATTRIBUTE_KEYS = ("color", "colour", "size", "pricerange")

# The columns every ledger table (the partitioned ledger and its view) shows.
_LEDGER: dict[str, Kind] = {
    "event_id": "public",  # a hash of the whole canonical record
    "order_id": "public",
    "source": "public",
    "action": "public",
    "action_class": "public",
    "ts": "public",
    "event_date": "public",
    "ts_inferred": "public",
    "arrival_seq": "public",
    "event_seq": "public",
    "currency": "public",
    "subtotal_delta": "public",
    "total_delta": "public",
    "subtotal_delta_base": "public",
    "total_delta_base": "public",
    "rate_to_base": "public",
    "placed_date": "public",
    "sent_currency": "public",  # the currency an event was sent in (one order, one currency)
    "sent_rate_to_base": "public",
    "is_unconverted": "public",
    "running_subtotal": "public",
    "running_total": "public",
    "refund_kind": "public",
    "is_order_creating": "public",
    "is_pass_through": "public",
    "is_cancel_rest": "public",
    "tax": "public",
    "shipping": "public",
    "discount": "public",
    "coupon_code": "public",
    "bill_address": "personal",
    "ship_address": "personal",
    "first_name": "personal",
    "last_name": "personal",
    "name": "personal",
    "email": "personal",
    "phone": "personal",
    "custom": "custom_json",
    "items_quantity": "public",
    "file": "personal",  # a file name may name a person (`ann@example.com.ndjson`)
    "record_no": "public",
}

_ITEM_ATTRIBUTE_VERDICTS: dict[str, Kind] = {
    "event_id": "public",
    "order_id": "public",
    "item_no": "public",
    "product_id": "public",
    "attribute_key": "label",
    "attribute_value": "personal",  # as sent; the feed may put anything in it
    "catalog_value": "public",
    "dropped_because": "public",
}

_TABLES: dict[str, dict[str, Kind]] = {
    "audit.dropped_item_attributes": _ITEM_ATTRIBUTE_VERDICTS,
    "audit.duplicates": {
        "source": "public",
        "file": "personal",
        "record_no": "public",
        "event_id": "public",
        "first_file": "personal",
        "first_record_no": "public",
        "same_file": "public",
    },
    "audit.identity_overmerge": {
        "identifier_type": "label",
        "identifier_value": "personal",
        "fanout": "public",
        "order_count": "public",
        "reason": "public",
        "max_fanout": "public",
    },
    "audit.loads": {
        "file": "personal",
        "source": "public",
        "sha256": "public",
        "size_bytes": "public",
        "file_seq": "public",
        "records": "public",
        "accepted": "public",
        "quarantined": "public",
        "duplicates": "public",
        "loaded_at": "public",
        "validated_at": "public",
    },
    "audit.model_watermark": {"arrival_seq": "public", "updated_at": "public"},
    "audit.quarantine": {
        "source": "public",
        "file": "personal",
        "record_no": "public",
        "reasons": "reason_codes",
        "raw": "withheld",
        "loaded_at": "public",
        "file_seq": "public",
    },
    "audit.skipped_files": {
        "source": "public",
        "file": "personal",  # a file name may hold an email, like audit.loads.file
        "reason": "public",
        "first_seen_at": "public",
        "seen_at": "public",
    },
    "core.customer_contacts": {
        "customer_id": "personal",  # derived from the customer's smallest identifier
        "emails": "personal",
        "phones": "personal",
        "other_identifiers": "identifier_map",
    },
    "core.customer_identifiers": {
        "identifier_type": "label",
        "identifier_value": "personal",  # every type: a `work_email` is an email too
        "customer_id": "personal",
        "fanout": "public",
        "order_count": "public",
    },
    "core.customers": {
        "customer_id": "personal",
        "emails": "personal",
        "phones": "personal",
        "other_identifiers": "identifier_map",
        "first_name": "personal",
        "last_name": "personal",
        "name": "personal",
        "lifecycle_order_count": "public",
        "lifecycle_stage": "public",
        "ltv": "public",
        "aov": "public",
        "first_order_at": "public",
        "last_order_at": "public",
        "order_count_all": "public",
    },
    "core.identifier_fanout": {
        "identifier_type": "label",
        "identifier_value": "personal",
        "order_count": "public",
        "fanout": "public",
        "is_blocklisted": "public",
        "links": "public",
    },
    "core.order_customers": {"order_id": "public", "customer_id": "personal"},
    "core.order_events": {**_LEDGER, "customer_id": "personal"},
    "core.order_item_attribute_verdicts": _ITEM_ATTRIBUTE_VERDICTS,
    "core.order_item_attributes": {
        # kept only when the catalog lists that product with that attribute and value
        "event_id": "public",
        "order_id": "public",
        "item_no": "public",
        "product_id": "public",
        "attribute_key": "public",
        "attribute_value": "public",
    },
    "core.order_items": {
        "event_id": "public",
        "order_id": "public",
        "action": "public",
        "action_class": "public",
        "ts": "public",
        "event_date": "public",
        "item_no": "public",
        "product_id": "public",
        "sku": "public",
        "price": "public",
        "quantity": "public",
        "discount": "public",
        "subtotal": "public",
        "subtotal_derived": "public",
        "custom": "custom_json",
        "attributes": "custom_json",
        "source": "public",
        "currency": "public",
        "subtotal_base": "public",
        "is_order_creating": "public",
    },
    "core.order_ledger": _LEDGER,
    "core.orders": {
        "order_id": "public",
        "customer_id": "personal",
        "source": "public",
        "created_by": "public",
        "status": "public",
        "placed_at": "public",
        "currency": "public",
        "subtotal": "public",
        "total": "public",
        "tax": "public",
        "shipping": "public",
        "discount": "public",
        "coupon_code": "public",
        "tally_subtotal": "public",
        "is_overridden": "public",
        "subtotal_base": "public",
        "total_base": "public",
        "tally_subtotal_base": "public",
        "refund_state": "public",
        "is_cancelled": "public",
        "counts_for_lifecycle": "public",
        "event_count": "public",
        "first_name": "personal",
        "last_name": "personal",
        "name": "personal",
        "email": "personal",
        "phone": "personal",
        "bill_address": "personal",
        "ship_address": "personal",
        "overridden_fields": "public",  # field names
    },
    "core.products": {
        "product_id": "public",
        "sku": "public",
        "name": "public",
        "attributes": "public",  # the catalog's own
        "created_by": "public",
        "updated_arrival_seq": "public",
    },
    "reporting.daily_revenue": dict.fromkeys(
        (
            "date",
            "gross",
            "returns",
            "refunds",
            "cancellations",
            "net",
            "orders_placed",
            "items_sold",
        ),
        "public",
    ),  # fmt: skip
    "reporting.lifecycle_summary": dict.fromkeys(
        (
            "lifecycle_stage",
            "stage_order",
            "customers",
            "lifecycle_orders",
            "ltv",
            "aov",
            "ltv_per_customer",
        ),
        "public",
    ),  # fmt: skip
    "reporting.monthly_cohorts": dict.fromkeys(
        (
            "cohort_month",
            "activity_month",
            "months_since_acquisition",
            "cohort_customers",
            "active_customers",
            "net_revenue",
        ),
        "public",
    ),  # fmt: skip
    "reporting.product_sales": dict.fromkeys(
        (
            "product_key",
            "product_id",
            "sku",
            "units_sold",
            "revenue_sold",
            "units_returned",
            "revenue_returned",
            "orders",
        ),
        "public",
    ),  # fmt: skip
    "reporting.refund_summary": dict.fromkeys(
        (
            "refund_state",
            "state_order",
            "orders",
            "cancelled_orders",
            "net_subtotal",
            "share_of_orders",
            "refund_rate",
        ),
        "public",
    ),  # fmt: skip
    "reporting.aov_by_cohort_month": dict.fromkeys(
        (
            "cohort_month",
            "customers",
            "lifecycle_orders",
            "ltv",
            "aov",
            "repeat_customers",
            "repeat_purchase_rate",
        ),
        "public",
    ),  # fmt: skip
    "reporting.repeat_purchase_rate": dict.fromkeys(
        ("customers", "repeat_customers", "loyal_customers", "repeat_purchase_rate"),
        "public",
    ),  # fmt: skip
    "reporting.refund_rate_by_month": dict.fromkeys(
        (
            "month",
            "orders_placed",
            "refunded_orders",
            "fully_refunded_orders",
            "refund_rate",
            "gross",
            "refunded_amount",
        ),
        "public",
    ),  # fmt: skip
}

# The column dictionary: ``schema.table.column`` -> what hash mode publishes of it.
PUBLISHED_COLUMNS: dict[str, Kind] = {
    f"{table}.{column}": kind
    for table, columns in _TABLES.items()
    for column, kind in columns.items()
}

# The top-level keys of a ``custom_json`` column that hash mode keeps.
SAFE_JSON_KEYS: dict[str, tuple[str, ...]] = {
    "core.order_ledger.custom": SAFE_CUSTOM_KEYS,
    "core.order_events.custom": SAFE_CUSTOM_KEYS,
    "core.order_items.custom": SAFE_CUSTOM_KEYS,
    "core.order_items.attributes": SAFE_ITEM_ATTRIBUTE_KEYS,
}


def column_kind(schema: str, table: str, column: str) -> Kind | None:
    """What hash mode publishes of a column; None when the dictionary does not declare it."""
    return PUBLISHED_COLUMNS.get(f"{schema}.{table}.{column}")


def hashed_expression(schema: str, table: str, column: str, data_type: str) -> str | None:
    """The SQL that publishes ``column`` in hash mode (it reads the macros
    :func:`install_pii_hash` creates), or None when it is published as is. Undeclared columns
    are withheld."""
    quoted = f'"{column}"'
    kind = column_kind(schema, table, column)
    if kind == "public":
        return None
    if kind is None or kind == "withheld":
        return f"null::{data_type}"
    if kind == "personal":
        if data_type.endswith("[]"):
            return f"list_transform({quoted}, lambda v: pii_hash(v))"
        if data_type == "JSON":
            return f"to_json(pii_hash({quoted}))"
        return f"pii_hash({quoted})"
    if kind == "label":
        return f"pii_label({quoted})"
    if kind == "reason_codes":
        return f"list_transform({quoted}, lambda r: split_part(r, ':', 1))"
    if kind == "identifier_map":
        return f"""to_json(map_from_entries(list_transform(
            map_entries(json_transform({quoted}, '"MAP(VARCHAR, VARCHAR[])"')),
            lambda e: {{'key': pii_label(e.key),
                        'value': list_transform(e.value, lambda v: pii_hash(v))}})))"""
    # custom_json: the declared keys, which are labels (checked below), never input data
    safe = SAFE_JSON_KEYS.get(f"{schema}.{table}.{column}", ())
    assert all(re.fullmatch(_LABEL, key) for key in safe), safe
    keys = "[" + ", ".join(f"'{key}'" for key in safe) + "]::varchar[]"
    return f"""case when json_type({quoted}) = 'OBJECT' then to_json(map_from_entries(
            list_transform(list_filter(json_keys({quoted}), lambda k: list_contains({keys}, k)),
                           lambda k: {{'key': k,
                                       'value': json_extract({quoted}, '$."' || k || '"')}})))
        end"""


def install_pii_hash(con: duckdb.DuckDBPyConnection, key: str) -> None:
    """Create the session macros ``pii_hash(v)`` (HMAC-SHA256 keyed by ``key``) and
    ``pii_label(v)`` on ``con``. The key's padded forms live in session variables only: they
    are never written to a table."""
    block = key.encode()
    if len(block) > 64:  # HMAC (RFC 2104): longer keys are hashed first
        block = hashlib.sha256(block).digest()
    block = block.ljust(64, b"\0")
    con.execute("set variable pii_ipad = ?::blob", [bytes(b ^ 0x36 for b in block)])
    con.execute("set variable pii_opad = ?::blob", [bytes(b ^ 0x5C for b in block)])
    con.execute(
        """create or replace temp macro pii_hash(v) as
            case when v is null then null
                 else 'pii_' || substr(sha256(getvariable('pii_opad') || unhex(sha256(
                     getvariable('pii_ipad') || encode(v::varchar)))), 1, 32)
            end"""
    )
    con.execute("set variable pii_label_pattern = ?", [_LABEL])
    con.execute(
        """create or replace temp macro pii_label(v) as
            case when regexp_full_match(v, getvariable('pii_label_pattern')) then v
                 else pii_hash(v)
            end"""
    )


def pii_hash(key: str, value: str) -> str:
    """The published hash of ``value`` (what ``pii_hash`` computes in SQL): lets a holder of
    the key find a known person's rows."""
    return "pii_" + hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def key_fingerprint(key: str | None) -> str:
    """What may be stored of the PII setting: ``none``, or an HMAC of a constant keyed by the
    key, which tells two keys apart without revealing either."""
    if key is None:
        return "none"
    message = b"orders_pipeline pii key fingerprint"
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
