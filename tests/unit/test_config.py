"""Database URL resolution: --db, then STUDIO_ANALYTICS_DB, then the user data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_analytics import config


def test_default_is_sqlite_in_the_home_override(isolated_home: str) -> None:
    url = config.resolve_db_url(None)
    assert url == f"sqlite:///{Path(isolated_home).resolve() / 'data' / config.DEFAULT_DB_FILENAME}"
    assert config.spool_path().parent == config.default_db_path().parent


def test_environment_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_DB, "postgresql://team@db.example/metrics")
    assert config.resolve_db_url(None) == "postgresql://team@db.example/metrics"


def test_argument_beats_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(config.ENV_DB, "postgresql://team@db.example/metrics")
    assert config.resolve_db_url(str(tmp_path / "x.db")) == f"sqlite:///{(tmp_path / 'x.db').resolve()}"


def test_platformdirs_default_without_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(config.ENV_HOME)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert config.data_dir() == tmp_path / "xdg" / config.APP_NAME


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_disabled_flag(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv(config.ENV_DISABLED, value)
    assert config.tracking_disabled() is expected
