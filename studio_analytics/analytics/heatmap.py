"""Usage heatmap: executions and failures by weekday × hour of day, in a time zone.

SQL counts the range's executions per UTC hour — from the hourly rollups (summed over
agents) plus the raw rows of the partial edge hours, or from raw rows only when a user
is asked for (the rollups have no user) — and the at most one row per hour of the range
is folded into the 7 × 24 grid here, each UTC hour placed by its start in ``tz``.

Daylight saving time: every hour is converted with the offset in force at that moment,
so a range across a change is placed correctly on both sides; the repeated autumn hour
adds two UTC hours to one cell and the skipped spring hour leaves its cell without that
day. In a zone with a half-hour offset (India, UTC+05:30) an hour is placed by its
start, 30 minutes early.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Select, bindparam, func, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.analytics.results import TimeRange
from studio_analytics.analytics.rollup_sources import (
    cached_statement,
    combined,
    raw_only,
    split_range,
    zsum,
)
from studio_analytics.analytics.sql import bucket_epoch, is_failure, is_timeout
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.rollup_models import AgentHourlyRollup
from studio_analytics.db.rollups import HOUR_S

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Grid = tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True)
class UsageHeatmap:
    """``executions[weekday][hour]`` (Monday = 0) and ``failures`` (failed or timed out)."""

    executions: Grid
    failures: Grid
    zone: str  # the zone the weekdays and hours are in ("UTC", "CET", "UTC+0530")
    user_id: str | None = None
    agent_name: str | None = None
    #: whole hours came from the rollups (False: every row was read)
    from_rollups: bool = False

    @property
    def total_executions(self) -> int:
        return sum(map(sum, self.executions))

    @property
    def total_failures(self) -> int:
        return sum(map(sum, self.failures))


def usage_heatmap(conn: Connection, tr: TimeRange, *, user_id: str | None = None, agent_name: str | None = None,
                  tz: tzinfo | None = UTC) -> UsageHeatmap:
    """The executions of ``tr`` (of one user or agent when given) by weekday and hour in
    ``tz`` (None: this computer's time zone, as the window's "local time")."""
    split = raw_only(tr) if user_id is not None else split_range(conn, tr)

    def build() -> Any:
        R = AgentHourlyRollup
        raw_filter: ColumnElement[bool] = true()
        if user_id is not None:
            raw_filter = raw_filter & (AEM.user_id == bindparam("user_id"))
        if agent_name is not None:
            raw_filter = raw_filter & (AEM.agent_name == bindparam("agent_name"))
        hour = bucket_epoch(conn, AEM.start_time, HOUR_S)

        def raw(where: ColumnElement[bool]) -> Select[Any]:
            return select(hour.label("hour"), func.count().label("executions"),
                          func.sum(is_failure(AEM.status) + is_timeout(AEM.status)).label("failures"),
                          ).where(where, raw_filter).group_by(hour)

        rolled = select(R.hour.label("hour"), func.sum(R.executions).label("executions"),
                        func.sum(R.failures + R.timeouts).label("failures")).group_by(R.hour)
        if agent_name is not None:
            rolled = rolled.where(R.agent_name == bindparam("agent_name"))
        u = combined(split, raw, AEM.start_time, rolled, R.hour)
        return select(u.c.hour, zsum(u.c.executions).label("executions"), zsum(u.c.failures).label("failures")
                      ).group_by(u.c.hour)

    key = ("usage_heatmap", conn.dialect.name, split.shape, user_id is not None, agent_name is not None)
    params = split.params()
    if user_id is not None:
        params["user_id"] = user_id
    if agent_name is not None:
        params["agent_name"] = agent_name
    executions = [[0] * 24 for _ in range(7)]
    failures = [[0] * 24 for _ in range(7)]
    for hour, n, failed in conn.execute(cached_statement(key, build), params):
        local = datetime.fromtimestamp(int(hour), UTC).astimezone(tz)
        executions[local.weekday()][local.hour] += int(n)
        failures[local.weekday()][local.hour] += int(failed or 0)
    return UsageHeatmap(
        executions=tuple(map(tuple, executions)), failures=tuple(map(tuple, failures)),
        zone=zone_label(tz, tr.end), user_id=user_id, agent_name=agent_name, from_rollups=split.uses_rollups,
    )


def zone_label(tz: tzinfo | None, at: datetime) -> str:
    """The zone's name at ``at`` ("UTC", "CET"), or its offset where it has none."""
    moment = at.astimezone(tz)
    return moment.tzname() or moment.strftime("UTC%z")
