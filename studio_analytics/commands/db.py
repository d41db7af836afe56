"""``studio-analytics db upgrade|check|rebuild-rollups``: create, upgrade and inspect the
schema, and recompute the hourly rollups from the raw rows."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from studio_analytics.config import resolve_db_url
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
    check.set_defaults(func=cmd_check)
    rebuild = db_sub.add_parser("rebuild-rollups",
                                help="recompute the hourly rollups from the raw rows (after a bulk import)")
    add_db_argument(rebuild)
    rebuild.set_defaults(func=cmd_rebuild_rollups)


def _url(args: argparse.Namespace) -> str:
    return resolve_db_url(getattr(args, "db", None))


def cmd_upgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    try:
        engine = create_db_engine(url)
        result = upgrade_database(engine, add_indexes=args.add_indexes)
    except Exception as e:  # noqa: BLE001 - every failure becomes one clear line
        err = translate_error(e, url)
        print(f"error: {err.message}\n  database: {safe_url(url)}" + (f"\n  hint: {err.hint}" if err.hint else ""), file=sys.stderr)
        return 1
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
    except Exception as e:  # noqa: BLE001
        err = translate_error(e, url)
        if args.format == "json":
            print(json.dumps({"ok": False, "error": err.message, "hint": err.hint, "url": safe_url(url)}))
        else:
            print(f"error: {err.message}" + (f"\n  hint: {err.hint}" if err.hint else ""), file=sys.stderr)
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
    }
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:16} {value}")
    return 0 if state.readable else 1


def cmd_rebuild_rollups(args: argparse.Namespace) -> int:
    url = _url(args)
    try:
        engine = create_db_engine(url)
        with engine.begin() as conn:
            if not rollups_available(conn):
                raise DatabaseError("This database has no rollup tables",
                                    hint="run `studio-analytics db upgrade` first (Agent Studio databases are "
                                         "read from raw rows and get no rollups)")
            counts = rebuild_rollups(conn)
    except Exception as e:  # noqa: BLE001
        err = translate_error(e, url)
        print(f"error: {err.message}" + (f"\n  hint: {err.hint}" if err.hint else ""), file=sys.stderr)
        return 1
    print(f"database: {safe_url(url)}")
    for table, n in counts.items():
        print(f"{table:32} {n:>10,} rows")
    return 0


__all__ = ["register"]
