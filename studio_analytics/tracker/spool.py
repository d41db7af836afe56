"""The local spool: batches that could not reach the database wait here, in order.

A SQLite file in the user data folder (``config.spool_path()``), shared safely by every
process on the machine. Batches are keyed by a hash of their database URL (passwords are
never written) and replayed oldest first; the database ignores ids it already has, so a
batch replayed twice (a crash between commit and delete) does not duplicate rows.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

from studio_analytics.config import spool_path as default_spool_path
from studio_analytics.db.rows import Batch, as_wire_batch

_FORMAT = 2  # 1: rows as mappings of column values (read still); 2: wire rows


def target_key(db_url: str) -> str:
    return hashlib.sha256(db_url.encode("utf-8")).hexdigest()[:32]


def encode_batch(batch: Batch) -> str:
    return json.dumps({"format": _FORMAT, "rows": batch}, ensure_ascii=False)


def decode_batch(payload: str) -> Batch:
    data = json.loads(payload)
    if isinstance(data, dict) and data.get("format") == _FORMAT:
        return {kind: [tuple(r) for r in rows] for kind, rows in data["rows"].items()}
    return as_wire_batch(data)  # format 1


class Spool:
    def __init__(self, db_url: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else default_spool_path()
        self.target = target_key(db_url)
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS spool_batches (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " target TEXT NOT NULL, created_at REAL NOT NULL, row_count INTEGER NOT NULL,"
                " payload TEXT NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS ix_spool_target ON spool_batches (target, id)")
            self._local.conn = conn
        return conn

    def put(self, batch: Batch) -> int:
        n = sum(len(rows) for rows in batch.values())
        if n:
            self._conn().execute(
                "INSERT INTO spool_batches (target, created_at, row_count, payload) VALUES (?, ?, ?, ?)",
                (self.target, time.time(), n, encode_batch(batch)),
            )
        return n

    def oldest(self, limit: int = 20) -> list[tuple[int, Batch]]:
        if not self.path.exists():
            return []  # nothing was ever spooled here: do not create the file
        rows = self._conn().execute(
            "SELECT id, payload FROM spool_batches WHERE target = ? ORDER BY id LIMIT ?",
            (self.target, limit),
        ).fetchall()
        return [(row_id, decode_batch(payload)) for row_id, payload in rows]

    def delete(self, row_id: int) -> None:
        self._conn().execute("DELETE FROM spool_batches WHERE id = ?", (row_id,))

    def pending_rows(self) -> int:
        if not self.path.exists():
            return 0
        value = self._conn().execute(
            "SELECT coalesce(sum(row_count), 0) FROM spool_batches WHERE target = ?", (self.target,)
        ).fetchone()
        return int(value[0])

    def has_pending(self) -> bool:
        """Whether batches for this database wait here, answered without creating the
        file and without waiting on a busy one (then: yes, let the writer look)."""
        if not self.path.exists():
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

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
