"""Archive -> delete -> restore on both dialects: every raw row comes back exactly as it
was (a checksum of every column, read raw from the driver), restoring twice adds
nothing, --from/--to restore only their days, a changed file is refused before anything
is written, an Agent Studio database is never written, and a plain pyarrow read of a
file shows what an analyst expects."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import stat
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from studio_analytics import cli
from studio_analytics.archive import (
    ArchiveError,
    archive_day,
    read_manifest,
    restore,
    update_manifest,
)
from studio_analytics.archive.columns import ARCHIVED_TABLES, column_kinds, model_table
from studio_analytics.archive.manifest import MANIFEST_NAME
from studio_analytics.archive.parquet_archive import RestoreReport, database_revision, day_archiver
from studio_analytics.commands.db_restore import add_restore_parser
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import METRICS_TABLES, Base
from studio_analytics.db.rollups import rollup_drift
from studio_analytics.db.types import sqlite_time_text
from studio_analytics.demo.generator import backfill
from tests.pg_databases import pg_database

#: the demo's history ends here (so its days are the same whatever the hour the suite runs)
DEMO_END = datetime(2026, 11, 20, 10, 36, tzinfo=UTC)
#: rows starting before this are archived and deleted: the demo's first three UTC days
CUTOFF = datetime(2026, 11, 19, tzinfo=UTC)
DAYS = (date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18))


@dataclass(frozen=True)
class Archived:
    url: str
    folder: Path
    dump: dict[str, str]  # table -> checksum of every row, every column
    archived_dump: dict[str, str]  # the same of the archived days' rows, without the surrogate id
    counts: dict[str, dict[date, int]]  # table -> day -> rows archived
    drift: dict[str, int]


def dump(conn: Connection, *, archived_days_only: bool = False, with_id: bool = True) -> dict[str, str]:
    """A checksum per table of every column of every row, as the driver returns them
    (SQLite: the stored text of ids, times and JSON; PostgreSQL: its own types)."""
    if conn.in_transaction():
        conn.rollback()
    marker = "?" if conn.dialect.name == "sqlite" else "%s"
    cutoff = sqlite_time_text(CUTOFF) if conn.dialect.name == "sqlite" else CUTOFF
    out = {}
    for table, key in ARCHIVED_TABLES.items():
        where = f" WHERE start_time < {marker}" if archived_days_only else ""
        rows = conn.exec_driver_sql(f"SELECT * FROM {table}{where} ORDER BY {key}",
                                    (cutoff,) if archived_days_only else ()).fetchall()
        assert not rows or rows[0]._fields[0] == "id"
        values = [tuple(r) if with_id else tuple(r)[1:] for r in rows]
        out[table] = hashlib.sha256(repr(values).encode()).hexdigest()
    conn.rollback()
    return out


def day_counts(conn: Connection) -> dict[str, dict[date, int]]:
    out: dict[str, dict[date, int]] = {}
    for table in ARCHIVED_TABLES:
        model = model_table(table)
        out[table] = {}
        for day in DAYS:
            first = datetime(day.year, day.month, day.day, tzinfo=UTC)
            out[table][day] = conn.execute(select(func.count()).select_from(model).where(
                model.c.start_time >= first, model.c.start_time < first + timedelta(days=1))).scalar_one()
    conn.rollback()
    return out


def delete_archived_days(url: str) -> int:
    """What a prune would do to the raw rows (its own code is tested elsewhere)."""
    engine = create_db_engine(url)
    deleted = 0
    with engine.begin() as conn:
        for table in ARCHIVED_TABLES:
            model = model_table(table)
            deleted += conn.execute(delete(model).where(model.c.start_time < CUTOFF)).rowcount
    engine.dispose()
    return deleted


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def archived(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archived]:
    """400 demo runs over four days, its first three days archived, once per dialect.
    Every test leaves the database as complete as it found it."""
    base = tmp_path_factory.mktemp(f"archive-{request.param}")
    with pytest.MonkeyPatch.context() as mp, _database(request, base) as url:
        mp.setenv("STUDIO_ANALYTICS_HOME", str(base / "home"))  # module-scoped: before the per-test home
        backfill(url, executions=400, days=4, seed=11, end_ns=int(DEMO_END.timestamp()) * 1_000_000_000)
        folder = base / "archive"
        engine = create_db_engine(url)
        with engine.connect() as conn:
            archive = day_archiver(folder)
            for table in ARCHIVED_TABLES:
                for day in DAYS:
                    archive(conn, table, day)
            conn.rollback()
            before = Archived(url, folder, dump(conn), dump(conn, archived_days_only=True, with_id=False),
                              day_counts(conn), rollup_drift(conn))
            conn.rollback()
        engine.dispose()
        yield before


def _database(request: pytest.FixtureRequest, base: Path) -> AbstractContextManager[str]:
    if request.param == "sqlite":
        return nullcontext(f"sqlite:///{base / 'demo.sqlite3'}")
    return pg_database(request.getfixturevalue("pg_server_url"))


def restore_all(url: str, folder: Path, **kwargs: Any) -> RestoreReport:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return restore(conn, folder, **kwargs)
    finally:
        engine.dispose()


def current(url: str) -> tuple[dict[str, str], dict[str, dict[date, int]], dict[str, int]]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        out = dump(conn), day_counts(conn), rollup_drift(conn)
    engine.dispose()
    return out


def restore_cli(*argv: str) -> int:
    """``studio-analytics db restore ...`` through the CLI's error handling (the command
    is registered under ``db`` by commands/db.py)."""
    parser = argparse.ArgumentParser(prog="studio-analytics db")
    add_restore_parser(parser.add_subparsers(dest="db_command", required=True))
    args = parser.parse_args(["restore", *argv])
    return cli._run_command(args, debug=False)


def test_round_trip_restores_every_column_of_every_row_and_twice_adds_nothing(archived: Archived) -> None:
    archived_rows = {t: sum(by_day.values()) for t, by_day in archived.counts.items()}
    assert all(archived_rows.values()), archived_rows  # every table has rows in the archived days
    assert delete_archived_days(archived.url) == sum(archived_rows.values())
    assert current(archived.url)[0] != archived.dump

    report = restore_all(archived.url, archived.folder)
    assert dict(report.restored) == archived_rows
    assert set(report.already_present.values()) == {0}
    assert set(report.renumbered.values()) == {0}  # each row got its own id back
    after, counts, drift = current(archived.url)
    assert after == archived.dump and counts == archived.counts
    # the rollups never stopped counting these rows: raw and rolled-up agree again
    assert drift == archived.drift

    again = restore_all(archived.url, archived.folder)
    assert set(again.restored.values()) == {0}
    assert dict(again.already_present) == archived_rows
    assert current(archived.url)[0] == archived.dump


def test_from_to_restores_only_those_days(archived: Archived, capsys: pytest.CaptureFixture[str]) -> None:
    delete_archived_days(archived.url)
    middle = DAYS[1]
    assert restore_cli(str(archived.folder), "--db", archived.url, "--from", str(middle), "--to", str(middle)) == 0
    out = capsys.readouterr().out
    assert f"{middle} .. {middle} (1 day, 5 files, checksums verified)" in out
    assert "still count rows pruned and not restored" in out  # the other two days
    counts = current(archived.url)[1]
    for table, by_day in counts.items():
        assert by_day == {DAYS[0]: 0, middle: archived.counts[table][middle], DAYS[2]: 0}, table

    assert restore_cli(str(archived.folder), "--db", archived.url, "--from", str(DAYS[2])) == 0
    counts = current(archived.url)[1]
    assert all(by_day[DAYS[0]] == 0 and by_day[DAYS[2]] == archived.counts[t][DAYS[2]]
               for t, by_day in counts.items())
    assert restore_cli(str(archived.folder), "--db", archived.url) == 0
    assert current(archived.url)[0] == archived.dump


def test_a_changed_file_is_refused_and_nothing_is_restored(
        archived: Archived, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(archived.folder, tampered)
    victim = tampered / "tool_usage_metrics" / f"{DAYS[2]}.parquet"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, inside a data page
    victim.write_bytes(bytes(data))
    delete_archived_days(archived.url)
    emptied = current(archived.url)[0]

    with pytest.raises(ArchiveError, match=str(victim).replace(".", r"\.")) as caught:
        restore_all(archived.url, tampered)
    assert "changed after it was archived" in str(caught.value) and "nothing was restored" in str(caught.value)
    assert restore_cli(str(tampered), "--db", archived.url) == 1
    err = capsys.readouterr().err
    assert f"error: {victim} was changed after it was archived" in err
    assert current(archived.url)[0] == emptied  # not one row, not even from the intact files

    # The other days are intact: --to leaves the changed day out.
    assert restore_cli(str(tampered), "--db", archived.url, "--to", str(DAYS[1])) == 0
    assert restore_cli(str(archived.folder), "--db", archived.url) == 0
    assert current(archived.url)[0] == archived.dump


def test_a_file_missing_from_the_folder_is_named(archived: Archived, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(archived.folder, partial)
    gone = partial / "session_metrics" / f"{DAYS[0]}.parquet"
    gone.unlink()
    with pytest.raises(ArchiveError, match="listed in the manifest but missing"):
        restore_all(archived.url, partial)
    assert current(archived.url)[0] == archived.dump


def test_archiving_again_is_idempotent_and_private(archived: Archived) -> None:
    manifest = archived.folder / MANIFEST_NAME
    manifest_bytes = manifest.read_bytes()
    entries = {(e.table, e.day): e for e in read_manifest(archived.folder)}
    assert len(entries) == len(ARCHIVED_TABLES) * len(DAYS)
    path = archived.folder / "agent_execution_metrics" / f"{DAYS[1]}.parquet"
    mtime = path.stat().st_mtime_ns
    engine = create_db_engine(archived.url)
    with engine.connect() as conn:
        again = archive_day(conn, "agent_execution_metrics", DAYS[1], archived.folder)
        update_manifest(archived.folder, [again], schema_revision=database_revision(conn))
        revision = database_revision(conn)
        conn.rollback()
    engine.dispose()
    entry = entries[("agent_execution_metrics", DAYS[1])]
    assert (again.rows, again.sha256) == (entry.rows, entry.sha256)
    assert again.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_mtime_ns == mtime  # same rows: the file was not even rewritten
    assert manifest.read_bytes() == manifest_bytes
    assert {e.schema_revision for e in entries.values()} == {revision} and revision.startswith("0005")
    assert all(e.rows == archived.counts[e.table][e.day] for e in entries.values())

    for dirpath, _dirnames, filenames in os.walk(archived.folder):
        assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o700, dirpath
        for name in filenames:
            assert stat.S_IMODE(os.stat(Path(dirpath, name)).st_mode) == 0o600, name
        assert not [n for n in filenames if n.endswith(".tmp")]


def test_an_analyst_reads_a_file_with_plain_pyarrow(archived: Archived) -> None:
    day = DAYS[1]
    for table in ARCHIVED_TABLES:
        read = pq.read_table(archived.folder / table / f"{day}.parquet")
        assert read.column_names == [c.name for c in column_kinds(table)], table
        assert read.num_rows == archived.counts[table][day], table
        assert read.schema.field("start_time").type == pa.timestamp("us", tz="UTC")
        starts = read.column("start_time").to_pylist()
        assert all(datetime(2026, 11, 17, tzinfo=UTC) <= s < datetime(2026, 11, 18, tzinfo=UTC) for s in starts)
        assert starts == sorted(starts)
    executions = pq.read_table(archived.folder / "agent_execution_metrics" / f"{day}.parquet")
    ids = executions.column("execution_id").to_pylist()
    assert executions.schema.field("execution_id").type == pa.string()
    assert all(len(i) == 36 and i.count("-") == 4 for i in ids)
    assert executions.schema.field("tools_called").type == pa.string()  # JSON text
    tools = pq.read_table(archived.folder / "tool_usage_metrics" / f"{day}.parquet",
                          columns=["execution_id", "duration_ms"])
    assert set(tools.column("execution_id").to_pylist()) & set(ids)  # joins on the id as written


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def agent_studio_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The four Agent Studio tables and nothing of ours (no version table)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'agent-studio.sqlite3'}"
        yield _agent_studio_tables(url)
    else:
        with pg_database(request.getfixturevalue("pg_server_url")) as url:
            yield _agent_studio_tables(url)


def _agent_studio_tables(url: str) -> str:
    engine = create_db_engine(url)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[t] for t in METRICS_TABLES])
    engine.dispose()
    return url


def test_an_agent_studio_database_is_never_written(
        archived: Archived, agent_studio_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DatabaseError, match="Agent Studio database"):
        restore_all(agent_studio_url, archived.folder)
    assert restore_cli(str(archived.folder), "--db", agent_studio_url) == 1
    assert "This is an Agent Studio database" in capsys.readouterr().err
    engine = create_db_engine(agent_studio_url)
    with engine.connect() as conn:
        for table in METRICS_TABLES:
            assert conn.execute(select(func.count()).select_from(model_table(table))).scalar_one() == 0
    engine.dispose()


def test_command_line_mistakes_are_one_line(archived: Archived, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert restore_cli(str(archived.folder), "--db", archived.url, "--from", "2026-11-18", "--to", "2026-11-17") == 2
    assert "--from 2026-11-18 is after --to 2026-11-17" in capsys.readouterr().err
    assert restore_cli(str(tmp_path / "nowhere"), "--db", archived.url) == 1
    assert "no such folder" in capsys.readouterr().err
    assert restore_cli(str(tmp_path), "--db", archived.url) == 1
    assert "no manifest.json here" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        restore_cli(str(archived.folder), "--from", "yesterday")
    assert "'yesterday' is not a date (YYYY-MM-DD)" in capsys.readouterr().err


def test_restore_into_a_new_database_gives_the_same_rows(archived: Archived, tmp_path: Path,
                                                         request: pytest.FixtureRequest) -> None:
    """Another database (a new one of the same dialect): every archived row arrives with
    every column as it was; the surrogate id is kept on SQLite (any free id is safe under
    the batch's write lock) and drawn anew on PostgreSQL (beyond what its sequence handed
    out, a tracker would draw those ids itself)."""
    sqlite = archived.url.startswith("sqlite")
    with (nullcontext(f"sqlite:///{tmp_path / 'new.sqlite3'}") if sqlite
          else pg_database(request.getfixturevalue("pg_server_url"))) as url:
        engine = create_db_engine(url)
        upgrade_database(engine)
        engine.dispose()
        report = restore_all(url, archived.folder)
        total = {t: sum(by_day.values()) for t, by_day in archived.counts.items()}
        assert dict(report.restored) == total
        assert dict(report.renumbered) == ({t: 0 for t in total} if sqlite else total)
        engine = create_db_engine(url)
        with engine.connect() as conn:
            assert dump(conn, with_id=False) == archived.archived_dump
            if not sqlite:  # the sequence went on from the new ids: a tracker's next row fits
                conn.exec_driver_sql("INSERT INTO session_metrics (session_id, start_time, total_queries, "
                                     "successful_queries, failed_queries, unique_agents_count, is_active) "
                                     "VALUES ('after-restore', now(), 0, 0, 0, 0, true)")
                conn.commit()
        engine.dispose()


def test_without_pyarrow_the_command_says_what_to_install(
        archived: Archived, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)  # `import pyarrow` raises ImportError
    assert restore_cli(str(archived.folder), "--db", archived.url) == 1
    assert "install studio-analytics[archive]" in capsys.readouterr().err
    engine = create_db_engine(archived.url)
    with engine.connect() as conn, pytest.raises(ArchiveError, match=r"studio-analytics\[archive\]"):
        archive_day(conn, "agent_execution_metrics", DAYS[0], archived.folder)
    engine.dispose()


def test_a_late_row_archived_later_keeps_the_days_earlier_rows(archived: Archived, tmp_path: Path) -> None:
    """A day archived and pruned, then a row of that day arriving late (a spool flushed
    after an outage) and archived by the next prune: the file gains it, keeps the rest."""
    folder = tmp_path / "archive"
    shutil.copytree(archived.folder, folder)
    day = DAYS[1]
    sessions = model_table("session_metrics")
    first = datetime(day.year, day.month, day.day, tzinfo=UTC)
    in_day = (sessions.c.start_time >= first, sessions.c.start_time < first + timedelta(days=1))
    engine = create_db_engine(archived.url)
    with engine.begin() as conn:
        conn.execute(delete(sessions).where(*in_day))
        conn.execute(insert(sessions).values(session_id="late-arrival", start_time=first + timedelta(hours=12),
                                             user_id="user-late", is_active=False))
    with engine.connect() as conn:
        assert day_archiver(folder)(conn, "session_metrics", day) == 1  # the database's rows of that day
        conn.rollback()
    entry = {(e.table, e.day): e for e in read_manifest(folder)}[("session_metrics", day)]
    assert entry.rows == archived.counts["session_metrics"][day] + 1
    ids = pq.read_table(folder / "session_metrics" / f"{day}.parquet").column("session_id").to_pylist()
    assert "late-arrival" in ids and len(set(ids)) == entry.rows

    report = restore_all(archived.url, folder, start=day, end=day)
    assert report.restored["session_metrics"] == archived.counts["session_metrics"][day]
    with engine.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.session_id == "late-arrival"))
    engine.dispose()
    assert current(archived.url)[0] == archived.dump
