"""Workflow performance per type, and each type's runs and duration over time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import BigInteger, Select, String, bindparam, cast, func, literal, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.results import (
    TimeRange,
    WorkflowPerformance,
    WorkflowPerformanceRow,
)
from studio_analytics.analytics.rollup_sources import (
    Histogram,
    RangeSplit,
    by_name,
    cached_statement,
    combined,
    histogram_percentiles,
    hour_bucket,
    mean,
    percentile_value,
    raw_only,
    split_range,
    within,
    zsum,
)
from studio_analytics.analytics.sql import (
    NAME_SEPARATOR,
    bucket_epoch,
    in_range,
    is_finished,
    is_success,
    percentile_columns,
)
from studio_analytics.analytics.timerange import BUCKET_SECONDS, bucket_starts
from studio_analytics.db.models import WorkflowMetrics as WM
from studio_analytics.db.rollup_models import (
    WorkflowHourlyRollup,
    WorkflowLatencyDailyRollup,
    WorkflowLatencyRollup,
)
from studio_analytics.db.rollups import DAY_S, HOUR_S

WORKFLOW_SORTS = {"workflow_type", "runs", "successes", "success_rate", "avg_duration_ms", "p95_duration_ms",
                  "avg_agent_count", "total_tool_calls", "total_api_calls", "total_tokens", "avg_satisfaction",
                  "avg_completion_rate"}


def workflow_performance(conn: Connection, tr: TimeRange, *, sort: str = "runs", descending: bool = True,
                         limit: int = 100) -> WorkflowPerformance:
    if sort not in WORKFLOW_SORTS:
        raise ValueError(f"cannot sort workflows by {sort!r}")
    where = in_range(WM.start_time, tr)
    split = split_range(conn, tr)
    R = WorkflowHourlyRollup

    def raw(w: ColumnElement[bool]) -> Select[Any]:
        return select(
            WM.workflow_type.label("workflow_type"), func.count().label("runs"),
            func.sum(is_success(WM.status)).label("successes"), func.sum(is_finished(WM.status)).label("finished"),
            func.count(WM.duration_ms).label("duration_count"), func.sum(WM.duration_ms).label("duration_sum"),
            func.sum(WM.agent_count).label("agent_count_sum"), func.sum(WM.total_tool_calls).label("tool_calls"),
            func.sum(WM.total_api_calls).label("api_calls"), func.sum(WM.total_tokens_used).label("tokens"),
            func.count(WM.user_satisfaction_score).label("satisfaction_count"),
            func.sum(WM.user_satisfaction_score).label("satisfaction_sum"),
            func.count(WM.task_completion_rate).label("completion_count"),
            func.sum(WM.task_completion_rate).label("completion_sum"),
        ).where(w).group_by(WM.workflow_type)

    rolled = select(R.workflow_type, R.runs, R.successes, R.finished, R.duration_count, R.duration_sum,
                    R.agent_count_sum, R.tool_calls, R.api_calls, R.tokens, R.satisfaction_count, R.satisfaction_sum,
                    R.completion_count, R.completion_sum)
    u = combined(split, raw, WM.start_time, rolled, R.hour)
    base = select(
        u.c.workflow_type, zsum(u.c.runs).label("runs"), zsum(u.c.successes).label("successes"),
        zsum(u.c.finished).label("finished"), mean(u.c.duration_sum, u.c.duration_count).label("avg_duration_ms"),
        mean(u.c.agent_count_sum, u.c.runs).label("avg_agent_count"),
        zsum(u.c.tool_calls).label("total_tool_calls"), zsum(u.c.api_calls).label("total_api_calls"),
        zsum(u.c.tokens).label("total_tokens"),
        mean(u.c.satisfaction_sum, u.c.satisfaction_count).label("avg_satisfaction"),
        mean(u.c.completion_sum, u.c.completion_count).label("avg_completion_rate"),
        zsum(u.c.satisfaction_count).label("satisfaction_count"), zsum(u.c.completion_count).label("completion_count"),
    ).group_by(u.c.workflow_type).subquery()
    if split.uses_rollups:
        pct = histogram_percentiles(
            conn, split, (0.95,), raw_key=WM.workflow_type, raw_value=WM.duration_ms, raw_time=WM.start_time,
            raw_filter=true(),
            histogram=Histogram(WorkflowLatencyRollup, WorkflowLatencyDailyRollup, by_name("workflow_type")),
        )
    else:
        pct = percentile_columns(conn, WM.duration_ms, WM.workflow_type, where, (0.95,))
    success_rate = (base.c.successes * 1.0 / func.nullif(base.c.finished, 0)).label("success_rate")
    sort_col = {"success_rate": success_rate, "p95_duration_ms": pct.c.p95}.get(sort, base.c.get(sort, base.c.runs))
    order = sort_col.desc() if descending else sort_col.asc()
    rows = conn.execute(
        select(base, success_rate, pct.c.p95, func.count().over().label("all_groups"))
        .join(pct, pct.c.key == base.c.workflow_type, isouter=True)
        .order_by(order.nulls_last(), base.c.workflow_type).limit(limit), split.params()
    ).mappings().all()
    trends = workflow_trends(conn, tr, [r["workflow_type"] for r in rows], split=split)
    f = _f
    return WorkflowPerformance(
        rows=tuple(
            WorkflowPerformanceRow(
                workflow_type=r["workflow_type"], runs=int(r["runs"]), successes=int(r["successes"]),
                success_rate=f(r["success_rate"]), avg_duration_ms=f(r["avg_duration_ms"]),
                p95_duration_ms=percentile_value(split, r["p95"]), avg_agent_count=f(r["avg_agent_count"]),
                total_tool_calls=int(r["total_tool_calls"]), total_api_calls=int(r["total_api_calls"]),
                total_tokens=int(r["total_tokens"]), avg_satisfaction=f(r["avg_satisfaction"]),
                avg_completion_rate=f(r["avg_completion_rate"]),
                satisfaction_count=int(r["satisfaction_count"]), completion_count=int(r["completion_count"]),
                approximate=split.uses_rollups,
            )
            for r in rows
        ),
        trends=trends,
        total_rows=int(rows[0]["all_groups"]) if rows else 0,
    )


class WorkflowTrend(NamedTuple):
    """One workflow type's figures per bucket: numpy arrays over the range's bucket
    starts, NaN where a bucket has no run (no finished run, for the success rate).
    A tuple, so ``trend[1]`` is still the runs as before the duration and rate trends."""

    bucket_starts: np.ndarray
    runs: np.ndarray  # int64
    avg_duration_ms: np.ndarray
    p95_duration_ms: np.ndarray  # from the rollups' histograms: within 4.4 %
    success_rate: np.ndarray  # successes / finished runs


def workflow_trends(conn: Connection, tr: TimeRange, names: Sequence[str], *,
                    split: RangeSplit | None = None) -> dict[str, WorkflowTrend]:
    """Runs, average and p95 duration and success rate per bucket of each workflow type
    in ``names`` (the types of the tab's rows: a bounded list). Whole hours come from the
    hourly rollup and its latency histograms, partial hours and minute buckets from raw rows."""
    size = BUCKET_SECONDS[tr.bucket]
    starts = bucket_starts(tr)
    index = {b: i for i, b in enumerate(starts)}
    n = len(starts)
    x = np.asarray(starts, dtype=np.float64)
    runs = {name: np.zeros(n, dtype=np.int64) for name in names}
    avg = {name: np.full(n, np.nan) for name in names}
    p95 = {name: np.full(n, np.nan) for name in names}
    rate = {name: np.full(n, np.nan) for name in names}
    if names:
        # Minute buckets are finer than the rollups: those (short) ranges read raw rows.
        split = (split or split_range(conn, tr)) if size >= HOUR_S else raw_only(tr)
        params = {**split.params(), "wf_names": list(names)}
        shape = (conn.dialect.name, split.shape, size)

        def build_counts() -> Any:
            R = WorkflowHourlyRollup
            bucket = bucket_epoch(conn, WM.start_time, size).label("b")

            def raw(w: ColumnElement[bool]) -> Select[Any]:
                return select(WM.workflow_type.label("workflow_type"), bucket, func.count().label("runs"),
                              func.sum(is_success(WM.status)).label("successes"),
                              func.sum(is_finished(WM.status)).label("finished"),
                              func.count(WM.duration_ms).label("duration_count"),
                              func.sum(WM.duration_ms).label("duration_sum")).where(
                    w, WM.workflow_type.in_(_NAMES)).group_by(WM.workflow_type, bucket)

            rolled = select(R.workflow_type, hour_bucket(R.hour, size).label("b"), R.runs, R.successes, R.finished,
                            R.duration_count, R.duration_sum).where(R.workflow_type.in_(_NAMES))
            t = combined(split, raw, WM.start_time, rolled, R.hour)
            return select(t.c.workflow_type, t.c.b, zsum(t.c.runs), zsum(t.c.successes), zsum(t.c.finished),
                          mean(t.c.duration_sum, t.c.duration_count)).group_by(t.c.workflow_type, t.c.b)

        # Statements built once per shape (names and times are bound): building them
        # cost more Python time than the database's answer.
        counts = cached_statement(("workflow_trends", *shape), build_counts)
        for wtype, b, count, successes, finished, average in conn.execute(counts, params):
            i = index.get(int(b))
            if i is not None and wtype in runs:
                runs[wtype][i] = count
                avg[wtype][i] = np.nan if average is None else float(average)
                rate[wtype][i] = successes / finished if finished else np.nan
        p95_stmt = cached_statement(("workflow_trend_p95", *shape), lambda: _trend_p95(conn, split, size))
        for key, value in conn.execute(p95_stmt, params):
            ms = percentile_value(split, value)
            name, _, b = str(key).rpartition(NAME_SEPARATOR)
            i = index.get(int(b))
            if ms is not None and i is not None and name in p95:
                p95[name][i] = ms
    return {name: WorkflowTrend(x, runs[name], avg[name], p95[name], rate[name]) for name in names}


#: the workflow types a trend statement reads (an expanding bound list)
_NAMES = bindparam("wf_names", expanding=True)


def _trend_p95(conn: Connection, split: RangeSplit, size: int) -> Any:
    """``key, p95`` per (workflow type, bucket start), the key being the type and the
    bucket joined by NAME_SEPARATOR: a percentile query groups by one key."""

    def key(name: Any, bucket: Any) -> Any:
        return name + literal(NAME_SEPARATOR) + cast(cast(bucket, BigInteger), String)

    raw_key = key(WM.workflow_type, bucket_epoch(conn, WM.start_time, size))
    mine = WM.workflow_type.in_(_NAMES)
    if split.uses_rollups:
        pct = histogram_percentiles(
            conn, split, (0.95,), raw_key=raw_key, raw_value=WM.duration_ms, raw_time=WM.start_time, raw_filter=mine,
            histogram=Histogram(
                WorkflowLatencyRollup, WorkflowLatencyDailyRollup if size == DAY_S else None,
                lambda model, period: key(model.workflow_type,
                                          model.day if period == "day" else hour_bucket(model.hour, size)),
                lambda model: model.workflow_type.in_(_NAMES),
            ),
        )
    else:
        pct = percentile_columns(conn, WM.duration_ms, raw_key, within(WM.start_time, 0) & mine, (0.95,))
    return select(pct.c.key, pct.c.p95)


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
