"""The demo's incidents are where ``DemoResult`` says, on both dialects: the rows show
each one (and not outside it), and the demo leaves a few runs in progress."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.rollups import rollup_drift
from studio_analytics.demo.generator import DemoResult, backfill
from studio_analytics.demo.scenario import (
    DAY_NS,
    FAILING_AGENT,
    OUTAGE_TOOL,
    STORM_PROVIDER,
    STUCK_AGENT,
    STUCK_RUN_COUNT,
    STUCK_TOOL,
    Incident,
    IncidentKind,
)
from tests.pg_databases import pg_database


@dataclass(frozen=True)
class Demo:
    url: str
    result: DemoResult

    def incident(self, kind: IncidentKind) -> Incident:
        (found,) = self.result.of_kind(kind)
        return found


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """Two busy days (the incidents need runs to show in) ending at midnight UTC, so the
    incidents fall at the same hours whenever the test runs; once per dialect."""
    end_ns = time.time_ns() // DAY_NS * DAY_NS
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_ANALYTICS_HOME", str(tmp_path_factory.mktemp("demo-incidents-home")))
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('demo-incidents') / 'demo.sqlite3'}"
            yield Demo(url, backfill(url, executions=2_500, days=2, seed=23, end_ns=end_ns))
            return
        with pg_database(request.getfixturevalue("pg_server_url")) as url:
            yield Demo(url, backfill(url, executions=2_500, days=2, seed=23, end_ns=end_ns))


def _query(url: str, sql: str, **params: object) -> list[tuple]:
    """Rows of ``sql``; times given as ns since the epoch are bound as each dialect
    compares them (SQLite: naive UTC text; PostgreSQL: aware datetimes)."""
    engine = create_db_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    bound = {k: (_at(v) if not sqlite else _at(v).strftime("%Y-%m-%d %H:%M:%S.%f"))
             if k.endswith("_ns") else v for k, v in params.items()}
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql), bound)]
    engine.dispose()
    return out


def _at(value: object) -> datetime:
    """ns since the epoch, or a time as either dialect returns it, as an aware UTC datetime."""
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1e9, UTC)
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def _split(url: str, sql: str, incident: Incident, **params: object) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(hits, rows)`` of ``sql`` inside the incident, and outside it. ``sql`` selects
    ``start_time`` and a 0/1 ``hit`` column."""
    inside = _query(url, f"SELECT count(*), coalesce(sum(hit), 0) FROM ({sql}) q "
                         "WHERE start_time >= :a_ns AND start_time < :b_ns",
                    a_ns=incident.start_ns, b_ns=incident.end_ns, **params)[0]
    everything = _query(url, f"SELECT count(*), coalesce(sum(hit), 0) FROM ({sql}) q", **params)[0]
    return (int(inside[1]), int(inside[0])), (int(everything[1] - inside[1]), int(everything[0] - inside[0]))


def _count(url: str, table: str, start_ns: int, end_ns: int) -> int:
    return int(_query(url, f"SELECT count(*) FROM {table} WHERE start_time >= :a_ns AND start_time < :b_ns",
                      a_ns=start_ns, b_ns=end_ns)[0][0])


def test_demo_result_says_where_each_incident_is(demo: Demo) -> None:
    incidents = demo.result.incidents
    assert sorted(i.kind for i in incidents) == sorted(IncidentKind)  # one of each
    assert [i.start_ns for i in incidents] == sorted(i.start_ns for i in incidents)
    first, last = (_at(v) for v in _query(demo.url, "SELECT min(start_time), max(start_time) "
                                                    "FROM agent_execution_metrics")[0])
    for earlier, later in zip(incidents, incidents[1:], strict=False):
        assert earlier.end_ns <= later.start_ns, (earlier.name, later.name)  # one at a time
    for incident in incidents:
        assert first < _at(incident.start_ns) < _at(incident.end_ns)
        assert incident.describe() and incident.name.startswith(incident.kind.value)
    # the field the older tests read is the latency spike's
    spike = demo.incident(IncidentKind.LATENCY_SPIKE)
    assert demo.result.incident == (spike.start_ns, spike.end_ns)
    assert (spike.end_ns - spike.start_ns) / 3600e9 == pytest.approx(3.0)
    stuck = demo.incident(IncidentKind.STUCK_RUNS)
    assert stuck.target == STUCK_AGENT and _at(stuck.start_ns) <= last


def test_traffic_stops_for_an_hour(demo: Demo) -> None:
    drop = demo.incident(IncidentKind.TRAFFIC_DROP)
    hour = 3600 * 10**9
    assert drop.end_ns - drop.start_ns == hour
    # Runs already going finish (a workflow's next agent, a sub-agent), in its first minutes;
    # nothing starts after that, and no session at all.
    assert _count(demo.url, "agent_execution_metrics", drop.start_ns + hour // 6, drop.end_ns) == 0
    assert _count(demo.url, "session_metrics", drop.start_ns, drop.end_ns) == 0
    assert _count(demo.url, "agent_execution_metrics", drop.start_ns, drop.end_ns) <= 10
    # the hours either side are busy (it is the busiest hour of its day)
    assert _count(demo.url, "agent_execution_metrics", drop.start_ns - hour, drop.start_ns) >= 20
    assert _count(demo.url, "agent_execution_metrics", drop.end_ns, drop.end_ns + hour) >= 20


_FAILED = "CASE WHEN status IN ('failure', 'timeout') THEN 1 ELSE 0 END AS hit"


def test_one_agent_fails_most_of_its_runs(demo: Demo) -> None:
    spike = demo.incident(IncidentKind.AGENT_FAILURES)
    assert spike.target == FAILING_AGENT
    sql = f"SELECT start_time, {_FAILED} FROM agent_execution_metrics WHERE agent_name = :agent"
    (failed, runs), (failed_out, runs_out) = _split(demo.url, sql, spike, agent=FAILING_AGENT)
    assert runs >= 5 and failed / runs >= 0.6
    assert failed_out / runs_out < 0.2
    # the other agents carry on as usual
    others = f"SELECT start_time, {_FAILED} FROM agent_execution_metrics WHERE agent_name <> :agent"
    (failed, runs), _ = _split(demo.url, others, spike, agent=FAILING_AGENT)
    assert runs >= 10 and failed / runs < 0.3


def test_one_tool_is_down(demo: Demo) -> None:
    outage = demo.incident(IncidentKind.TOOL_OUTAGE)
    assert outage.target == OUTAGE_TOOL
    sql = ("SELECT start_time, CASE WHEN status = 'failure' AND api_status_code = 503 THEN 1 ELSE 0 END AS hit "
           "FROM tool_usage_metrics WHERE tool_name = :tool")
    (failed, calls), (failed_out, calls_out) = _split(demo.url, sql, outage, tool=OUTAGE_TOOL)
    assert calls >= 5 and failed / calls >= 0.8
    assert failed_out / calls_out < 0.02  # its API answers 503 only during the outage


def test_one_provider_rate_limits(demo: Demo) -> None:
    storm = demo.incident(IncidentKind.RATE_LIMIT_STORM)
    assert storm.target == STORM_PROVIDER
    sql = ("SELECT start_time, CASE WHEN error_message LIKE '%429%' THEN 1 ELSE 0 END AS hit "
           "FROM model_call_metrics WHERE provider = :provider")
    (limited, calls), (limited_out, calls_out) = _split(demo.url, sql, storm, provider=STORM_PROVIDER)
    assert calls >= 10 and limited / calls >= 0.3
    assert limited_out / calls_out < 0.05


def test_the_demo_leaves_runs_in_progress(demo: Demo) -> None:
    stuck = demo.incident(IncidentKind.STUCK_RUNS)
    assert demo.result.unfinished == STUCK_RUN_COUNT
    runs = _query(demo.url, "SELECT execution_id, agent_name, start_time, end_time, duration_ms, tokens_used "
                            "FROM agent_execution_metrics WHERE status = 'in_progress' ORDER BY start_time")
    assert len(runs) == STUCK_RUN_COUNT
    for execution_id, agent, start, end, duration, tokens in runs:
        assert agent == STUCK_AGENT and end is None and duration is None
        assert _at(stuck.start_ns) <= _at(start) < _at(stuck.end_ns)
        # hanging in a tool call that is in progress too, after a model call the tracker wrote
        tools = _query(demo.url, "SELECT tool_name, status, end_time FROM tool_usage_metrics WHERE execution_id = :e",
                       e=execution_id)
        assert tools == [(STUCK_TOOL, "in_progress", None)]
        calls, total = _query(demo.url, "SELECT count(*), sum(input_tokens + coalesce(output_tokens, 0)) "
                                        "FROM model_call_metrics WHERE execution_id = :e", e=execution_id)[0]
        assert calls >= 1 and tokens == total
    # the rollups count them as the raw rows do
    engine = create_db_engine(demo.url)
    with engine.connect() as conn:
        assert set(rollup_drift(conn).values()) == {0}
    engine.dispose()
