"""Quarantine reasons for CSV rows that cannot be read as rows of their file (docs/semantics.md §2).

``landing.csv_records`` writes why a row is unusable into the raw column ``csv_error`` as
``code: sentence`` (``ragged_row: the row has 7 fields, the header 9``). The sentence carries
the row's own numbers, so it cannot be the fixed name of a pandera check:
:class:`CsvRowSchema` adds one check per distinct ``csv_error`` of the batch (a handful: the
messages carry counts, never line numbers or values), so each reaches
``audit.quarantine.reasons`` word for word, next to the source's own checks.

A CSV source's candidates SQL selects the raw ``csv_error`` column; a row with one has no
``doc``, so the source's field checks must hold for it trivially (guard them with
``csv_error is null``, or with the fields being absent).
"""

from __future__ import annotations

from typing import Any

import pandera.polars as pa
import polars as pl

from orders_pipeline.validation.rules import row_check


def csv_error_check(message: str) -> pa.Check:
    """The check that fails exactly the rows whose ``csv_error`` is ``message``."""
    code, _, sentence = message.partition(": ")
    return row_check(
        code, sentence, lambda: pl.col("csv_error").is_null() | (pl.col("csv_error") != message)
    )


class CsvRowSchema(pa.DataFrameSchema):
    """A source's schema plus one check per distinct ``csv_error`` of the frame."""

    def validate(self, check_obj: Any, *args: Any, **kwargs: Any) -> Any:
        messages: list[str] = []
        if isinstance(check_obj, pl.DataFrame) and "csv_error" in check_obj.columns:
            messages = sorted(check_obj.get_column("csv_error").drop_nulls().unique().to_list())
        # A plain schema does the work: pandera finds its polars backend by the schema's own
        # class, which this subclass is not registered as.
        schema = pa.DataFrameSchema(
            name=self.name, checks=[*self.checks, *(csv_error_check(m) for m in messages)]
        )
        return schema.validate(check_obj, *args, **kwargs)


# A plain decimal written as text: an optional sign, digits and an optional decimal point (no
# exponent, thousands separator or currency symbol: "1,234.50", "1e3", "$5" are refused).
PLAIN_DECIMAL = r"^[+-]?(\d+\.?\d*|\.\d+)$"
MAX_INTEGER_DIGITS = 14  # DECIMAL(18,4)
MAX_DECIMALS = 4


def decimal_text_fits(text: pl.Expr) -> pl.Expr:
    """True when ``text`` is a plain decimal that DECIMAL(18,4) holds exactly: at most 14
    integer digits (leading zeros aside) and 4 decimals (trailing zeros aside)."""
    body = text.str.strip_chars_start("+-")
    integer = body.str.extract(r"^(\d*)", 1).fill_null("").str.strip_chars_start("0")
    fraction = body.str.extract(r"\.(\d*)$", 1).fill_null("").str.strip_chars_end("0")
    return (
        text.str.contains(PLAIN_DECIMAL)
        & (integer.str.len_chars() <= MAX_INTEGER_DIGITS)
        & (fraction.str.len_chars() <= MAX_DECIMALS)
    )


def decimal_text_message(where: str) -> str:
    """The quarantine sentence of a number sent as text that is not a plain decimal."""
    return (
        f"{where} must be a plain decimal number (digits with an optional sign and decimal "
        f"point; no thousands separators, currency symbols or exponents) with at most "
        f"{MAX_INTEGER_DIGITS} integer digits and {MAX_DECIMALS} decimals, so it is stored "
        "exactly"
    )


def decimal_text_checks(field: str, where: str, reason: str = "invalid_amount") -> list[pa.Check]:
    """The check of one optional number sent as text, extracted as ``<field>_text`` (NULL or
    the value trimmed of spaces; an empty cell is not sent). It is then cast once, exactly."""
    text = pl.col(f"{field}_text")
    return [
        row_check(
            reason, decimal_text_message(where), lambda: text.is_null() | decimal_text_fits(text)
        )
    ]
