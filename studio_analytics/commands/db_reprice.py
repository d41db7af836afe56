"""``studio-analytics db reprice [--since DATE] [--dry-run]``: recompute the stored cost of
model calls from the current prices (the shipped table and your file), after a price
changed or a model got one.

Only costs that came from the price table are recomputed; a cost the agent recorded
(``set_cost``) stays. A call whose model has no price any more becomes unpriced (NULL),
never $0. The model rollups are rebuilt from the first hour repriced, in the same
transaction, so every figure follows. ``--dry-run`` does all of it and rolls back.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from studio_analytics.commands.failures import database_errors
from studio_analytics.commands.options import db_url_from_args, iso_time
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.engine import create_db_engine, safe_url
from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.migrate import schema_state
from studio_analytics.db.model_costs import (
    clear_model_call_costs,
    list_priced_call_groups,
    sum_model_call_costs,
    update_model_call_costs,
)
from studio_analytics.db.rollups import HOUR_S, rebuild_model_rollups
from studio_analytics.db.schema_state import SchemaKind
from studio_analytics.pricing import PriceFileError, PriceTable, load_prices


def add_reprice_parser(db_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    reprice = db_sub.add_parser("reprice", help="recompute stored model-call costs from the current prices "
                                                "(after a price change), and the rollups with them")
    add_db_argument(reprice)
    reprice.add_argument("--since", type=iso_time, metavar="DATE",
                         help="only calls that started at or after this ISO date or time (naive = UTC)")
    reprice.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    reprice.set_defaults(func=cmd_reprice)


@dataclass
class RepriceReport:
    calls: int = 0  # repriceable calls (cost from the price table, or none)
    repriced: int = 0  # given a cost from the table
    newly_priced: int = 0
    newly_unpriced: int = 0
    unpriced_calls: int = 0  # calls of models with no price
    unpriced_models: list[str] = field(default_factory=list)
    cost_before: float = 0.0
    cost_after: float = 0.0
    rollup_rows: int = 0


def reprice_model_calls(conn: Connection, prices: PriceTable, *, since: datetime | None) -> RepriceReport:
    """Reprice every (model, provider) group of repriceable calls, then rebuild the
    model rollups from ``since``'s hour (all of them without ``since``)."""
    report = RepriceReport()
    before = sum_model_call_costs(conn, since=since)
    report.calls, report.cost_before = before.calls, before.cost_usd
    for group in list_priced_call_groups(conn, since=since):
        price = prices.lookup(group.model, group.provider)
        if price is None:
            clear_model_call_costs(conn, model=group.model, provider=group.provider, since=since)
            report.newly_unpriced += group.priced
            report.unpriced_calls += group.calls
            report.unpriced_models.append(group.model + (f" ({group.provider})" if group.provider else ""))
            continue
        update_model_call_costs(conn, model=group.model, provider=group.provider,
                                input_per_mtok=price.input_per_mtok, output_per_mtok=price.output_per_mtok,
                                cached_input_per_mtok=price.cached_input_per_mtok, since=since)
        report.repriced += group.with_tokens
        report.newly_priced += group.with_tokens - group.priced_with_tokens
        # a cost on a call without token counts cannot come from a price: it goes
        report.newly_unpriced += group.priced - group.priced_with_tokens
        report.unpriced_calls += group.calls - group.with_tokens
    report.cost_after = sum_model_call_costs(conn, since=since).cost_usd
    since_hour = None if since is None else int(since.timestamp()) // HOUR_S * HOUR_S
    report.rollup_rows = sum(rebuild_model_rollups(conn, since_hour=since_hour).values())
    return report


def cmd_reprice(args: argparse.Namespace) -> int:
    url = db_url_from_args(args)
    try:
        prices = load_prices(strict=True)  # a broken price file must not reprice with the shipped table
    except PriceFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with database_errors(url):
        _require_model_calls(url)
        engine = create_db_engine(url)
        try:
            with engine.connect() as conn, conn.begin() as transaction:
                report = reprice_model_calls(conn, prices, since=args.since)
                if args.dry_run:  # everything was computed in the transaction; none of it is kept
                    transaction.rollback()
        finally:
            engine.dispose()
    _print_report(url, prices, args, report)
    return 0


def _require_model_calls(url: str) -> None:
    """Refuse before writing: an Agent Studio database is never changed, and one of ours
    before revision 0003 has no model calls. Read-only, so a missing SQLite file is an
    error, not a new empty file."""
    engine = create_db_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            state = schema_state(conn)
            found = state.kind is SchemaKind.STUDIO and has_model_calls(conn)
    finally:
        engine.dispose()
    if state.kind is SchemaKind.AGENT_STUDIO:
        raise DatabaseError("This is an Agent Studio database: it has no model calls, and studio-analytics "
                            "does not change it", hint="point --db at a studio-analytics database")
    if not found:
        raise DatabaseError("This database has no model calls to reprice",
                            hint="`studio-analytics db upgrade` adds them to a studio-analytics database "
                                 "(revision 0003)")


def _print_report(url: str, prices: PriceTable, args: argparse.Namespace, report: RepriceReport) -> None:
    print(f"database:        {safe_url(url)}")
    yours = (f" + your file {prices.user_file} ({_plural(len(prices.user), 'price')})"
             if prices.user_file_loaded else "")
    print(f"prices:          shipped table of {prices.as_of}{yours}")
    print(f"calls:           {report.calls:,} with a cost from the price table or none"
          + (f", started at or after {args.since.isoformat()}" if args.since else ""))
    print(f"repriced:        {report.repriced:,}")
    print(f"newly priced:    {report.newly_priced:,}")
    print(f"newly unpriced:  {report.newly_unpriced:,}")
    if report.unpriced_models:
        shown = ", ".join(report.unpriced_models[:10])
        more = f" and {len(report.unpriced_models) - 10} more" if len(report.unpriced_models) > 10 else ""
        print(f"no price:        {shown}{more} (`studio-analytics prices check MODEL`)")
    print(f"still unpriced:  {report.unpriced_calls:,} calls (no price, or no token count)")
    change = report.cost_after - report.cost_before
    print(f"cost before:     ${report.cost_before:,.6f}")
    print(f"cost after:      ${report.cost_after:,.6f} ({'+' if change >= 0 else '-'}${abs(change):,.6f})")
    print("recorded costs (set by the agent) are kept as they are")
    if args.dry_run:
        print("dry run: nothing was changed")
    else:
        start = (f"from {datetime.fromtimestamp(int(args.since.timestamp()) // HOUR_S * HOUR_S, UTC):%Y-%m-%d %H:00} "
                 "UTC on" if args.since else "")
        print(f"model rollups rebuilt {start}".rstrip() + f" (their tables hold {report.rollup_rows:,} rows)")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


__all__ = ["RepriceReport", "add_reprice_parser", "cmd_reprice", "reprice_model_calls"]
