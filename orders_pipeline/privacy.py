"""What the analyst database shows of each column (issue 13: PII mode works by allowlist).

``PUBLISHED_COLUMNS`` is the privacy class of every column of every published table and view
(``schema.table.column``), as the column dictionary (``orders_pipeline/dictionary.py``)
declares it: what ``ORDERS_PII_MODE=hash`` publishes of it. A column
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

import duckdb

from orders_pipeline.dictionary import TABLES, Kind

_LABEL = "[a-z][a-z0-9_-]{0,39}"

# Keys of custom order fields that carry no personal data: kept in hash mode (ODP's
# `gift_wrap`, Ometria's `channel` and `store`, the XML feed's `transaction`, ...).
SAFE_CUSTOM_KEYS = (
    "channel", "store", "gift_wrap", "transaction", "payment_method", "shipping_method",
)  # fmt: skip
# Keys of line-item attributes that carry no personal data.
SAFE_ITEM_ATTRIBUTE_KEYS = ("color", "colour", "size", "pricerange")

# The column dictionary (``dictionary.TABLES``): ``schema.table.column`` -> what hash mode
# publishes of it.
PUBLISHED_COLUMNS: dict[str, Kind] = {
    f"{table}.{column}": entry.kind
    for table, declared in TABLES.items()
    for column, entry in declared.columns.items()
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
