"""Writes demo history through the real tracker, driving its clock through the past days."""

from __future__ import annotations

import builtins
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from studio_analytics import tracker
from studio_analytics.demo.scenario import (
    AGENT_ERRORS,
    AGENTS,
    CITIES,
    HOSTS,
    QUERIES,
    TOOLS,
    USER_AGENTS,
    WORDS,
    WORKFLOWS,
    AgentProfile,
)

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


_ERROR_TYPES: dict[str, type[Exception]] = {}


def demo_error(message: str) -> Exception:
    """An exception whose type and text read like the real thing ("HTTPError: 429 ...")."""
    name, _, text = message.partition(": ")
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        return builtin(text)
    cls = _ERROR_TYPES.setdefault(name, type(name, (Exception,), {"__module__": "demo"}))
    return cls(text)


class DemoWriter:
    def __init__(self, rng: random.Random, clock: VirtualClock | None,
                 incident: tuple[int, int] | None = None) -> None:
        self.rng = rng
        self.clock = clock
        self.incident = incident  # [start_ns, end_ns): latency x4, failures x6
        self.executions = 0
        #: the clock never passes this (the moment the demo started): no row may start
        #: or end after "now", or a report run right after the demo would miss it
        self.deadline_ns: int | None = None
        self.tail_ns = SESSION_TAIL_NS

    def _now(self) -> int:
        return self.clock.ns if self.clock else time.time_ns()

    def _in_incident(self) -> bool:
        return self.incident is not None and self.incident[0] <= self._now() < self.incident[1]

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

    def _fill(self, template: str) -> str:
        r = self.rng
        return template.format(n=r.randint(2, 99999), word=r.choice(WORDS), host=r.choice(HOSTS),
                               hex=uuid.UUID(int=r.getrandbits(128)).hex[:12], city=r.choice(CITIES),
                               year=r.choice((2024, 2025, 2026)))

    def run_agent(self, agent: AgentProfile, session_id: str | None, user_id: str | None) -> bool:
        """One agent run; False when it failed or timed out."""
        r = self.rng
        boost = 6.0 if self._in_incident() else 1.0
        try:
            with tracker.track_agent_execution(
                agent_id=str(uuid.uuid5(uuid.NAMESPACE_DNS, agent.name)), agent_name=agent.name,
                query=self._fill(r.choice(QUERIES)), session_id=session_id, user_id=user_id,
            ) as run:
                self._wait(self._latency(agent.median_ms, agent.sigma) * 0.4)
                for tool_name in agent.tools:
                    if r.random() < 0.25:
                        continue  # agents do not always need every tool
                    error = self._run_tool(tool_name, boost)
                    if error is not None and r.random() < 0.35:
                        raise demo_error(error)  # the agent gives up on a failed tool
                    self._wait(self._latency(agent.median_ms, agent.sigma) * 0.1)
                run.record_tokens(r.randint(*agent.tokens))
                run.record_api_call("openai", 200, self._latency(agent.median_ms, agent.sigma) * 0.5)
                if r.random() < 0.08:
                    run.retry()
                self._wait(self._latency(agent.median_ms, agent.sigma) * 0.5)
                if r.random() < agent.timeout_rate * boost:
                    self._wait(30_000)
                    raise TimeoutError(f"agent exceeded its 30 s budget after {r.randint(3, 9)} steps")
                if r.random() < agent.failure_rate * boost:
                    raise demo_error(self._fill(r.choice(agent.errors or AGENT_ERRORS)))
                run.set_response(f"Done: {agent.name} answered with {r.randint(1, 12)} findings.")
            return True
        except Exception:  # noqa: BLE001 - the demo's own failures, recorded by the tracker
            return False
        finally:
            self.executions += 1

    def _run_tool(self, name: str, boost: float) -> str | None:
        """One tool call; returns its error message when it failed."""
        tool = TOOLS[name]
        r = self.rng
        failing = bool(r.random() < tool.failure_rate * boost and tool.errors)
        message = self._fill(r.choice(tool.errors)) if failing else None
        try:
            with tracker.track_tool_usage(tool_name=name, input_data={"query": self._fill("{word} {n}")},
                                          external_api_called=tool.api) as call:
                ms = self._latency(tool.median_ms, tool.sigma)
                self._wait(ms)
                if tool.api:
                    if message is None:
                        code = "200"
                    elif message.startswith("HTTPError"):
                        code = message.split()[1]
                    else:
                        code = "429" if "Rate limit" in message else "500"
                    call.record_api_call(tool.api, int(code) if code.isdigit() else 500, ms * 0.9)
                if message:
                    raise demo_error(message)
                call.set_output({"items": r.randint(0, 20)})
        except Exception:  # noqa: BLE001 - recorded on the tool row; the agent decides what to do
            return message
        return None

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
                if workflow:
                    kind = r.choice(list(WORKFLOWS))
                    names = WORKFLOWS[kind]
                    try:
                        with tracker.track_workflow(workflow_type=kind, agents_involved=list(names)) as wf:
                            ok = all([self.run_agent(next(a for a in AGENTS if a.name == n), None, None) for n in names])
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
             progress: Callable[[int], None] | None = None) -> DemoResult:
    """Write about ``executions`` agent runs spread over the last ``days`` days."""
    started = time.perf_counter()
    rng = random.Random(seed)
    end_ns = time.time_ns()
    start_ns = end_ns - int(days * 86_400e9)
    clock = VirtualClock(start_ns)
    incident_start = start_ns + int((days * 0.7) * 86_400e9)
    writer = DemoWriter(rng, clock, (incident_start, incident_start + int(3 * 3600e9)))
    writer.deadline_ns = end_ns
    writer.tail_ns = min(SESSION_TAIL_NS, (end_ns - start_ns) // 4)
    tracker.configure(db_url=db_url, clock=clock, batch_size=5_000)
    users = [f"user-{i:03d}" for i in range(1, 41)]
    sessions = workflows = 0
    # Sessions start at times drawn with a daily rhythm (busier in working hours, UTC).
    while writer.executions < executions:
        at = rng.uniform(start_ns, end_ns - writer.tail_ns)
        hour = (at / 3600e9) % 24
        if rng.random() > 0.35 + 0.65 * math.exp(-((hour - 14) ** 2) / 18):
            continue
        clock.ns = int(at)
        workflows += writer.run_session(rng.choice(users), rng.randint(1, 8))
        sessions += 1
        if progress:
            progress(writer.executions)
    tracker.flush(120)
    stats = tracker.stats()  # before shutdown, which discards the writer and its counters
    tracker.shutdown(10)
    tracker.configure(db_url=db_url)  # back to the real clock
    return DemoResult(writer.executions, sessions, workflows, time.perf_counter() - started, stats)


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
