"""``studio-analytics db upgrade|check|rebuild-rollups|reprice``: create, upgrade and inspect
the schema, recompute the hourly rollups from the raw rows, and model-call costs from the
current prices (:mod:`studio_analytics.commands.db_reprice`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from studio_analytics.commands.db_reprice import add_reprice_parser
from studio_analytics.commands.failures import DRIVER_ERRORS, database_error_line, database_errors
from studio_analytics.commands.options import db_url_from_args
from studio_analytics.db.engine import create_db_engine, safe_url, translate_error
from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.migrate import database_size_bytes, schema_state, upgrade_database
from studio_analytics.db.rollups import rebuild_rollups, rollup_drift, rollups_available


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
        **_spool_report(url, args.spool),
    }
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            if key == "dead_letters":
                print(f"{key:16} {value:,} dead-letter rows (rejected by the database, kept in the spool)")
            elif key != "dead_letter_rows":
                print(f"{key:16} {value}")
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
                counts = rebuild_rollups(conn)
        finally:
            engine.dispose()
    print(f"database: {safe_url(url)}")
    for table, n in counts.items():
        print(f"{table:32} {n:>10,} rows")
    return 0


__all__ = ["register"]
