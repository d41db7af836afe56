"""``studio-analytics db upgrade|check|rebuild-rollups|reprice|prune|vacuum``: create, upgrade
and inspect the schema, recompute the hourly rollups from the raw rows, and model-call costs
from the current prices (:mod:`studio_analytics.commands.db_reprice`); prune old raw rows
(archived first on request) and give their space back."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from studio_analytics.commands.db_reprice import add_reprice_parser
from studio_analytics.commands.db_restore import add_restore_parser
from studio_analytics.commands.failures import (
    DRIVER_ERRORS,
    UsageError,
    database_error_line,
    database_errors,
)
from studio_analytics.commands.options import db_url_from_args, iso_time
from studio_analytics.db.engine import create_db_engine, safe_url, translate_error
from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.migrate import database_size_bytes, schema_state, upgrade_database
from studio_analytics.db.retention import (
    Archiver,
    PrunePlan,
    PruneReport,
    day_cutoff,
    plan_prune,
    prune,
    vacuum,
)
from studio_analytics.db.rollups import (
    oldest_raw_day,
    rebuild_rollups,
    rollup_drift,
    rollups_available,
)
from studio_analytics.db.schema_state import SchemaKind
from studio_analytics.db.session_totals import (
    rebuild_unpruned_totals,
    totals_available,
    totals_drift,
)
from studio_analytics.retention_settings import (
    RetentionSettings,
    format_duration,
    load_retention,
    parse_duration,
    retention_path,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    db = sub.add_parser("db", help="create, upgrade or check the metrics schema")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser("upgrade", help="create or upgrade the schema (Agent Studio databases: indexes only, on request)")
    add_db_argument(up)
    up.add_argument("--add-indexes", action="store_true", help="on an existing Agent Studio database, create the missing dashboard indexes")
    up.set_defaults(func=cmd_upgrade)
    check = db_sub.add_parser("check", help="report the schema state")
    add_db_argument(check)
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--spool", metavar="PATH", help="the tracker spool to look into (default: the one in the "
                       "data folder); rows wait there for this database, and rejected rows are kept as dead letters")
    check.set_defaults(func=cmd_check)
    rebuild = db_sub.add_parser("rebuild-rollups",
                                help="recompute the hourly rollups from the raw rows (after a bulk import)")
    add_db_argument(rebuild)
    rebuild.set_defaults(func=cmd_rebuild_rollups)
    add_reprice_parser(db_sub)
    _add_prune_parsers(db_sub)
    add_restore_parser(db_sub)


def _url(args: argparse.Namespace) -> str:
    return db_url_from_args(args)


def cmd_upgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    with database_errors(url):
        engine = create_db_engine(url)
        try:
            result = upgrade_database(engine, add_indexes=args.add_indexes)
        finally:
            engine.dispose()
    before, after = result.before, result.after
    print(f"database: {safe_url(url)}")
    if result.created_indexes:
        print(f"created indexes: {', '.join(result.created_indexes)}")
    elif before.revision == after.revision:
        print(f"schema already at revision {after.revision} ({after.kind.value})")
    else:
        print(f"schema upgraded {before.revision or 'none'} -> {after.revision} ({after.kind.value})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    url = _url(args)
    try:
        engine = create_db_engine(url, read_only=True)
        with engine.connect() as conn:
            state = schema_state(conn)
            size = database_size_bytes(conn)
            behind = rollup_drift(conn) if rollups_available(conn) else None
            sums_behind = totals_drift(conn) if totals_available(conn) else None
    except DRIVER_ERRORS as e:  # a database problem is the check's answer; file errors and bugs go to run_cli
        err = translate_error(e, url)
        if args.format == "json":
            print(json.dumps({"ok": False, "error": err.message, "hint": err.hint, "url": safe_url(url)}))
        else:
            print(database_error_line(err), file=sys.stderr)
        return 1
    report: dict[str, Any] = {
        "ok": state.readable,
        "url": safe_url(url),
        "kind": state.kind.value,
        "revision": state.revision,
        "head": state.head,
        "up_to_date": state.up_to_date,
        "missing_tables": list(state.missing_tables),
        "missing_indexes": list(state.missing_indexes),
        "size_bytes": size,
        # rows not counted in the hourly rollups (None: no rollups, raw rows are read)
        "rollups_behind": behind,
        # sessions whose running sums disagree with their raw executions (None: no sums,
        # sessions are recomputed from raw rows); sessions that ran across a prune's cutoff
        # are not compared: their sums also count the pruned executions
        "session_sums_behind": sums_behind,
        **_spool_report(url, args.spool),
    }
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if key == "dead_letters":
                print(f"{key:20} {value:,} dead-letter rows (rejected by the database, kept in the spool)")
            elif key != "dead_letter_rows":
                print(f"{key:20} {value}")
        for when, kind, error in report.get("dead_letter_rows", []):
            print(f"  dead-letter {kind} row, {when}: {error}")
    return 0 if state.readable else 1


def _spool_report(url: str, spool_path: str | None) -> dict[str, Any]:
    """Rows the tracker keeps for this database: waiting to be written, and rejected
    by the database one by one (dead letters, never destroyed)."""
    from datetime import UTC, datetime

    from studio_analytics.tracker.spool import Spool

    spool = Spool(url, spool_path)
    try:
        dead = spool.dead_letters(limit=20)
        return {
            "spool": str(spool.path),
            "spool_pending": spool.pending_rows(),
            "dead_letters": spool.dead_letter_count(),
            "dead_letter_rows": [(datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds"), k, e)
                                 for t, k, e in dead],
        }
    except Exception as e:  # noqa: BLE001 - the spool is a side note of the check
        return {"spool": str(spool.path), "spool_error": str(e)}
    finally:
        spool.close()


def cmd_rebuild_rollups(args: argparse.Namespace) -> int:
    url = _url(args)
    with database_errors(url):
        engine = create_db_engine(url)
        try:
            with engine.begin() as conn:
                if not rollups_available(conn):
                    raise DatabaseError("This database has no rollup tables",
                                        hint="run `studio-analytics db upgrade` first (Agent Studio databases are "
                                             "read from raw rows and get no rollups)")
                since = oldest_raw_day(conn)
                counts = rebuild_rollups(conn)
                sessions = rebuild_unpruned_totals(conn) if totals_available(conn) else None
        finally:
            engine.dispose()
    print(f"database: {safe_url(url)}")
    if since is not None:
        print(f"rebuilt from {datetime.fromtimestamp(since, UTC):%Y-%m-%d} (the oldest raw row's day); "
              "the rollups before it were kept (their raw rows were pruned)")
    for table, n in counts.items():
        print(f"{table:32} {n:>10,} rows")
    if sessions is not None:
        print(f"session sums rebuilt for {sessions:,} sessions from their executions (sessions that ran across a "
              "prune's cutoff keep theirs: they also count the pruned executions)")
    return 0


# -- prune and vacuum ---------------------------------------------------------------
def _add_prune_parsers(db_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    prune = db_sub.add_parser(
        "prune", help="delete raw rows older than a cutoff in short batches, keeping the hourly rollups "
                      "(every figure of the pruned period stays); optionally archive each day to Parquet first")
    add_db_argument(prune)
    when = prune.add_mutually_exclusive_group()
    when.add_argument("--older-than", metavar="AGE", help="e.g. 90d, 36h, 12w (default: older_than in "
                      "retention.toml); the cutoff goes back to that day's UTC midnight")
    when.add_argument("--before", type=iso_time, metavar="DATE", help="prune the days before this UTC date")
    prune.add_argument("--archive", metavar="DIR", help="write each day to DIR/<table>/<day>.parquet with a "
                       "manifest before deleting it (default: archive in retention.toml); needs pyarrow")
    prune.add_argument("--dry-run", action="store_true", help="print what would go (rows, bytes), delete nothing")
    prune.set_defaults(func=cmd_prune)
    vacuum = db_sub.add_parser("vacuum", help="give the space of pruned rows back (SQLite: VACUUM, which locks "
                               "the file meanwhile; PostgreSQL: VACUUM (ANALYZE), optional since autovacuum runs)")
    add_db_argument(vacuum)
    vacuum.set_defaults(func=cmd_vacuum)


def _prune_cutoff(args: argparse.Namespace, settings: RetentionSettings) -> tuple[datetime, str]:
    """The cutoff (a UTC midnight) and where it came from."""
    if args.before is not None:
        return day_cutoff(args.before), f"before {args.before:%Y-%m-%d}"
    if args.older_than is not None:
        try:
            seconds = parse_duration(args.older_than)
        except ValueError as e:
            raise UsageError(f"--older-than: {e}") from None
        source = f"older than {args.older_than}"
    else:
        if settings.problem:
            raise UsageError(f"the retention setting is not usable: {settings.problem}")
        if settings.older_than_s is None:
            raise UsageError("say how old the rows to prune are: --older-than 90d (or --before DATE), or set "
                             f"older_than in {retention_path()}")
        seconds = settings.older_than_s
        source = f"older than {format_duration(seconds)} ({settings.source})"
    return day_cutoff(datetime.now(UTC) - timedelta(seconds=seconds)), source


def _require_our_schema(url: str) -> None:
    """Refuse before writing anything: an Agent Studio database is never changed. Read-only,
    so a missing SQLite file is an error, not a new empty file."""
    engine = create_db_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            state = schema_state(conn)
    finally:
        engine.dispose()
    if state.kind is SchemaKind.AGENT_STUDIO:
        raise DatabaseError("This is an Agent Studio database; it is read as it is and never pruned",
                            hint="prune the database studio-analytics writes to")
    if state.kind is not SchemaKind.STUDIO:
        raise DatabaseError(f"This is not a studio-analytics metrics database ({state.kind.value}); nothing to prune",
                            hint="check --db, or run `studio-analytics db upgrade` first")


def _archiver(folder: Path) -> Archiver:
    """archive(conn, table, day) through the Parquet archive, which lists each file in its
    manifest before returning (so a day is listed before its rows are deleted). Refuses,
    before anything is deleted, when the archive module or pyarrow is missing."""
    try:
        from studio_analytics.archive.parquet_archive import day_archiver, pyarrow_available
    except ImportError as e:
        raise UsageError(f"--archive is not available in this installation ({e}); nothing was deleted") from None
    if not pyarrow_available():
        raise UsageError("--archive needs pyarrow: install studio-analytics[archive]; nothing was deleted")
    return day_archiver(folder)


def cmd_prune(args: argparse.Namespace) -> int:
    url = _url(args)
    settings = load_retention()
    cutoff, source = _prune_cutoff(args, settings)
    folder_text = args.archive or (str(settings.archive_dir) if settings.archive_dir and not settings.problem else None)
    folder = Path(folder_text).expanduser() if folder_text else None
    with database_errors(url):
        _require_our_schema(url)
        archive = _archiver(folder) if folder is not None and not args.dry_run else None
        engine = create_db_engine(url)
        try:
            print(f"database: {safe_url(url)}")
            print(f"cutoff:   {cutoff:%Y-%m-%d %H:%M} UTC (rows {source})")
            if folder is not None:
                print(f"archive:  {folder}")
            if args.dry_run:
                with engine.connect() as conn:
                    plan = plan_prune(conn, cutoff=cutoff)
                _print_plan(plan)
                return 0
            report = prune(engine, cutoff=cutoff, archive=archive)
        finally:
            engine.dispose()
    _print_pruned(report)
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if report.problems else 0


def _print_plan(plan: PrunePlan) -> None:
    print("would delete (dry run, nothing deleted):")
    for table, n in plan.rows.items():
        print(f"  {table:28} {n:>12,} rows")
    span = f", {len(plan.days)} UTC days ({plan.days[0]} .. {plan.days[-1]})" if plan.days else ""
    print(f"  {'total':28} {plan.total_rows:>12,} rows, about {_mb(plan.bytes_estimate)}{span}")


def _print_pruned(report: PruneReport) -> None:
    print(f"{'table':30} {'rows deleted':>12} {'seconds':>8} {'batches':>8} {'longest batch':>14}")
    for table, t in report.tables.items():
        print(f"{table:30} {t.rows:>12,} {t.seconds:>8.2f} {t.batches:>8,} {t.longest_batch_ms:>11.1f} ms")
    retries = sum(t.lock_retries for t in report.tables.values())
    if retries:
        print(f"{retries:,} batches found the database locked by another program past the busy timeout and "
              "were tried again")
    print(f"deleted {report.rows:,} rows in {report.seconds:.2f} s; longest single batch transaction "
          f"{report.longest_batch_ms:.1f} ms; the rollups were kept")
    for note in report.kept:
        print(f"kept: {note}")
    if report.rows:
        print("the file keeps its size until `studio-analytics db vacuum` (SQLite); PostgreSQL's autovacuum "
              "makes the space reusable")


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:,.1f} MB"


def cmd_vacuum(args: argparse.Namespace) -> int:
    url = _url(args)
    with database_errors(url):
        _require_our_schema(url)
        engine = create_db_engine(url)
        try:
            result = vacuum(engine)
        finally:
            engine.dispose()
    print(f"database: {safe_url(url)}")
    if result.tables:
        print(f"VACUUM (ANALYZE) of {', '.join(result.tables)} in {result.seconds:.1f} s "
              f"(database {_mb(result.bytes_before)} -> {_mb(result.bytes_after)}; PostgreSQL keeps the space "
              "for new rows rather than returning it to the system)")
    else:
        print(f"VACUUM in {result.seconds:.1f} s: file {_mb(result.bytes_before)} -> {_mb(result.bytes_after)}")
    return 0


__all__ = ["register"]
