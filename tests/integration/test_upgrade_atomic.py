"""A SQLite upgrade is one transaction: a migration that fails halfway leaves the database
at its old revision with none of the new tables (before, the tables it had created stayed
and every later upgrade failed on them), and several processes upgrading at once — tracker
processes starting together on an older database — all end at the head revision."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.migrate import alembic_config, head_revision, upgrade_database


def _database_at(path: Path, revision: str) -> str:
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        command.upgrade(alembic_config(conn), revision)
    engine.dispose()
    return url


def _state(url: str) -> tuple[str, set[str]]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM studio_analytics_alembic_version")).scalar()
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    return str(revision), tables


def test_a_migration_that_fails_halfway_leaves_nothing_behind(tmp_path: Path) -> None:
    url = _database_at(tmp_path / "old.sqlite3", "0003")
    _, before = _state(url)
    engine = create_db_engine(url)
    with engine.begin() as conn:  # in the way of the third table 0004 creates
        conn.exec_driver_sql("CREATE TABLE rollup_user_latency (x INTEGER)")
    with pytest.raises(Exception, match="rollup_user_latency"):
        upgrade_database(engine)
    revision, after = _state(url)
    assert revision == "0003"
    assert after == before | {"rollup_user_latency"}  # the tables created before the failure are gone
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE rollup_user_latency")
    upgrade_database(engine)  # once the obstacle is gone, the same upgrade goes through
    engine.dispose()
    assert _state(url)[0] == head_revision()


def _upgrade(url: str, out: mp.Queue) -> None:
    try:
        upgrade_database(create_db_engine(url))
        out.put("ok")
    except Exception as e:  # noqa: BLE001 - reported to the test
        out.put(f"{type(e).__name__}: {e}")


def test_processes_upgrading_at_once_all_succeed(tmp_path: Path) -> None:
    url = _database_at(tmp_path / "shared.sqlite3", "0003")
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_upgrade, args=(url, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert results == ["ok"] * 4
    assert _state(url)[0] == head_revision()
