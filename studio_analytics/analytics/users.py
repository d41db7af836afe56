"""User activity: one row per ``user_id`` of the range's executions, aggregated in SQL.

There is no per-user rollup, so users are read from raw rows (``ix_exec_user_time``,
``ix_model_user_time``). The p95 duration is exact (see
:func:`~studio_analytics.analytics.sql.percentile_columns`) and, unless the list is
sorted by it, computed only for the users of the returned page: ranking the durations
of every user of a long range was most of the query's time.

Executions without a ``user_id`` are not a row (a "(no user)" row could not be opened
or filtered on); their number is ``no_user_executions``. Sessions are the distinct
``session_id`` of the user's executions in the range. Cost comes from the user's model
calls of the range under :mod:`~studio_analytics.analytics.cost`'s rule: unpriced calls
are counted, never priced at $0, and a user whose calls are all unpriced has no cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.cost import priced_cost, unpriced
from studio_analytics.analytics.results import TimeRange
from studio_analytics.analytics.sql import (
    in_range,
    is_failure,
    is_finished,
    is_timeout,
    percentile_columns,
)
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ModelCallMetrics as MCM

USER_SORTS = ("user_id", "sessions", "executions", "failures", "failure_rate", "p95_duration_ms", "tokens",
              "cost_usd", "unpriced_calls", "last_seen")


@dataclass(frozen=True, slots=True)
class UserActivityRow:
    user_id: str
    sessions: int  # distinct sessions of the user's executions in the range
    executions: int
    failures: int  # failed or timed out
    failure_rate: float | None  # failures / finished executions (None: none finished)
    p95_duration_ms: float | None  # exact, from the raw rows
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
    has_user = AEM.user_id.isnot(None)
    where = in_range(AEM.start_time, tr)
    base = select(
        AEM.user_id.label("user_id"), func.count().label("executions"),
        func.count(AEM.session_id.distinct()).label("sessions"),
        func.sum(is_failure(AEM.status) + is_timeout(AEM.status)).label("failures"),
        func.sum(is_finished(AEM.status)).label("finished"),
        func.coalesce(func.sum(AEM.tokens_used), 0).label("tokens"),
        func.max(AEM.start_time).label("last_seen"),
    ).where(where, has_user).group_by(AEM.user_id).subquery()
    failure_rate = (base.c.failures * 1.0 / func.nullif(base.c.finished, 0)).label("failure_rate")
    columns: list[Any] = [base.c.user_id, base.c.executions, base.c.sessions, base.c.failures, base.c.tokens,
                          base.c.last_seen, failure_rate,
                          func.count().over().label("all_groups"), func.sum(base.c.executions).over().label("all_exec")]
    sorts: dict[str, Any] = {"failure_rate": failure_rate}
    query = select(*columns)
    if models:
        m = select(MCM.user_id.label("user_id"), func.count().label("calls"), func.sum(MCM.cost_usd).label("cost"),
                   func.sum(unpriced(MCM.cost_usd)).label("unpriced")).where(
            in_range(MCM.start_time, tr), MCM.user_id.isnot(None)).group_by(MCM.user_id).subquery()
        cost = priced_cost(m.c.cost, m.c.calls, m.c.unpriced).label("cost_usd")
        unpriced_calls = func.coalesce(m.c.unpriced, 0).label("unpriced_calls")
        query = query.add_columns(cost, unpriced_calls).join(m, m.c.user_id == base.c.user_id, isouter=True)
        sorts.update(cost_usd=cost, unpriced_calls=unpriced_calls)
    else:
        query = query.add_columns(literal(None).label("cost_usd"), literal(0).label("unpriced_calls"))

    def pct_of(users: Any) -> Any:
        return percentile_columns(conn, AEM.duration_ms, AEM.user_id, where & users, (0.95,))

    def order(key: Any) -> tuple[Any, Any]:
        return (key.desc() if descending else key.asc()).nulls_last(), base.c.user_id.asc()

    if sort != "p95_duration_ms" and sort not in sorts and sort not in base.c:
        sort = "executions"  # cost on a database without model calls: no such column
    if sort == "p95_duration_ms":  # the sort needs every user's p95
        pct = pct_of(has_user)
        query = query.add_columns(pct.c.p95).join(pct, pct.c.key == base.c.user_id, isouter=True)
        rows = conn.execute(query.order_by(*order(pct.c.p95)).limit(limit)).mappings().all()
    else:
        page = query.order_by(*order(sorts.get(sort, base.c.get(sort)))).limit(limit).cte("page")
        pct = pct_of(AEM.user_id.in_(select(page.c.user_id)))
        key = page.c[sort]
        ordered = (key.desc() if descending else key.asc()).nulls_last(), page.c.user_id.asc()
        rows = conn.execute(select(page, pct.c.p95).join(pct, pct.c.key == page.c.user_id, isouter=True)
                            .order_by(*ordered)).mappings().all()
    no_user = conn.execute(select(func.count()).select_from(AEM).where(where, AEM.user_id.is_(None))).scalar()
    return UserActivity(
        rows=tuple(
            UserActivityRow(
                user_id=r["user_id"], sessions=int(r["sessions"]), executions=int(r["executions"]),
                failures=int(r["failures"] or 0), failure_rate=_f(r["failure_rate"]),
                p95_duration_ms=_f(r["p95"]), tokens=int(r["tokens"]), last_seen=r["last_seen"],
                cost_usd=_f(r["cost_usd"]), unpriced_calls=int(r["unpriced_calls"] or 0),
            )
            for r in rows
        ),
        total_rows=int(rows[0]["all_groups"]) if rows else 0,
        total_executions=int(rows[0]["all_exec"]) if rows else 0,
        no_user_executions=int(no_user or 0),
        has_cost=models,
    )


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
