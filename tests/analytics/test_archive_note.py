"""What the pruned line says about the archive: only what the retention setting and the
archive's manifest back up — never "archived" for days the archive does not hold, never
"not archived" when the setting cannot be read."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from studio_analytics.analytics.pruning import PrunedRange, archive_note
from studio_analytics.archive.manifest import ArchivedFile, sha256_of, update_manifest
from studio_analytics.retention_settings import load_retention

OLDEST = datetime(2026, 8, 1, 9, 30, tzinfo=UTC)
PRUNED = PrunedRange(raw_start=OLDEST, first_hour=datetime(2026, 6, 1, tzinfo=UTC),
                     pruned_until=datetime(2026, 8, 1, tzinfo=UTC))


def _settings(tmp_path: Path, text: str):
    path = tmp_path / "retention.toml"
    path.write_text(text, encoding="utf-8")
    return load_retention(path)


def _archive_day(folder: Path, table: str, day: date) -> None:
    path = folder / table / f"{day.isoformat()}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"rows")
    update_manifest(folder, [ArchivedFile(table, day, path, 1, sha256_of(path))], schema_revision="0003")


def test_archived_days_name_their_folder(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    _archive_day(folder, "agent_execution_metrics", date(2026, 7, 31))
    note = archive_note(PRUNED, _settings(tmp_path, f'archive = "{folder}"\n'))
    assert note == f"archived in {folder} (restore with `studio-analytics db restore {folder} --from …`)"
    assert PRUNED.message(note) == f"Raw rows pruned before 2026-08-01 (UTC) — {note}"


def test_a_folder_without_those_days_is_not_claimed(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    note = archive_note(PRUNED, _settings(tmp_path, f'archive = "{folder}"\n'))  # no manifest at all
    assert note == f"not in the archive {folder} (it holds no day before 2026-08-01)"
    _archive_day(folder, "agent_execution_metrics", date(2026, 8, 1))  # only a day after the prune
    _archive_day(folder, "tool_usage_metrics", date(2026, 7, 1))  # another table's day does not count
    assert archive_note(PRUNED, _settings(tmp_path, f'archive = "{folder}"\n')).startswith("not in the archive")


def test_no_archive_folder_set(tmp_path: Path) -> None:
    note = archive_note(PRUNED, _settings(tmp_path, 'older_than = "90d"\n'))
    assert note == "not archived (retention.toml names no archive folder)"


def test_a_broken_setting_says_so_instead_of_not_archived(tmp_path: Path) -> None:
    note = archive_note(PRUNED, _settings(tmp_path, 'archive = "relative/path"\n'))
    assert note.startswith("the archive folder is unknown: ") and "retention.toml" in note
    assert "absolute" in note and "not archived" not in note
    note = archive_note(PRUNED, _settings(tmp_path, 'archive = \n'))
    assert note.startswith("the archive folder is unknown: ") and "not valid TOML" in note


def test_an_unreadable_manifest_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    note = archive_note(PRUNED, _settings(tmp_path, f'archive = "{folder}"\n'))
    assert note.startswith(f"the archive in {folder} cannot be read: ") and "manifest" in note
