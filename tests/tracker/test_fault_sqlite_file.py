"""The SQLite file is deleted or renamed while the tracker writes to it.

What a user saw: after ``rm metrics.sqlite3*`` the tracker went on writing 8,000 rows
into the unlinked inode (errors=0): they vanished with the last file descriptor, and
the window, reading the configured path, saw nothing.

What must hold: the writer notices that the file at the configured path is not the one
it has open (an error counted or a warning logged), starts a new file at that path,
and every row produced after the change is in that new file (or, while it is being
created, in the spool, from which it arrives).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import make_url

from studio_analytics import tracker
from tests.tracker.faults import assert_no_duplicates, configure, drain, produce, scalar

AFTER = 8_000  # executions (one row each) produced after the file went away


def _sidecars(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def _executions(url: str, agent: str | None = None) -> int:
    where = f" WHERE agent_name = '{agent}'" if agent else ""
    return int(scalar(url, f"SELECT count(*) FROM agent_execution_metrics{where}"))


def _noticed(caplog: pytest.LogCaptureFixture) -> bool:
    warned = [r for r in caplog.records if r.name.startswith("studio_analytics.tracker") and r.levelno >= logging.WARNING]
    return tracker.stats().errors >= 1 or bool(warned)


def test_deleted_database_file(sqlite_file_url: str, spool_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``rm metrics.sqlite3 metrics.sqlite3-wal metrics.sqlite3-shm`` mid-run."""
    caplog.set_level(logging.WARNING, logger="studio_analytics.tracker")
    db = Path(make_url(sqlite_file_url).database)
    configure(sqlite_file_url, spool_file, write_timeout_s=2.0)
    produce(100, "before", tools=False)
    assert tracker.flush(15) and tracker.stats().written == 100
    for p in _sidecars(db):
        if p.exists():
            os.remove(p)

    produce(AFTER, "after", tools=False)
    drain(30)
    s = tracker.stats()
    assert db.exists(), f"no file at {db}: the {AFTER} rows went into the deleted inode ({s})"
    assert s.spool_pending == 0 and s.dropped == 0 and s.rejected == 0, s
    assert _executions(sqlite_file_url, "after") == AFTER
    assert _executions(sqlite_file_url) == AFTER  # the 100 earlier rows went with the deleted file
    assert_no_duplicates(sqlite_file_url)
    assert _noticed(caplog), "the file vanished and the tracker neither counted an error nor warned"
    tracker.shutdown(5)


def test_renamed_database_file(sqlite_file_url: str, spool_file: Path, tmp_path: Path,
                               caplog: pytest.LogCaptureFixture) -> None:
    """``mv metrics.sqlite3* old.sqlite3*`` mid-run: the old file keeps what it had; new
    rows go to a new file at the configured path."""
    caplog.set_level(logging.WARNING, logger="studio_analytics.tracker")
    db = Path(make_url(sqlite_file_url).database)
    moved = tmp_path / "moved.sqlite3"
    configure(sqlite_file_url, spool_file, write_timeout_s=2.0)
    produce(100, "before", tools=False)
    assert tracker.flush(15) and tracker.stats().written == 100
    for src, dst in zip(_sidecars(db), _sidecars(moved), strict=True):
        if src.exists():
            os.rename(src, dst)

    produce(AFTER, "after", tools=False)
    drain(30)
    s = tracker.stats()
    assert db.exists(), f"no new file at {db}: the {AFTER} rows went into the renamed file ({s})"
    assert s.spool_pending == 0 and s.dropped == 0 and s.rejected == 0, s
    noticed = _noticed(caplog)
    tracker.shutdown(5)
    moved_url = f"sqlite:///{moved}"
    assert _executions(sqlite_file_url, "after") == AFTER
    assert _executions(sqlite_file_url) == AFTER
    assert _executions(moved_url) == 100 and _executions(moved_url, "after") == 0
    assert_no_duplicates(sqlite_file_url)
    assert noticed, "the file was renamed and the tracker neither counted an error nor warned"
