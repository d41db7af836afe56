"""A query whose runner the caller dropped (a newer generation made it stale) still
delivers its answer safely: its signals object lives until the answer has arrived.
The window crashed (SIGSEGV) when filters changed faster than pages came back."""

from __future__ import annotations

import gc

from PySide6.QtCore import QThreadPool
from sqlalchemy import text

from studio_analytics.gui.workers import query_runner
from studio_analytics.gui.workers.query_runner import start_query


def test_dropped_runners_still_deliver(qtbot, sqlite_db_url: str) -> None:
    pool = QThreadPool()
    answers: list[int] = []
    for generation in range(40):
        start_query(pool, sqlite_db_url, generation, lambda conn: conn.execute(text("SELECT 1")).scalar(),
                    lambda gen, _value: answers.append(gen), lambda gen, _error: answers.append(-1))
        gc.collect(0)  # nothing of the caller keeps the runner (it is young: a cheap collection finds it)
    gc.collect()
    qtbot.waitUntil(lambda: len(answers) == 40, timeout=20_000)
    assert sorted(answers) == list(range(40))
    pool.waitForDone(10_000)
    qtbot.waitUntil(lambda: not query_runner._in_flight, timeout=5_000)  # nothing kept after delivery
