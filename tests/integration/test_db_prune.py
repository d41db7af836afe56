"""`db prune` and `db vacuum` on real SQLite files and PostgreSQL: exactly the old raw rows
go, in short batches, the rollups stay (every figure of the pruned period is unchanged —
sessions, errors and users too — also after `db rebuild-rollups`), a tracker writing
meanwhile loses nothing."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from studio_analytics import analytics, config, tracker
from studio_analytics.analytics.snapshot import dashboard_snapshot
from studio_analytics.cli import run_cli
from studio_analytics.db.base import Base
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import METRICS_TABLES
from studio_analytics.db.retention import RAW_TABLES, day_cutoff, plan_prune, prune
from studio_analytics.db.rollup_models import FIGURE_ROLLUP_TABLES, ROLLUP_TABLES
from studio_analytics.demo.generator import backfill
from tests.tracker.conftest import configure_fast

#: the demo's history: 2026-11-16 06:00 .. 2026-11-20 06:00 UTC, whatever the time the suite runs
END = datetime(2026, 11, 20, 6, tzinfo=UTC)
CUTOFF = datetime(2026, 11, 18, tzinfo=UTC)
#: whole hours inside the pruned period (and its previous period, for the KPIs' change)
PRUNED_RANGE = (datetime(2026, 11, 16, 8, tzinfo=UTC), CUTOFF)
TABS = frozenset({"overview", "agents", "tools", "workflows", "models", "errors", "sessions", "users"})


def _demo(url: str, executions: int = 1200) -> None:
    backfill(url, executions=executions, days=4, seed=11, end_ns=int(END.timestamp() * 1e9))
    tracker.shutdown(5)


def _scalar(url: str, sql: str, **params: Any) -> Any:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def _cutoff_param(url: str) -> Any:
    # SQLite holds naive UTC text; PostgreSQL a timestamptz
    return "2026-11-18 00:00:00.000000" if url.startswith("sqlite") else CUTOFF


def _counts(url: str, where: str) -> dict[str, int]:
    """Rows per raw table, counted with plain SQL (not through the code under test)."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(text(f"SELECT count(*) FROM {t} WHERE {where}"),
                                        {"cutoff": _cutoff_param(url)}).scalar() or 0) for t in RAW_TABLES}
    finally:
        engine.dispose()


def _rollups(url: str, *, before_cutoff: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_db_engine(url)
    out = {}
    try:
        with engine.connect() as conn:
            for table in ROLLUP_TABLES + FIGURE_ROLLUP_TABLES + ("rollup_model_hourly", "rollup_model_latency"):
                period = "day" if table.endswith("_daily") else "hour"
                where = f" WHERE {period} < {int(CUTOFF.timestamp())}" if before_cutoff else ""
                out[table] = sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {table}{where}")))
    finally:
        engine.dispose()
    return out


def _figures(url: str) -> Any:
    """Every figure of a range of whole hours in the pruned period, each tab's: the
    sessions KPI and the Errors, Sessions and Users tabs from the 0004 rollups. Left out:
    the Sessions tab's list, which holds raw session rows."""
    tr = analytics.time_range(start_date=PRUNED_RANGE[0], end_date=PRUNED_RANGE[1])
    engine = create_db_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            snap = dashboard_snapshot(conn, tr, generation=1, tabs=TABS)
    finally:
        engine.dispose()
    assert snap.kpis.total_executions > 100 and snap.models is not None and snap.sessions is not None
    assert snap.kpis.active_sessions.value and snap.errors is not None and snap.errors.groups
    assert snap.users is not None and snap.users.rows and snap.sessions.total_sessions
    return dataclasses.replace(snap, sessions=dataclasses.replace(snap.sessions, recent=()), taken_at=None,
                               query_ms=0.0)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(_same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _differences(a: Any, b: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(a) if not _same(getattr(a, f.name), getattr(b, f.name))]


def test_prune_deletes_exactly_the_old_rows_and_keeps_every_figure(db_url: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _demo(db_url)
    old = _counts(db_url, "start_time < :cutoff")
    new = _counts(db_url, "start_time >= :cutoff")
    assert all(old[t] > 0 and new[t] > 0 for t in RAW_TABLES)
    rollups, old_rollups, figures = _rollups(db_url), _rollups(db_url, before_cutoff=True), _figures(db_url)
    assert all(old_rollups[t] for t in ROLLUP_TABLES + FIGURE_ROLLUP_TABLES)

    # the dry run says what would go, and writes nothing
    assert run_cli(["db", "prune", "--db", db_url, "--before", "2026-11-18", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{old['agent_execution_metrics']:,} rows" in out and "MB" in out and "2026-11-16 .. 2026-11-17" in out
    assert _counts(db_url, "start_time < :cutoff") == old and _rollups(db_url) == rollups
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        plan = plan_prune(conn, cutoff=CUTOFF)
    assert {t: plan.rows[t] for t in RAW_TABLES if t != "session_metrics"} == {
        t: n for t, n in old.items() if t != "session_metrics"}
    assert plan.days == [date(2026, 11, 16), date(2026, 11, 17)] and plan.bytes_estimate > 0

    report = prune(engine, cutoff=CUTOFF, batch_rows=100)
    engine.dispose()
    assert report.problems == []
    for table in RAW_TABLES:
        if table != "session_metrics":
            assert report.tables[table].rows == old[table], table
    assert _counts(db_url, "start_time < :cutoff") == dict.fromkeys(RAW_TABLES, 0) | {
        "session_metrics": old["session_metrics"] - report.tables["session_metrics"].rows}
    # sessions that started before the cutoff stay only while executions of theirs do
    assert _scalar(db_url, "SELECT count(*) FROM session_metrics s WHERE start_time < :cutoff AND NOT EXISTS "
                           "(SELECT 1 FROM agent_execution_metrics e WHERE e.session_id = s.session_id)",
                   cutoff=_cutoff_param(db_url)) == 0
    assert _counts(db_url, "start_time >= :cutoff") == new
    assert _rollups(db_url) == rollups
    after = _figures(db_url)
    assert _same(after, figures), _differences(after, figures)

    # rebuilding the rollups from the raw rows keeps those of the pruned days
    assert run_cli(["db", "rebuild-rollups", "--db", db_url]) == 0
    assert _rollups(db_url, before_cutoff=True) == old_rollups
    after = _figures(db_url)
    assert _same(after, figures), _differences(after, figures)
    assert run_cli(["db", "check", "--db", db_url, "--format", "json"]) == 0
    assert '"agent_execution_metrics": 0' in capsys.readouterr().out


def _ids(url: str) -> dict[str, list[int]]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return {t: sorted(conn.execute(text(f"SELECT id FROM {t} WHERE start_time < :cutoff"),
                                           {"cutoff": _cutoff_param(url)}).scalars()) for t in RAW_TABLES}
    finally:
        engine.dispose()


def test_prune_archives_each_day_first_and_restore_brings_it_back(db_url: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _demo(db_url, executions=400)
    before, rollups = _ids(db_url), _rollups(db_url)
    folder = tmp_path / "archive"
    assert run_cli(["db", "prune", "--db", db_url, "--before", "2026-11-18", "--archive", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"archive:  {folder}" in out
    for table in RAW_TABLES[:-1]:
        for day in ("2026-11-16", "2026-11-17"):
            assert (folder / table / f"{day}.parquet").is_file(), (table, day)
    assert (folder / "manifest.json").is_file()
    left = _ids(db_url)
    assert all(not left[t] for t in RAW_TABLES[:-1])
    assert _rollups(db_url) == rollups

    assert run_cli(["db", "restore", str(folder), "--db", db_url]) == 0
    capsys.readouterr()
    assert _ids(db_url) == before and _rollups(db_url) == rollups


def test_a_day_whose_archive_does_not_match_is_not_deleted(sqlite_file_url: str) -> None:
    _demo(sqlite_file_url, executions=400)
    old = _counts(sqlite_file_url, "start_time < :cutoff")
    calls: list[tuple[str, date, int]] = []

    def archive(conn: Connection, table: str, day: date) -> int:
        # counts the day's rows the way an archive would read them, in the prune's snapshot
        rows = int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE start_time >= :lo AND start_time < :hi"),
                                {"lo": f"{day} 00:00:00", "hi": f"{day} 99"}).scalar() or 0)
        calls.append((table, day, rows))
        return rows - 1 if (table, day) == ("tool_usage_metrics", date(2026, 11, 17)) else rows

    engine = create_db_engine(sqlite_file_url)
    report = prune(engine, cutoff=CUTOFF, archive=archive)
    engine.dispose()
    assert len(report.problems) == 1 and "tool_usage_metrics 2026-11-17" in report.problems[0]
    kept = _scalar(sqlite_file_url, "SELECT count(*) FROM tool_usage_metrics WHERE start_time < :cutoff",
                   cutoff=_cutoff_param(sqlite_file_url))
    assert kept == next(n for t, d, n in calls if (t, d) == ("tool_usage_metrics", date(2026, 11, 17))) > 0
    assert report.tables["tool_usage_metrics"].rows == old["tool_usage_metrics"] - kept
    assert report.tables["agent_execution_metrics"].rows == old["agent_execution_metrics"]
    assert {(t, d) for t, d, _ in calls} >= {(t, d) for t in RAW_TABLES if t != "session_metrics"
                                              for d in (date(2026, 11, 16), date(2026, 11, 17))}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_empty_url(request: pytest.FixtureRequest) -> str:
    """A database the tracker creates itself, on each dialect in turn."""
    return request.getfixturevalue("sqlite_file_url" if request.param == "sqlite" else "pg_empty_url")


def test_prune_while_a_tracker_writes_loses_nothing(any_empty_url: str, tmp_path: Path) -> None:
    url = any_empty_url
    _demo(url, executions=1500)
    old = _counts(url, "start_time < :cutoff")
    configure_fast(url, tmp_path / "spool.sqlite3")
    stop, running = threading.Event(), threading.Event()
    written = [0]

    def agent() -> None:
        while not stop.is_set() or written[0] < 50:
            with tracker.track_agent_execution(agent_name="LiveAgent", query="q", session_id="live"):
                with tracker.track_tool_usage(tool_name="live_tool"):
                    pass
            written[0] += 1
            if written[0] == 20:
                running.set()
            stop.wait(0.002)  # an agent's pace: a few hundred runs a second

    thread = threading.Thread(target=agent)
    thread.start()
    engine = create_db_engine(url)
    try:
        assert running.wait(10)  # the agent runs, and goes on while the prune runs
        at_start = written[0]
        report = prune(engine, cutoff=CUTOFF, batch_rows=50)
        assert written[0] > at_start
    finally:
        stop.set()
        thread.join(30)
        engine.dispose()
    assert tracker.flush(30)
    tracker.shutdown(5)
    assert report.rows >= sum(n for t, n in old.items() if t != "session_metrics")
    assert sum(t.batches for t in report.tables.values()) > 10
    assert report.longest_batch_ms < 100, report.tables
    assert _scalar(url, "SELECT count(*) FROM agent_execution_metrics WHERE agent_name = 'LiveAgent'") \
        == written[0]
    assert _scalar(url, "SELECT count(*) FROM tool_usage_metrics WHERE tool_name = 'live_tool'") \
        == written[0]
    assert _counts(url, "start_time < :cutoff")["agent_execution_metrics"] == 0


def test_usage_errors_and_the_retention_setting(sqlite_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["db", "prune", "--db", sqlite_db_url]) == 2
    assert "--older-than 90d" in capsys.readouterr().err
    assert run_cli(["db", "prune", "--db", sqlite_db_url, "--older-than", "ninety"]) == 2
    assert "not a duration like 90d" in capsys.readouterr().err
    config.config_dir(create=True)
    path = config.config_dir() / "retention.toml"
    path.write_text('older_than = "3x"\n', encoding="utf-8")
    assert run_cli(["db", "prune", "--db", sqlite_db_url, "--dry-run"]) == 2
    assert "older_than" in capsys.readouterr().err
    path.write_text('older_than = "2w"\n', encoding="utf-8")
    assert run_cli(["db", "prune", "--db", sqlite_db_url, "--dry-run"]) == 0
    out = capsys.readouterr().out
    expected = day_cutoff(datetime.now(UTC)).date()
    assert "older than 2w" in out and "retention.toml" in out and "0 rows" in out
    assert str(expected.year) in out


def test_vacuum_gives_the_space_back(sqlite_file_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _demo(sqlite_file_url, executions=600)
    assert run_cli(["db", "prune", "--db", sqlite_file_url, "--before", "2026-11-19"]) == 0
    assert "longest single batch transaction" in capsys.readouterr().out
    size = Path(sqlite_file_url.removeprefix("sqlite:///")).stat().st_size
    assert run_cli(["db", "vacuum", "--db", sqlite_file_url]) == 0
    assert "VACUUM" in capsys.readouterr().out
    assert Path(sqlite_file_url.removeprefix("sqlite:///")).stat().st_size < size


@pytest.mark.postgres
def test_vacuum_postgres(pg_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["db", "vacuum", "--db", pg_db_url]) == 0
    assert "VACUUM (ANALYZE) of model_call_metrics" in capsys.readouterr().out


def test_an_agent_studio_database_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'agent_studio.sqlite3'}"
    engine = create_db_engine(url)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[name] for name in METRICS_TABLES])
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO agent_execution_metrics (execution_id, agent_name, start_time, status, "
                          "tool_count, retry_count, api_calls_count) VALUES ('e1', 'A', '2020-01-01 10:00:00', "
                          "'success', 0, 0, 0)"))
    engine.dispose()
    for argv in (["prune", "--older-than", "1d"], ["prune", "--older-than", "1d", "--dry-run"], ["vacuum"]):
        assert run_cli(["db", *argv, "--db", url]) == 1
        err = capsys.readouterr().err
        assert "Agent Studio database" in err and "Traceback" not in err
    assert _scalar(url, "SELECT count(*) FROM agent_execution_metrics") == 1
    missing = tmp_path / "missing.sqlite3"
    assert run_cli(["db", "prune", "--older-than", "1d", "--db", str(missing)]) == 1
    assert "not found" in capsys.readouterr().err and not missing.exists()
