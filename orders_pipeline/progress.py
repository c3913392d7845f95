"""One progress line per asset, on the ``orders_pipeline.progress`` logger, which the CLI
prints; Dagster's own event log keeps the full detail."""

from __future__ import annotations

import logging

LOGGER = logging.getLogger("orders_pipeline.progress")


def report(asset: str, rows: int | None, seconds: float, detail: str = "") -> None:
    """Log ``asset  rows  seconds  detail`` for a finished asset."""
    counted = f"{rows:>12,} rows" if rows is not None else " " * 17
    LOGGER.info("%-36s %s %8.2f s  %s", asset, counted, seconds, detail)
