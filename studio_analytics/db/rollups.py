"""Incremental hourly rollups: kept by the tracker's writer, rebuilt from raw rows on demand.

Latency histogram scale: bucket ``b`` holds durations in ``[2**(b/8), 2**((b+1)/8))``
milliseconds (8 buckets per doubling), everything at or below ~1 µs in the lowest
bucket. A percentile read from the histogram is the bucket that holds the exact
nearest-rank value, reported at the bucket's geometric middle, so it is within
``PERCENTILE_RELATIVE_ERROR`` (2**(1/16) - 1 = 4.4%) of that value.

Functions here take a connection and never commit: the writer calls
:func:`apply_rollups` inside the batch's own transaction, so the raw rows and their
rollups are written together or not at all.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import BigInteger, Integer, case, cast, delete, func, insert, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.db.bulk import execute_values
from studio_analytics.db.capabilities import has_model_calls, tables_present
from studio_analytics.db.figure_rollups import (
    apply_figure_rollups,
    figure_rollups_available,
    rebuild_figure_rollups,
    rebuild_model_user_rollup,
)
from studio_analytics.db.models import (
    FAILURE_VALUES,
    SUCCESS_VALUES,
    TIMEOUT_VALUES,
    AgentExecutionMetrics,
    ModelCallMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.rollup_models import (
    MODEL_ROLLUP_MODELS,
    ROLLUP_MODELS,
    ROLLUP_TABLES,
    AgentHourlyRollup,
    AgentLatencyDailyRollup,
    AgentLatencyRollup,
    ExecutionLatencyRollup,
    ModelAgentHourlyRollup,
    ModelHourlyRollup,
    ModelLatencyDailyRollup,
    ModelLatencyRollup,
    ModelTtftDailyRollup,
    ModelTtftRollup,
    ToolAgentHourlyRollup,
    ToolHourlyRollup,
    ToolLatencyDailyRollup,
    ToolLatencyRollup,
    UserHourlyRollup,
    WorkflowHourlyRollup,
    WorkflowLatencyDailyRollup,
    WorkflowLatencyRollup,
)
from studio_analytics.db.rows import TOOL_AGENT, Row, datetime_text, hour_of_text, pg_time, position

HOUR_S = 3600
DAY_S = 86_400
BUCKETS_PER_OCTAVE = 8
MIN_BUCKET = -10 * BUCKETS_PER_OCTAVE  # 2**-10 ms (~1 µs) and below
MAX_BUCKET = 40 * BUCKETS_PER_OCTAVE  # 2**40 ms (35 years) and above
_MIN_MS = 2.0 ** (MIN_BUCKET / BUCKETS_PER_OCTAVE)
_MAX_MS = 2.0 ** (MAX_BUCKET / BUCKETS_PER_OCTAVE)
PERCENTILE_RELATIVE_ERROR = 2 ** (1 / (2 * BUCKETS_PER_OCTAVE)) - 1

#: Connection execution option: ``conn.execution_options(studio_analytics_rollups=False)``
#: makes the analytics read raw rows only (benchmarks, tests, checking the rollups).
USE_ROLLUPS_OPTION = "studio_analytics_rollups"

_SUCCESS = frozenset(SUCCESS_VALUES)
_FAILURE = frozenset(FAILURE_VALUES)
_TIMEOUT = frozenset(TIMEOUT_VALUES)


# -- scales -------------------------------------------------------------------------
def latency_bucket(ms: float) -> int:
    if not ms > _MIN_MS:  # also NaN
        return MIN_BUCKET
    if ms >= _MAX_MS:
        return MAX_BUCKET
    return math.floor(math.log2(ms) * BUCKETS_PER_OCTAVE)


def bucket_value(bucket: int) -> float:
    """The value a histogram bucket reports: its geometric middle."""
    return 2.0 ** ((bucket + 0.5) / BUCKETS_PER_OCTAVE)


def latency_bucket_sql(dialect: str, value: Any) -> ColumnElement[int]:
    """:func:`latency_bucket` in SQL (SQLite's ``log2`` and PostgreSQL's ``ln`` use the
    same C library function family as Python's ``math.log2``)."""
    log2 = func.log2(value) if dialect == "sqlite" else func.ln(value) / math.log(2)
    return case(
        (value <= _MIN_MS, MIN_BUCKET),
        (value >= _MAX_MS, MAX_BUCKET),
        else_=cast(func.floor(log2 * BUCKETS_PER_OCTAVE), Integer),
    )


def epoch_bucket_sql(dialect: str, column: Any, size_s: int) -> ColumnElement[int]:
    """The UTC-aligned bucket start of a timestamp column, in POSIX seconds."""
    if dialect == "sqlite":
        # op("/") keeps SQLite's integer division (SQLAlchemy's "/" would be true division)
        return cast(func.strftime("%s", column), Integer).op("/")(size_s) * size_s
    return cast(func.floor(func.extract("epoch", column) / size_s) * size_s, BigInteger)


# -- availability -------------------------------------------------------------------
def model_rollups_available(conn: Connection) -> bool:
    """The model-call rollups can be read (revision 0003, and raw rows were not asked for)."""
    if conn.get_execution_options().get(USE_ROLLUPS_OPTION, True) is False:
        return False
    return has_model_calls(conn)


def rollups_available(conn: Connection) -> bool:
    """True when this database has the rollup tables (our schema at 0002 or later) and
    the connection has not been told to read raw rows only."""
    if conn.get_execution_options().get(USE_ROLLUPS_OPTION, True) is False:
        return False
    cached = conn.info.get("studio_analytics.rollups")
    if cached is not None:
        return bool(cached)
    found = tables_present(conn, ROLLUP_TABLES)
    if found:
        # Tables are never dropped once created, so only a positive answer is kept
        # (per DBAPI connection); a database upgraded later is noticed on the next call.
        conn.info["studio_analytics.rollups"] = True
    return found


# -- the writer's increments --------------------------------------------------------
_AGENT_ADDS = ("executions", "successes", "failures", "timeouts", "finished", "duration_count", "duration_sum",
               "tool_calls", "tokens", "api_calls")
_TOOL_ADDS = ("calls", "successes", "failures", "finished", "duration_count", "duration_sum", "api_errors")
_WORKFLOW_ADDS = ("runs", "successes", "failures", "timeouts", "finished", "duration_count", "duration_sum",
                  "agent_count_sum", "tool_calls", "api_calls", "tokens", "satisfaction_count", "satisfaction_sum",
                  "completion_count", "completion_sum")
_MODEL_ADDS = ("calls", "successes", "failures", "timeouts", "finished", "duration_count", "duration_sum",
               "ttft_count", "ttft_sum", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
               "cost_usd", "unpriced_calls", "unpriced_input_tokens", "unpriced_output_tokens")
#: per model and agent, ``failures`` counts failed and timed-out calls together
_MODEL_AGENT_ADDS = ("calls", "failures", "duration_count", "duration_sum", "input_tokens", "output_tokens",
                     "cached_input_tokens", "cost_usd", "unpriced_calls")
_STATEMENTS: dict[tuple[str, str], tuple[str, str]] = {}


def _upsert_sql(dialect: str, table: str, keys: tuple[str, ...], adds: tuple[str, ...],
                latest: bool) -> tuple[str, str]:
    """Head and tail of the upsert that adds a batch's increments (for execute_values;
    each key occurs once per batch, as a multi-row upsert needs on PostgreSQL)."""
    cached = _STATEMENTS.get((dialect, table))
    if cached is not None:
        return cached
    columns = keys + adds + (("last_start",) if latest else ())
    sets = [f"{c} = {table}.{c} + excluded.{c}" for c in adds]
    if latest:
        greatest = "max" if dialect == "sqlite" else "GREATEST"
        sets.append(f"last_start = {greatest}({table}.last_start, excluded.last_start)")
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    statement = (f"INSERT INTO {table} ({', '.join(columns)})", f"ON CONFLICT ({', '.join(keys)}) {action}")
    _STATEMENTS[(dialect, table)] = statement
    return statement


def _classify(status: str, counts: list[Any], success: int, failure: int, timeout: int | None,
              finished: int) -> None:
    if status in _SUCCESS:
        counts[success] += 1
    elif status in _FAILURE:
        counts[failure] += 1
    elif status in _TIMEOUT:
        if timeout is not None:
            counts[timeout] += 1
    else:
        return
    counts[finished] += 1


Latency = Counter[tuple[int, str, int]]  # (hour, key, bucket) -> count


def apply_rollups(conn: Connection, *, executions: Sequence[Row] = (), tools: Sequence[Row] = (),
                  workflows: Sequence[Row] = (), models: Sequence[Row] = ()) -> None:
    """Add wire rows (:mod:`studio_analytics.db.rows`) that were just inserted (never
    rows that already existed) to the rollups.

    Rows are folded in Python into one increment per hour and key, then each table
    gets one ``INSERT .. ON CONFLICT DO UPDATE`` statement, keys in sorted order (so
    two writers on PostgreSQL lock rollup rows in the same order).
    """
    if executions:
        _roll_executions(conn, executions)
    if tools:
        _roll_tools(conn, tools)
    if workflows:
        _roll_workflows(conn, workflows)
    if models:
        _roll_models(conn, models)
    if (executions or tools or models) and figure_rollups_available(conn):
        apply_figure_rollups(conn, executions=executions, tools=tools, models=models)


_EXECUTION_FIELDS = itemgetter(*(position("execution", c) for c in (
    "start_time", "agent_name", "status", "duration_ms", "tool_count", "tokens_used", "api_calls_count")))
_TOOL_FIELDS = itemgetter(*(position("tool", c) for c in (
    "start_time", "tool_name", "external_api_called", "status", "duration_ms", "api_status_code")), TOOL_AGENT)
_MODEL_FIELDS = itemgetter(*(position("model", c) for c in (
    "start_time", "model", "provider", "agent_name", "status", "duration_ms", "time_to_first_token_ms",
    "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "cost_usd")))
_WORKFLOW_FIELDS = itemgetter(*(position("workflow", c) for c in (
    "start_time", "workflow_type", "status", "duration_ms", "agent_count", "total_tool_calls", "total_api_calls",
    "user_satisfaction_score", "task_completion_rate")))


def _roll_executions(conn: Connection, rows: Sequence[Row]) -> None:
    # accumulator: the _AGENT_ADDS columns in order, then the latest start
    agents: dict[tuple[int, str], list[Any]] = {}
    latency: Latency = Counter()
    overall: Counter[tuple[int, int]] = Counter()
    for start, name, status, d, tool_count, tokens, api_calls in map(_EXECUTION_FIELDS, rows):
        hour = hour_of_text(start)
        acc = agents.get((hour, name))
        if acc is None:
            acc = agents[(hour, name)] = [0, 0, 0, 0, 0, 0, 0.0, 0, 0, 0, start]
        acc[0] += 1
        _classify(status, acc, 1, 2, 3, 4)
        if d is not None:
            acc[5] += 1
            acc[6] += d
            b = latency_bucket(d)
            latency[(hour, name, b)] += 1
            overall[(hour, b)] += 1
        acc[7] += tool_count or 0
        acc[8] += tokens or 0
        acc[9] += api_calls or 0
        if start > acc[10]:
            acc[10] = start
    _write_totals(conn, "rollup_agent_hourly", ("hour", "agent_name"), _AGENT_ADDS, agents)
    _write_histograms(conn, "agent", "agent_name", latency)
    _write(conn, "rollup_execution_latency", ("hour", "bucket"), ("n",), False,
           [(*k, n) for k, n in sorted(overall.items())])


def _roll_tools(conn: Connection, rows: Sequence[Row]) -> None:
    # accumulator: the _TOOL_ADDS columns in order, then the latest start
    per_tool: dict[tuple[int, str, str], list[Any]] = {}
    by_agent: Counter[tuple[int, str, str]] = Counter()
    latency: Latency = Counter()
    for start, name, api, status, d, code, agent in map(_TOOL_FIELDS, rows):
        hour = hour_of_text(start)
        by_agent[(hour, name, agent or "")] += 1
        acc = per_tool.get((hour, name, api or ""))
        if acc is None:
            acc = per_tool[(hour, name, api or "")] = [0, 0, 0, 0, 0, 0.0, 0, start]
        acc[0] += 1
        _classify(status, acc, 1, 2, None, 3)
        if d is not None:
            acc[4] += 1
            acc[5] += d
            latency[(hour, name, latency_bucket(d))] += 1
        if api is not None and ((code is not None and code >= 400) or status in _FAILURE):
            acc[6] += 1
        if start > acc[7]:
            acc[7] = start
    _write_totals(conn, "rollup_tool_hourly", ("hour", "tool_name", "api"), _TOOL_ADDS, per_tool)
    _write(conn, "rollup_tool_agent_hourly", ("hour", "tool_name", "agent_name"), ("calls",), False,
           [(*k, n) for k, n in sorted(by_agent.items())])
    _write_histograms(conn, "tool", "tool_name", latency)


def _roll_workflows(conn: Connection, rows: Sequence[Row]) -> None:
    # accumulator: the _WORKFLOW_ADDS columns in order, then the latest start
    per_type: dict[tuple[int, str], list[Any]] = {}
    latency: Latency = Counter()
    for start, name, status, d, agent_count, tool_calls, api_calls, score, rate in map(_WORKFLOW_FIELDS, rows):
        hour = hour_of_text(start)
        acc = per_type.get((hour, name))
        if acc is None:
            acc = per_type[(hour, name)] = [0, 0, 0, 0, 0, 0, 0.0, 0, 0, 0, 0, 0, 0.0, 0, 0.0, start]
        acc[0] += 1
        _classify(status, acc, 1, 2, 3, 4)
        if d is not None:
            acc[5] += 1
            acc[6] += d
            latency[(hour, name, latency_bucket(d))] += 1
        acc[7] += agent_count or 0
        acc[8] += tool_calls or 0
        acc[9] += api_calls or 0
        if score is not None:
            acc[11] += 1
            acc[12] += score
        if rate is not None:
            acc[13] += 1
            acc[14] += rate
        if start > acc[15]:
            acc[15] = start
    _write_totals(conn, "rollup_workflow_hourly", ("hour", "workflow_type"), _WORKFLOW_ADDS, per_type)
    _write_histograms(conn, "workflow", "workflow_type", latency)


def _roll_models(conn: Connection, rows: Sequence[Row]) -> None:
    # accumulators: the _MODEL_ADDS columns in order, then the latest start; per agent
    # the _MODEL_AGENT_ADDS columns
    per_model: dict[tuple[int, str, str], list[Any]] = {}
    per_agent: dict[tuple[int, str, str], list[Any]] = {}
    latency: Latency = Counter()
    ttft: Latency = Counter()
    for start, name, provider, agent, status, d, first, n_in, n_out, n_cached, n_reason, cost in map(
            _MODEL_FIELDS, rows):
        hour = hour_of_text(start)
        acc = per_model.get((hour, name, provider or ""))
        if acc is None:
            acc = per_model[(hour, name, provider or "")] = [0, 0, 0, 0, 0, 0, 0.0, 0, 0.0, 0, 0, 0, 0, 0.0, 0, 0, 0,
                                                             start]
        by = per_agent.get((hour, name, agent or ""))
        if by is None:
            by = per_agent[(hour, name, agent or "")] = [0, 0, 0, 0.0, 0, 0, 0, 0.0, 0]
        acc[0] += 1
        by[0] += 1
        _classify(status, acc, 1, 2, 3, 4)
        if status in _FAILURE or status in _TIMEOUT:
            by[1] += 1
        if d is not None:
            acc[5] += 1
            acc[6] += d
            by[2] += 1
            by[3] += d
            latency[(hour, name, latency_bucket(d))] += 1
        if first is not None:
            acc[7] += 1
            acc[8] += first
            ttft[(hour, name, latency_bucket(first))] += 1
        acc[9] += n_in or 0
        acc[10] += n_out or 0
        acc[11] += n_cached or 0
        acc[12] += n_reason or 0
        by[4] += n_in or 0
        by[5] += n_out or 0
        by[6] += n_cached or 0
        if cost is None:
            acc[14] += 1
            acc[15] += n_in or 0
            acc[16] += n_out or 0
            by[8] += 1
        else:
            acc[13] += cost
            by[7] += cost
        if start > acc[17]:
            acc[17] = start
    _write_totals(conn, "rollup_model_hourly", ("hour", "model", "provider"), _MODEL_ADDS, per_model)
    _write(conn, "rollup_model_agent_hourly", ("hour", "model", "agent_name"), _MODEL_AGENT_ADDS, False,
           [(*k, *v) for k, v in sorted(per_agent.items())])
    _write_histograms(conn, "model", "model", latency)
    _write_histograms(conn, "model", "model", ttft, table="rollup_model_ttft")


def _write_totals(conn: Connection, table: str, keys: tuple[str, ...], adds: tuple[str, ...],
                  accumulated: Mapping[tuple[Any, ...], list[Any]]) -> None:
    """One row per key: the added columns, then the latest start time."""
    if conn.dialect.name == "sqlite":
        rows = [(*k, *v) for k, v in sorted(accumulated.items())]
    else:
        rows = [(*k, *v[:-1], pg_time(v[-1])) for k, v in sorted(accumulated.items())]
    _write(conn, table, keys, adds, True, rows)


def _write_histograms(conn: Connection, kind: str, key: str, latency: Latency, *, table: str | None = None) -> None:
    """A batch's latency counts into the kind's hourly and daily histograms (``table``
    and ``table``_daily; the kind's latency tables unless given)."""
    table = table or f"rollup_{kind}_latency"
    _write(conn, table, ("hour", key, "bucket"), ("n",), False, [(*k, n) for k, n in sorted(latency.items())])
    days: Latency = Counter()
    for (hour, name, bucket), n in latency.items():
        days[(hour // DAY_S * DAY_S, name, bucket)] += n
    _write(conn, f"{table}_daily", ("day", key, "bucket"), ("n",), False,
           [(*k, n) for k, n in sorted(days.items())])


def adjust_workflow_totals(conn: Connection, *, workflow_type: str, start_time: datetime, agent_count: int,
                           tool_calls: int, api_calls: int, tokens: int) -> None:
    """A workflow's totals were recomputed after its row was rolled up: add the change."""
    if not (agent_count or tool_calls or api_calls or tokens):
        return
    start = datetime_text(start_time)
    adds = [0, 0, 0, 0, 0, 0, 0.0, agent_count, tool_calls, api_calls, tokens, 0, 0.0, 0, 0.0, start]
    _write_totals(conn, "rollup_workflow_hourly", ("hour", "workflow_type"), _WORKFLOW_ADDS,
                  {(hour_of_text(start), workflow_type): adds})


# -- fix-ups: rows whose agent or totals became known after they were rolled up ------
def adjust_agent_totals(conn: Connection, changes: Sequence[tuple[str, str, int, int]]) -> None:
    """Executions whose tool calls or tokens grew after they were rolled up (ingested
    spans that arrived late): ``(agent_name, start_time text, tool_calls added, tokens
    added)`` each, added to ``rollup_agent_hourly``."""
    adds: dict[tuple[int, str], list[Any]] = {}
    for agent, start, tool_calls, tokens in changes:
        if not (tool_calls or tokens):
            continue
        key = (hour_of_text(start), agent)
        acc = adds.get(key)
        if acc is None:
            acc = adds[key] = [0, 0, 0, 0, 0, 0, 0.0, 0, 0, 0, start]
        acc[7] += tool_calls
        acc[8] += tokens
        acc[10] = max(acc[10], start)
    if adds:
        _write_totals(conn, "rollup_agent_hourly", ("hour", "agent_name"), _AGENT_ADDS, adds)


def move_tool_calls(conn: Connection, moves: Sequence[tuple[str, str, str, str]]) -> None:
    """Tool calls whose calling agent became known after they were rolled up: ``(start_time
    text, tool_name, old agent, new agent)`` each ('' outside any execution), one call moved
    in ``rollup_tool_agent_hourly``. Cells left at zero calls are deleted."""
    delta: Counter[tuple[int, str, str]] = Counter()
    for start, tool, old, new in moves:
        if old != new:
            hour = hour_of_text(start)
            delta[(hour, tool, old)] -= 1
            delta[(hour, tool, new)] += 1
    keys = ("hour", "tool_name", "agent_name")
    _write(conn, "rollup_tool_agent_hourly", keys, ("calls",), False,
           [(*k, n) for k, n in sorted(delta.items()) if n])
    _delete_empty(conn, "rollup_tool_agent_hourly", keys, [k for k, n in delta.items() if n < 0])


def move_model_calls(conn: Connection, moves: Sequence[tuple[Any, ...]]) -> None:
    """Model calls whose calling agent became known after they were rolled up: ``(start_time
    text, model, old agent, new agent, status, duration_ms, input_tokens, output_tokens,
    cached_input_tokens, cost_usd)`` each, their share of ``rollup_model_agent_hourly``
    moved from the old agent's cell to the new one's. Cells left at zero calls are deleted."""
    cells: dict[tuple[int, str, str], list[Any]] = {}
    for start, model, old, new, status, d, n_in, n_out, n_cached, cost in moves:
        if old == new:
            continue
        hour = hour_of_text(start)
        share = (1, 1 if status in _FAILURE or status in _TIMEOUT else 0, 0 if d is None else 1, d or 0.0,
                 n_in or 0, n_out or 0, n_cached or 0, cost or 0.0, 1 if cost is None else 0)
        for agent, sign in ((old, -1), (new, 1)):
            acc = cells.setdefault((hour, model, agent), [0, 0, 0, 0.0, 0, 0, 0, 0.0, 0])
            for i, v in enumerate(share):
                acc[i] += sign * v
    keys = ("hour", "model", "agent_name")
    _write(conn, "rollup_model_agent_hourly", keys, _MODEL_AGENT_ADDS, False,
           [(*k, *v) for k, v in sorted(cells.items()) if any(v)])
    _delete_empty(conn, "rollup_model_agent_hourly", keys, [k for k, v in cells.items() if v[0] < 0])


def _delete_empty(conn: Connection, table: str, keys: tuple[str, ...], cells: list[tuple[Any, ...]]) -> None:
    if not cells:
        return
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    where = " AND ".join(f"{k} = {mark}" for k in keys)
    conn.exec_driver_sql(f"DELETE FROM {table} WHERE {where} AND calls <= 0", sorted(cells))


def _write(conn: Connection, table: str, keys: tuple[str, ...], adds: tuple[str, ...], latest: bool,
           rows: list[tuple[Any, ...]]) -> None:
    if rows:
        execute_values(conn, _upsert_sql(conn.dialect.name, table, keys, adds, latest), rows)


# -- rebuilding from the raw rows ---------------------------------------------------
def rebuild_rollups(conn: Connection) -> dict[str, int]:
    """Recompute the rollups from the raw rows (one ``INSERT .. SELECT`` per table), from
    the UTC day of the oldest raw row on.

    For databases filled by something other than the tracker (bulk loads, imports).
    Rollup rows before that day are kept: their raw rows were pruned (``db prune``), and
    the rollups are all that is left of them. Returns the row count of each rollup table.
    """
    dialect = conn.dialect.name
    since_day = oldest_raw_day(conn)
    if since_day is not None:
        kept = _tool_agents_of_missing_executions(conn, since_day)
        for model in ROLLUP_MODELS:
            period = model.day if "day" in model.__table__.c else model.hour
            conn.execute(delete(model).where(period >= since_day))
        for statement in _rebuild_statements(dialect, _from_epoch(since_day)):
            conn.execute(statement)
        _restore_tool_agents(conn, kept)
        rebuild_figure_rollups(conn, since_day=since_day)
    counts = {
        model.__tablename__: int(conn.execute(select(func.count()).select_from(model)).scalar() or 0)
        for model in ROLLUP_MODELS
    }
    if has_model_calls(conn):
        if since_day is None:
            counts.update({model.__tablename__: int(conn.execute(select(func.count()).select_from(model)).scalar()
                                                    or 0) for model in MODEL_ROLLUP_MODELS})
        else:
            counts.update(rebuild_model_rollups(conn, since_hour=since_day))
    return counts


def _tool_agents_of_missing_executions(conn: Connection, since_day: int) -> dict[tuple[int, str], Counter[str]]:
    """Before a rebuild: the calling agents the rollups hold for tool calls whose execution
    row is not in the database — pruned (it started before the cutoff, its tools ran past
    it) or not written yet. A rebuild cannot find their agent in the raw rows (a tool row
    does not store it; the writer had it from the span), so it keeps what the writer
    counted: per (hour, tool), the rolled-up calls per agent minus those the raw rows
    account for. Used only where that remainder is exactly the number of such calls."""
    tum = ToolUsageMetrics.__table__
    calling = AgentExecutionMetrics.__table__.alias("calling")
    hour = epoch_bucket_sql(conn.dialect.name, tum.c.start_time, HOUR_S)
    since = tum.c.start_time >= _from_epoch(since_day)
    missing = {(int(h), tool): int(n) for h, tool, n in conn.execute(
        select(hour, tum.c.tool_name, func.count())
        .select_from(tum.outerjoin(calling, calling.c.execution_id == tum.c.execution_id))
        .where(since, tum.c.execution_id.isnot(None), calling.c.id.is_(None)).group_by(hour, tum.c.tool_name))}
    if not missing:
        return {}
    hours = sorted({h for h, _ in missing})
    known: Counter[tuple[int, str, str]] = Counter()
    agent = func.coalesce(calling.c.agent_name, literal(""))
    for h, tool, name, n in conn.execute(
            select(hour, tum.c.tool_name, agent, func.count())
            .select_from(tum.outerjoin(calling, calling.c.execution_id == tum.c.execution_id))
            .where(since, hour.in_(hours), (tum.c.execution_id.is_(None)) | calling.c.id.isnot(None))
            .group_by(hour, tum.c.tool_name, agent)):
        known[(int(h), tool, name)] += int(n)
    t = ToolAgentHourlyRollup
    rest: dict[tuple[int, str], Counter[str]] = {}
    for h, tool, name, n in conn.execute(select(t.hour, t.tool_name, t.agent_name, t.calls).where(t.hour.in_(hours))):
        if (int(h), tool) in missing:
            left = int(n) - known[(int(h), tool, name)]
            if left > 0:
                rest.setdefault((int(h), tool), Counter())[name] = left
    return {key: agents for key, agents in rest.items() if sum(agents.values()) == missing[key]}


def _restore_tool_agents(conn: Connection, kept: dict[tuple[int, str], Counter[str]]) -> None:
    """After a rebuild (which counts tool calls without an execution row under agent ''):
    give them back the agents the writer had counted them under."""
    moves = [(hour, tool, name, n) for (hour, tool), agents in kept.items() for name, n in agents.items()
             if name != ""]
    if not moves:
        return
    delta: Counter[tuple[int, str, str]] = Counter()
    for hour, tool, name, n in moves:
        delta[(hour, tool, "")] -= n
        delta[(hour, tool, name)] += n
    keys = ("hour", "tool_name", "agent_name")
    _write(conn, "rollup_tool_agent_hourly", keys, ("calls",), False,
           [(*k, n) for k, n in sorted(delta.items()) if n])
    _delete_empty(conn, "rollup_tool_agent_hourly", keys, [k for k, n in delta.items() if n < 0])


def oldest_raw_day(conn: Connection) -> int | None:
    """The UTC day (POSIX seconds) of the oldest raw row of the tables with rollups, or
    None when there is none. Raw rows are pruned by whole UTC days, so every rollup hour
    from that day on has all of its raw rows."""
    models: list[Any] = [AgentExecutionMetrics, ToolUsageMetrics, WorkflowMetrics]
    if has_model_calls(conn):
        models.append(ModelCallMetrics)
    starts = [conn.execute(select(func.min(m.start_time))).scalar() for m in models]
    found = [s for s in starts if s is not None]
    if not found:
        return None
    return int(min(found).timestamp()) // DAY_S * DAY_S


def rebuild_model_rollups(conn: Connection, *, since_hour: int | None = None) -> dict[str, int]:
    """Recompute the model-call rollups from the raw rows: all of them, or from the UTC
    hour ``since_hour`` (POSIX seconds) on (after ``db reprice --since``; the daily
    histograms from that hour's day on). Returns the row count of each table."""
    dialect = conn.dialect.name
    since_day = None if since_hour is None else since_hour // DAY_S * DAY_S
    for model in MODEL_ROLLUP_MODELS:
        if since_hour is None:
            conn.execute(delete(model))
        elif "day" in model.__table__.c:
            conn.execute(delete(model).where(model.day >= since_day))
        else:
            conn.execute(delete(model).where(model.hour >= since_hour))
    for statement in _model_rebuild_statements(dialect, since_hour, since_day):
        conn.execute(statement)
    rebuild_model_user_rollup(conn, since_hour=since_hour)
    return {
        model.__tablename__: int(conn.execute(select(func.count()).select_from(model)).scalar() or 0)
        for model in MODEL_ROLLUP_MODELS
    }


def _status_sums(status: Any, *, timeouts: bool = True) -> list[ColumnElement[Any]]:
    def count_in(values: tuple[str, ...]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((status.in_(values), 1), else_=0)), 0)

    sums = [count_in(SUCCESS_VALUES), count_in(FAILURE_VALUES)]
    if timeouts:
        sums.append(count_in(TIMEOUT_VALUES))
    sums.append(count_in(SUCCESS_VALUES + FAILURE_VALUES + TIMEOUT_VALUES))
    return sums


def _histogram_inserts(dialect: str, raw: Any, key: str, hourly: Any, daily: Any, *,
                       value: Any = None, since: tuple[int, int] | None = None) -> list[Any]:
    """INSERT .. SELECT of one kind's hourly and daily latency histograms from raw rows
    (of ``value``, the duration unless given; from ``since`` = (hour, day) on)."""
    value = raw.duration_ms if value is None else value
    bucket = latency_bucket_sql(dialect, value)
    name = getattr(raw, key)
    out = []
    for model, period, size in ((hourly, "hour", HOUR_S), (daily, "day", DAY_S)):
        if model is None:
            continue
        when = epoch_bucket_sql(dialect, raw.start_time, size)
        query = select(when, name, bucket, func.count()).where(value.isnot(None))
        if since is not None:
            query = query.where(raw.start_time >= _from_epoch(since[0] if period == "hour" else since[1]))
        out.append(insert(model).from_select([period, key, "bucket", "n"], query.group_by(when, name, bucket)))
    return out


def _from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _model_rebuild_statements(dialect: str, since_hour: int | None, since_day: int | None) -> list[Any]:
    mc = ModelCallMetrics

    def zsum(column: Any) -> ColumnElement[Any]:
        return func.coalesce(func.sum(column), 0)

    def count_if(condition: Any) -> ColumnElement[Any]:
        return zsum(case((condition, 1), else_=0))

    def sum_if(condition: Any, column: Any) -> ColumnElement[Any]:
        return zsum(case((condition, func.coalesce(column, 0)), else_=0))

    hour = epoch_bucket_sql(dialect, mc.start_time, HOUR_S)
    provider = func.coalesce(mc.provider, literal(""))
    agent = func.coalesce(mc.agent_name, literal(""))
    unpriced = mc.cost_usd.is_(None)
    errors = mc.status.in_(FAILURE_VALUES + TIMEOUT_VALUES)
    where = [] if since_hour is None else [mc.start_time >= _from_epoch(since_hour)]
    statements: list[Any] = [
        insert(ModelHourlyRollup).from_select(
            ["hour", "model", "provider", *_MODEL_ADDS, "last_start"],
            select(hour, mc.model, provider, func.count(), *_status_sums(mc.status), func.count(mc.duration_ms),
                   zsum(mc.duration_ms), func.count(mc.time_to_first_token_ms), zsum(mc.time_to_first_token_ms),
                   zsum(mc.input_tokens), zsum(mc.output_tokens), zsum(mc.cached_input_tokens),
                   zsum(mc.reasoning_tokens), zsum(mc.cost_usd), count_if(unpriced),
                   sum_if(unpriced, mc.input_tokens), sum_if(unpriced, mc.output_tokens), func.max(mc.start_time))
            .where(*where).group_by(hour, mc.model, provider),
        ),
        insert(ModelAgentHourlyRollup).from_select(
            ["hour", "model", "agent_name", *_MODEL_AGENT_ADDS],
            select(hour, mc.model, agent, func.count(), count_if(errors), func.count(mc.duration_ms),
                   zsum(mc.duration_ms), zsum(mc.input_tokens), zsum(mc.output_tokens), zsum(mc.cached_input_tokens),
                   zsum(mc.cost_usd), count_if(unpriced))
            .where(*where).group_by(hour, mc.model, agent),
        ),
    ]
    since = None if since_hour is None or since_day is None else (since_hour, since_day)
    statements += _histogram_inserts(dialect, mc, "model", ModelLatencyRollup, ModelLatencyDailyRollup, since=since)
    statements += _histogram_inserts(dialect, mc, "model", ModelTtftRollup, ModelTtftDailyRollup,
                                     value=mc.time_to_first_token_ms,
                                     since=since)
    return statements


def _rebuild_statements(dialect: str, since: datetime) -> list[Any]:
    """The rollups from the raw rows that start at or after ``since`` (a UTC midnight)."""
    aem, tum, wm = AgentExecutionMetrics, ToolUsageMetrics, WorkflowMetrics
    statements: list[Any] = []
    epoch = int(since.timestamp())
    histogram_since = (epoch, epoch)

    def zsum(column: Any) -> ColumnElement[Any]:
        return func.coalesce(func.sum(column), 0)

    hour = epoch_bucket_sql(dialect, aem.start_time, HOUR_S)
    statements.append(insert(AgentHourlyRollup).from_select(
        ["hour", "agent_name", *_AGENT_ADDS, "last_start"],
        select(hour, aem.agent_name, func.count(), *_status_sums(aem.status), func.count(aem.duration_ms),
               zsum(aem.duration_ms), zsum(aem.tool_count), zsum(aem.tokens_used), zsum(aem.api_calls_count),
               func.max(aem.start_time)).where(aem.start_time >= since).group_by(hour, aem.agent_name),
    ))
    statements += _histogram_inserts(dialect, aem, "agent_name", AgentLatencyRollup, AgentLatencyDailyRollup,
                                     since=histogram_since)
    bucket = latency_bucket_sql(dialect, aem.duration_ms)
    statements.append(insert(ExecutionLatencyRollup).from_select(
        ["hour", "bucket", "n"],
        select(hour, bucket, func.count()).where(aem.duration_ms.isnot(None), aem.start_time >= since)
        .group_by(hour, bucket),
    ))

    hour = epoch_bucket_sql(dialect, tum.start_time, HOUR_S)
    api = func.coalesce(tum.external_api_called, literal(""))
    api_error = case((tum.external_api_called.isnot(None)
                      & ((tum.api_status_code >= 400) | tum.status.in_(FAILURE_VALUES)), 1), else_=0)
    statements.append(insert(ToolHourlyRollup).from_select(
        ["hour", "tool_name", "api", *_TOOL_ADDS, "last_start"],
        select(hour, tum.tool_name, api, func.count(), *_status_sums(tum.status, timeouts=False),
               func.count(tum.duration_ms), zsum(tum.duration_ms), zsum(api_error), func.max(tum.start_time))
        .where(tum.start_time >= since).group_by(hour, tum.tool_name, api),
    ))
    calling = aem.__table__.alias("calling")
    agent = func.coalesce(calling.c.agent_name, literal(""))
    statements.append(insert(ToolAgentHourlyRollup).from_select(
        ["hour", "tool_name", "agent_name", "calls"],
        select(hour, tum.tool_name, agent, func.count())
        .select_from(tum.__table__.outerjoin(calling, calling.c.execution_id == tum.execution_id))
        .where(tum.start_time >= since).group_by(hour, tum.tool_name, agent),
    ))
    statements += _histogram_inserts(dialect, tum, "tool_name", ToolLatencyRollup, ToolLatencyDailyRollup,
                                     since=histogram_since)

    hour = epoch_bucket_sql(dialect, wm.start_time, HOUR_S)
    statements.append(insert(WorkflowHourlyRollup).from_select(
        ["hour", "workflow_type", *_WORKFLOW_ADDS, "last_start"],
        select(hour, wm.workflow_type, func.count(), *_status_sums(wm.status), func.count(wm.duration_ms),
               zsum(wm.duration_ms), zsum(wm.agent_count), zsum(wm.total_tool_calls), zsum(wm.total_api_calls),
               zsum(wm.total_tokens_used), func.count(wm.user_satisfaction_score),
               zsum(wm.user_satisfaction_score), func.count(wm.task_completion_rate),
               zsum(wm.task_completion_rate), func.max(wm.start_time))
        .where(wm.start_time >= since).group_by(hour, wm.workflow_type),
    ))
    statements += _histogram_inserts(dialect, wm, "workflow_type", WorkflowLatencyRollup,
                                     WorkflowLatencyDailyRollup, since=histogram_since)
    return statements


def rollup_drift(conn: Connection) -> dict[str, int]:
    """Raw rows minus rolled-up rows per metrics table (0 everywhere when in step), from
    the day of the oldest raw row on (before it, raw rows were pruned: rollups only)."""
    pairs: tuple[tuple[Any, Any], ...] = (
        (AgentExecutionMetrics, AgentHourlyRollup.executions),
        (ToolUsageMetrics, ToolHourlyRollup.calls),
        (WorkflowMetrics, WorkflowHourlyRollup.runs),
    )
    if has_model_calls(conn):
        pairs += ((ModelCallMetrics, ModelHourlyRollup.calls),)
    if figure_rollups_available(conn):
        pairs += ((AgentExecutionMetrics, UserHourlyRollup.executions),)
    since_day = oldest_raw_day(conn)
    def name(model: Any, rolled: Any) -> str:
        # the users rollup counts every execution too: reported under its own name
        return rolled.table.name if rolled.table.name == "rollup_user_hourly" else model.__tablename__

    if since_day is None:  # no raw rows (all pruned): nothing can be behind
        return {name(model, rolled): 0 for model, rolled in pairs}
    out = {}
    for model, rolled in pairs:
        raw = conn.execute(select(func.count()).select_from(model)).scalar() or 0
        summed = conn.execute(select(func.coalesce(func.sum(rolled), 0))
                              .where(rolled.table.c.hour >= since_day)).scalar() or 0
        out[name(model, rolled)] = int(raw) - int(summed)
    return out


__all__ = [
    "BUCKETS_PER_OCTAVE", "DAY_S", "HOUR_S", "PERCENTILE_RELATIVE_ERROR", "ROLLUP_TABLES", "USE_ROLLUPS_OPTION",
    "adjust_agent_totals", "adjust_workflow_totals", "apply_rollups", "bucket_value", "epoch_bucket_sql",
    "latency_bucket", "latency_bucket_sql", "model_rollups_available", "move_model_calls", "move_tool_calls",
    "oldest_raw_day", "rebuild_model_rollups", "rebuild_rollups", "rollup_drift", "rollups_available",
]
