"""The disk holding the spool is full (a real 256 KiB tmpfs).

What a user saw: once the spool's disk was full, a replayed batch was written to the
database but could not be deleted from the spool (the delete needs disk too), so every
attempt sent the same batch again and the replay never made progress.

What must hold: rows that could not be spooled are counted in ``stats().dropped``; when
the database is back the replay drains the spool to zero; the database holds exactly
produced − dropped rows, each once.
"""

from __future__ import annotations

from pathlib import Path

from studio_analytics import tracker
from tests.tracker.faults import (
    assert_no_duplicates,
    configure,
    eventually,
    produce,
    row_counts,
    tiny_tmpfs,
    unusable_db_url,
    wait_until,
)

ROUND = 100  # executions (one row each) per round
MAX_ROUNDS = 100


def test_full_spool_disk(tmp_path: Path) -> None:
    url, garbage = unusable_db_url(tmp_path)
    with tiny_tmpfs(tmp_path / "spool-disk", "256k") as disk:
        spool = disk / "spool.sqlite3"
        configure(url, spool, batch_size=ROUND, write_timeout_s=1.0)
        try:
            produced = 0

            def accounted() -> bool:  # every row produced is spooled or counted dropped
                s = tracker.stats()
                return s.queued == 0 and s.spool_pending + s.dropped == produced

            for _ in range(MAX_ROUNDS):  # until the disk is full, bounded
                produced += produce(ROUND, "filling", tools=False)
                wait_until(accounted, 15, message=f"{produced} rows to be spooled or counted dropped")
                if tracker.stats().dropped:
                    break
            for _ in range(3):  # a few more rounds against the full disk
                produced += produce(ROUND, "filling", tools=False)
                wait_until(accounted, 15, message=f"{produced} rows to be spooled or counted dropped")
            s = tracker.stats()
            assert s.dropped > 0, f"{produced} rows did not fill a 256 KiB disk: {s}"
            assert s.spool_pending > 0, s
            assert s.spool_pending + s.dropped == produced, f"rows neither spooled nor counted dropped: {s}"

            garbage.unlink()  # the database is back; the spool's disk is still full

            def drained() -> bool:
                tracker.flush(2)
                return tracker.stats().spool_pending == 0

            assert eventually(drained, 30, interval=0.1), (
                f"the replay made no progress on a full spool disk: {tracker.stats()}")
            s = tracker.stats()
            executions, _tools = row_counts(url)
            assert executions == produced - s.dropped, (executions, produced, s)
            assert_no_duplicates(url)
        finally:
            tracker.shutdown(5)
