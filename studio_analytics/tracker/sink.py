"""Writes one batch to the metrics database in one transaction.

Rows are inserted with "ignore if the id exists" (so replays never duplicate); the rows
really inserted are added to the hourly rollups and to their sessions' running totals
(:mod:`studio_analytics.db.session_totals`), and the touched sessions' aggregates are set
from those totals, all in the same transaction, so several processes writing for the same
session still agree, at a cost that does not grow with the session. A workflow's
aggregates are recomputed from its executions. On PostgreSQL the session/workflow rows
are locked first (in id order) so two concurrent batches cannot both compute from a stale
view. An Agent Studio database (no totals) has its sessions recomputed from their rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import distinct, func, select, update
from sqlalchemy.engine import Connection, Engine

from studio_analytics.db.bulk import execute_values
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.engine import create_db_engine, normalize_url, sqlite_path
from studio_analytics.db.errors import DatabaseTimeoutError, SchemaMissingError
from studio_analytics.db.migrate import is_older_revision, schema_state, upgrade_database
from studio_analytics.db.models import (
    FAILURE_VALUES,
    SUCCESS_VALUES,
    TIMEOUT_VALUES,
    AgentExecutionMetrics,
    Base,
    WorkflowMetrics,
)
from studio_analytics.db.rollups import adjust_workflow_totals, apply_rollups, rollups_available
from studio_analytics.db.rows import (
    COLUMNS,
    EXTENSION_COLUMN_COUNT,
    TIME_COLUMNS,
    TOOL_AGENT,
    Batch,
    Row,
    as_wire_batch,
    pg_time,
    position,
)
from studio_analytics.db.schema_state import SchemaKind
from studio_analytics.db.session_totals import (
    add_executions,
    lock_sessions,
    rebuild_totals,
    totals_available,
    update_sessions,
)
from studio_analytics.tracker.fixups import apply_fixups

AEM = AgentExecutionMetrics
_INT32_MAX = 2**31 - 1  # the Agent Studio tables' INTEGER columns


class _RowsAlreadyPresent(Exception):
    """A fresh batch met ids already in the database: redo it, filtering them out."""


_TABLES = {"execution": "agent_execution_metrics", "tool": "tool_usage_metrics", "workflow": "workflow_metrics",
           "model": "model_call_metrics"}
#: Why a model call is set aside (kept as a dead letter) on an Agent Studio database.
NO_MODEL_TABLE = ("this database has no model_call_metrics table (an Agent Studio database, which is never "
                  "altered): model calls are kept as dead letters")
_SESSION_COLUMNS = ("session_id", "start_time", "user_id", "total_queries", "successful_queries", "failed_queries",
                    "unique_agents_count", "is_active")
_E_START, _E_SESSION, _E_USER, _E_CORRELATION = (position("execution", c) for c in (
    "start_time", "session_id", "user_id", "correlation_id"))
_W_START, _W_SESSION, _W_USER = (position("workflow", c) for c in ("start_time", "session_id", "user_id"))
_E_AGENT = position("execution", "agent_name")
_M_EXECUTION, _M_AGENT = position("model", "execution_id"), position("model", "agent_name")


log = logging.getLogger("studio_analytics.tracker")
#: The longest creating or checking the schema may take (many statements, once).
SCHEMA_TIMEOUT_S = 60.0


class DatabaseSink:
    """The tracker's connection to one database. Every write is bounded in time:
    PostgreSQL cancels statements and lock waits itself (``statement_timeout``,
    ``lock_timeout``), and a watchdog cuts the connection's socket (SQLite: interrupts
    it) when a write outlives ``timeout_s`` — a server that holds the connection open
    but answers nothing would otherwise keep the writer in one call forever."""

    def __init__(self, db_url: str, *, timeout_s: float = 10.0) -> None:
        self.db_url = db_url
        self.timeout_s = timeout_s
        self._path = sqlite_path(normalize_url(db_url)) if db_url.startswith("sqlite") else None
        self._file_id: tuple[int, int] | None = None
        self._connections: dict[int, Any] = {}  # the engine's open DBAPI connections
        self._watchdog = _Watchdog(self._abort)
        self.engine: Engine = self._new_engine()
        self._schema_ready = False
        self.rollups = False
        #: our own schema at 0003 or later: model calls, parent and trace ids
        self.extended = True
        #: our own schema at 0005 or later: sessions' running totals
        self.session_totals = False
        #: rows of the last write that this database cannot hold: (kind, row, reason)
        self.set_aside: list[tuple[str, Row, str]] = []

    def _new_engine(self, timeout_s: float | None = None) -> Engine:
        # Parameters never appear in errors: they are the agents' queries and user ids.
        engine = create_db_engine(self.db_url, statement_timeout_s=timeout_s or self.timeout_s,
                                  hide_parameters=True, pool_pre_ping=False)
        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def _remember(dbapi_conn: Any, _record: Any) -> None:
            self._connections[id(dbapi_conn)] = dbapi_conn

        @event.listens_for(engine, "close")
        def _forget(dbapi_conn: Any, _record: Any) -> None:
            self._connections.pop(id(dbapi_conn), None)

        @event.listens_for(engine, "close_detached")
        def _forget_detached(dbapi_conn: Any) -> None:
            self._connections.pop(id(dbapi_conn), None)

        return engine

    def close(self) -> None:
        self._watchdog.stop()
        self.engine.dispose()

    def reset(self) -> None:
        """After a failure that was not a row's: drop every pooled connection (cut or
        hung ones would fail the next write too) and check the schema again before the
        next write (a table went away, the database was recreated, a permission was
        revoked)."""
        self.engine.dispose()
        self._connections.clear()
        self._schema_ready = False

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self.engine.connect() as conn:
            state = schema_state(conn)
        if state.kind is SchemaKind.EMPTY or (state.kind is SchemaKind.STUDIO and is_older_revision(state.revision)):
            # Our own database at an older revision (say, before the rollups): bring it
            # up. A migration may fill rollups from many rows: its statements get the
            # schema's time limit, not one batch's.
            schema_engine = self._new_engine(SCHEMA_TIMEOUT_S)
            try:
                upgrade_database(schema_engine)
            finally:
                schema_engine.dispose()
        elif state.kind is SchemaKind.PARTIAL and state.revision is not None:
            # Ours, with tables dropped under us: create the missing ones again.
            with self.engine.begin() as conn:
                Base.metadata.create_all(conn, checkfirst=True)
            log.warning("studio-analytics: recreated missing tables (%s) in %s",
                        ", ".join(state.missing_tables), self._shown())
        elif not state.readable:
            raise SchemaMissingError(
                f"The database is not a metrics database ({state.kind.value})",
                hint="point the tracker at an empty or a studio-analytics database",
            )
        with self.engine.connect() as conn:
            self.rollups = rollups_available(conn)
            self.extended = has_model_calls(conn)
            self.session_totals = totals_available(conn)
        self._file_id = self._current_file_id()
        self._schema_ready = True

    def _shown(self) -> str:
        from studio_analytics.db.engine import safe_url

        return safe_url(self.db_url)

    # -- a SQLite file deleted or replaced under us ---------------------------------
    def _current_file_id(self) -> tuple[int, int] | None:
        if self._path is None:
            return None
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def file_replaced(self) -> bool:
        """True when the path no longer names the file this sink has open (deleted,
        renamed, replaced): rows written now would go into a file nobody can open."""
        if self._path is None or self._file_id is None:
            return False
        return self._current_file_id() != self._file_id

    def reopen(self) -> None:
        """Close every connection and start again at the path (creating the file)."""
        self.engine.dispose()
        self._connections.clear()
        self.engine = self._new_engine()
        self._file_id = None
        self._schema_ready = False

    # -- writing --------------------------------------------------------------------
    def write(self, batch: dict[str, list[Any]], *, replay: bool = False) -> int:
        """Write one batch of wire rows (:mod:`studio_analytics.db.rows`; mappings of
        column values are accepted too). ``replay``: it may have been written before (a
        spooled batch whose first commit's outcome was unknown), so ids already present
        are skipped before anything is counted in the rollups."""
        if self.file_replaced():
            raise FileReplacedError(f"the SQLite file {self._path} was deleted or replaced")
        self.set_aside = []
        if not self._schema_ready:
            # Creating the schema runs many statements: bounded too, but by its own limit.
            with self._watchdog.armed(max(self.timeout_s, SCHEMA_TIMEOUT_S)):
                self.ensure_schema()
        with self._watchdog.armed(self.timeout_s):
            rows = as_wire_batch(batch)
            try:
                n = self._write(rows, skip_present=replay)
            except _RowsAlreadyPresent:
                n = self._write(rows, skip_present=True)
            if self.file_replaced():
                # Committed into a file that was unlinked meanwhile: those rows are gone
                # with it, so the batch must be written again.
                raise FileReplacedError(f"the SQLite file {self._path} was deleted or replaced during a write")
        return n

    def _abort(self) -> None:
        """Watchdog: unblock the writer stuck in a database call."""
        for dbapi_conn in list(self._connections.values()):
            with contextlib.suppress(Exception):
                interrupt = getattr(dbapi_conn, "interrupt", None)
                if interrupt is not None:  # sqlite3
                    interrupt()
                    continue
                # psycopg: shutting the socket down makes the blocked wait return an
                # error at once, whatever the peer does (or does not) answer.
                fd = dbapi_conn.pgconn.socket
                sock = socket.socket(fileno=os.dup(fd))
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.close()


    def _write(self, batch: Batch, *, skip_present: bool) -> int:
        executions = batch.get("execution", [])
        tools = batch.get("tool", [])
        workflows = batch.get("workflow", [])
        sessions = batch.get("session", [])
        models = batch.get("model", [])
        fixups = batch.get("fixup", [])  # corrections of rows written earlier (tracker/fixups.py)
        extended = self.extended
        if models and not extended:
            self.set_aside = [("model", row, NO_MODEL_TABLE) for row in models]
            models = []
        with self.engine.begin() as conn:
            if models:
                models = _fill_model_agents(conn, models, executions)
            new: dict[str, list[Row]] = {}
            for kind, rows in (("execution", executions), ("tool", tools), ("workflow", workflows),
                               ("model", models)):
                if skip_present:
                    rows = _not_present(conn, kind, rows)
                inserted = _insert_rows(conn, kind, rows, extended=extended)
                if inserted != len(rows) and inserted >= 0:
                    raise _RowsAlreadyPresent
                new[kind] = rows
            touched_sessions = _apply_sessions(conn, sessions, executions, workflows)
            touched_workflows = {uuid.UUID(w[0]) for w in workflows}
            touched_workflows |= {wid for e in executions if (wid := _uuid_or_none(e[_E_CORRELATION]))}
            totals = self.session_totals
            if totals:
                lock_sessions(conn, sorted(touched_sessions))
                add_executions(conn, new["execution"])
            if self.rollups:
                new["tool"] = _fill_tool_agents(conn, new["tool"])
                apply_rollups(conn, executions=new["execution"], tools=new["tool"], workflows=new["workflow"],
                              models=new["model"] if extended else ())
            if fixups:  # after the rollups: they move what the inserts above added
                fixed_sessions, fixed_workflows = apply_fixups(conn, fixups, rollups=self.rollups, extended=extended)
                if totals:  # executions moved between sessions: their minima cannot be subtracted
                    lock_sessions(conn, sorted(fixed_sessions - touched_sessions))
                    rebuild_totals(conn, sorted(fixed_sessions))
                touched_sessions |= fixed_sessions
                touched_workflows |= fixed_workflows
            if totals:
                update_sessions(conn, sorted(touched_sessions))
            else:
                _recompute_sessions(conn, sorted(touched_sessions))  # once: PostgreSQL locks them in id order
            for workflow_id in sorted(touched_workflows):
                _recompute_workflow(conn, workflow_id, rollups=self.rollups)
        return len(executions) + len(tools) + len(workflows) + len(sessions) + len(models) + len(fixups)


class FileReplacedError(Exception):
    """The SQLite file at the configured path is not the one the sink had open."""


class _Watchdog:
    """One thread per sink that calls ``on_expiry`` when an armed deadline passes."""

    def __init__(self, on_expiry: Any) -> None:
        self._on_expiry = on_expiry
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.fired = False

    @contextlib.contextmanager
    def armed(self, seconds: float) -> Any:
        import time

        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="studio-analytics-watchdog", daemon=True)
                self._thread.start()
            self.fired = False
            self._deadline = time.monotonic() + seconds
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._deadline = None
                self._cond.notify_all()
            if self.fired:
                raise DatabaseTimeoutError(
                    f"The database did not finish a write within {seconds:.1f} s",
                    hint="a hung server or network; the connection was cut and the rows kept in the spool")

    def _run(self) -> None:
        import time

        with self._cond:
            while not self._stopped:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._deadline = None
                self.fired = True
                with contextlib.suppress(Exception):  # best effort; the write errors anyway
                    self._on_expiry()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


def _marks(conn: Connection, n: int) -> str:
    return ", ".join(["?" if conn.dialect.name == "sqlite" else "%s"] * n)


def _not_present(conn: Connection, kind: str, rows: list[Row]) -> list[Row]:
    if not rows:
        return rows
    key = COLUMNS[kind][0]
    present = set(_lookup(conn, _TABLES[kind], key, key, [r[0] for r in rows]))
    return [r for r in rows if r[0] not in present]


def _lookup(conn: Connection, table: str, key: str, value: str, ids: Sequence[str]) -> dict[str, Any]:
    """``{id: value}`` for the rows of ``table`` whose id column ``key`` is one of these
    hex ids (ids come back as hex, whatever the dialect returns)."""
    found: dict[str, Any] = {}
    if conn.dialect.name == "postgresql":
        # One array parameter: a list of 500 untyped parameters was planned slowly
        # (70 ms per lookup, most of a replayed batch's time).
        sql = f"SELECT {key}, {value} FROM {table} WHERE {key} = ANY(%s::uuid[])"
        for i in range(0, len(ids), 5_000):
            for k, v in conn.exec_driver_sql(sql, (list(ids[i:i + 5_000]),)):
                found[k.hex if isinstance(k, uuid.UUID) else k] = v
        return found
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        sql = f"SELECT {key}, {value} FROM {table} WHERE {key} IN ({_marks(conn, len(chunk))})"
        for k, v in conn.exec_driver_sql(sql, tuple(chunk)):
            found[k.hex if isinstance(k, uuid.UUID) else k] = v
    return found


def _fill_tool_agents(conn: Connection, tools: list[Row]) -> list[Row]:
    """Tools attached to an execution by id (not nested in its span) do not know its
    agent: look it up when the execution's row is already in the database."""
    execution = position("tool", "execution_id")
    wanted = sorted({t[execution] for t in tools if t[TOOL_AGENT] is None and t[execution] is not None})
    if not wanted:
        return tools
    agents = _lookup(conn, "agent_execution_metrics", "execution_id", "agent_name", wanted)
    return [(t[:TOOL_AGENT] + (agents[t[execution]],)
             if t[TOOL_AGENT] is None and t[execution] in agents else t) for t in tools]


def _fill_model_agents(conn: Connection, models: list[Row], executions: list[Row]) -> list[Row]:
    """Model calls attached to an execution by id whose agent is not known yet: the
    agent of that execution, from this batch or the database (stored with the call)."""
    wanted = {m[_M_EXECUTION] for m in models if m[_M_AGENT] is None and m[_M_EXECUTION] is not None}
    if not wanted:
        return models
    agents = {e[0]: e[_E_AGENT] for e in executions if e[0] in wanted}
    missing = sorted(wanted - agents.keys())
    if missing:
        agents.update(_lookup(conn, "agent_execution_metrics", "execution_id", "agent_name", missing))
    return [(m[:_M_AGENT] + (agents[m[_M_EXECUTION]],) + m[_M_AGENT + 1:]
             if m[_M_AGENT] is None and m[_M_EXECUTION] in agents else m) for m in models]


def _insert_rows(conn: Connection, kind: str, rows: list[Row], *, extended: bool = True) -> int:
    """Bulk insert that skips ids already present (replays never duplicate); returns
    how many rows were inserted (-1 if the driver cannot tell). Without ``extended``
    (an Agent Studio database) our own columns are left out."""
    if not rows:
        return 0
    columns = COLUMNS[kind]
    width = len(columns)
    if not extended and kind in ("execution", "tool"):
        width -= EXTENSION_COLUMN_COUNT
        columns = columns[:width]
    if conn.dialect.name == "sqlite":
        values = rows if width == len(rows[0]) else [r[:width] for r in rows]
    else:
        values = [_pg_values(kind, r, width) for r in rows]
    return execute_values(conn, insert_ignoring(_TABLES[kind], columns, columns[0]), values)


def _pg_values(kind: str, row: Row, width: int) -> Row:
    v = list(row[:width])
    for i in _TIME_POSITIONS[kind]:
        v[i] = pg_time(v[i])
    return tuple(v)


_TIME_POSITIONS = {kind: tuple(i for i, c in enumerate(cols) if c in TIME_COLUMNS) for kind, cols in COLUMNS.items()}


def insert_ignoring(table: str, columns: tuple[str, ...], key: str) -> tuple[str, str]:
    """The head and tail of the writer's insert, for :func:`execute_values`."""
    return f"INSERT INTO {table} ({', '.join(columns)})", f"ON CONFLICT ({key}) DO NOTHING"


def _apply_sessions(conn: Connection, sessions: list[Row], executions: list[Row], workflows: list[Row]) -> set[str]:
    """Create the session rows the batch mentions, then apply explicit enter/exit events."""
    first_seen: dict[str, tuple[str, str, str | None]] = {}
    for rows, sid_at, start_at, user_at in ((executions, _E_SESSION, _E_START, _E_USER),
                                            (workflows, _W_SESSION, _W_START, _W_USER)):
        for row in rows:
            sid = row[sid_at]
            if sid and (sid not in first_seen or row[start_at] < first_seen[sid][1]):
                first_seen[sid] = (sid, row[start_at], row[user_at])
    for s in sessions:  # (session_id, start_time, end_time, user_id, user_agent, ip_address, is_active)
        first_seen.setdefault(s[0], (s[0], s[1], s[3]))
    dialect = conn.dialect.name
    if first_seen:
        # Sessions the agent never opened explicitly are recorded as ended.
        explicit = {s[0] for s in sessions}
        # in id order: PostgreSQL locks each new row, and concurrent batches take them in turn
        rows = [(sid, start if dialect == "sqlite" else pg_time(start), user, 0, 0, 0, 0, sid in explicit)
                for sid, start, user in sorted(first_seen.values())]
        execute_values(conn, insert_ignoring("session_metrics", _SESSION_COLUMNS, "session_id"), rows)
    if sessions:  # explicit enter/exit events, in order
        m = "?" if dialect == "sqlite" else "%s"
        end = (lambda t: t) if dialect == "sqlite" else pg_time
        conn.exec_driver_sql(
            f"UPDATE session_metrics SET is_active = {m}, user_id = coalesce({m}, user_id), "
            f"user_agent = coalesce({m}, user_agent), ip_address = coalesce({m}, ip_address), "
            f"end_time = coalesce({m}, end_time) WHERE session_id = {m}",
            [(s[6], s[3], s[4], s[5], end(s[2]), s[0]) for s in sessions],
        )
    return set(first_seen)


def _recompute_sessions(conn: Connection, session_ids: Sequence[str]) -> None:
    """Set each session's aggregates from its execution rows: one UPDATE .. FROM a
    grouped query, all inside the database (nothing is counted in memory)."""
    if not session_ids:
        return
    if conn.dialect.name == "postgresql":
        # One batch at a time per session, rows locked in id order (no deadlocks).
        conn.exec_driver_sql("SELECT 1 FROM session_metrics WHERE session_id = ANY(%s) ORDER BY session_id "
                             "FOR UPDATE", (list(session_ids),))
        conn.exec_driver_sql(_SESSION_UPDATE_PG, (list(session_ids),))
    else:
        conn.exec_driver_sql(_SESSION_UPDATE_SQLITE, (json.dumps(list(session_ids)),))


def _status_in(values: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


_SESSION_AGGREGATES = f"""
  SELECT session_id AS sid, count(*) AS n,
         sum(CASE WHEN {_status_in(SUCCESS_VALUES)} THEN 1 ELSE 0 END) AS ok,
         sum(CASE WHEN {_status_in(FAILURE_VALUES + TIMEOUT_VALUES)} THEN 1 ELSE 0 END) AS failed,
         count(DISTINCT agent_name) AS agents, {{names}} AS names,
         avg(duration_ms) AS avg_ms, {{tokens}} AS tokens, min(start_time) AS first, max(end_time) AS last
  FROM agent_execution_metrics WHERE session_id IN (SELECT sid FROM touched) GROUP BY session_id"""
# agents_used holds at most 200 names (in no particular order: readers sort them). The
# distinct names come from the same pass as the counts; only a session with more
# agents than that pays for a second, capped query.
_CAPPED_NAMES = """(SELECT {agg} FROM (SELECT DISTINCT agent_name FROM agent_execution_metrics
    WHERE session_id = agg.sid AND agent_name IS NOT NULL ORDER BY agent_name LIMIT 200) capped)"""
_SESSION_SET = """
  total_queries = agg.n, successful_queries = coalesce(agg.ok, 0), failed_queries = coalesce(agg.failed, 0),
  unique_agents_count = agg.agents,
  agents_used = CASE WHEN agg.agents <= 200 THEN coalesce(agg.names, {empty}) ELSE {capped} END,
  average_response_time_ms = agg.avg_ms, total_tokens_used = agg.tokens,
  start_time = {new_start}, end_time = {new_end}, duration_ms = {duration}"""


def _session_update(dialect: str) -> str:
    s = "session_metrics"
    new_start = f"CASE WHEN agg.first IS NULL OR {s}.start_time <= agg.first THEN {s}.start_time ELSE agg.first END"
    new_end = (f"CASE WHEN agg.last IS NULL OR {s}.end_time >= agg.last THEN coalesce({s}.end_time, agg.last) "
               "ELSE agg.last END")
    if dialect == "sqlite":
        touched = "SELECT value AS sid FROM json_each(?)"
        names = "json_group_array(DISTINCT agent_name) FILTER (WHERE agent_name IS NOT NULL)"
        capped = _CAPPED_NAMES.format(agg="json_group_array(agent_name)")
        # Whole seconds, then the fraction: julianday() would keep milliseconds only.
        duration = " - ".join(
            f"(CAST(strftime('%s', {t}) AS INTEGER) * 1000.0 + CAST(substr({t}, 20) AS REAL) * 1000.0)"
            for t in (new_end, new_start))
        empty = "'[]'"
    else:
        touched = "SELECT unnest(%s::text[]) AS sid"
        names = "jsonb_agg(DISTINCT agent_name) FILTER (WHERE agent_name IS NOT NULL)"
        capped = _CAPPED_NAMES.format(agg="jsonb_agg(agent_name)")
        duration = f"extract(epoch FROM ({new_end}) - ({new_start})) * 1000.0"
        empty = "'[]'::jsonb"
    sets = _SESSION_SET.format(empty=empty, capped=capped, new_start=new_start, new_end=new_end, duration=duration)
    # total_tokens_used is a 32-bit INTEGER (Agent Studio's type): a session's sum is
    # capped there, or one large session would fail every batch that touches it.
    tokens = f"CASE WHEN sum(tokens_used) > {_INT32_MAX} THEN {_INT32_MAX} ELSE sum(tokens_used) END"
    aggregates = _SESSION_AGGREGATES.format(names=names, tokens=tokens)
    return (f"WITH touched AS ({touched}), agg AS ({aggregates})\n"
            f"UPDATE {s} SET {sets}\nFROM agg WHERE {s}.session_id = agg.sid")


_SESSION_UPDATE_SQLITE = _session_update("sqlite")
_SESSION_UPDATE_PG = _session_update("postgresql")


def _recompute_workflow(conn: Connection, workflow_id: uuid.UUID, *, rollups: bool) -> None:
    wm = WorkflowMetrics
    current = select(wm.agents_involved, wm.workflow_type, wm.start_time, wm.agent_count, wm.total_tool_calls,
                     wm.total_api_calls, wm.total_tokens_used).where(wm.workflow_id == workflow_id)
    if conn.dialect.name == "postgresql":
        current = current.with_for_update()
    existing = conn.execute(current).one_or_none()
    if existing is None:
        return  # the workflow's own row arrives later and triggers this again
    n, agents, tools, apis, tokens = conn.execute(
        select(
            func.count(), func.count(distinct(AEM.agent_name)), func.coalesce(func.sum(AEM.tool_count), 0),
            func.coalesce(func.sum(AEM.api_calls_count), 0), func.sum(AEM.tokens_used),
        ).where(AEM.correlation_id == str(workflow_id))
    ).one()
    involved = existing.agents_involved if isinstance(existing.agents_involved, list) else []
    new = (min(int(agents) if n else len(involved), _INT32_MAX), min(int(tools), _INT32_MAX),
           min(int(apis), _INT32_MAX), min(int(tokens), _INT32_MAX) if tokens is not None else None)
    old = (existing.agent_count, existing.total_tool_calls, existing.total_api_calls, existing.total_tokens_used)
    if new == old:
        return
    conn.execute(
        update(WorkflowMetrics).where(WorkflowMetrics.workflow_id == workflow_id).values(
            agent_count=new[0], total_tool_calls=new[1], total_api_calls=new[2], total_tokens_used=new[3],
        )
    )
    if rollups:
        adjust_workflow_totals(
            conn, workflow_type=existing.workflow_type, start_time=existing.start_time,
            agent_count=new[0] - (old[0] or 0), tool_calls=new[1] - (old[1] or 0), api_calls=new[2] - (old[2] or 0),
            tokens=(new[3] or 0) - (old[3] or 0),
        )


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


__all__ = ["DatabaseSink", "FileReplacedError", "insert_ignoring"]
