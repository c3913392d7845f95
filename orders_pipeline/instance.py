"""The one Dagster instance that ``orders-pipeline run``, ``make demo`` and the Dagster UI
share (issue 16), so the UI shows every run of the CLI: its materialisations, partition
status and check results.

It lives in ``$DAGSTER_HOME``, by default ``.dagster_home`` in the current folder (the
project root for ``make demo`` and ``make ui``). A home without a ``dagster.yaml`` gets a
copy of ``deploy/local/dagster.yaml`` (SQLite storage in the home written in batches by
:mod:`orders_pipeline.instance_storage`, the warehouse pool); a
production home has its own (``deploy/postgres/dagster.yaml``: PostgreSQL storage, queued
runs, the daemon; README, "Operating it").
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from orders_pipeline.config import PROJECT_ROOT, ConfigError

if TYPE_CHECKING:
    import dagster as dg

DEFAULT_HOME = ".dagster_home"
LOCAL_INSTANCE_CONFIG = PROJECT_ROOT / "deploy" / "local" / "dagster.yaml"

# sha256 of the copies of deploy/local/dagster.yaml that earlier versions put into new
# homes: a home whose file is still one of them, byte for byte, gets the current one (its
# owner never edited it); an edited file is the owner's and is left alone.
SHIPPED_BEFORE = frozenset(
    {"d6fc47a78f541c3ea66bdca356d3d61c881d97ef260c7c3e4063b651797f0324"}  # d67263e: no batching
)


def dagster_home(env: Mapping[str, str] | None = None) -> Path:
    """``$DAGSTER_HOME``, or ``.dagster_home`` in the current folder; always absolute (Dagster
    requires it)."""
    env = os.environ if env is None else env
    raw = env.get("DAGSTER_HOME", "").strip()
    return Path(raw or DEFAULT_HOME).expanduser().absolute()


def open_instance(env: Mapping[str, str] | None = None) -> dg.DagsterInstance:
    """The persistent instance in :func:`dagster_home`, created on first use with the
    project's ``dagster.yaml``. Raises :class:`ConfigError` when the home is unusable."""
    return open_instance_at(prepare_home(env))


def prepare_home(env: Mapping[str, str] | None = None) -> Path:
    """:func:`dagster_home`, created with the project's ``dagster.yaml`` when new, without
    opening the instance (its storage costs most of a second: a run with nothing to do
    never opens it). Raises :class:`ConfigError` when the home is unusable."""
    home = dagster_home(env)
    if home.exists() and not home.is_dir():
        raise ConfigError(f"DAGSTER_HOME={home}: not a folder")
    try:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "dagster.yaml"
        if LOCAL_INSTANCE_CONFIG.exists() and (not config.exists() or _shipped_before(config)):
            # a copy then a rename: a run opening the home meanwhile reads one file or the other
            partial = config.with_name(f".dagster.yaml.{os.getpid()}")
            shutil.copyfile(LOCAL_INSTANCE_CONFIG, partial)
            os.replace(partial, config)
    except OSError as error:
        raise ConfigError(f"DAGSTER_HOME={home}: cannot be created ({error.strerror})") from None
    return home


def _shipped_before(config: Path) -> bool:
    return hashlib.sha256(config.read_bytes()).hexdigest() in SHIPPED_BEFORE


def open_instance_at(home: Path) -> dg.DagsterInstance:
    """The instance of a home made by :func:`prepare_home`; :class:`ConfigError` when its
    ``dagster.yaml`` is broken."""
    import dagster as dg  # here, not at import: a run with nothing to do never opens one

    try:
        # two runs starting at once on a new home would both create its SQLite tables
        # ("table alembic_version already exists"): they open it one at a time
        with open(home / ".instance.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return dg.DagsterInstance.from_config(str(home))
    except Exception as error:  # a broken dagster.yaml: Dagster's own message, one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        raise ConfigError(f"DAGSTER_HOME={home}: the instance cannot be opened: {first}") from None
