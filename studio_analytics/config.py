"""Every path and the database URL, decided in one place.

Order for the database URL: ``--db`` argument, then ``STUDIO_ANALYTICS_DB``, then a
SQLite file in the platformdirs user data folder. ``STUDIO_ANALYTICS_HOME`` moves all
of the application's data (database, spool, logs, config) to one folder, for tests and dev.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from studio_analytics.private_files import ensure_private_dir

APP_NAME = "studio-analytics"
ENV_DB = "STUDIO_ANALYTICS_DB"
ENV_HOME = "STUDIO_ANALYTICS_HOME"
ENV_DISABLED = "STUDIO_ANALYTICS_DISABLED"
DEFAULT_DB_FILENAME = "metrics.sqlite3"
SPOOL_FILENAME = "spool.sqlite3"
PRICES_FILENAME = "prices.toml"


def data_dir() -> Path:
    """Folder for the default database and the tracker spool (created on demand, 0700)."""
    home = os.environ.get(ENV_HOME)
    path = Path(home).expanduser() / "data" if home else Path(platformdirs.user_data_dir(APP_NAME))
    return ensure_private_dir(path)


def log_dir() -> Path:
    home = os.environ.get(ENV_HOME)
    path = Path(home).expanduser() / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME))
    return ensure_private_dir(path)


def config_dir(*, create: bool = False) -> Path:
    """Folder for the user's settings files (``prices.toml``). Only a caller that writes
    there creates it (0700); reading never does."""
    home = os.environ.get(ENV_HOME)
    path = Path(home).expanduser() / "config" if home else Path(platformdirs.user_config_dir(APP_NAME))
    return ensure_private_dir(path) if create else path


def prices_path() -> Path:
    """The user's price file, which overrides and extends the shipped price table."""
    return config_dir() / PRICES_FILENAME


def default_db_path() -> Path:
    return data_dir() / DEFAULT_DB_FILENAME


def default_db_url() -> str:
    return sqlite_url(default_db_path())


def spool_path() -> Path:
    return data_dir() / SPOOL_FILENAME


def sqlite_url(path: str | os.PathLike[str]) -> str:
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def resolve_db_url(cli_value: str | None = None) -> str:
    """Database URL from ``--db``, then the environment, then the default file.

    A bare file path (no ``://``) is taken as a SQLite file.
    """
    value = cli_value or os.environ.get(ENV_DB) or ""
    value = value.strip()
    if not value:
        return default_db_url()
    if "://" not in value:
        return sqlite_url(value)
    return value


def tracking_disabled() -> bool:
    return os.environ.get(ENV_DISABLED, "").strip().lower() in {"1", "true", "yes", "on"}
