"""Where the raw rows start after a prune (done here with plain SQL: raw rows go, the
rollups stay), against figures read from the raw rows before the prune, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from studio_analytics.analytics.pruning import PrunedRange, pruned_in, raw_rows_start
from studio_analytics.analytics.results import Bucket, TimeRange
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    ModelCallMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.rollup_models import AgentHourlyRollup
from studio_analytics.demo.generator import backfill
from tests.pg_databases import pg_database

PRUNED = (AgentExecutionMetrics, ToolUsageMetrics, WorkflowMetrics, ModelCallMetrics)


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _pruned(url: str) -> PrunedRange | None:
    engine = create_db_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            return raw_rows_start(conn)
    finally:
        engine.dispose()


def _prune(url: str, cutoff: datetime) -> None:
    engine = create_db_engine(url)
    with engine.begin() as conn:
        for model in PRUNED:
            conn.execute(delete(model).where(model.start_time < cutoff))
    engine.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_raw_rows_start_after_a_prune(dialect: str, request: pytest.FixtureRequest, tmp_path: Any) -> None:
    if dialect == "sqlite":
        _case(f"sqlite:///{tmp_path / 'pruned.sqlite3'}")
    else:
        with pg_database(request.getfixturevalue("pg_server_url")) as url:
            _case(url)


def _case(url: str) -> None:
    now = datetime.now(UTC)
    backfill(url, executions=150, days=12, seed=7)
    assert _pruned(url) is None  # nothing pruned: every rollup hour still has its raw rows
    cutoff = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=6)
    engine = create_db_engine(url, read_only=True)
    with engine.connect() as conn:
        starts = sorted(_utc(t) for (t,) in conn.execute(select(AgentExecutionMetrics.start_time)))
        first_hour = conn.execute(select(func.min(AgentHourlyRollup.hour))).scalar()
    engine.dispose()
    last_gone = max(t for t in starts if t < cutoff)
    _prune(url, cutoff)

    pruned = _pruned(url)
    oldest = min(t for t in starts if t >= cutoff)
    assert pruned == PrunedRange(raw_start=oldest, first_hour=datetime.fromtimestamp(first_hour, UTC),
                                 pruned_until=_hour(last_gone) + timedelta(hours=1))
    assert pruned.first_hour == _hour(starts[0])
    # ranges: reaching back into the pruned hours, lying wholly before the raw rows, or after them
    day = timedelta(days=1)
    assert pruned.reaches(now - 30 * day, now) and not pruned.covers(now - 30 * day, now)
    assert pruned.reaches(cutoff - 2 * day, cutoff) and pruned.covers(cutoff - 2 * day, cutoff)
    assert not pruned.reaches(oldest, now) and not pruned.reaches(now - 60 * day, now - 40 * day)
    tr = TimeRange(now - 30 * day, now, Bucket.DAY, "30d")
    assert pruned_in(pruned, tr) is pruned
    assert pruned_in(pruned, tr, after=oldest) is None  # a brushed span after the prune
    assert pruned_in(None, tr) is None
    assert pruned.message(Path("/srv/archive")) == (
        f"Raw rows pruned before {oldest:%Y-%m-%d} (UTC) — archived in /srv/archive "
        "(restore with `studio-analytics db restore /srv/archive --from …`)")
    assert pruned.message(None) == f"Raw rows pruned before {oldest:%Y-%m-%d} (UTC) — not archived"

    _prune(url, now + day)  # every raw row gone: the rollups still say until when there were some
    everything = _pruned(url)
    assert everything is not None and everything.raw_start is None
    assert everything.pruned_until == _hour(starts[-1]) + timedelta(hours=1)
    assert everything.covers(now - 30 * day, now)
    assert everything.message(None).startswith(f"Raw rows pruned before {everything.pruned_until:%Y-%m-%d} (UTC)")
