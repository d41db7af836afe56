"""Spans of one trace arrive in any order and across batches; rows are queued at once and
corrected later.

Each mapped span's row is queued as soon as it arrives, with the best answer known then.
A bounded in-memory index per trace (span id -> node: kind, row id, parent span id, what
was queued for it) remembers enough to correct those rows when a later span changes the
answer: a row's nearest mapped ancestor (``parent_id``), its nearest agent execution
(``execution_id``, and ``agent_name`` for a model call), the session and user it inherits,
the workflow an execution belongs to (``correlation_id``), and an execution's token total
and tool list. A correction is a fix-up record (``"fixup"``) the writer applies in SQL in
the same transaction as the batch it travels in, after the batch's inserts, keeping the
rollups right.

Walking up from a node stops at the first ancestor that has not arrived: the node then
waits for that span id, and its provisional ``parent_id`` is that span's row id (right
whenever the missing span turns out to be mapped, the common case). When the span
arrives, every node waiting for it is resolved again. Nothing is lost: a tool or model
call whose agent never arrives keeps its row (agent ``''``).

Updates are staged in a :class:`Plan` and applied by :meth:`Plan.commit` only once the
writer took the plan's records, so a refused (busy) submission leaves no trace here and
the sender's retry is processed afresh.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from studio_analytics.ingest.ids import row_id
from studio_analytics.ingest.mapping import (
    EXECUTION,
    IGNORED,
    MODEL,
    ROW_KINDS,
    TOOL,
    WORKFLOW,
    MappedSpan,
)
from studio_analytics.ingest.spans import IngestSpan

#: kinds that have a place in the span tree (parent_id columns)
TREE_KINDS = frozenset({EXECUTION, TOOL, MODEL})
#: ancestors walked at most (a cycle of parent ids in bad input ends here)
_MAX_DEPTH = 256
_UNSET: Any = object()


# A node is a plain tuple of ints, strings and None (and tuples of those): the garbage
# collector stops tracking such tuples, so a large index costs no collection time. With
# an object per node, the collections an agent's own allocations trigger walked the whole
# index: the agent's thread paid 12-20 % more CPU per span in benchmarks/bench_otel_exporter.py.
# Fields, in order:
KIND, ROW, PARENT, NAME, START, SESSION, USER, TOKENS, USAGE, EMITTED, COUNTED, AGG_TOKENS, AGG_COUNTED, TOOLS = range(14)
# NAME: agent, tool or workflow name; TOKENS: a model call's input + output; USAGE: an agent
# span's own total; EMITTED: the resolved columns as last queued (rows only); COUNTED: a
# tool/model call was counted in its execution; AGG_TOKENS / AGG_COUNTED: an execution's
# model-call tokens and how many calls had counts; TOOLS: its tool calls' (start, name).
Node = tuple[Any, ...]


def new_node(span: IngestSpan, m: MappedSpan) -> Node:
    n_in, n_out = m.input_tokens, m.output_tokens
    tokens = None if n_in is None and n_out is None else (n_in or 0) + (n_out or 0)
    kind = m.kind
    return (kind, row_id(span.trace_id, span.span_id) if kind in ROW_KINDS else 0, span.parent_span_id or None,
            m.name, span.start_ns, m.session_id, m.user_id, tokens, m.usage, None, False, 0, 0, ())


# A resolution (what walking up from a row's node found) is a plain tuple too:
R_PARENT, R_AGENT, R_WORKFLOW, R_SESSION, R_USER, R_BLOCKED = range(6)
# R_PARENT: row id of the nearest mapped ancestor (provisional when blocked); R_AGENT /
# R_WORKFLOW: span id of the nearest execution / workflow; R_BLOCKED: the first missing
# ancestor's span id, or None (final).
Resolution = tuple[Any, ...]


@dataclass(frozen=True)
class AssemblerStats:
    traces: int
    spans: int
    unresolved: int
    traces_forgotten: int
    unresolved_forgotten: int


class TraceAssembler:
    """The index of tracked traces. Not thread-safe: the pipeline holds a lock around it.

    ``idle_s``: a trace with no new span for this long is forgotten; ``max_spans``: when
    more spans than this are tracked, the least recently active traces are forgotten."""

    def __init__(self, *, idle_s: float = 900.0, max_spans: int = 100_000) -> None:
        self.idle_s = float(idle_s)
        self.max_spans = max(1, int(max_spans))
        # Per trace, in dicts keyed by trace id rather than an object per trace: a
        # collection walks every tracked object, and one per trace cost the collector
        # process several µs per span; dicts of untracked tuples are left untracked.
        self._last: OrderedDict[int, float] = OrderedDict()  # trace -> last active; least recent first
        self._nodes: dict[int, dict[int, Node]] = {}  # trace -> span id -> node
        self._waiting: dict[int, dict[int, tuple[int, ...]]] = {}  # trace -> missing span id -> rows waiting
        self._pending_of: dict[int, int] = {}  # trace -> row nodes waiting for a missing ancestor (> 0 only)
        self._spans = 0
        self._pending = 0
        self.traces_forgotten = 0
        self.unresolved_forgotten = 0

    def plan(self, spans: Iterable[tuple[IngestSpan, MappedSpan]], *, now: float) -> Plan:
        self.sweep(now)
        plan = Plan(self, now)
        plan.build(spans)
        return plan

    def sweep(self, now: float) -> None:
        """Forget traces idle for longer than ``idle_s``, then the least recently active
        ones while more than ``max_spans`` spans are tracked."""
        last = self._last
        limit = now - self.idle_s
        while last:
            tid, active = next(iter(last.items()))
            if active > limit and self._spans <= self.max_spans:
                break
            self._forget(tid)

    def _forget(self, tid: int) -> None:
        del self._last[tid]
        self._spans -= len(self._nodes.pop(tid))
        self._waiting.pop(tid, None)
        pending = self._pending_of.pop(tid, 0)
        self._pending -= pending
        self.traces_forgotten += 1
        self.unresolved_forgotten += pending

    def stats(self) -> AssemblerStats:
        return AssemblerStats(len(self._last), self._spans, self._pending, self.traces_forgotten,
                              self.unresolved_forgotten)


Key = tuple[int, int]  # (trace id, span id)


class Plan:
    """What one submission adds: the writer's records, and the index updates to apply
    once the writer has taken them."""

    def __init__(self, assembler: TraceAssembler, now: float) -> None:
        self._a = assembler
        self._now = now
        self.items: list[tuple[str, tuple[Any, ...]]] = []
        self.rows = 0
        self.fixups = 0
        self.duplicates = 0
        self.ignored = 0
        self.mapped: dict[str, int] = {}
        self._new: dict[int, dict[int, Node]] = {}  # trace id -> new nodes by span id
        self._arrived: list[tuple[IngestSpan, MappedSpan, Key, Node]] = []
        self._res: dict[Key, tuple[Resolution, Node]] = {}  # row nodes resolved (again), in order
        self._counted: list[Key] = []
        self._agg: dict[Key, list[Any]] = {}  # execution -> [tokens, counted, tools] added
        self._emitted: dict[Key, tuple[Any, ...]] = {}

    # -- building ---------------------------------------------------------------------
    def build(self, spans: Iterable[tuple[IngestSpan, MappedSpan]]) -> None:
        nodes_of = self._a._nodes
        spans = list(spans)
        known = {span.trace_id for span, m in spans if m.kind != IGNORED}
        all_new = self._new
        arrived = self._arrived
        mapped = self.mapped
        for span, m in spans:
            tid = span.trace_id
            old = nodes_of.get(tid)
            new = all_new.get(tid)
            sid = span.span_id
            if (old is not None and sid in old) or (new is not None and sid in new):
                self.duplicates += 1
                continue
            kind = m.kind
            if kind == IGNORED:
                self.ignored += 1
                if old is None and tid not in known:
                    continue  # a trace of no known convention (yet): not worth remembering
            else:
                mapped[kind] = mapped.get(kind, 0) + 1
            if new is None:
                new = all_new[tid] = {}
            node = new[sid] = new_node(span, m)
            arrived.append((span, m, (tid, sid), node))
        resolve = self._resolve
        waiting_of = self._a._waiting
        for tid, new in all_new.items():
            old = nodes_of.get(tid)
            for sid, node in new.items():
                if node[KIND] in ROW_KINDS:
                    resolve(tid, sid, node, new, old)
            waiting = waiting_of.get(tid)
            if waiting:
                for sid in new:
                    for w in waiting.get(sid, ()):
                        resolve(tid, w, old[w], new, old)  # type: ignore[index]
        self._count()
        self._emit()

    def _lookup(self, tid: int, sid: int) -> Node | None:
        new = self._new.get(tid)
        node = new.get(sid) if new is not None else None
        if node is None:
            old = self._a._nodes.get(tid)
            if old is not None:
                node = old.get(sid)
        return node

    def _resolve(self, tid: int, sid: int, node: Node, new: dict[int, Node], old: dict[int, Node] | None) -> None:
        parent_row = agent = workflow = _UNSET
        session, user = node[SESSION], node[USER]
        kind = node[KIND]
        # What this kind's row takes from its ancestors; the rest is not looked for.
        if kind not in TREE_KINDS:
            parent_row = None
        if kind != TOOL and kind != MODEL:
            agent = None
        if kind != EXECUTION:
            workflow = None
        inherits = kind != TOOL  # a tool row has no session or user
        blocked = None
        up_sid = node[PARENT]
        for _ in range(_MAX_DEPTH):
            if up_sid is None:
                break
            up = new.get(up_sid)
            if up is None and old is not None:
                up = old.get(up_sid)
            if up is None:
                blocked = up_sid
                if parent_row is _UNSET:
                    parent_row = row_id(tid, up_sid)  # provisional: right if the missing span is mapped
                break
            up_kind = up[KIND]
            if parent_row is _UNSET and up_kind in TREE_KINDS:
                parent_row = up[ROW]
            if agent is _UNSET and up_kind == EXECUTION:
                agent = up_sid
            if workflow is _UNSET and up_kind == WORKFLOW:
                workflow = up_sid
            session = session or up[SESSION]
            user = user or up[USER]
            if (parent_row is not _UNSET and agent is not _UNSET and workflow is not _UNSET
                    and (not inherits or (session and user))):
                break  # nothing above can change the answer
            up_sid = up[PARENT]
        self._res[(tid, sid)] = ((
            None if parent_row is _UNSET else parent_row, None if agent is _UNSET else agent,
            None if workflow is _UNSET else workflow, session or None, user or None, blocked), node)

    def _count(self) -> None:
        """Tool and model calls whose execution is now known count in it (once)."""
        aggs = self._agg
        counted = self._counted
        for key, (res, node) in self._res.items():
            kind = node[KIND]
            agent = res[R_AGENT]
            if (kind != TOOL and kind != MODEL) or node[COUNTED] or agent is None:
                continue
            counted.append(key)
            agg = aggs.get((key[0], agent))
            if agg is None:
                agg = aggs[(key[0], agent)] = [0, 0, []]
            if kind == TOOL:
                agg[2].append((node[START], node[NAME] or ""))
            elif node[TOKENS] is not None:
                agg[0] += node[TOKENS]
                agg[1] += 1

    # -- what an execution holds ----------------------------------------------------------
    def _tokens(self, key: Key, node: Node) -> int | None:
        agg = self._agg.get(key)
        counted = node[AGG_COUNTED] + (agg[1] if agg else 0)
        if counted:
            return node[AGG_TOKENS] + (agg[0] if agg else 0)  # type: ignore[no-any-return]
        # None of its model calls carried counts (or none arrived yet): the agent span's own.
        return node[USAGE]  # type: ignore[no-any-return]

    def _tools(self, key: Key, node: Node) -> tuple[str, ...]:
        agg = self._agg.get(key)
        earlier = node[TOOLS]
        if not (agg and agg[2]):
            if not earlier:
                return ()
            calls = list(earlier)
        else:
            calls = [*earlier, *agg[2]] if earlier else list(agg[2])
        calls.sort()
        return tuple([name for _, name in calls])

    def _columns(self, key: Key, node: Node, res: Resolution | None) -> tuple[Any, ...]:
        """The columns a fix-up can change, as they should be now (``res`` None: the
        node was not resolved again, only its execution totals changed)."""
        kind = node[KIND]
        if kind == EXECUTION:
            if res is None:
                emitted = node[EMITTED]
                head = emitted[:4] if emitted is not None else (None, None, None, None)
            else:
                wf = None if res[R_WORKFLOW] is None else self._lookup(key[0], res[R_WORKFLOW])
                head = (res[R_PARENT], res[R_SESSION], res[R_USER], None if wf is None else _uuid_text(wf[ROW]))
            return (*head, self._tokens(key, node), self._tools(key, node))
        assert res is not None
        agent = None if res[R_AGENT] is None else self._lookup(key[0], res[R_AGENT])
        exec_row, agent_name = (None, None) if agent is None else (agent[ROW], agent[NAME])
        if kind == TOOL:
            return (res[R_PARENT], exec_row, agent_name)
        return (res[R_PARENT], exec_row, agent_name, res[R_SESSION], res[R_USER])  # MODEL

    # -- records ----------------------------------------------------------------------
    def _emit(self) -> None:
        items = self.items
        all_res = self._res
        emitted = self._emitted
        columns = self._columns
        for span, m, key, node in self._arrived:
            kind = node[KIND]
            if kind not in ROW_KINDS:
                continue
            res = all_res[key][0]
            if kind == WORKFLOW:
                items.append((WORKFLOW, self._workflow_record(span, m, key, node, res)))
            else:
                cols = columns(key, node, res)
                emitted[key] = cols
                items.append((kind, _record(span, m, node, cols)))
            self.rows += 1
        # Rows queued earlier whose answer changed: resolved again, or an execution
        # whose tool and model calls arrived after it.
        again = [k for k in all_res if k not in emitted]
        again += [k for k in self._agg if k not in all_res]
        for key in again:
            node = self._lookup(*key)
            if node is None or node[EMITTED] is None:
                continue  # new in this plan (queued above), or a workflow
            found = all_res.get(key)
            cols = columns(key, node, None if found is None else found[0])
            if cols != node[EMITTED]:
                emitted[key] = cols
                items.append(("fixup", _fixup(node, cols)))
                self.fixups += 1

    def _workflow_record(self, span: IngestSpan, m: MappedSpan, key: Key, node: Node, res: Resolution
                         ) -> tuple[Any, ...]:
        correlation = _uuid_text(node[ROW])
        tid, sid = key
        names = set()
        for (other_tid, _), (r, other) in self._res.items():
            if other_tid == tid and other[KIND] == EXECUTION and r[R_WORKFLOW] == sid:
                names.add(other[NAME] or "")
        old = self._a._nodes.get(tid)
        if old is not None:
            for other in old.values():
                if other[KIND] == EXECUTION and other[EMITTED] is not None and other[EMITTED][3] == correlation:
                    names.add(other[NAME] or "")
        return (node[ROW], m.name, span.start_ns, span.end_ns, (span.end_ns - span.start_ns) / 1e6, m.status,
                sorted(names), res[R_SESSION], res[R_USER], None, None)  # records.WORKFLOW_FIELDS

    # -- after the writer took the records ---------------------------------------------
    def commit(self) -> None:
        a = self._a
        last, nodes_of, waiting_of, pending_of = a._last, a._nodes, a._waiting, a._pending_of
        now = self._now
        for tid, new in self._new.items():
            nodes = nodes_of.get(tid)
            if nodes is None:
                nodes_of[tid] = new  # the plan is done with it
            else:
                nodes.update(new)
            a._spans += len(new)
            waiting = waiting_of.get(tid)
            if waiting:
                for sid in new:
                    done = waiting.pop(sid, None)
                    if done:
                        left = pending_of[tid] - len(done)
                        if left:
                            pending_of[tid] = left
                        else:
                            del pending_of[tid]
                        a._pending -= len(done)
                if not waiting:
                    del waiting_of[tid]
            last[tid] = now
            last.move_to_end(tid)
        for (tid, sid), (res, _) in self._res.items():
            blocked = res[R_BLOCKED]
            if blocked is not None:
                waiting = waiting_of.get(tid)
                if waiting is None:
                    waiting = waiting_of[tid] = {}
                waiting[blocked] = waiting.get(blocked, ()) + (sid,)
                pending_of[tid] = pending_of.get(tid, 0) + 1
                a._pending += 1
        # Each changed node is rebuilt once: its last five fields (EMITTED..TOOLS) anew.
        counted = set(self._counted)
        emitted = self._emitted
        aggs = self._agg
        for key in {**emitted, **dict.fromkeys(counted), **aggs}:
            nodes = nodes_of[key[0]]
            node = nodes[key[1]]
            agg = aggs.get(key)
            nodes[key[1]] = node[:EMITTED] + (
                emitted.get(key, node[EMITTED]),
                True if key in counted else node[COUNTED],
                node[AGG_TOKENS] + agg[0] if agg else node[AGG_TOKENS],
                node[AGG_COUNTED] + agg[1] if agg else node[AGG_COUNTED],
                node[TOOLS] + tuple(agg[2]) if agg and agg[2] else node[TOOLS],
            )
        if a._spans > a.max_spans:
            a.sweep(now)


#: 32 hex digits (``%`` formats a 128-bit int twice as fast as a format spec)
_HEX32 = "%032x"


def _uuid_text(value: int) -> str:
    """``str(uuid.UUID(int=value))``, without the object."""
    h = _HEX32 % value
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _record(span: IngestSpan, m: MappedSpan, node: Node, cols: tuple[Any, ...]) -> tuple[Any, ...]:
    """The writer's record for a new row (field orders: tracker/records.py)."""
    start, end = span.start_ns, span.end_ns
    duration = (end - start) / 1e6
    trace = span.trace_id
    kind, row = node[KIND], node[ROW]
    if kind == EXECUTION:
        parent, session, user, correlation, tokens, tools = cols
        return (row, m.agent_id, m.name, start, end, duration, m.status, m.input, m.output, m.error, tools, 0,
                session, user, correlation, tokens, 0, parent, trace)  # records.EXECUTION_FIELDS
    if kind == TOOL:
        parent, execution, agent = cols
        return (row, m.name, execution, start, end, duration, m.status, m.input, m.output, m.error, None, None,
                None, parent, trace, agent)  # records.TOOL_FIELDS
    parent, execution, agent, session, user = cols
    return (row, execution, parent, trace, agent, m.model, m.provider, m.operation, start, end, duration,
            m.ttft_ms, m.status, m.error, m.input_tokens, m.output_tokens, m.cached_tokens, m.reasoning_tokens,
            m.cost, m.input, m.output, session, user)  # records.MODEL_FIELDS


def _fixup(node: Node, cols: tuple[Any, ...]) -> tuple[Any, ...]:
    """records.FIXUP_FIELDS: kind, row id, parent, execution, agent name, session, user,
    correlation, tokens, tool names (None where the kind has no such column)."""
    kind, row = node[KIND], node[ROW]
    if kind == EXECUTION:
        parent, session, user, correlation, tokens, tools = cols
        return (EXECUTION, row, parent, None, None, session, user, correlation, tokens, tools)
    if kind == TOOL:
        parent, execution, agent = cols
        return (TOOL, row, parent, execution, agent, None, None, None, None, None)
    parent, execution, agent, session, user = cols
    return (MODEL, row, parent, execution, agent, session, user, None, None, None)


__all__ = ["AssemblerStats", "Node", "Plan", "TraceAssembler", "new_node"]
