"""Settings from ``ORDERS_*`` environment variables: one typed object, with defaults that work
in a fresh clone (README, "Running it on your data")."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"

_CURRENCY = re.compile(r"^[A-Z]{3}$")
# The ISO 4217 codes a base currency may be (active codes, funds and units of account; not
# XXX, "no currency"): a made-up base such as XYZ has no exchange rates anywhere, and would
# only relabel the numbers (issue 11).
ISO_4217_CODES = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BOV",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHE",
        "CHF",
        "CHW",
        "CLF",
        "CLP",
        "CNY",
        "COP",
        "COU",
        "CRC",
        "CUC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MXV",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SLL",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "USN",
        "UYI",
        "UYU",
        "UYW",
        "UZS",
        "VED",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XAG",
        "XAU",
        "XBA",
        "XBB",
        "XBC",
        "XBD",
        "XCD",
        "XCG",
        "XDR",
        "XOF",
        "XPD",
        "XPF",
        "XPT",
        "XSU",
        "XTS",
        "XUA",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
        "ZWL",
    ]
)


class ConfigError(ValueError):
    """A setting has a value the pipeline cannot use; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name}={raw!r}: must be a fraction between 0 and 1")
    return value


def _date(env: Mapping[str, str], name: str, default: date) -> date:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a date as YYYY-MM-DD") from None


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline can be told; build with :meth:`from_env`."""

    landing_dir: Path = Path("data/landing")
    warehouse: Path = Path("data/warehouse.duckdb")
    # The read-only copy analysts open, replaced atomically after every successful run;
    # by default ``analytics.duckdb`` beside the warehouse.
    analytics_db: Path | None = None
    base_currency: str = "USD"
    # docs/semantics.md §5: an identifier seen with more distinct others than this links nothing.
    identity_max_fanout: int = 25
    identity_blocklist: tuple[str, ...] = ()
    # docs/semantics.md §7: counted orders from which a customer is "repeat" / "loyal".
    repeat_min_orders: int = 2
    loyal_min_orders: int = 3
    # A run fails (before anything is modelled or published) when more than this share of
    # the records of one source's new files is quarantined, once those files hold at least
    # quarantine_min_records records (a handful of records says little about a feed).
    max_quarantine_rate: float = 0.05
    quarantine_min_records: int = 100
    # "plain", or "hash": contact details hashed (keyed by pii_key) in the analyst database.
    pii_mode: str = "plain"
    pii_key: str = field(default="", repr=False)
    # First daily partition; events dated earlier belong to it (nothing falls outside).
    partition_start: date = date(2024, 1, 1)
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: int = 0  # 0 = DuckDB's default (one per core)
    duckdb_temp_dir: Path | None = None
    # How long a run waits, at one opening of the warehouse, while another process holds it
    # (an analyst's DuckDB session, another run) before it fails; 0: fail at once.
    lock_timeout: int = 300
    # The Spark engine (issue 17, README "When one machine is not enough"): a Spark master
    # URL, or a Spark Connect URL (sc://host:15002) that wins over it; where the Parquet
    # tables go (default: ``spark/`` beside the warehouse).
    spark_master: str = "local[*]"
    spark_remote: str = ""
    spark_output: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the ``ORDERS_*`` variables (``os.environ`` by default) and validate them."""
        env = os.environ if env is None else env
        blocklist = tuple(
            v.strip() for v in env.get("ORDERS_IDENTITY_BLOCKLIST", "").split(",") if v.strip()
        )
        temp = env.get("ORDERS_DUCKDB_TEMP_DIR", "").strip()
        settings = cls(
            landing_dir=Path(env.get("ORDERS_LANDING_DIR", "") or "data/landing"),
            warehouse=Path(env.get("ORDERS_WAREHOUSE", "") or "data/warehouse.duckdb"),
            analytics_db=Path(env["ORDERS_ANALYTICS_DB"])
            if env.get("ORDERS_ANALYTICS_DB")
            else None,
            base_currency=(env.get("ORDERS_BASE_CURRENCY", "") or "USD").strip().upper(),
            identity_max_fanout=_int(env, "ORDERS_IDENTITY_MAX_FANOUT", 25, minimum=1),
            identity_blocklist=blocklist,
            repeat_min_orders=_int(env, "ORDERS_LIFECYCLE_REPEAT_MIN", 2, minimum=2),
            loyal_min_orders=_int(env, "ORDERS_LIFECYCLE_LOYAL_MIN", 3, minimum=3),
            max_quarantine_rate=_float(env, "ORDERS_MAX_QUARANTINE_RATE", 0.05),
            quarantine_min_records=_int(env, "ORDERS_QUARANTINE_MIN_RECORDS", 100, minimum=1),
            pii_mode=(env.get("ORDERS_PII_MODE", "") or "plain").strip().lower(),
            pii_key=env.get("ORDERS_PII_KEY", ""),
            partition_start=_date(env, "ORDERS_PARTITION_START", date(2024, 1, 1)),
            duckdb_memory_limit=(env.get("ORDERS_DUCKDB_MEMORY_LIMIT", "") or "4GB").strip(),
            duckdb_threads=_int(env, "ORDERS_DUCKDB_THREADS", 0),
            duckdb_temp_dir=Path(temp) if temp else None,
            lock_timeout=_int(env, "ORDERS_LOCK_TIMEOUT", 300),
            spark_master=(env.get("ORDERS_SPARK_MASTER", "") or "local[*]").strip(),
            spark_remote=env.get("ORDERS_SPARK_REMOTE", "").strip(),
            spark_output=Path(env["ORDERS_SPARK_OUTPUT"])
            if env.get("ORDERS_SPARK_OUTPUT")
            else None,
        )
        settings.validate()
        return settings

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given fields replaced (``None`` values are ignored), validated."""
        clean = {k: v for k, v in changes.items() if v is not None}
        if "landing_dir" in clean:
            clean["landing_dir"] = Path(clean["landing_dir"])  # type: ignore[arg-type]
        for name in ("warehouse", "analytics_db"):
            if name in clean:
                clean[name] = Path(clean[name])  # type: ignore[arg-type]
        if "base_currency" in clean:
            clean["base_currency"] = str(clean["base_currency"]).strip().upper()
        updated = replace(self, **clean)  # type: ignore[arg-type]
        updated.validate()
        return updated

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the setting when a value is unusable."""
        if not _CURRENCY.match(self.base_currency):
            raise ConfigError(
                f"ORDERS_BASE_CURRENCY={self.base_currency!r}: expected a 3-letter ISO 4217 code"
            )
        if self.base_currency not in ISO_4217_CODES:
            raise ConfigError(
                f"ORDERS_BASE_CURRENCY={self.base_currency!r}: not an ISO 4217 currency code"
            )
        if self.analytics_path.resolve() == self.warehouse.resolve():
            raise ConfigError(
                "ORDERS_ANALYTICS_DB must differ from ORDERS_WAREHOUSE: analysts read a copy"
            )
        if not 0 <= self.max_quarantine_rate <= 1:
            raise ConfigError(
                f"ORDERS_MAX_QUARANTINE_RATE={self.max_quarantine_rate}: expected a share "
                "between 0 and 1 (0.05 = 5 %)"
            )
        if self.pii_mode not in ("plain", "hash"):
            raise ConfigError(f"ORDERS_PII_MODE={self.pii_mode!r}: expected 'plain' or 'hash'")
        if self.pii_mode == "hash" and len(self.pii_key) < 16:
            raise ConfigError(
                "ORDERS_PII_MODE=hash needs ORDERS_PII_KEY, a secret of at least 16 characters "
                "(the same key gives the same hashes on every run)"
            )
        if self.loyal_min_orders <= self.repeat_min_orders:
            raise ConfigError(
                "ORDERS_LIFECYCLE_LOYAL_MIN must be greater than ORDERS_LIFECYCLE_REPEAT_MIN "
                f"(got {self.loyal_min_orders} and {self.repeat_min_orders})"
            )

    @property
    def analytics_path(self) -> Path:
        """Where the analyst database is published."""
        return self.analytics_db or self.warehouse.parent / "analytics.duckdb"

    @property
    def spark_output_dir(self) -> Path:
        """Where the Spark engine writes its Parquet tables (``<schema>/<table>/``)."""
        return self.spark_output or self.warehouse.parent / "spark"

    @property
    def temp_dir(self) -> Path:
        """Where DuckDB spills to disk: next to the warehouse, never a tmpfs by default."""
        if self.duckdb_temp_dir is not None:
            return self.duckdb_temp_dir
        return self.warehouse.parent / ".duckdb_tmp"
