"""Files that hold payloads (queries, responses, tool input and output) are private.

What a user saw: with the usual umask 022 the metrics database, its -wal/-shm and the
spool were created world-readable (0644) in a 0755 folder: any local user could read
every prompt the agents had handled.

What must hold, even under umask 022: every such file the tracker creates is 0600 (no
group or other bits), and the data folder it creates is 0700.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio_analytics import config, tracker
from tests.tracker.faults import configure, produce, unusable_db_url


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def _with_sidecars(p: Path) -> list[Path]:
    return [p, p.with_name(p.name + "-wal"), p.with_name(p.name + "-shm")]


def _assert_private(paths: list[Path]) -> None:
    loose = {str(p): oct(_mode(p)) for p in paths if _mode(p) & 0o077}
    assert not loose, f"readable by group or others under umask 022: {loose}"


def test_default_database_and_data_folder_are_private(isolated_home: str) -> None:
    """No db_url: the tracker creates the data folder and the default database in it."""
    data = Path(isolated_home) / "data"
    assert not data.exists()
    configure(None, None)  # type: ignore[arg-type]
    produce(10, "private")
    assert tracker.flush(15) and tracker.stats().written == 20
    try:
        assert config.data_dir() == data
        db = config.default_db_path()
        files = _with_sidecars(db)
        assert all(p.exists() for p in files), [str(p) for p in files if not p.exists()]  # WAL mode, still open
        _assert_private(files)
        assert _mode(data) & 0o077 == 0, f"data folder {data} is {oct(_mode(data))}"
    finally:
        tracker.shutdown(5)


def test_database_file_at_a_chosen_path_is_private(sqlite_file_url: str, spool_file: Path) -> None:
    db = Path(sqlite_file_url.removeprefix("sqlite:///"))
    configure(sqlite_file_url, spool_file)
    produce(10, "private")
    assert tracker.flush(15) and tracker.stats().written == 20
    try:
        files = _with_sidecars(db)
        assert all(p.exists() for p in files), [str(p) for p in files if not p.exists()]
        _assert_private(files)
    finally:
        tracker.shutdown(5)


def test_spool_file_is_private(tmp_path: Path) -> None:
    """The database is unusable, so rows go to the (default) spool: it and its journal
    files are private too."""
    url, _garbage = unusable_db_url(tmp_path)
    configure(url, None)
    produce(10, "private")
    tracker.flush(5)
    try:
        assert tracker.stats().spool_pending == 20, tracker.stats()
        spool = config.spool_path()
        present = [p for p in _with_sidecars(spool) if p.exists()]
        assert spool in present
        _assert_private(present)
        assert _mode(config.data_dir()) & 0o077 == 0, f"data folder is {oct(_mode(config.data_dir()))}"
    finally:
        tracker.shutdown(5)
