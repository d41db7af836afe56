"""User activity: one row per ``user_id`` of the range's executions, aggregated in SQL.

Whole hours come from the 0004 rollups (``rollup_user_hourly`` per hour, user and
session; ``rollup_user_latency(_daily)``; ``rollup_model_user_hourly``), the partial hours
at the ends from raw rows (``ix_exec_user_time``, ``ix_model_user_time``), so a pruned
period keeps every figure. The p95 duration is, like the Agents tab's, the per-user
histogram's bucket of the nearest-rank value (within 4.4 %) when the range has whole
hours, exact otherwise (see :func:`~studio_analytics.analytics.sql.percentile_columns`);
unless the list is sorted by it, it is computed only for the users of the returned page.

Executions without a ``user_id`` (or with an empty one) are not a row (a "(no user)" row
could not be opened or filtered on); their number is ``no_user_executions``. Sessions are
the distinct ``session_id`` of the user's executions in the range. Cost comes from the
user's model calls of the range under :mod:`~studio_analytics.analytics.cost`'s rule:
unpriced calls are counted, never priced at $0, and a user whose calls are all unpriced
has no cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, select, true
from sqlalchemy.engine import Connection

from studio_analytics.analytics.cost import priced_cost, unpriced
from studio_analytics.analytics.figure_sources import figure_split, user_parts
from studio_analytics.analytics.results import TimeRange
from studio_analytics.analytics.rollup_sources import (
    Histogram,
    RangeSplit,
    by_name,
    combined,
    histogram_percentiles,
    percentile_value,
    within,
)
from studio_analytics.analytics.sql import percentile_columns
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.rollup_models import (
    ModelUserHourlyRollup,
    UserLatencyDailyRollup,
    UserLatencyRollup,
)

USER_SORTS = ("user_id", "sessions", "executions", "failures", "failure_rate", "p95_duration_ms", "tokens",
              "cost_usd", "unpriced_calls", "last_seen")


@dataclass(frozen=True, slots=True)
class UserActivityRow:
    user_id: str
    sessions: int  # distinct sessions of the user's executions in the range
    executions: int
    failures: int  # failed or timed out
    failure_rate: float | None  # failures / finished executions (None: none finished)
    p95_duration_ms: float | None  # from the per-user histograms for whole hours (within 4.4 %), else exact
    tokens: int  # the executions' tokens_used
    last_seen: datetime | None  # the user's latest execution start in the range
    #: the user's model calls: cost of the priced ones (None when none is priced, or on
    #: a database without model calls) and how many have no known cost
    cost_usd: float | None = None
    unpriced_calls: int = 0


@dataclass(frozen=True, slots=True)
class UserActivity:
    rows: tuple[UserActivityRow, ...]  # in the order asked for, at most ``limit``
    #: users in the range, whatever the limit on ``rows``
    total_rows: int
    #: executions of the range with a user (all users, not only the rows)
    total_executions: int
    #: executions of the range without a user_id: in no row
    no_user_executions: int
    #: False on a database without model calls: cost is unknown, not zero
    has_cost: bool = True


def user_activity(conn: Connection, tr: TimeRange, *, sort: str = "executions", descending: bool = True,
                  limit: int = 200) -> UserActivity:
    """Per user of ``tr``'s executions, sorted by ``sort`` (NULLs last, then user id)."""
    if sort not in USER_SORTS:
        raise ValueError(f"cannot sort users by {sort!r}; use one of {', '.join(USER_SORTS)}")
    models = has_model_calls(conn)
    split = figure_split(conn, tr)
    parts = user_parts(split)
    session = case((parts.c.session_id != "", parts.c.session_id))
    base = select(
        parts.c.user_id.label("user_id"), func.sum(parts.c.executions).label("executions"),
        func.count(session.distinct()).label("sessions"), func.sum(parts.c.failures).label("failures"),
        func.sum(parts.c.finished).label("finished"), func.coalesce(func.sum(parts.c.tokens), 0).label("tokens"),
        func.max(parts.c.last_start).label("last_seen"),
    ).where(parts.c.user_id != "").group_by(parts.c.user_id).subquery()
    failure_rate = (base.c.failures * 1.0 / func.nullif(base.c.finished, 0)).label("failure_rate")
    columns: list[Any] = [base.c.user_id, base.c.executions, base.c.sessions, base.c.failures, base.c.tokens,
                          base.c.last_seen, failure_rate,
                          func.count().over().label("all_groups"), func.sum(base.c.executions).over().label("all_exec")]
    sorts: dict[str, Any] = {"failure_rate": failure_rate}
    query = select(*columns)
    if models:
        m = _model_costs(split)
        cost = priced_cost(m.c.cost, m.c.calls, m.c.unpriced).label("cost_usd")
        unpriced_calls = func.coalesce(m.c.unpriced, 0).label("unpriced_calls")
        query = query.add_columns(cost, unpriced_calls).join(m, m.c.user_id == base.c.user_id, isouter=True)
        sorts.update(cost_usd=cost, unpriced_calls=unpriced_calls)
    else:
        query = query.add_columns(literal(None).label("cost_usd"), literal(0).label("unpriced_calls"))

    def order(key: Any) -> tuple[Any, Any]:
        return (key.desc() if descending else key.asc()).nulls_last(), base.c.user_id.asc()

    if sort != "p95_duration_ms" and sort not in sorts and sort not in base.c:
        sort = "executions"  # cost on a database without model calls: no such column
    params = split.params()
    if sort == "p95_duration_ms":  # the sort needs every user's p95
        pct = _p95(conn, split, None)
        query = query.add_columns(pct.c.p95).join(pct, pct.c.key == base.c.user_id, isouter=True)
        rows = conn.execute(query.order_by(*order(pct.c.p95)).limit(limit), params).mappings().all()
    else:
        page = query.order_by(*order(sorts.get(sort, base.c.get(sort)))).limit(limit).cte("page")
        pct = _p95(conn, split, select(page.c.user_id))
        key = page.c[sort]
        ordered = (key.desc() if descending else key.asc()).nulls_last(), page.c.user_id.asc()
        rows = conn.execute(select(page, pct.c.p95).join(pct, pct.c.key == page.c.user_id, isouter=True)
                            .order_by(*ordered), params).mappings().all()
    no_user = conn.execute(select(func.sum(parts.c.executions)).where(parts.c.user_id == ""), params).scalar()
    return UserActivity(
        rows=tuple(
            UserActivityRow(
                user_id=r["user_id"], sessions=int(r["sessions"]), executions=int(r["executions"]),
                failures=int(r["failures"] or 0), failure_rate=_f(r["failure_rate"]),
                p95_duration_ms=percentile_value(split, r["p95"]), tokens=int(r["tokens"]),
                last_seen=r["last_seen"], cost_usd=_f(r["cost_usd"]), unpriced_calls=int(r["unpriced_calls"] or 0),
            )
            for r in rows
        ),
        total_rows=int(rows[0]["all_groups"]) if rows else 0,
        total_executions=int(rows[0]["all_exec"]) if rows else 0,
        no_user_executions=int(no_user or 0),
        has_cost=models,
    )


def _model_costs(split: RangeSplit) -> Any:
    """Subquery ``user_id, calls, cost, unpriced`` of the range's model calls with a user."""
    def raw(where: Any) -> Any:
        return select(MCM.user_id.label("user_id"), func.count().label("calls"), func.sum(MCM.cost_usd).label("cost"),
                      func.sum(unpriced(MCM.cost_usd)).label("unpriced")).where(
            where, MCM.user_id.isnot(None), MCM.user_id != "").group_by(MCM.user_id)

    r = ModelUserHourlyRollup
    rolled = select(r.user_id.label("user_id"), r.calls.label("calls"), r.cost_usd.label("cost"),
                    r.unpriced_calls.label("unpriced"))
    u = combined(split, raw, MCM.start_time, rolled, r.hour)
    return select(u.c.user_id, func.sum(u.c.calls).label("calls"), func.sum(u.c.cost).label("cost"),
                  func.sum(u.c.unpriced).label("unpriced")).group_by(u.c.user_id).subquery()


def _p95(conn: Connection, split: RangeSplit, users: Any) -> Any:
    """Subquery ``key, p95`` per user (of ``users``, a select of user ids; None: all):
    from the per-user latency histograms where the range has whole hours (a bucket: see
    :func:`~studio_analytics.analytics.rollup_sources.percentile_value`), else exact."""
    mine = AEM.user_id.isnot(None) & (AEM.user_id != "")
    if users is not None:
        mine = mine & AEM.user_id.in_(users)
    if not split.uses_rollups:
        return percentile_columns(conn, AEM.duration_ms, AEM.user_id, within(AEM.start_time, 0) & mine, (0.95,))
    histogram = Histogram(UserLatencyRollup, UserLatencyDailyRollup, by_name("user_id"),
                          where=(lambda model: true()) if users is None else (lambda model: model.user_id.in_(users)))
    return histogram_percentiles(conn, split, (0.95,), raw_key=AEM.user_id, raw_value=AEM.duration_ms,
                                 raw_time=AEM.start_time, raw_filter=mine, histogram=histogram)


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
