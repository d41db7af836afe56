"""The demo's model calls and sub-agents, as they reach the database on both dialects:
every run calls models, a realistic mix of them (priced and not), tokens that add up,
and span trees several levels deep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from studio_analytics.demo.generator import backfill
from studio_analytics.demo.scenario import MODELS, UNPRICED_MODELS
from tests.tracker.conftest import raw


@dataclass(frozen=True)
class Demo:
    url: str
    incident: tuple[datetime, datetime]


#: 10:36 UTC: the spike then runs 13:00-16:00 the day before
DEMO_END_NS = int(datetime(2026, 11, 20, 10, 36, tzinfo=UTC).timestamp()) * 1_000_000_000


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """600 runs over 3 days, written once per dialect for the module's tests."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('demo-models') / 'demo.sqlite3'}"
    else:
        # pg_empty_url is per test; this module shares one database per dialect.
        server = request.getfixturevalue("pg_server_url")
        url = _create_pg_database(request, server)
    with pytest.MonkeyPatch.context() as mp:
        # module-scoped: set up before the per-test isolated home exists
        mp.setenv("STUDIO_ANALYTICS_HOME", str(tmp_path_factory.mktemp("demo-models-home")))
        # A fixed end, so the latency spike (at 70 % of the span) falls in the busy
        # afternoon whatever the time the suite runs: at night its three hours hold a
        # dozen runs, too few for the figures below.
        result = backfill(url, executions=600, days=3, seed=7, end_ns=DEMO_END_NS)
    assert result.incident is not None
    start, end = (datetime.fromtimestamp(ns / 1e9, UTC) for ns in result.incident)
    return Demo(url, (start, end))


@pytest.fixture
def demo_url(demo: Demo) -> str:
    return demo.url


def _create_pg_database(request: pytest.FixtureRequest, server_url: str) -> str:
    import uuid

    from sqlalchemy import create_engine, make_url, text

    from studio_analytics.db.engine import dispose_engines

    name = f"sa_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(server_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return make_url(server_url).set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False)


def test_every_run_calls_models_of_several_providers(demo_url: str) -> None:
    executions = raw(demo_url, "SELECT count(*) FROM agent_execution_metrics")[0][0]
    without = raw(demo_url, "SELECT count(*) FROM agent_execution_metrics e WHERE NOT EXISTS "
                            "(SELECT 1 FROM model_call_metrics m WHERE m.execution_id = e.execution_id)")[0][0]
    assert executions >= 600 and without == 0
    calls = raw(demo_url, "SELECT count(*) FROM model_call_metrics")[0][0]
    assert 1.5 * executions < calls < 6 * executions  # one to several per run
    models = dict(raw(demo_url, "SELECT model, count(*) FROM model_call_metrics GROUP BY model"))
    providers = {p for (p,) in raw(demo_url, "SELECT DISTINCT provider FROM model_call_metrics")}
    assert len(models) >= 10 and set(models) <= set(MODELS)
    assert {"openai", "anthropic", "google", "groq", "deepseek", "ollama"} <= providers
    # the unpriced models are a small share of the calls
    unpriced_share = sum(models.get(m, 0) for m in UNPRICED_MODELS) / calls
    assert 0.005 < unpriced_share < 0.1
    operations = {o for (o,) in raw(demo_url, "SELECT DISTINCT operation FROM model_call_metrics")}
    assert operations == {"chat", "embeddings"}


def test_unpriced_models_have_no_cost_and_priced_ones_do(demo_url: str) -> None:
    rows = raw(demo_url, "SELECT model, count(*), count(cost_usd), min(cost_usd) FROM model_call_metrics "
                         "WHERE status = 'success' GROUP BY model")
    by_model = {model: (n, priced, low) for model, n, priced, low in rows}
    for model in UNPRICED_MODELS:
        n, priced, _ = by_model[model]
        assert n > 0 and priced == 0, model  # NULL, never $0
    for model, (n, priced, low) in by_model.items():
        if model not in UNPRICED_MODELS:
            # every other model is in the shipped price table under the name the demo uses
            assert priced == n and low >= 0, model
    assert raw(demo_url, "SELECT count(*) FROM model_call_metrics WHERE cost_usd IS NOT NULL "
                         "AND cost_source <> 'price_table'")[0][0] == 0


def test_tokens_cached_reasoning_and_time_to_first_token(demo_url: str) -> None:
    (cached, reasoning, bad_cached, bad_reasoning, big_inputs, long_outputs) = raw(demo_url, """
        SELECT sum(CASE WHEN cached_input_tokens > 0 THEN 1 ELSE 0 END),
               sum(CASE WHEN reasoning_tokens > 0 THEN 1 ELSE 0 END),
               sum(CASE WHEN cached_input_tokens > input_tokens THEN 1 ELSE 0 END),
               sum(CASE WHEN reasoning_tokens > output_tokens THEN 1 ELSE 0 END),
               sum(CASE WHEN input_tokens >= 10000 THEN 1 ELSE 0 END),
               sum(CASE WHEN output_tokens >= 1000 THEN 1 ELSE 0 END)
        FROM model_call_metrics""")[0]
    assert cached > 50 and reasoning > 10 and big_inputs > 10 and long_outputs > 10
    assert bad_cached == 0 and bad_reasoning == 0
    # cached prompts come from the providers that cache, reasoning from the reasoning models
    assert {m for (m,) in raw(demo_url, "SELECT DISTINCT model FROM model_call_metrics "
                                        "WHERE reasoning_tokens > 0")} <= {"o4-mini", "gemini-2.5-flash"}
    assert raw(demo_url, "SELECT count(*) FROM model_call_metrics WHERE cached_input_tokens > 0 "
                         "AND provider IN ('groq', 'ollama', 'vllm')")[0][0] == 0
    # most successful chat calls stream: a first token before the end; embeddings never
    streamed, chats, late = raw(demo_url, """
        SELECT count(time_to_first_token_ms), count(*),
               sum(CASE WHEN time_to_first_token_ms > duration_ms THEN 1 ELSE 0 END)
        FROM model_call_metrics WHERE status = 'success' AND operation = 'chat'""")[0]
    assert streamed > 0.7 * chats and not late
    assert raw(demo_url, "SELECT count(time_to_first_token_ms), count(output_tokens) FROM model_call_metrics "
                         "WHERE operation = 'embeddings'")[0] == (0, 0)


def test_model_failures_read_like_the_providers(demo_url: str) -> None:
    statuses = dict(raw(demo_url, "SELECT status, count(*) FROM model_call_metrics GROUP BY status"))
    assert statuses["success"] > 0.9 * sum(statuses.values())
    assert statuses.get("failure", 0) > 5 and statuses.get("timeout", 0) >= 1
    errors = [e for (e,) in raw(demo_url, "SELECT error_message FROM model_call_metrics WHERE status <> 'success'")]
    assert any("429" in e for e in errors) and all(e for e in errors)
    # a failed call reported no usage: $0 for a priced model (the provider rejected it and
    # did not bill), unknown for an unpriced one; a timed-out one is unknown
    assert raw(demo_url, "SELECT count(*) FROM model_call_metrics WHERE status <> 'success' "
                         "AND input_tokens IS NOT NULL")[0][0] == 0
    costs = raw(demo_url, "SELECT status, model, cost_usd FROM model_call_metrics WHERE status <> 'success'")
    unpriced = {"acme-support-ft-v3", "llama3.1:8b"}
    for status, model, cost in costs:
        expected = 0.0 if status == "failure" and model not in unpriced else None
        assert cost == expected, (status, model, cost)


def test_execution_tokens_are_the_sum_of_its_model_calls(demo_url: str) -> None:
    rows = raw(demo_url, """
        SELECT e.tokens_used, s.total, s.counted
        FROM agent_execution_metrics e
        JOIN (SELECT execution_id, sum(input_tokens + coalesce(output_tokens, 0)) AS total,
                     count(input_tokens) AS counted
              FROM model_call_metrics GROUP BY execution_id) s ON s.execution_id = e.execution_id""")
    assert len(rows) >= 600
    for tokens_used, total, counted in rows:
        # no call reported usage (all failed): the run has no token count, not 0
        assert tokens_used == (total if counted else None)
    assert sum(1 for _, _, counted in rows if counted) > 0.95 * len(rows)


_TREE = """
    WITH RECURSIVE spans(id, parent) AS (
        SELECT execution_id, parent_id FROM agent_execution_metrics
        UNION ALL SELECT usage_id, parent_id FROM tool_usage_metrics
        UNION ALL SELECT call_id, parent_id FROM model_call_metrics
    ), tree(id, depth) AS (
        SELECT id, 1 FROM spans WHERE parent IS NULL
        UNION ALL SELECT spans.id, tree.depth + 1 FROM spans JOIN tree ON spans.parent = tree.id
    )
    SELECT depth, count(*) FROM tree GROUP BY depth ORDER BY depth"""


def test_sub_agents_make_trees_at_least_four_deep(demo_url: str) -> None:
    depths = dict(raw(demo_url, _TREE))
    spans = sum(raw(demo_url, f"SELECT count(*) FROM {t}")[0][0]
                for t in ("agent_execution_metrics", "tool_usage_metrics", "model_call_metrics"))
    assert sum(depths.values()) == spans  # every span hangs from a root: no dangling parent
    assert max(depths) >= 4 and depths[4] > 10
    # sub-agents: called from a delegate_to_… tool or directly by another execution
    via_tool, direct = raw(demo_url, """
        SELECT sum(CASE WHEN t.usage_id IS NOT NULL THEN 1 ELSE 0 END),
               sum(CASE WHEN p.execution_id IS NOT NULL THEN 1 ELSE 0 END)
        FROM agent_execution_metrics e
        LEFT JOIN tool_usage_metrics t ON t.usage_id = e.parent_id
        LEFT JOIN agent_execution_metrics p ON p.execution_id = e.parent_id
        WHERE e.parent_id IS NOT NULL""")[0]
    assert via_tool > 10 and direct > 0
    assert {n for (n,) in raw(demo_url, "SELECT t.tool_name FROM agent_execution_metrics e "
                                        "JOIN tool_usage_metrics t ON t.usage_id = e.parent_id")} <= {
        t for (t,) in raw(demo_url, "SELECT DISTINCT tool_name FROM tool_usage_metrics "
                                    "WHERE tool_name LIKE 'delegate_to_%'")}
    # a sub-agent runs in its caller's session and trace
    mismatched = raw(demo_url, """
        SELECT count(*) FROM agent_execution_metrics e
        JOIN tool_usage_metrics t ON t.usage_id = e.parent_id
        JOIN agent_execution_metrics caller ON caller.execution_id = t.execution_id
        WHERE e.session_id <> caller.session_id OR e.trace_id <> caller.trace_id""")[0][0]
    assert mismatched == 0
    # a model call inside a tool (a summary, an embedding) is still its execution's
    assert raw(demo_url, """
        SELECT count(*) FROM model_call_metrics m JOIN tool_usage_metrics t ON t.usage_id = m.parent_id
        WHERE m.execution_id = t.execution_id""")[0][0] > 50


def _as_utc(value: object) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def test_the_incident_brings_a_rate_limit_storm(demo: Demo) -> None:
    start, end = demo.incident
    inside = [0, 0]
    outside = [0, 0]
    for at, error in raw(demo.url, "SELECT start_time, error_message FROM model_call_metrics "
                                   "WHERE provider = 'openai'"):
        counts = inside if start <= _as_utc(at) < end else outside
        counts[0] += 1
        counts[1] += bool(error and "429" in error)
    assert inside[0] >= 10 and outside[0] > 100
    # the provider's rate limit: a few percent of calls at worst, a third during the storm
    assert inside[1] / inside[0] > 0.15 > 0.03 > outside[1] / outside[0]
