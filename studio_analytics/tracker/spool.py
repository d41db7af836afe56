"""The local spool: batches that could not reach the database wait here, in order.

A SQLite file in the user data folder (``config.spool_path()``), shared safely by every
process on the machine, created private (0600). Batches are keyed by a hash of their
database URL (passwords are never written) and replayed oldest first; the database
ignores ids it already has, so a batch replayed twice (a crash between commit and
delete) does not duplicate rows.

A second table, ``dead_letters``, keeps the rows the database rejected one by one on a
healthy schema (a constraint the row violates): they are never destroyed, only set
aside, and counted in ``tracker.stats().dead_letters`` and ``studio-analytics db check``.

Why a rollback journal in PERSIST mode and not WAL: WAL maps a ``-shm`` file into the
agent's process, and a fault on that file (made immutable, on a full or vanished disk)
kills the host with SIGBUS; a persistent journal keeps its blocks allocated, so a
DELETE still succeeds on a full disk and replay can make progress.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

from studio_analytics.config import spool_path as default_spool_path
from studio_analytics.db.rows import Batch, Row, as_wire_batch, upgrade_rows
from studio_analytics.private_files import create_private_file

#: 1: rows as mappings of column values; 2: wire rows before revision 0003 (no parent and
#: trace ids); 3: wire rows. Earlier formats are still read.
_FORMAT = 3
#: The longest any spool statement waits for another process's lock.
BUSY_TIMEOUT_S = 5.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS spool_batches (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " target TEXT NOT NULL, created_at REAL NOT NULL, row_count INTEGER NOT NULL, payload TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_spool_target ON spool_batches (target, id)",
    "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL,"
    " created_at REAL NOT NULL, kind TEXT NOT NULL, error TEXT NOT NULL, payload TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_dead_target ON dead_letters (target, id)",
)


def target_key(db_url: str) -> str:
    return hashlib.sha256(db_url.encode("utf-8")).hexdigest()[:32]


def encode_batch(batch: Batch) -> str:
    return json.dumps({"format": _FORMAT, "rows": batch}, ensure_ascii=False)


def decode_batch(payload: str) -> Batch:
    data = json.loads(payload)
    if isinstance(data, dict) and data.get("format") == _FORMAT:
        return {kind: [tuple(r) for r in rows] for kind, rows in data["rows"].items()}
    if isinstance(data, dict) and data.get("format") == 2:
        return {kind: upgrade_rows(kind, rows) for kind, rows in data["rows"].items()}
    return as_wire_batch(data)  # format 1


class Spool:
    def __init__(self, db_url: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_spool_path()
        self.target = target_key(db_url)
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            create_private_file(self.path)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=PERSIST")
                conn.execute("PRAGMA synchronous=NORMAL")
                for statement in _SCHEMA:
                    conn.execute(statement)
            except sqlite3.Error:
                conn.close()
                raise
            self._local.conn = conn
        return conn

    def _exists(self) -> bool:
        return self.path.exists()

    # -- batches --------------------------------------------------------------------
    def put(self, batch: Batch) -> tuple[int, int]:
        """Store a batch; returns (rows stored, the batch's spool id) — (0, 0) for an
        empty batch."""
        n = sum(len(rows) for rows in batch.values())
        if not n:
            return 0, 0
        cur = self._conn().execute(
            "INSERT INTO spool_batches (target, created_at, row_count, payload) VALUES (?, ?, ?, ?)",
            (self.target, time.time(), n, encode_batch(batch)),
        )
        return n, int(cur.lastrowid or 0)

    def set_busy_timeout(self, ms: int) -> None:
        """Wait at most ``ms`` for another process's lock from now on (at exit, where
        every millisecond is counted)."""
        self._conn().execute(f"PRAGMA busy_timeout = {max(1, int(ms))}")

    def oldest(self, limit: int = 20, *, after: int = 0, skip: frozenset[int] = frozenset()
               ) -> list[tuple[int, Batch]]:
        """Up to ``limit`` batches with ids above ``after``, oldest first, leaving out
        ``skip`` (batches already written whose delete is still to be retried)."""
        if not self._exists():
            return []  # nothing was ever spooled here: do not create the file
        rows = self._conn().execute(
            "SELECT id, payload FROM spool_batches WHERE target = ? AND id > ? ORDER BY id LIMIT ?",
            (self.target, after, limit + len(skip)),
        ).fetchall()
        return [(row_id, decode_batch(payload)) for row_id, payload in rows if row_id not in skip][:limit]

    def delete(self, row_id: int) -> None:
        self._conn().execute("DELETE FROM spool_batches WHERE id = ?", (row_id,))

    def present(self, ids: list[int]) -> dict[int, int]:
        """``{id: row_count}`` of these batches that are still in the spool."""
        if not ids or not self._exists():
            return {}
        found: dict[int, int] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ", ".join("?" * len(chunk))
            for row_id, n in self._conn().execute(
                    f"SELECT id, row_count FROM spool_batches WHERE id IN ({marks})", chunk):
                found[int(row_id)] = int(n)
        return found

    def pending_rows(self, *, skip: frozenset[int] = frozenset()) -> int:
        if not self._exists():
            return 0
        value = self._conn().execute(
            "SELECT coalesce(sum(row_count), 0) FROM spool_batches WHERE target = ?", (self.target,)
        ).fetchone()
        written = sum(self.present(sorted(skip)).values()) if skip else 0
        return int(value[0]) - written

    def has_pending(self) -> bool:
        """Whether batches for this database wait here, answered without creating the
        file and without waiting on a busy one (then: yes, let the writer look)."""
        if not self._exists():
            return False
        try:
            conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=0.1)
            try:
                found = conn.execute("SELECT 1 FROM spool_batches WHERE target = ? LIMIT 1",
                                     (self.target,)).fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return True
        return found is not None

    # -- dead letters ---------------------------------------------------------------
    def put_dead_letter(self, kind: str, row: Row, error: str) -> None:
        self._conn().execute(
            "INSERT INTO dead_letters (target, created_at, kind, error, payload) VALUES (?, ?, ?, ?, ?)",
            # ASCII JSON: a row the database refused may hold what UTF-8 cannot encode
            # (a lone surrogate) and must still be kept.
            (self.target, time.time(), kind, error[:2000].encode("utf-8", "replace").decode("utf-8"),
             json.dumps(list(row), ensure_ascii=True, default=repr)),
        )

    def dead_letter_count(self) -> int:
        if not self._exists():
            return 0
        try:
            value = self._conn().execute("SELECT count(*) FROM dead_letters WHERE target = ?",
                                         (self.target,)).fetchone()
        except sqlite3.OperationalError:
            return 0  # a spool file of an earlier version, before dead letters
        return int(value[0])

    def dead_letters(self, limit: int = 20) -> list[tuple[float, str, str]]:
        """The newest dead-letter rows as (created_at, kind, error), newest first."""
        if not self._exists():
            return []
        with contextlib.suppress(sqlite3.OperationalError):
            return [(float(t), str(k), str(e)) for t, k, e in self._conn().execute(
                "SELECT created_at, kind, error FROM dead_letters WHERE target = ? ORDER BY id DESC LIMIT ?",
                (self.target, limit))]
        return []

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
