"""An execution's trace tree: every span below it at any depth — sub-agents' executions,
tool calls, model calls — from one recursive query over the three tables by parent id.

Rows written before revision 0003 have no parent id: a tool call (or model call) with
``execution_id = X`` and no parent is a child of X. Siblings are ordered by start time;
the result is depth first, the execution itself first.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Integer, bindparam, func, literal_column, select, text, true, union_all
from sqlalchemy.engine import Connection

from studio_analytics.analytics.results import ToolCall, TraceSpan
from studio_analytics.db.models import AgentExecutionMetrics as AEM
from studio_analytics.db.models import ModelCallMetrics as MCM
from studio_analytics.db.models import ToolUsageMetrics as TUM
from studio_analytics.db.models import normalize_status

#: At most this many spans per tree (the shallowest first); ``spans_truncated`` says so.
MAX_SPANS = 5_000
#: Recursion stops this deep: parent ids that form a cycle (bad ingested data) end here.
MAX_DEPTH = 100
EXECUTION, TOOL, MODEL = 0, 1, 2
_KINDS = {EXECUTION: "execution", TOOL: "tool", MODEL: "model"}


def _kind(code: int) -> Any:
    # A literal in the SQL: the recursive term's column types must equal the anchor's
    # (PostgreSQL), which a bound parameter's would not.
    return literal_column(str(code))


#: (table alias, id column, parent column, kind, extra condition, index) per way a row
#: hangs below a span; the second of each pair is for rows written before 0003
_EDGES = (
    ("e", "execution_id", "parent_id", EXECUTION, "", "ix_exec_parent", AEM),
    ("u", "usage_id", "parent_id", TOOL, "", "ix_tool_parent", TUM),
    ("u", "usage_id", "execution_id", TOOL, "u.parent_id IS NULL", "ix_tool_execution", TUM),
    ("m", "call_id", "parent_id", MODEL, "", "ix_model_parent", MCM),
    ("m", "call_id", "execution_id", MODEL, "m.parent_id IS NULL", "ix_model_execution", MCM),
)


def _sqlite_tree() -> Any:
    """One recursive SELECT per edge (SQLite >= 3.34 allows several), each seeking its
    table by an indexed column. INDEXED BY because after ANALYZE a parent column that is
    mostly NULL (top-level executions, rows from before 0003) looks unselective, and
    SQLite would then scan the whole table for every span. Written as SQL text since
    SQLAlchemy renders no index hints for SQLite; every name in it is ours."""
    parts = ["SELECT execution_id, 0, parent_id, 0 FROM agent_execution_metrics WHERE execution_id = :root"]
    for alias, ident, parent, kind, extra, index, model in _EDGES:
        # LEFT JOIN ... IS NOT NULL rather than a plain join: on a plain join SQLite 3.40
        # builds a Bloom filter over the whole table at every recursive step.
        parts.append(
            f"SELECT {alias}.{ident}, {kind}, t.span_id, t.depth + 1 FROM tree AS t LEFT JOIN "
            f"{model.__tablename__} AS {alias} INDEXED BY {index} ON {alias}.{parent} = t.span_id "
            f"WHERE t.depth < {MAX_DEPTH} AND {alias}.{ident} IS NOT NULL" + (f" AND {extra}" if extra else ""))
    return (text("\nUNION ALL ".join(parts))
            .bindparams(bindparam("root", type_=AEM.execution_id.type))
            .columns(span_id=AEM.execution_id.type, kind=Integer(), via=AEM.execution_id.type, depth=Integer())
            .cte("tree", recursive=True))


def _tree_cte(dialect: str) -> Any:
    """``tree(span_id, kind, via, depth)``: ``via`` is the tree parent (the span the row
    was reached from; the execution's own stored parent for the root)."""
    if dialect == "sqlite":
        return _sqlite_tree()
    anchor = select(AEM.execution_id.label("span_id"), _kind(EXECUTION).label("kind"), AEM.parent_id.label("via"),
                    literal_column("0").label("depth")).where(AEM.execution_id == bindparam("root"))
    tree = anchor.cte("tree", recursive=True)
    t = tree.alias("t")
    # PostgreSQL allows one reference to the recursive table: each of its rows is joined
    # LATERAL to the union of the edges, each branch a lookup by its own index. (A plain
    # join to a UNION ALL subquery cannot push the parent condition into branches with
    # a WHERE clause of their own: those were scanned whole.)
    branches = []
    for _, ident, parent, kind, extra, _, model in _EDGES:
        q = select(getattr(model, ident).label("span_id"), _kind(kind).label("kind")).where(
            getattr(model, parent) == t.c.span_id)
        branches.append(q if not extra else q.where(model.parent_id.is_(None)))
    e = union_all(*branches).lateral("edges")
    return tree.union_all(
        select(e.c.span_id, e.c.kind, t.c.span_id, t.c.depth + literal_column("1"))  # literals: see _kind
        .select_from(t.join(e, true()))
        .where(t.c.depth < literal_column(str(MAX_DEPTH))))


#: The columns read for each kind of span, labelled as :func:`_span` reads them.
_DETAILS: dict[int, tuple[Any, str, tuple[tuple[str, str], ...]]] = {
    EXECUTION: (AEM, "execution_id", (
        ("start_time", "a_start"), ("agent_name", "agent_name"), ("end_time", "a_end"), ("duration_ms", "a_ms"),
        ("status", "a_status"), ("error_message", "a_error"), ("query", "query"), ("response", "a_response"),
        ("tokens_used", "tokens_used"))),
    TOOL: (TUM, "usage_id", (
        ("start_time", "u_start"), ("tool_name", "tool_name"), ("end_time", "u_end"), ("duration_ms", "u_ms"),
        ("status", "u_status"), ("error_message", "u_error"), ("input_data", "input_data"),
        ("output_data", "output_data"), ("external_api_called", "external_api_called"),
        ("api_status_code", "api_status_code"), ("api_response_time_ms", "api_response_time_ms"))),
    MODEL: (MCM, "call_id", (
        ("start_time", "m_start"), ("model", "model"), ("end_time", "m_end"), ("duration_ms", "m_ms"),
        ("status", "m_status"), ("error_message", "m_error"), ("request", "request"), ("response", "m_response"),
        ("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
        ("cached_input_tokens", "cached_input_tokens"), ("reasoning_tokens", "reasoning_tokens"),
        ("time_to_first_token_ms", "time_to_first_token_ms"), ("cost_usd", "cost_usd"),
        ("cost_source", "cost_source"), ("provider", "provider"), ("operation", "operation"))),
}


def _statement(dialect: str, cap: int) -> Any:
    """The tree's spans with every kind's columns (NULL for the other kinds), shallowest
    first, at most ``cap + 1``."""
    tree = _tree_cte(dialect)
    joined: Any = tree
    columns: list[Any] = [tree.c.span_id, tree.c.kind, tree.c.via, tree.c.depth]
    starts = []
    for kind, (model, ident, wanted) in _DETAILS.items():
        table = model.__table__
        if dialect == "postgresql":
            # LATERAL: one index lookup per span, whatever the planner guesses the
            # recursive query returns (it guessed thousands, and hashed whole tables).
            # LIMIT 1 (ids are unique) keeps the planner from flattening it into a join.
            detail: Any = select(*(table.c[name].label(label) for name, label in wanted)).where(
                table.c[ident] == tree.c.span_id, tree.c.kind == _kind(kind)).limit(1).lateral(f"d{kind}")
            joined = joined.outerjoin(detail, true())
            columns += [detail.c[label] for _, label in wanted]
        else:
            alias = table.alias(f"d{kind}")
            joined = joined.outerjoin(alias, (tree.c.kind == _kind(kind)) & (alias.c[ident] == tree.c.span_id))
            columns += [alias.c[name].label(label) for name, label in wanted]
        starts.append(columns[-len(wanted)])
    start = func.coalesce(*starts)
    # Shallowest first: a cut at ``cap`` keeps every kept span's ancestors.
    return (select(*columns, start.label("start_time")).select_from(joined)
            .order_by(tree.c.depth, start, tree.c.kind).limit(cap + 1))


_STATEMENTS: dict[tuple[str, int], Any] = {}


def execution_spans(conn: Connection, execution_id: uuid.UUID, *,
                    cap: int = MAX_SPANS) -> tuple[tuple[TraceSpan, ...], bool]:
    """The execution's tree (execution first, then depth first, siblings by start
    time) and whether it was cut at ``cap`` spans. Call only on a database with the span
    tree (:func:`~studio_analytics.db.capabilities.has_span_tree`)."""
    key = (conn.dialect.name, cap)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = _statement(conn.dialect.name, cap)
    rows = conn.execute(stmt, {"root": execution_id}).all()
    truncated = len(rows) > cap
    spans: dict[uuid.UUID, TraceSpan] = {}
    for r in rows[:cap]:
        if r.span_id not in spans:  # reached twice only through a cycle of parent ids
            spans[r.span_id] = _span(r)
    return ordered(spans.values(), execution_id), truncated


def ordered(spans: Any, root: uuid.UUID) -> tuple[TraceSpan, ...]:
    """Depth first from ``root``, siblings by start time; ``depth`` from the root."""
    children: dict[uuid.UUID | None, list[TraceSpan]] = {}
    by_id = {}
    for s in spans:
        by_id[s.span_id] = s
        if s.span_id != root:
            children.setdefault(s.parent_id, []).append(s)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s.start_time, s.kind != "execution", str(s.span_id)))
    top = by_id.get(root)
    if top is None:
        return ()
    out: list[TraceSpan] = []
    stack: list[tuple[TraceSpan, int]] = [(top, 0)]
    seen: set[uuid.UUID] = set()
    while stack:
        span, depth = stack.pop()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        out.append(span if span.depth == depth else _with_depth(span, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, ())))
    return tuple(out)


def _with_depth(span: TraceSpan, depth: int) -> TraceSpan:
    return replace(span, depth=depth)


def _span(r: Any) -> TraceSpan:
    common = {"span_id": r.span_id, "parent_id": r.via, "start_time": r.start_time, "depth": int(r.depth)}
    if r.kind == EXECUTION:
        return TraceSpan(kind="execution", name=r.agent_name, end_time=r.a_end, duration_ms=r.a_ms,
                         status=normalize_status(r.a_status).value, error_message=r.a_error, input=r.query,
                         output=r.a_response, tokens_used=r.tokens_used, **common)
    if r.kind == TOOL:
        return TraceSpan(kind="tool", name=r.tool_name, end_time=r.u_end, duration_ms=r.u_ms,
                         status=normalize_status(r.u_status).value, error_message=r.u_error, input=r.input_data,
                         output=r.output_data, external_api_called=r.external_api_called,
                         api_status_code=r.api_status_code, api_response_time_ms=r.api_response_time_ms, **common)
    return TraceSpan(kind="model", name=r.model, end_time=r.m_end, duration_ms=r.m_ms,
                     status=normalize_status(r.m_status).value, error_message=r.m_error, input=r.request,
                     output=r.m_response, input_tokens=r.input_tokens, output_tokens=r.output_tokens,
                     cached_input_tokens=r.cached_input_tokens, reasoning_tokens=r.reasoning_tokens,
                     time_to_first_token_ms=r.time_to_first_token_ms, cost_usd=r.cost_usd,
                     cost_source=r.cost_source, provider=r.provider, operation=r.operation, **common)


def legacy_spans(detail_root: TraceSpan, tool_calls: Sequence[ToolCall]) -> tuple[TraceSpan, ...]:
    """A database without the span tree (Agent Studio's): the execution and its tool
    calls one level below it."""
    return (detail_root, *(
        TraceSpan(span_id=c.usage_id, parent_id=detail_root.span_id, kind="tool", name=c.tool_name,
                  start_time=c.start_time, end_time=c.end_time, duration_ms=c.duration_ms, status=c.status,
                  error_message=c.error_message, depth=1, input=c.input_data, output=c.output_data,
                  external_api_called=c.external_api_called, api_status_code=c.api_status_code,
                  api_response_time_ms=c.api_response_time_ms)
        for c in tool_calls
    ))
