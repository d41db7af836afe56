"""retention.toml: durations, the archive folder, and a file with a mistake named, not half-used."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_analytics.retention_settings import format_duration, load_retention, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("90d", 90 * 86_400), ("36h", 36 * 3600), ("12w", 12 * 7 * 86_400),
                                               (" 7D ", 7 * 86_400)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "90", "d", "0d", "-1d", "1.5d", "90 days", "3m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_missing_file_keeps_rows_forever(tmp_path: Path) -> None:
    settings = load_retention(tmp_path / "retention.toml")
    assert (settings.older_than_s, settings.archive_dir, settings.problem) == (None, None, None)
    assert settings.source == "none" and "kept forever" in settings.summary


def test_default_path_is_in_the_config_folder() -> None:
    from studio_analytics import config

    config.config_dir(create=True)
    (config.config_dir() / "retention.toml").write_text('older_than = "30d"\n', encoding="utf-8")
    settings = load_retention()
    assert settings.older_than_s == 30 * 86_400 and settings.source.endswith("retention.toml")


def test_a_full_file(tmp_path: Path) -> None:
    path = tmp_path / "retention.toml"
    path.write_text(f'# keep a quarter\nolder_than = "90d"\narchive = "{tmp_path / "archive"}"\n', encoding="utf-8")
    settings = load_retention(path)
    assert settings.older_than_s == 90 * 86_400 and settings.archive_dir == tmp_path / "archive"
    assert settings.problem is None and settings.source == str(path)
    assert "older than 90d" in settings.summary and "archive" in settings.summary


@pytest.mark.parametrize(("content", "named"), [
    ('older_than = "90 days"', "older_than"),
    ("older_than = 90", "older_than"),
    ('archive = "relative/folder"', "archive"),
    ('archive = ""', "archive"),
    ('older_than = "90d"\nkeep = true', "'keep'"),
    ("older_than = ", "not valid TOML"),
])
def test_mistakes_are_named_and_nothing_is_used(tmp_path: Path, content: str, named: str) -> None:
    path = tmp_path / "retention.toml"
    path.write_text(content + "\n", encoding="utf-8")
    settings = load_retention(path)
    assert settings.problem is not None and named in settings.problem and str(path) in settings.problem
    assert settings.older_than_s is None and settings.archive_dir is None
    assert settings.summary.startswith("not in force")
