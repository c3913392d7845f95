"""Settings from ``ORDERS_*`` environment variables: one typed object, with defaults that work
in a fresh clone (README, "Running it on your data")."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

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


def _whole_number(minimum: int) -> Callable[[str, str], int]:
    def parse(raw: str, name: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
        if value < minimum:
            raise ConfigError(f"{name}={raw!r}: must be at least {minimum}")
        return value

    return parse


def _fraction(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name}={raw!r}: must be a fraction between 0 and 1")
    return value


def _date(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a date as YYYY-MM-DD") from None


def _setting(variable: str, default: object, parse: Callable[[str, str], object]) -> Any:
    """A field of :class:`Settings` read from the environment variable ``variable``: an unset
    or blank variable gives ``default``, any other value ``parse(value, variable)``."""
    return field(default=default, metadata={"variable": variable, "parse": parse})


def _path(raw: str, name: str) -> Path:
    return Path(raw)


def _text(raw: str, name: str) -> str:
    return raw.strip()


def _values(raw: str, name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in raw.split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline can be told; build with :meth:`from_env`. Each field names the
    ``ORDERS_*`` variable it is read from: this class is the one list of settings, and the
    Dagster resource carries it whole (``to_env``/``from_env``, ``resources.py``)."""

    landing_dir: Path = _setting("ORDERS_LANDING_DIR", Path("data/landing"), _path)
    warehouse: Path = _setting("ORDERS_WAREHOUSE", Path("data/warehouse.duckdb"), _path)
    # The read-only copy analysts open, replaced atomically after every successful run;
    # by default ``analytics.duckdb`` beside the warehouse.
    analytics_db: Path | None = _setting("ORDERS_ANALYTICS_DB", None, _path)
    base_currency: str = _setting("ORDERS_BASE_CURRENCY", "USD", lambda raw, _: raw.strip().upper())
    # docs/semantics.md §5: an identifier seen with more distinct others than this links nothing.
    identity_max_fanout: int = _setting("ORDERS_IDENTITY_MAX_FANOUT", 25, _whole_number(1))
    identity_blocklist: tuple[str, ...] = _setting("ORDERS_IDENTITY_BLOCKLIST", (), _values)
    # docs/semantics.md §7: counted orders from which a customer is "repeat" / "loyal".
    repeat_min_orders: int = _setting("ORDERS_LIFECYCLE_REPEAT_MIN", 2, _whole_number(2))
    loyal_min_orders: int = _setting("ORDERS_LIFECYCLE_LOYAL_MIN", 3, _whole_number(3))
    # A run fails (before anything is modelled or published) when more than this share of
    # the records of one source's new files is quarantined, once those files hold at least
    # quarantine_min_records records (a handful of records says little about a feed).
    max_quarantine_rate: float = _setting("ORDERS_MAX_QUARANTINE_RATE", 0.05, _fraction)
    quarantine_min_records: int = _setting("ORDERS_QUARANTINE_MIN_RECORDS", 100, _whole_number(1))
    # "plain", or "hash": contact details hashed (keyed by pii_key) in the analyst database.
    pii_mode: str = _setting("ORDERS_PII_MODE", "plain", lambda raw, _: raw.strip().lower())
    # A secret: never written into the resource's configuration (resources.py).
    pii_key: str = field(
        default="", repr=False, metadata={"variable": "ORDERS_PII_KEY", "secret": True}
    )
    # First daily partition; events dated earlier belong to it (nothing falls outside).
    # None: follow the data (partitions.partition_start).
    partition_start: date | None = _setting("ORDERS_PARTITION_START", None, _date)
    # 3GB: the process stays within 4 GiB at 10M line items (DuckDB's limit covers its buffers,
    # not the rest of the process: 4GB peaked at 4.35 GiB, 3GB at 3.39 GiB; README Performance)
    duckdb_memory_limit: str = _setting("ORDERS_DUCKDB_MEMORY_LIMIT", "3GB", _text)
    duckdb_threads: int = _setting("ORDERS_DUCKDB_THREADS", 0, _whole_number(0))  # 0: DuckDB's
    duckdb_temp_dir: Path | None = _setting("ORDERS_DUCKDB_TEMP_DIR", None, _path)
    # How long a run waits, at one opening of the warehouse, while another process holds it
    # (an analyst's DuckDB session, another run) before it fails; 0: fail at once.
    lock_timeout: int = _setting("ORDERS_LOCK_TIMEOUT", 300, _whole_number(0))
    # The Spark engine (issue 17, README "When one machine is not enough"): a Spark master
    # URL, or a Spark Connect URL (sc://host:15002) that wins over it; where the Parquet
    # tables go (default: ``spark/`` beside the warehouse).
    spark_master: str = _setting("ORDERS_SPARK_MASTER", "local[*]", _text)
    spark_remote: str = _setting("ORDERS_SPARK_REMOTE", "", _text)
    spark_output: Path | None = _setting("ORDERS_SPARK_OUTPUT", None, _path)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the ``ORDERS_*`` variables (``os.environ`` by default) and validate them."""
        env = os.environ if env is None else env
        values = {}
        for setting in fields(cls):
            raw = env.get(setting.metadata["variable"])
            if setting.metadata.get("secret"):
                values[setting.name] = raw or ""  # as it is: a key's spaces are part of it
            elif raw is not None and raw.strip() != "":
                values[setting.name] = setting.metadata["parse"](raw, setting.metadata["variable"])
        settings = cls(**values)
        settings.validate()
        return settings

    def to_env(self) -> dict[str, str]:
        """The ``ORDERS_*`` variables that give these settings back through :meth:`from_env`,
        every one of them (secrets excepted)."""
        env = {}
        for setting in fields(self):
            if setting.metadata.get("secret"):
                continue
            value = getattr(self, setting.name)
            if value is None:
                text = ""
            elif isinstance(value, tuple):
                text = ",".join(value)
            elif isinstance(value, date):
                text = value.isoformat()
            else:
                text = str(value)
            env[setting.metadata["variable"]] = text
        return env

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

    def check_paths(self) -> None:
        """Raise :class:`ConfigError` when the warehouse, the analyst database or DuckDB's
        spill folder cannot be created where the settings put them, or DuckDB refuses the
        memory limit: checked before a run does any work, so a bad setting is one line and
        exit 2, not a traceback after a summary of nothing (issue 16)."""
        _check_file_path("ORDERS_WAREHOUSE (--warehouse)", self.warehouse)
        _check_file_path("ORDERS_ANALYTICS_DB", self.analytics_path)
        _check_folder_path("ORDERS_DUCKDB_TEMP_DIR", self.temp_dir)
        import duckdb  # here: reading settings must not need DuckDB loaded

        try:
            duckdb.connect(config={"memory_limit": self.duckdb_memory_limit}).close()
        except duckdb.Error:
            raise ConfigError(
                f"ORDERS_DUCKDB_MEMORY_LIMIT={self.duckdb_memory_limit!r}: expected an amount "
                "such as 4GB, 500MB or 50%"
            ) from None

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


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (a dangling link counts as existing)."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _check_folder_path(name: str, folder: Path, shown: Path | None = None) -> None:
    """A folder that exists, or can be created, and can be written in (``shown``: the path
    the message names, the file to be created in it)."""
    existing = _nearest_existing(folder.absolute())
    shown = shown or folder
    if not existing.is_dir():
        raise ConfigError(f"{name}: {shown} cannot be created, {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{name}: {shown} cannot be created, {existing} is not writable")


def _check_file_path(name: str, file: Path) -> None:
    """A file that can be created (its folder too) or, if it exists, written."""
    if file.is_dir():
        raise ConfigError(f"{name}: {file} is a folder; expected the path of a DuckDB file")
    _check_folder_path(name, file.absolute().parent, shown=file)
    if file.exists() and not os.access(file, os.W_OK):
        raise ConfigError(f"{name}: {file} is not writable")
