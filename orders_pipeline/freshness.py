"""Whether a model run would change anything (issue 15: a run with no new file does no
modelling). Every table records the version it was built from (``models.table_versions``);
when each model, the identity tables and the publication are at the version a build now
would give them, the model run is skipped as a whole."""

from __future__ import annotations

import duckdb

from orders_pipeline.config import SQL_DIR, Settings
from orders_pipeline.identity import identity_up_to_date
from orders_pipeline.models import discover_models, is_up_to_date, table_versions
from orders_pipeline.partition_start import partition_salt, partition_start
from orders_pipeline.publish import PUBLICATION, publication_version


def stale_tables(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[str]:
    """The tables a model run would rebuild (and ``publish.analytics_database`` when the
    analyst database would change); empty: nothing to model."""
    versions = table_versions(con)
    salt = partition_salt(partition_start(settings))
    stale = [
        model.qualified_name
        for model in discover_models(SQL_DIR)
        if not is_up_to_date(con, model, salt if model.partition_column else "", versions)
    ]
    if not identity_up_to_date(con, versions):
        stale.append("core.customer_identifiers")
    if not settings.analytics_path.exists() or versions.get(PUBLICATION) != publication_version(
        con, settings
    ):
        stale.append(PUBLICATION)
    return stale
