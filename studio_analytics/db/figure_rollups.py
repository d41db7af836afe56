"""Rollups of revision 0004: sessions, users and error groups, kept like the others.

What the older rollups could not hold, because the figure does not add up across hours
from a sum per name: distinct sessions (per range and per user), per-user latency
percentiles and cost, and failures grouped by message signature with their agents and
tools. The writer adds each batch in its own transaction (:func:`apply_figure_rollups`,
called from :func:`studio_analytics.db.rollups.apply_rollups`);
:func:`rebuild_figure_rollups` recomputes them from the raw rows.

Times are the raw rows' own (execution start); an execution's failed tool calls are
counted once, when the later of the two rows (execution or tool) is written.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import case, delete, func, insert, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.db.bulk import execute_values
from studio_analytics.db.capabilities import has_model_calls, tables_present_once
from studio_analytics.db.error_signature import error_example, error_signature
from studio_analytics.db.models import (
    FAILURE_VALUES,
    SUCCESS_VALUES,
    TIMEOUT_VALUES,
    AgentExecutionMetrics,
    ModelCallMetrics,
    ToolUsageMetrics,
)
from studio_analytics.db.rollup_models import (
    FIGURE_ROLLUP_MODELS,
    FIGURE_ROLLUP_TABLES,
    ErrorHourlyRollup,
    ErrorToolHourlyRollup,
    ModelUserHourlyRollup,
    SessionHourlyRollup,
    UserHourlyRollup,
    UserLatencyDailyRollup,
    UserLatencyRollup,
)
from studio_analytics.db.rows import Row, hour_of_text, pg_time, position

HOUR_S = 3600
DAY_S = 86_400
_SUCCESS = frozenset(SUCCESS_VALUES)
_FAILURE = frozenset(FAILURE_VALUES)
_TIMEOUT = frozenset(TIMEOUT_VALUES)
_ERROR = _FAILURE | _TIMEOUT
#: tool statuses that make a tool "affected" by its execution's error (as the Errors tab
#: always counted them)
TOOL_ERROR_VALUES = FAILURE_VALUES + TIMEOUT_VALUES

_SESSION_ADDS = ("executions", "successes", "finished")
_USER_ADDS = ("executions", "failures", "finished", "tokens")


def figure_rollups_available(conn: Connection) -> bool:
    """The 0004 tables exist (kept per DBAPI connection once found, like the others)."""
    return tables_present_once(conn, "studio_analytics.figure_rollups", FIGURE_ROLLUP_TABLES)


# -- the writer's increments ----------------------------------------------------------
_STATEMENTS: dict[tuple[str, str], tuple[str, str]] = {}


def _upsert_sql(dialect: str, table: str, keys: tuple[str, ...], adds: tuple[str, ...],
                least: tuple[str, ...] = (), greatest: tuple[str, ...] = ()) -> tuple[str, str]:
    cached = _STATEMENTS.get((dialect, table))
    if cached is not None:
        return cached
    columns = keys + adds + least + greatest
    sets = [f"{c} = {table}.{c} + excluded.{c}" for c in adds]
    lo, hi = ("min", "max") if dialect == "sqlite" else ("LEAST", "GREATEST")
    # PostgreSQL compares text by the database's collation: "C" orders by code point, as
    # SQLite's BINARY and Python's min() do (an example message must not depend on it).
    collate = "" if dialect == "sqlite" else ' COLLATE "C"'
    for c in least:
        text = collate if c == "example" else ""
        sets.append(f"{c} = {lo}({table}.{c}{text}, excluded.{c}{text})")
    sets += [f"{c} = {hi}({table}.{c}, excluded.{c})" for c in greatest]
    statement = (f"INSERT INTO {table} ({', '.join(columns)})",
                 f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(sets)}")
    _STATEMENTS[(dialect, table)] = statement
    return statement


def _write(conn: Connection, table: str, keys: tuple[str, ...], adds: tuple[str, ...], rows: list[tuple[Any, ...]],
           least: tuple[str, ...] = (), greatest: tuple[str, ...] = ()) -> None:
    if rows:
        execute_values(conn, _upsert_sql(conn.dialect.name, table, keys, adds, least, greatest), sorted(rows))


def _time(conn: Connection, text: str) -> str | None:
    return text if conn.dialect.name == "sqlite" else pg_time(text)


_EXECUTION_FIELDS = itemgetter(*(position("execution", c) for c in (
    "execution_id", "start_time", "end_time", "agent_name", "status", "duration_ms", "error_message", "session_id",
    "user_id", "tokens_used")))
_TOOL_FIELDS = itemgetter(*(position("tool", c) for c in ("execution_id", "tool_name", "status")))
_MODEL_FIELDS = itemgetter(*(position("model", c) for c in ("start_time", "user_id", "cost_usd")))


def apply_figure_rollups(conn: Connection, *, executions: Sequence[Row] = (), tools: Sequence[Row] = (),
                         models: Sequence[Row] = ()) -> None:
    """Add rows just inserted (wire rows) to the 0004 rollups. Reads the database only for
    failed executions and failed tool calls (to pair them), never for the rest."""
    if executions:
        _roll_sessions_users_errors(conn, executions)
    if executions or tools:
        _roll_error_tools(conn, executions, tools)
    if models:
        _roll_model_users(conn, models)


def _roll_sessions_users_errors(conn: Connection, rows: Sequence[Row]) -> None:
    from studio_analytics.db.rollups import latency_bucket

    # accumulators: sessions: _SESSION_ADDS, first start, last start, last end;
    # users: _USER_ADDS, last start; errors: errors, timeouts, first, last, example
    sessions: dict[tuple[int, str], list[Any]] = {}
    users: dict[tuple[int, str, str], list[Any]] = {}
    latency: Counter[tuple[int, str, int]] = Counter()
    errors: dict[tuple[int, str, str], list[Any]] = {}
    for _, start, end, agent, status, d, message, session, user, tokens in map(_EXECUTION_FIELDS, rows):
        hour = hour_of_text(start)
        finished = status in _SUCCESS or status in _ERROR
        if session:
            last_end = end if end is not None and end > start else start
            acc = sessions.get((hour, session))
            if acc is None:
                acc = sessions[(hour, session)] = [0, 0, 0, start, start, last_end]
            acc[0] += 1
            acc[1] += status in _SUCCESS
            acc[2] += finished
            acc[3] = min(acc[3], start)
            acc[4] = max(acc[4], start)
            acc[5] = max(acc[5], last_end)
        key = (hour, user, session or "") if user else (hour, "", "")
        by = users.get(key)
        if by is None:
            by = users[key] = [0, 0, 0, 0, start]
        by[0] += 1
        by[1] += status in _ERROR
        by[2] += finished
        by[3] += tokens or 0
        by[4] = max(by[4], start)
        if user and d is not None:
            latency[(hour, user, latency_bucket(d))] += 1
        if status in _ERROR:
            example = error_example(message)
            cell = errors.get((hour, error_signature(message), agent))
            if cell is None:
                cell = errors[(hour, error_signature(message), agent)] = [0, 0, start, start, example]
            cell[0] += 1
            cell[1] += status in _TIMEOUT
            cell[2] = min(cell[2], start)
            cell[3] = max(cell[3], start)
            cell[4] = min(cell[4], example)
    _write(conn, "rollup_session_hourly", ("hour", "session_id"), _SESSION_ADDS,
           [(*k, *v[:3], *(_time(conn, t) for t in v[3:])) for k, v in sessions.items()],
           least=("first_start",), greatest=("last_start", "last_end"))
    _write(conn, "rollup_user_hourly", ("hour", "user_id", "session_id"), _USER_ADDS,
           [(*k, *v[:4], _time(conn, v[4])) for k, v in users.items()], greatest=("last_start",))
    if latency:
        _write(conn, "rollup_user_latency", ("hour", "user_id", "bucket"), ("n",),
               [(*k, n) for k, n in latency.items()])
        days: Counter[tuple[int, str, int]] = Counter()
        for (hour, user, bucket), n in latency.items():
            days[(hour // DAY_S * DAY_S, user, bucket)] += n
        _write(conn, "rollup_user_latency_daily", ("day", "user_id", "bucket"), ("n",),
               [(*k, n) for k, n in days.items()])
    _write(conn, "rollup_error_hourly", ("hour", "signature", "agent_name"), ("errors", "timeouts"),
           # in the statement's column order: adds, then least, then greatest
           [(*k, v[0], v[1], _time(conn, v[2]), v[4], _time(conn, v[3])) for k, v in errors.items()],
           least=("first_start", "example"), greatest=("last_start",))


def _roll_error_tools(conn: Connection, executions: Sequence[Row], tools: Sequence[Row]) -> None:
    """Pairs of (failed execution, failed tool call of it), each counted once: when the
    execution is written (its tools already in the database, this batch's included), or
    when a tool is written after its failed execution."""
    failed = {e[0]: e for e in map(_EXECUTION_FIELDS, executions) if e[4] in _ERROR}
    in_batch = {e[0] for e in map(_EXECUTION_FIELDS, executions)}
    cells: Counter[tuple[int, str, str]] = Counter()
    if failed:
        for execution_id, tool, n in _failed_tools_of(conn, sorted(failed)):
            e = failed[execution_id]
            cells[(hour_of_text(e[1]), error_signature(e[6]), tool)] += n
    late = Counter((t[0], t[1]) for t in map(_TOOL_FIELDS, tools)
                   if t[0] is not None and t[2] in _ERROR and t[0] not in in_batch)
    if late:
        found = _failed_executions(conn, sorted({execution_id for execution_id, _ in late}))
        for (execution_id, tool), n in late.items():
            e = found.get(execution_id)
            if e is not None:
                cells[(hour_of_text(e[0]), error_signature(e[1]), tool)] += n
    _write(conn, "rollup_error_tool_hourly", ("hour", "signature", "tool_name"), ("calls",),
           [(*k, n) for k, n in cells.items()])


def _hex(value: Any) -> str:
    return value.hex if isinstance(value, uuid.UUID) else value


def _ids_param(conn: Connection, ids: list[str]) -> tuple[str, tuple[Any, ...]]:
    if conn.dialect.name == "postgresql":
        return "= ANY(%s::uuid[])", (ids,)
    return f"IN ({', '.join('?' * len(ids))})", tuple(ids)


def _failed_tools_of(conn: Connection, execution_ids: list[str]) -> Iterable[tuple[str, str, int]]:
    statuses = ", ".join(f"'{v}'" for v in TOOL_ERROR_VALUES)
    for i in range(0, len(execution_ids), 500):
        where, params = _ids_param(conn, execution_ids[i:i + 500])
        for execution_id, tool, n in conn.exec_driver_sql(
                f"SELECT execution_id, tool_name, count(*) FROM tool_usage_metrics WHERE execution_id {where} "
                f"AND status IN ({statuses}) GROUP BY execution_id, tool_name", params):
            yield _hex(execution_id), tool, int(n)


def _failed_executions(conn: Connection, execution_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """Start (as the writer's time text) and message of those executions that failed."""
    from studio_analytics.db.rows import datetime_text

    statuses = ", ".join(f"'{v}'" for v in FAILURE_VALUES + TIMEOUT_VALUES)
    out: dict[str, tuple[str, str | None]] = {}
    for i in range(0, len(execution_ids), 500):
        where, params = _ids_param(conn, execution_ids[i:i + 500])
        for execution_id, start, message in conn.exec_driver_sql(
                f"SELECT execution_id, start_time, error_message FROM agent_execution_metrics "
                f"WHERE execution_id {where} AND status IN ({statuses})", params):
            out[_hex(execution_id)] = (start if isinstance(start, str) else datetime_text(start), message)
    return out


def _roll_model_users(conn: Connection, rows: Sequence[Row]) -> None:
    cells: dict[tuple[int, str], list[Any]] = {}
    for start, user, cost in map(_MODEL_FIELDS, rows):
        if not user:
            continue
        acc = cells.setdefault((hour_of_text(start), user), [0, 0.0, 0])
        acc[0] += 1
        if cost is None:
            acc[2] += 1
        else:
            acc[1] += cost
    _write(conn, "rollup_model_user_hourly", ("hour", "user_id"), ("calls", "cost_usd", "unpriced_calls"),
           [(*k, *v) for k, v in cells.items()])


# -- rebuilding from the raw rows -----------------------------------------------------
def _count_in(values: tuple[str, ...]) -> ColumnElement[Any]:
    aem = AgentExecutionMetrics
    return func.coalesce(func.sum(case((aem.status.in_(values), 1), else_=0)), 0)


def _insert_sessions(conn: Connection, *where: Any) -> None:
    """``rollup_session_hourly`` rows of the executions matching ``where``."""
    from studio_analytics.db.rollups import epoch_bucket_sql

    aem = AgentExecutionMetrics
    hour = epoch_bucket_sql(conn.dialect.name, aem.start_time, HOUR_S)
    finished = _count_in(SUCCESS_VALUES + FAILURE_VALUES + TIMEOUT_VALUES)
    conn.execute(insert(SessionHourlyRollup).from_select(
        ["hour", "session_id", *_SESSION_ADDS, "first_start", "last_start", "last_end"],
        select(hour, aem.session_id, func.count(), _count_in(SUCCESS_VALUES), finished, func.min(aem.start_time),
               func.max(aem.start_time),
               func.max(case((aem.end_time > aem.start_time, aem.end_time), else_=aem.start_time)))
        .where(*where, aem.session_id.isnot(None), aem.session_id != "").group_by(hour, aem.session_id)))


def _has_user() -> ColumnElement[bool]:
    aem = AgentExecutionMetrics
    return aem.user_id.isnot(None) & (aem.user_id != "")


def _insert_users(conn: Connection, *where: Any) -> None:
    """``rollup_user_hourly`` rows of the executions matching ``where``: no user, one row
    per hour (session ''); a user's executions per session ('' for none)."""
    from studio_analytics.db.rollups import epoch_bucket_sql

    aem = AgentExecutionMetrics
    hour = epoch_bucket_sql(conn.dialect.name, aem.start_time, HOUR_S)
    user = case((_has_user(), aem.user_id), else_=literal(""))
    session = case((_has_user(), func.coalesce(aem.session_id, literal(""))), else_=literal(""))
    finished = _count_in(SUCCESS_VALUES + FAILURE_VALUES + TIMEOUT_VALUES)
    conn.execute(insert(UserHourlyRollup).from_select(
        ["hour", "user_id", "session_id", *_USER_ADDS, "last_start"],
        select(hour, user, session, func.count(), _count_in(FAILURE_VALUES + TIMEOUT_VALUES), finished,
               func.coalesce(func.sum(aem.tokens_used), 0), func.max(aem.start_time))
        .where(*where).group_by(hour, user, session)))


def _insert_user_latency(conn: Connection, model: Any, *where: Any) -> None:
    """``model`` (the hourly or the daily per-user histogram) from the executions matching
    ``where``."""
    from studio_analytics.db.rollups import epoch_bucket_sql, latency_bucket_sql

    aem = AgentExecutionMetrics
    period, size = ("day", DAY_S) if model is UserLatencyDailyRollup else ("hour", HOUR_S)
    when = epoch_bucket_sql(conn.dialect.name, aem.start_time, size)
    bucket = latency_bucket_sql(conn.dialect.name, aem.duration_ms)
    conn.execute(insert(model).from_select(
        [period, "user_id", "bucket", "n"],
        select(when, aem.user_id, bucket, func.count())
        .where(*where, _has_user(), aem.duration_ms.isnot(None))
        .group_by(when, aem.user_id, bucket)))


def _insert_model_users(conn: Connection, *where: Any) -> None:
    from studio_analytics.db.rollups import epoch_bucket_sql

    m = ModelCallMetrics
    hour = epoch_bucket_sql(conn.dialect.name, m.start_time, HOUR_S)
    conn.execute(insert(ModelUserHourlyRollup).from_select(
        ["hour", "user_id", "calls", "cost_usd", "unpriced_calls"],
        select(hour, m.user_id, func.count(), func.coalesce(func.sum(m.cost_usd), 0),
               func.coalesce(func.sum(case((m.cost_usd.is_(None), 1), else_=0)), 0))
        .where(*where, m.user_id.isnot(None), m.user_id != "").group_by(hour, m.user_id)))


def rebuild_figure_rollups(conn: Connection, *, since_day: int | None = None) -> None:
    """Recompute the 0004 rollups from the raw rows, from the UTC day ``since_day`` (POSIX
    seconds) on, or all of them; rows before that day are kept (their raw rows were
    pruned). Nothing on a database without the tables."""
    if not figure_rollups_available(conn):
        return
    from studio_analytics.db.rollups import _from_epoch, epoch_bucket_sql

    for model in FIGURE_ROLLUP_MODELS:
        if model is ModelUserHourlyRollup:
            continue  # with the model calls' rollups (db reprice rebuilds them too)
        period = model.day if "day" in model.__table__.c else model.hour
        conn.execute(delete(model) if since_day is None else delete(model).where(period >= since_day))
    dialect = conn.dialect.name
    aem, tum = AgentExecutionMetrics, ToolUsageMetrics
    since = [] if since_day is None else [aem.start_time >= _from_epoch(since_day)]
    hour = epoch_bucket_sql(dialect, aem.start_time, HOUR_S)
    _insert_sessions(conn, *since)
    _insert_users(conn, *since)
    for model in (UserLatencyRollup, UserLatencyDailyRollup):
        _insert_user_latency(conn, model, *since)

    failed = aem.status.in_(FAILURE_VALUES + TIMEOUT_VALUES)
    errors: dict[tuple[int, str, str], list[Any]] = {}
    for h, message, agent, n, timeouts, first, last in conn.execute(
            select(hour, aem.error_message, aem.agent_name, func.count(), _count_in(TIMEOUT_VALUES),
                   func.min(aem.start_time), func.max(aem.start_time))
            .where(*since, failed).group_by(hour, aem.error_message, aem.agent_name)):
        example = error_example(message)
        cell = errors.get((int(h), error_signature(message), agent))
        if cell is None:
            errors[(int(h), error_signature(message), agent)] = [int(n), int(timeouts), first, last, example]
            continue
        cell[0] += int(n)
        cell[1] += int(timeouts)
        cell[2], cell[3], cell[4] = min(cell[2], first), max(cell[3], last), min(cell[4], example)
    _insert_many(conn, ErrorHourlyRollup, ("hour", "signature", "agent_name", "errors", "timeouts", "first_start",
                                           "last_start", "example"), [(*k, *v) for k, v in errors.items()])
    tools: Counter[tuple[int, str, str]] = Counter()
    for h, message, tool, n in conn.execute(
            select(hour, aem.error_message, tum.tool_name, func.count())
            .select_from(aem.__table__.join(tum.__table__, tum.execution_id == aem.execution_id))
            .where(*since, failed, tum.status.in_(TOOL_ERROR_VALUES))
            .group_by(hour, aem.error_message, tum.tool_name)):
        tools[(int(h), error_signature(message), tool)] += int(n)
    _insert_many(conn, ErrorToolHourlyRollup, ("hour", "signature", "tool_name", "calls"),
                 [(*k, n) for k, n in tools.items()])
    if has_model_calls(conn):
        rebuild_model_user_rollup(conn, since_hour=since_day)


def rebuild_model_user_rollup(conn: Connection, *, since_hour: int | None = None) -> None:
    """``rollup_model_user_hourly`` from the raw model calls (from ``since_hour`` on)."""
    if not figure_rollups_available(conn):
        return
    from studio_analytics.db.rollups import _from_epoch

    m, r = ModelCallMetrics, ModelUserHourlyRollup
    conn.execute(delete(r) if since_hour is None else delete(r).where(r.hour >= since_hour))
    _insert_model_users(conn, *([] if since_hour is None else [m.start_time >= _from_epoch(since_hour)]))


# -- cells a fix-up moved rows out of or into -------------------------------------------
def refresh_figure_cells(conn: Connection, *, sessions: Iterable[tuple[int, str]] = (),
                         users: Iterable[tuple[int, str]] = (), model_users: Iterable[tuple[int, str]] = ()
                         ) -> None:
    """Recompute these cells from the raw rows: ``sessions`` (hour, session id) of
    ``rollup_session_hourly``; ``users`` (hour, user id, '' for none) of
    ``rollup_user_hourly`` and of the user's hourly and daily latency histograms;
    ``model_users`` (hour, user id) of ``rollup_model_user_hourly``. For a fix-up that
    changed a stored row's session or user: the cells it left and the ones it joined hold
    minima and maxima that no difference can correct. The raw rows of an hour that has
    any are all there (a prune deletes whole days)."""
    if not figure_rollups_available(conn):
        return
    from studio_analytics.db.rollups import _from_epoch

    aem = AgentExecutionMetrics

    def in_period(column: Any, start: int, size: int = HOUR_S) -> tuple[Any, Any]:
        return column >= _from_epoch(start), column < _from_epoch(start + size)

    r = SessionHourlyRollup
    for hour, session in sorted(set(sessions)):
        if not session:
            continue
        conn.execute(delete(r).where(r.hour == hour, r.session_id == session))
        _insert_sessions(conn, *in_period(aem.start_time, hour), aem.session_id == session)
    days: set[tuple[int, str]] = set()
    for hour, user in sorted(set(users)):
        u = UserHourlyRollup
        conn.execute(delete(u).where(u.hour == hour, u.user_id == user))
        who = aem.user_id == user if user else ~_has_user()
        _insert_users(conn, *in_period(aem.start_time, hour), who)
        if user:
            lat = UserLatencyRollup
            conn.execute(delete(lat).where(lat.hour == hour, lat.user_id == user))
            _insert_user_latency(conn, lat, *in_period(aem.start_time, hour), who)
            days.add((hour // DAY_S * DAY_S, user))
    for day, user in sorted(days):
        lat_day = UserLatencyDailyRollup
        conn.execute(delete(lat_day).where(lat_day.day == day, lat_day.user_id == user))
        _insert_user_latency(conn, lat_day, *in_period(aem.start_time, day, DAY_S), aem.user_id == user)
    m, mu = ModelCallMetrics, ModelUserHourlyRollup
    for hour, user in sorted(set(model_users)):
        if not user:
            continue
        conn.execute(delete(mu).where(mu.hour == hour, mu.user_id == user))
        _insert_model_users(conn, *in_period(m.start_time, hour), m.user_id == user)


def move_failed_tool_calls(conn: Connection, moves: Sequence[tuple[str | None, str | None, str]]) -> None:
    """Failed tool calls whose execution a fix-up changed, as (old execution id, new
    execution id, tool name): the (failed execution, failed tool call) pairs of
    ``rollup_error_tool_hourly`` lose the old one and gain the new one, each only where
    that execution is stored and failed (as :func:`apply_figure_rollups` counted it)."""
    if not moves or not figure_rollups_available(conn):
        return
    found = _failed_executions(conn, sorted({e for old, new, _ in moves for e in (old, new) if e}))
    cells: Counter[tuple[int, str, str]] = Counter()
    for old, new, tool in moves:
        for execution_id, step in ((old, -1), (new, 1)):
            e = found.get(execution_id) if execution_id else None
            if e is not None:
                cells[(hour_of_text(e[0]), error_signature(e[1]), tool)] += step
    changes = [(*k, n) for k, n in cells.items() if n]
    _write(conn, "rollup_error_tool_hourly", ("hour", "signature", "tool_name"), ("calls",), changes)
    t = ErrorToolHourlyRollup
    for hour, signature, tool, n in changes:
        if n < 0:
            conn.execute(delete(t).where(t.hour == hour, t.signature == signature, t.tool_name == tool,
                                         t.calls <= 0))


def _insert_many(conn: Connection, model: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    for i in range(0, len(rows), 5_000):
        conn.execute(insert(model), [dict(zip(columns, r, strict=True)) for r in sorted(rows)[i:i + 5_000]])


__all__ = ["TOOL_ERROR_VALUES", "apply_figure_rollups", "figure_rollups_available", "move_failed_tool_calls",
           "rebuild_figure_rollups", "rebuild_model_user_rollup", "refresh_figure_cells"]
