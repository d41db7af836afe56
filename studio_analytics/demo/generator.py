"""Writes demo history through the real tracker, driving its clock through the past days.

The history holds incidents at known times (:func:`~studio_analytics.demo.scenario.demo_incidents`),
for the window's charts and for measuring the alerts (benchmarks/bench_alert_accuracy.py):
a three-hour latency spike, one agent's failure spike, one tool's outage, a provider's
rate-limit storm, an hour without traffic, and a few runs left in progress.

Runs left in progress are the one thing the tracker cannot write: it writes a run's row
when the run ends, so a run that never ends (its process killed, a call that never
returns) leaves no row at all — ``in_progress`` rows come from writers that record a
run when it starts (Agent Studio's ``running`` rows). The demo runs such a run
through the tracker (its model call is written as usual), has the tracker leave the run
and its hanging tool call unrecorded, and inserts their rows as a run-start writer would
— status ``in_progress``, no end, no duration — with the database layer's bulk insert and
rollup update, the two calls the tracker's writer makes for a batch.
"""

from __future__ import annotations

import builtins
import logging
import math
import random
import re
import string
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from studio_analytics import tracker
from studio_analytics.db.bulk import execute_values
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.rollups import apply_rollups
from studio_analytics.db.rows import (
    EXECUTION_COLUMNS,
    TOOL_COLUMNS,
    Row,
    json_text,
    pg_time,
    time_text,
)
from studio_analytics.demo.scenario import (
    AGENT_ERRORS,
    AGENT_FAILURE_RATE,
    AGENTS,
    AGENTS_BY_NAME,
    CITIES,
    HOSTS,
    INCIDENT_PROVIDER,
    MODELS,
    OUTAGE_ERROR,
    OUTAGE_FAILURE_RATE,
    PROVIDER_ERRORS,
    QUERIES,
    RESPONSES,
    STORM_RATE_LIMIT,
    STUCK_AGENT,
    STUCK_RUN_COUNT,
    STUCK_RUN_SPACING_MIN,
    STUCK_TOOL,
    TOOLS,
    USER_AGENTS,
    WORDS,
    WORKFLOWS,
    AgentProfile,
    Incident,
    IncidentKind,
    ModelProfile,
    demo_incidents,
)
from studio_analytics.tracker import runtime as tracker_runtime

log = logging.getLogger(__name__)

MS = 1_000_000  # ns
#: A session stops starting queries this close to the deadline, so the clamp at the
#: deadline (DemoWriter._wait) only ever shortens the last run's tail.
SESSION_TAIL_NS = 5 * 60 * 1_000_000_000
#: live mode lays each run out to end by now: its simulated start is this far back
LIVE_LEAD_NS = 20 * 1_000_000_000


class VirtualClock:
    """The tracker's clock during a backfill: time moves only when the demo says so."""

    def __init__(self, ns: int) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns

    def advance_ms(self, ms: float) -> None:
        self.ns += int(max(ms, 0.01) * MS)


@dataclass(frozen=True, slots=True)
class DemoResult:
    executions: int
    sessions: int
    workflows: int
    seconds: float
    #: The tracker's counters after the final flush: how many rows reached the
    #: database and how many wait in the spool (None: not measured).
    tracker: tracker.TrackerStats | None = None
    #: the latency spike's [start, end) in ns since the epoch: latency x4, failures x6, and a
    #: rate-limit storm at one model provider (None: no latency spike)
    incident: tuple[int, int] | None = None
    #: every incident injected, in the order they start (the latency spike among them)
    incidents: tuple[Incident, ...] = ()
    #: runs left in progress that reached the database (see the module docstring)
    unfinished: int = 0

    def of_kind(self, kind: IncidentKind) -> tuple[Incident, ...]:
        return tuple(i for i in self.incidents if i.kind is kind)


#: Sub-agents call sub-agents at most this deep (caller at depth 0).
MAX_AGENT_DEPTH = 2
#: An agent run that has not answered by then times out.
AGENT_BUDGET_MS = 120_000.0
#: Prompt tokens a model reads per millisecond before its first token.
PREFILL_TOKENS_PER_MS = 15.0

_ERROR_TYPES: dict[tuple[str, bool], type[Exception]] = {}
_FORMATTER = string.Formatter()
_FIELDS: dict[str, tuple[str, ...]] = {}
#: how each placeholder of the scenario's texts is drawn
_DRAW: dict[str, Callable[[random.Random], object]] = {
    "n": lambda r: r.randint(2, 99999),
    "m": lambda r: r.randint(2, 9),
    "word": lambda r: r.choice(WORDS),
    "host": lambda r: r.choice(HOSTS),
    "hex": lambda r: f"{r.getrandbits(48):012x}",
    "city": lambda r: r.choice(CITIES),
    "year": lambda r: r.choice((2024, 2025, 2026)),
}


def demo_error(message: str, *, timeout: bool = False) -> Exception:
    """An exception whose type and text read like the real thing ("HTTPError: 429 ...");
    with ``timeout`` it is a TimeoutError, so the tracker records the status "timeout"."""
    name, _, text = message.partition(": ")
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception) and (
            not timeout or issubclass(builtin, TimeoutError)):
        return builtin(text)
    base = TimeoutError if timeout else Exception
    cls = _ERROR_TYPES.setdefault((name, timeout), type(name, (base,), {"__module__": "demo"}))
    return cls(text)


def _snake_case(name: str) -> str:
    """``SQLAgent`` -> ``sql_agent``, ``ResearchAgent`` -> ``research_agent``."""
    return re.sub(r"([a-z\d])([A-Z])", r"\1_\2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)).lower()


class ModelCallFailed(Exception):
    """Raised by the demo's model call with what the provider raised: ``retryable`` says
    whether an SDK would try again (rate limits, server errors), ``status_code`` what the
    HTTP answer was (None for a timeout)."""

    def __init__(self, error: Exception, retryable: bool, status_code: int | None) -> None:
        super().__init__(str(error))
        self.error, self.retryable, self.status_code = error, retryable, status_code


def demo_rhythm(ns: int) -> float:
    """How busy the demo is at ``ns`` (0-1): a daily rhythm, busiest at 14:00 UTC."""
    hour = (ns / 3600e9) % 24
    return 0.35 + 0.65 * math.exp(-((hour - 14) ** 2) / 18)


@dataclass(frozen=True, slots=True)
class UnfinishedRun:
    """The wire rows (:mod:`studio_analytics.db.rows`) of a run left in progress and of
    the tool call it hangs in (the tool row carries the agent's name after its columns,
    for the rollups)."""

    execution: Row
    tool: Row


class DemoWriter:
    def __init__(self, rng: random.Random, clock: VirtualClock | None,
                 incidents: Sequence[Incident] = ()) -> None:
        self.rng = rng
        self.clock = clock
        self.incidents = tuple(incidents)
        #: [start_ns, end_ns) of the latency spikes: latency x4, failures x6, a 429 storm
        self._spikes = tuple((i.start_ns, i.end_ns) for i in self.incidents if i.kind is IncidentKind.LATENCY_SPIKE)
        #: (kind, target) -> the [start_ns, end_ns) of each of the other incidents
        self._windows: dict[tuple[IncidentKind, str | None], tuple[tuple[int, int], ...]] = {}
        for i in self.incidents:
            if i.kind is not IncidentKind.LATENCY_SPIKE:
                key = (i.kind, i.target)
                self._windows[key] = (*self._windows.get(key, ()), (i.start_ns, i.end_ns))
        self.executions = 0
        #: runs left in progress, for :func:`write_unfinished`
        self.unfinished: list[UnfinishedRun] = []
        #: the clock never passes this (the moment the demo started): no row may start
        #: or end after "now", or a report run right after the demo would miss it
        self.deadline_ns: int | None = None
        self.tail_ns = SESSION_TAIL_NS

    def _now(self) -> int:
        return self.clock.ns if self.clock else time.time_ns()

    @property
    def incident(self) -> tuple[int, int] | None:
        """The first latency spike's [start_ns, end_ns), if any."""
        return self._spikes[0] if self._spikes else None

    def _in_incident(self) -> bool:
        if not self._spikes:
            return False
        now = self._now()
        return any(start <= now < end for start, end in self._spikes)

    def _hit(self, kind: IncidentKind, target: str | None, ns: int | None = None) -> bool:
        """Whether an incident of ``kind`` at ``target`` is going on (now, or at ``ns``)."""
        windows = self._windows.get((kind, target))
        if not windows:
            return False
        at = self._now() if ns is None else ns
        return any(start <= at < end for start, end in windows)

    def traffic_stopped(self, ns: int | None = None) -> bool:
        """Inside an hour without traffic: no new run starts."""
        return self._hit(IncidentKind.TRAFFIC_DROP, None, ns)

    def _wait(self, ms: float) -> None:
        if self.clock is not None:
            self.clock.advance_ms(ms)
            if self.deadline_ns is not None and self.clock.ns > self.deadline_ns:
                self.clock.ns = self.deadline_ns
        else:
            time.sleep(min(ms, 3000) / 1000)

    def _latency(self, median: float, sigma: float) -> float:
        factor = 4.0 if self._in_incident() else 1.0
        return median * factor * math.exp(self.rng.gauss(0, sigma))

    def _tokens(self, median: float, sigma: float, low: int = 1) -> int:
        return max(low, int(median * math.exp(self.rng.gauss(0, sigma))))

    def _fill(self, template: str, **extra: object) -> str:
        """The template with its placeholders drawn at random (only those it has: the
        demo fills tens of thousands of texts)."""
        fields = _FIELDS.get(template)
        if fields is None:
            # in the template's order (not a set's, which varies between processes): the same
            # seed draws the same values in every process
            fields = _FIELDS[template] = tuple(dict.fromkeys(f for _, f, _, _ in _FORMATTER.parse(template) if f))
        if not fields:
            return template
        r = self.rng
        values = {f: extra[f] if f in extra else _DRAW[f](r) for f in fields}
        return template.format(**values)

    def run_agent(self, agent: AgentProfile, session_id: str | None, user_id: str | None, *,
                  sub_agents: bool = True) -> bool:
        """One agent run (with the sub-agents it calls unless ``sub_agents`` is False);
        False when it failed or timed out."""
        return self._agent(agent, session_id, user_id, 0 if sub_agents else MAX_AGENT_DEPTH) is None

    def _agent(self, agent: AgentProfile, session_id: str | None, user_id: str | None, depth: int) -> str | None:
        """One agent run as a real agent loop: a model call plans, each tool's result is
        read by another model call now and then, a last one answers. Sub-agents run
        inside a ``delegate_to_…`` tool or directly. Returns the run's status when it did
        not succeed, else None."""
        r = self.rng
        boost = 6.0 if self._in_incident() else 1.0
        query = self._fill(r.choice(QUERIES))
        names, weights = zip(*agent.models, strict=True)
        model = MODELS[r.choices(names, weights)[0]]
        steps = [t for t in agent.tools if r.random() >= 0.25]  # agents do not always need every tool
        if agent.delegates and depth < MAX_AGENT_DEPTH and r.random() < 0.5:
            steps.insert(r.randint(0, len(steps)), f"delegate:{r.choice(agent.delegates)}")
        try:
            with tracker.track_agent_execution(
                agent_id=str(uuid.uuid5(uuid.NAMESPACE_DNS, agent.name)), agent_name=agent.name,
                query=query, session_id=session_id, user_id=user_id,
            ) as run:
                started = self._now()
                messages = [{"role": "user", "content": query}]
                prompt = self._tokens(agent.prompt_tokens, 0.5, 50)
                self._wait(self._latency(agent.median_ms, agent.sigma))
                if steps:
                    prompt += self._chat(run, model, prompt, 120, boost, messages, "plan", steps[0])
                for i, step in enumerate(steps):
                    if step.startswith("delegate:"):
                        sub = AGENTS_BY_NAME[step[9:]]
                        error = self._delegate(sub, depth)
                        step, result = sub.name, sub.answer_tokens  # the sub-agent's answer
                    else:
                        error = self._run_tool(step, boost, prompt)
                        result = TOOLS[step].result_tokens
                    if error is not None and r.random() < 0.35:
                        raise demo_error(error)  # the agent gives up on a failed step
                    prompt += self._tokens(result, 0.6)
                    self._wait(self._latency(agent.median_ms, agent.sigma))
                    if i < len(steps) - 1 and r.random() < 0.5:
                        prompt += self._chat(run, model, prompt, 150, boost, messages, "step", step)
                if agent.sub_agents and depth < MAX_AGENT_DEPTH and r.random() < 0.3:
                    # a sub-agent called directly; the caller goes on whatever it returns
                    self._agent(AGENTS_BY_NAME[r.choice(agent.sub_agents)], None, None, depth + 1)
                self._chat(run, model, prompt, agent.answer_tokens, boost, messages, "answer", "")
                if r.random() < agent.timeout_rate * boost:
                    # stuck on its last step until the run's budget is spent
                    self._wait(max(10_000.0, AGENT_BUDGET_MS - (self._now() - started) / MS))
                    raise TimeoutError(f"agent exceeded its {AGENT_BUDGET_MS / 1000:.0f} s budget "
                                       f"after {len(steps) + 2} steps")
                failure_rate = agent.failure_rate * boost
                if self._hit(IncidentKind.AGENT_FAILURES, agent.name, started):
                    failure_rate = max(failure_rate, AGENT_FAILURE_RATE)
                if r.random() < failure_rate:
                    raise demo_error(self._fill(r.choice(agent.errors or AGENT_ERRORS)))
                run.set_response(f"Done: {agent.name} answered with {r.randint(1, 12)} findings.")
            return None
        except TimeoutError:
            return "timeout"
        except Exception:  # noqa: BLE001 - the demo's own failures, recorded by the tracker
            return "failure"
        finally:
            self.executions += 1

    def _delegate(self, sub: AgentProfile, depth: int) -> str | None:
        """A sub-agent called through a tool, as agent frameworks hand tasks over."""
        tool_name = "delegate_to_" + _snake_case(sub.name)
        try:
            with tracker.track_tool_usage(tool_name=tool_name, input_data={"agent": sub.name}) as call:
                status = self._agent(sub, None, None, depth + 1)
                if status is not None:
                    raise demo_error(f"SubAgentError: {sub.name} ended with status {status}")
                call.set_output({"agent": sub.name, "status": "success"})
        except Exception as e:  # noqa: BLE001 - recorded on the tool row; the caller decides
            return f"{type(e).__name__}: {e}"
        return None

    def _chat(self, run: tracker.SpanHandle, model: ModelProfile, prompt: int, output: int, boost: float,
              request: object, kind: str, tool: str) -> int:
        """One model call of the agent's loop, retried as SDKs do on rate limits and
        server errors (each retry is its own call); returns the output tokens the next
        prompt carries. Raises ModelCallFailed when the agent gives up."""
        r = self.rng
        answer = self._tokens(output, 0.6, 5)
        for attempt in range(3):
            started = self._now()
            try:
                self._model_call(model, prompt, answer, boost, request, self._fill(r.choice(RESPONSES[kind]), tool=tool))
                run.record_api_call(model.provider, 200, (self._now() - started) / MS)
                return answer
            except ModelCallFailed as e:
                run.record_api_call(model.provider, e.status_code, (self._now() - started) / MS)
                if not e.retryable or attempt == 2 or r.random() < 0.3:
                    raise e.error from None  # the agent fails with the provider's error
                run.retry()
                self._wait(500 * 2 ** attempt * r.uniform(0.5, 1.5))  # the SDK's backoff
        return answer  # not reached: the last attempt returns or raises

    def _model_failure(self, model: ModelProfile, prompt: int, boost: float) -> ModelCallFailed | None:
        """What goes wrong with this call, if anything: a rate limit (a storm at one
        provider during the incident), a server error, a prompt too long, a timeout."""
        r = self.rng
        errors = PROVIDER_ERRORS[model.provider]
        rate_limit = 0.3 if boost > 1 and model.provider == INCIDENT_PROVIDER else 0.01 * boost
        if self._hit(IncidentKind.RATE_LIMIT_STORM, model.provider):
            rate_limit = max(rate_limit, STORM_RATE_LIMIT)
        server = rate_limit + 0.004 * boost
        context = server + (0.004 if prompt >= 8_000 else 0.0)  # long prompts only
        timeout = context + 0.003 * boost
        roll = r.random()
        if roll < rate_limit:
            text, code, retryable = errors.rate_limit, 429, True
        elif roll < server:
            text, code, retryable = errors.server, 529 if "529" in errors.server else 500, True
        elif roll < context:
            text, code, retryable = errors.context, 400, False
            prompt = model.context + r.randint(1, 20_000)
        elif roll < timeout:
            return ModelCallFailed(demo_error(errors.timeout, timeout=True), False, None)
        else:
            return None
        error = demo_error(self._fill(text, model=model.name, context=model.context, tokens=prompt))
        return ModelCallFailed(error, retryable, code)

    def _model_call(self, model: ModelProfile, prompt: int, answer: int, boost: float, request: object,
                    response: str | None) -> None:
        """One request to a model, as ``track_model_call`` sees it: time to first token
        grows with the prompt (and the reasoning), the rest with the output; cached
        prompt tokens where the provider caches; nothing recorded when it fails."""
        r = self.rng
        failure = self._model_failure(model, prompt, boost)
        factor = 4.0 if self._in_incident() else 1.0
        if failure is not None:
            with suppress(type(failure.error)), tracker.track_model_call(
                    model=model.name, provider=model.provider, operation=model.operation, input=request):
                timed_out = failure.status_code is None
                self._wait(30_000 if timed_out else self._latency(model.ttft_ms, 0.5) * 0.5)
                raise failure.error  # recorded on the call's row as the provider's error
            raise failure
        with tracker.track_model_call(model=model.name, provider=model.provider, operation=model.operation,
                                      input=request) as call:
            if model.operation == "embeddings":
                self._wait(self._latency(model.ttft_ms, 0.4) + prompt / PREFILL_TOKENS_PER_MS / 10)
                call.record_usage(input_tokens=prompt)
                return
            reasoning = self._tokens(answer * model.reasoning, 0.5) if model.reasoning else 0
            ttft = (self._latency(model.ttft_ms, 0.35) + prompt / PREFILL_TOKENS_PER_MS * factor
                    + reasoning / model.tokens_per_s * 1000 * factor)
            self._wait(ttft)
            if r.random() < model.streamed:
                call.first_token()
            self._wait(answer / model.tokens_per_s * 1000 * factor * math.exp(r.gauss(0, 0.2)))
            cached: int | None = None
            if model.cache_hit:
                hit = prompt >= 1_024 and r.random() < model.cache_hit
                cached = int(prompt * r.uniform(0.4, 0.95)) // 128 * 128 if hit else 0
            call.record_usage(input_tokens=prompt, output_tokens=answer + reasoning, cached_input_tokens=cached,
                              reasoning_tokens=reasoning if model.reasoning else None)
            call.set_response(response)

    def _run_tool(self, name: str, boost: float, prompt: int = 0) -> str | None:
        """One tool call; returns its error message when it failed. A tool that calls a
        model (a summary, the embedding of a search) makes that call inside its span."""
        tool = TOOLS[name]
        r = self.rng
        if self._hit(IncidentKind.TOOL_OUTAGE, name):
            message = self._fill(OUTAGE_ERROR) if r.random() < OUTAGE_FAILURE_RATE else None
        else:
            failing = bool(r.random() < tool.failure_rate * boost and tool.errors)
            message = self._fill(r.choice(tool.errors)) if failing else None
        try:
            with tracker.track_tool_usage(tool_name=name, input_data={"query": self._fill("{word} {n}")},
                                          external_api_called=tool.api) as call:
                started = self._now()
                code = 200
                if tool.model is not None:
                    model = MODELS[tool.model]
                    if model.operation == "embeddings":
                        request: object = self._fill("{word} {city}")
                        size, kind = self._tokens(24, 0.5, 4), ""
                    else:
                        request = [{"role": "user", "content": "Summarise the text below."}]
                        size, kind = max(200, prompt // 2), "summary"
                    try:
                        self._model_call(model, size, self._tokens(250, 0.5, 20), boost, request,
                                         self._fill(r.choice(RESPONSES[kind])) if kind else None)
                    except ModelCallFailed as e:
                        message, code = f"{type(e.error).__name__}: {e}", e.status_code or 504
                if message is None or tool.model is None:
                    self._wait(self._latency(tool.median_ms, tool.sigma))
                if tool.api:
                    if message is not None and tool.model is None:
                        if message.startswith("HTTPError"):
                            code = int(message.split()[1]) if message.split()[1].isdigit() else 500
                        else:
                            code = 429 if "Rate limit" in message else 500
                    call.record_api_call(tool.api, code, (self._now() - started) / MS)
                if message:
                    raise demo_error(message)
                call.set_output({"items": r.randint(0, 20)})
        except Exception:  # noqa: BLE001 - recorded on the tool row; the agent decides what to do
            return message
        return None

    def run_unfinished(self, agent: AgentProfile, tool_name: str, user_id: str | None) -> None:
        """A run that never finishes: the agent plans with its model (a call the tracker
        writes), then calls ``tool_name``, which never returns. The tracker is told not
        to record the run and the call (the span's ``sampled`` flag, as sampling does),
        so their rows — in progress — are kept in :attr:`unfinished` for
        :func:`write_unfinished`."""
        r = self.rng
        names, weights = zip(*agent.models, strict=True)
        model = MODELS[r.choices(names, weights)[0]]
        query = self._fill(r.choice(QUERIES))
        tool = TOOLS[tool_name]
        tool_input = {"url": self._fill("https://{host}/page/{n}")}
        with tracker.track_agent_execution(
            agent_id=str(uuid.uuid5(uuid.NAMESPACE_DNS, agent.name)), agent_name=agent.name, query=query,
            user_id=user_id,
        ) as run:
            run_span = run.span
            self._wait(self._latency(agent.median_ms, agent.sigma))
            with suppress(Exception):  # a failed plan call is recorded; the run goes on to hang all the same
                self._chat(run, model, self._tokens(agent.prompt_tokens, 0.5, 50), 120, 1.0,
                           [{"role": "user", "content": query}], "plan", tool_name)
            with tracker.track_tool_usage(tool_name=tool_name, input_data=tool_input,
                                          external_api_called=tool.api) as call:
                tool_span = call.span
                recorded = tracker_runtime.config().enabled and run_span.sampled and tool_span.link == run_span.id
                tool_span.sampled = run_span.sampled = False  # what a killed process leaves: no end
        self.executions += 1
        if not recorded:
            return  # tracking off, sampled out (or not nested as expected): no rows, as the tracker would do
        content = tracker_runtime.config().capture_content
        # The row as a writer that keeps it up to date would hold it: the tokens and API
        # calls of the model call so far, the tool it is in (the tracker's own tallies).
        execution = (
            f"{run_span.id:032x}", run_span.agent_id, agent.name, time_text(run_span.start_ns), None, None,
            "in_progress", query if content else None, None, None, json_text([tool_name]), 1, 0, None, user_id,
            None, run_span._tokens, run_span._api_calls, None, f"{run_span.trace:032x}",
        )
        tool_row = (
            f"{tool_span.id:032x}", tool_name, execution[0], time_text(tool_span.start_ns), None, None,
            "in_progress", json_text(tool_input) if content else None, None, None, tool.api, None, None,
            execution[0], execution[-1], agent.name,
        )
        self.unfinished.append(UnfinishedRun(execution, tool_row))

    def run_session(self, user: str, queries: int) -> int:
        """One user session; about one in five runs a multi-agent workflow. Returns how many."""
        r = self.rng
        session_id = f"sess-{uuid.UUID(int=r.getrandbits(128)).hex[:12]}"
        with tracker.track_session(session_id=session_id, user_id=user, user_agent=r.choice(USER_AGENTS),
                                   ip_address=f"10.{r.randint(0, 20)}.{r.randint(0, 255)}.{r.randint(1, 254)}"):
            workflow = r.random() < 0.2
            ran = int(workflow)
            for done in range(queries):
                if done and self.deadline_ns is not None and self._now() >= self.deadline_ns - self.tail_ns:
                    break  # a session that would run past "now" ends early instead
                if self.traffic_stopped():
                    break  # nothing gets through: the session ends
                if workflow:
                    kind = r.choice(list(WORKFLOWS))
                    names = WORKFLOWS[kind]
                    try:
                        with tracker.track_workflow(workflow_type=kind, agents_involved=list(names)) as wf:
                            # the workflow is the orchestration: its agents call no sub-agents
                            ok = all([self.run_agent(AGENTS_BY_NAME[n], None, None, sub_agents=False)
                                      for n in names])
                            wf.span.set_scores(user_satisfaction_score=round(r.uniform(3.0 if ok else 1.0, 5.0), 1),
                                               task_completion_rate=round(r.uniform(0.6, 1.0) if ok else r.uniform(0.1, 0.6), 2))
                            if not ok:
                                raise RuntimeError(f"workflow {kind} incomplete: an agent failed")
                    except RuntimeError:
                        pass
                    workflow = False
                else:
                    agent = r.choices(AGENTS, weights=[a.weight for a in AGENTS])[0]
                    self.run_agent(agent, None, None)
                self._wait(r.expovariate(1 / 20_000))  # the user reads and types
        return ran


def backfill(db_url: str, *, executions: int, days: float, seed: int | None = None,
             progress: Callable[[int], None] | None = None, max_queue: int = 100_000,
             incidents: Sequence[Incident] | None = None, end_ns: int | None = None,
             rhythm: Callable[[int], float] = demo_rhythm) -> DemoResult:
    """Write about ``executions`` agent runs spread over the last ``days`` days.

    ``incidents``: what goes wrong and when (default: the demo's,
    :func:`~studio_analytics.demo.scenario.demo_incidents`; ``()``: nothing). ``end_ns``:
    where the history ends (default: now; no row starts or ends after it). ``rhythm``:
    how busy each moment is, 0-1 (sessions start at times drawn in proportion to it).

    The demo makes rows faster than any writer stores them: it waits for the writer
    whenever half of the tracker's queue (``max_queue`` rows) is taken, instead of
    letting the queue's drop policy lose the rest of a large demo."""
    started = time.perf_counter()
    rng = random.Random(seed)
    end_ns = time.time_ns() if end_ns is None else end_ns
    start_ns = end_ns - int(days * 86_400e9)
    clock = VirtualClock(start_ns)
    if incidents is None:
        incidents = demo_incidents(start_ns, end_ns)
    writer = DemoWriter(rng, clock, incidents)
    writer.deadline_ns = end_ns
    writer.tail_ns = min(SESSION_TAIL_NS, (end_ns - start_ns) // 4)
    tracker.configure(db_url=db_url, clock=clock, batch_size=5_000, max_queue=max_queue)
    users = [f"user-{i:03d}" for i in range(1, 41)]
    sessions = workflows = 0
    # Sessions start at times drawn with the rhythm (by default busier in working hours, UTC).
    while writer.executions < executions:
        at = rng.uniform(start_ns, end_ns - writer.tail_ns)
        if rng.random() > rhythm(int(at)) or writer.traffic_stopped(int(at)):
            continue
        clock.ns = int(at)
        workflows += writer.run_session(rng.choice(users), rng.randint(1, 8))
        sessions += 1
        if tracker.stats().queued * 2 >= max_queue:
            tracker.flush(120)  # the writer catches up: nothing is dropped
        if progress:
            progress(writer.executions)
    for incident in incidents:
        if incident.kind is IncidentKind.STUCK_RUNS:
            agent = AGENTS_BY_NAME[incident.target or STUCK_AGENT]
            for k in range(STUCK_RUN_COUNT):
                clock.ns = incident.start_ns + int(k * STUCK_RUN_SPACING_MIN * 60e9)
                if clock.ns < min(incident.end_ns, end_ns - 60_000_000_000):  # it has a minute to get going
                    writer.run_unfinished(agent, STUCK_TOOL, rng.choice(users))
    tracker.flush(120)
    stats = tracker.stats()  # before shutdown, which discards the writer and its counters
    tracker.shutdown(10)
    tracker.configure(db_url=db_url)  # back to the real clock
    unfinished = write_unfinished(db_url, writer.unfinished)
    return DemoResult(writer.executions, sessions, workflows, time.perf_counter() - started, stats, writer.incident,
                      tuple(incidents), unfinished)


def write_unfinished(db_url: str, runs: Sequence[UnfinishedRun]) -> int:
    """Insert the rows of runs left in progress and their hanging tool calls, and add them
    to the rollups, in one transaction (the tracker's writer does the same for each of
    its batches). Returns how many runs were written: 0 when the database refused them
    (logged; the tracker's own rows wait in its spool, the demo's summary says so)."""
    if not runs:
        return 0
    executions = [run.execution for run in runs]
    tools = [run.tool for run in runs]
    try:
        engine = create_db_engine(db_url)
        try:
            with engine.begin() as conn:
                pg = conn.dialect.name != "sqlite"
                for table, columns, rows in (("agent_execution_metrics", EXECUTION_COLUMNS, executions),
                                             ("tool_usage_metrics", TOOL_COLUMNS, tools)):
                    values = [_insert_values(row[:len(columns)], columns, pg) for row in rows]
                    execute_values(conn, (f"INSERT INTO {table} ({', '.join(columns)})", ""), values)
                apply_rollups(conn, executions=executions, tools=tools)
        finally:
            engine.dispose()
    except (SQLAlchemyError, OSError) as e:
        log.warning("the demo's runs left in progress were not written: %s", type(e).__name__)
        return 0
    return len(runs)


def _insert_values(row: Row, columns: Sequence[str], pg: bool) -> Row:
    """PostgreSQL takes the wire row's times with their zone (``+00``); SQLite as they are."""
    if not pg:
        return row
    return tuple(pg_time(v) if c in ("start_time", "end_time") else v for c, v in zip(columns, row, strict=True))


def live(db_url: str, *, per_second: float = 3.0, seed: int | None = None,
         should_stop: Callable[[], bool] = lambda: False) -> int:
    """Keep writing executions as they happen until ``should_stop()``; returns how many.

    Each run starts now; its simulated duration is laid out on a clock that starts at the
    current time, so the window sees new rows every second without waiting for them.
    """
    rng = random.Random(seed)
    clock = VirtualClock(time.time_ns())
    writer = DemoWriter(rng, clock)
    tracker.configure(db_url=db_url, flush_interval_s=0.5, clock=clock)
    users = [f"user-{i:03d}" for i in range(1, 41)]
    try:
        while not should_stop():
            # The run's simulated steps are laid out from a little before now and
            # clamped at now: the window sees it at once, and no time is in the future.
            writer.deadline_ns = time.time_ns()
            clock.ns = writer.deadline_ns - LIVE_LEAD_NS
            agent = rng.choices(AGENTS, weights=[a.weight for a in AGENTS])[0]
            writer.run_agent(agent, f"live-{rng.randint(1, 12)}", rng.choice(users))
            tracker.flush(5)
            time.sleep(min(2.0, rng.expovariate(per_second)))
    finally:
        tracker.shutdown(5)
    return writer.executions
