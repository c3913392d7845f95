"""Every input format the pipeline reads (docs/semantics.md §1), in one registry: the landing
sub-folder, how its files become raw records, how its records are validated, and the tables
that hold them. Adding a format is a validation module (and a lander, unless its files are
JSON or CSV), the staging SQL models, and one entry here; assets, checks and table creation
follow from it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import duckdb

from orders_pipeline.landing import optimizely_xml as optimizely_xml_landing
from orders_pipeline.landing.csv_records import CSV_RAW_EXTRA_COLUMNS
from orders_pipeline.landing.formats import CSV_SUFFIXES, JSON_SUFFIXES, records_into
from orders_pipeline.landing.land import LandRecords
from orders_pipeline.warehouse import raw_table_ddl

if TYPE_CHECKING:
    from orders_pipeline.validation.outcomes import JsonSourceValidation


@dataclass(frozen=True)
class Source:
    """One input format: the folder ``<landing>/<name>/`` and its tables."""

    name: str
    suffixes: tuple[str, ...]
    land_records: LandRecords
    # the module of ``orders_pipeline/validation/`` with its VALIDATION and STAGING_DDL,
    # imported when first used: validation brings pandera and Dagster, which a run with no
    # new file never needs (issue 15)
    validation_module: str
    description: str  # what one record is, for the asset descriptions
    kinds: frozenset[str]
    raw_extra_columns: str = ""  # columns a source's raw table has beyond RAW_COLUMNS

    @property
    def validation(self) -> JsonSourceValidation:
        """How its records are validated."""
        return self._validation_module().VALIDATION

    @property
    def staging_ddl(self) -> str:
        """The tables its validated records go to."""
        return self._validation_module().STAGING_DDL

    def _validation_module(self) -> ModuleType:
        return importlib.import_module(f"orders_pipeline.validation.{self.validation_module}")

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"

    @property
    def staging_tables(self) -> tuple[str, ...]:
        spec = self.validation
        return tuple(t for t in (spec.staging_table, spec.staging_items_table) if t)

    def ddl(self) -> str:
        return raw_table_ddl(self.raw_table, self.raw_extra_columns) + self.staging_ddl


SOURCES: tuple[Source, ...] = (
    Source(
        name="exchange_rates",
        suffixes=CSV_SUFFIXES,
        land_records=records_into("raw.exchange_rates"),
        validation_module="exchange_rates",
        description="Daily exchange rates to the base currency (one record per CSV row)",
        kinds=frozenset({"csv"}),
        raw_extra_columns=CSV_RAW_EXTRA_COLUMNS,
    ),
    Source(
        name="odp_csv",
        suffixes=CSV_SUFFIXES,
        land_records=records_into("raw.odp_csv"),
        validation_module="odp_csv",
        description="ODP historical CSV imports (one record per line-item row)",
        kinds=frozenset({"csv"}),
        raw_extra_columns=CSV_RAW_EXTRA_COLUMNS,
    ),
    Source(
        name="odp_events",
        suffixes=JSON_SUFFIXES,
        land_records=records_into("raw.odp_events"),
        validation_module="odp_events",
        description="ODP order-event payloads (one record per API call)",
        kinds=frozenset({"json"}),
    ),
    Source(
        name="odp_orders",
        suffixes=(*JSON_SUFFIXES, *CSV_SUFFIXES),
        land_records=records_into("raw.odp_orders"),
        validation_module="odp_orders",
        description="ODP Orders-object updates (one record per order-summary update)",
        kinds=frozenset({"json", "csv"}),
        raw_extra_columns=CSV_RAW_EXTRA_COLUMNS,
    ),
    Source(
        name="ometria_orders",
        suffixes=JSON_SUFFIXES,
        land_records=records_into("raw.ometria_orders"),
        validation_module="ometria_orders",
        description="Ometria Order / OrderExtended snapshots (one record per order state)",
        kinds=frozenset({"json"}),
    ),
    Source(
        name="optimizely_xml",
        suffixes=optimizely_xml_landing.SUFFIXES,
        land_records=optimizely_xml_landing.land_records,
        validation_module="optimizely_xml",
        description="Optimizely offline / historical orders XML feed (one record per <order>)",
        kinds=frozenset({"xml"}),
        raw_extra_columns=optimizely_xml_landing.RAW_EXTRA_COLUMNS,
    ),
    Source(
        name="products",
        suffixes=(*CSV_SUFFIXES, *JSON_SUFFIXES),
        land_records=records_into("raw.products"),
        validation_module="products",
        description="The product catalog (one record per product)",
        kinds=frozenset({"json", "csv"}),
        raw_extra_columns=CSV_RAW_EXTRA_COLUMNS,
    ),
)


def source_named(name: str) -> Source:
    """The registered source of that name."""
    for source in SOURCES:
        if source.name == name:
            return source
    raise KeyError(name)


def ensure_source_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every source's raw and staging tables if they do not exist yet."""
    for source in SOURCES:
        con.execute(source.ddl())
