"""Model-call history written through the real tracker (its writer fills the rollups),
on SQLite and PostgreSQL, and the raw rows the tests recompute every figure from.

The history covers four days before :data:`NOW`: agents calling priced models, a model no
price table knows (every call unpriced), a model priced only by the cost the agent
recorded, calls without token counts (unpriced whatever the model), failed and timed-out
calls, streamed calls with a first token, sub-agents inside tools, calls outside any
execution and executions outside any session.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, select, text

from studio_analytics import tracker
from studio_analytics.db.engine import create_db_engine, dispose_engines
from studio_analytics.db.migrate import upgrade_database
from studio_analytics.db.models import AgentExecutionMetrics, ModelCallMetrics, SessionMetrics
from studio_analytics.demo.generator import VirtualClock
from tests.tracker.conftest import configure_fast

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=4)
AGENTS = ("Planner", "Researcher", "Writer")
#: (model, provider, weight); "local-llama-3" has no price anywhere, "house-model" only
#: the cost its caller records
MODELS = (("gpt-4o-mini", "openai", 5), ("gpt-4o", "openai", 2), ("gpt-4o", None, 1),
          ("local-llama-3", "ollama", 2), ("house-model", None, 1))
NEVER_PRICED = "local-llama-3"


def _model_call(rng: random.Random, clock: VirtualClock) -> None:
    model, provider = rng.choices([m[:2] for m in MODELS], [m[2] for m in MODELS])[0]
    fate = rng.random()
    try:
        with tracker.track_model_call(model=model, provider=provider, input=[{"role": "user", "content": "hi"}]) as m:
            if rng.random() < 0.7:
                clock.advance_ms(rng.lognormvariate(5.5, 0.6))
                m.first_token()
            clock.advance_ms(rng.lognormvariate(6.5, 0.8))
            if model == "house-model":
                m.set_cost(round(rng.uniform(0.001, 0.02), 6))
            if rng.random() < 0.88:  # else no token count: unpriced whatever the model
                n_in = rng.randint(20, 4000)
                m.record_usage(input_tokens=n_in, output_tokens=rng.randint(1, 900),
                               cached_input_tokens=rng.randint(0, n_in) if rng.random() < 0.3 else None,
                               reasoning_tokens=rng.randint(0, 300) if rng.random() < 0.2 else None)
            if fate < 0.07:
                raise ValueError("provider said 500")
            if fate < 0.1:
                raise TimeoutError("no answer in 30 s")
            m.set_response({"content": "ok"})
    except (ValueError, TimeoutError):
        pass


def _execution(rng: random.Random, clock: VirtualClock, depth: int = 0) -> None:
    with tracker.track_agent_execution(agent_name=rng.choice(AGENTS) if depth == 0 else "SubResearcher",
                                       query="what is new?"):
        for _ in range(rng.randint(1, 3)):
            _model_call(rng, clock)
            clock.advance_ms(rng.uniform(5, 200))
        if depth == 0 and rng.random() < 0.25:
            with tracker.track_tool_usage(tool_name="delegate", input_data={"to": "SubResearcher"}):
                _execution(rng, clock, depth + 1)


def write_model_history(url: str, spool: Path, *, executions: int = 260, seed: int = 7) -> None:
    """``executions`` top-level runs spread over four days, written by the tracker."""
    rng = random.Random(seed)
    clock = VirtualClock(int(START.timestamp() * 1e9))
    configure_fast(str(url), spool, clock=clock)
    try:
        for i in range(executions):
            if i % 13 == 5:
                _model_call(rng, clock)  # outside any execution and session
            elif i % 9 == 4:
                _execution(rng, clock)  # outside any session
            else:
                with tracker.track_session(session_id=f"s{i % 29}", user_id=f"u{i % 4}" if i % 7 else None):
                    _execution(rng, clock)
            clock.advance_ms(rng.expovariate(1 / (4 * 86_400_000 / executions)))
        assert tracker.flush(30)
    finally:
        tracker.shutdown(10)
    assert clock.ns < NOW.timestamp() * 1e9, "the history must end before NOW"


def raw_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        out = {name: [dict(r) for r in conn.execute(select(model)).mappings()]
               for name, model in (("models", ModelCallMetrics), ("executions", AgentExecutionMetrics),
                                   ("sessions", SessionMetrics))}
    engine.dispose()
    return out


def model_history_fixture(*, executions: int = 260, seed: int = 7) -> Any:
    """A module-scoped fixture: ``(url, rows)`` of a SQLite file, then of a PostgreSQL
    database (created for the module, dropped after it), with the same history."""

    @pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
    def model_history(request: pytest.FixtureRequest,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, list[dict]]]]:
        folder = tmp_path_factory.mktemp("models")
        with pytest.MonkeyPatch.context() as mp:
            # module scope runs before the per-test isolated home: give the writer and
            # the price table their own folder
            mp.setenv("STUDIO_ANALYTICS_HOME", str(folder))
            mp.delenv("STUDIO_ANALYTICS_DB", raising=False)
            if request.param == "sqlite":
                url = f"sqlite:///{folder / 'models.sqlite3'}"
                yield from _filled(url, folder, executions, seed)
            else:
                server = request.getfixturevalue("pg_server_url")
                yield from _pg_database(server, folder, executions, seed)

    return model_history


def _filled(url: str, folder: Path, executions: int, seed: int) -> Iterator[tuple[str, dict]]:
    engine = create_db_engine(url)
    upgrade_database(engine)
    engine.dispose()
    write_model_history(url, folder / "spool.sqlite3", executions=executions, seed=seed)
    yield url, raw_rows(url)


def _pg_database(server: str, folder: Path, executions: int, seed: int) -> Iterator[tuple[str, dict]]:
    name = f"sa_models_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    try:
        yield from _filled(url, folder, executions, seed)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def without_revision_0003(sqlite_url: str) -> str:
    """Our SQLite schema without what revision 0003 added: no model-call tables, no parent
    or trace ids (what an Agent Studio database lacks too)."""
    engine = create_db_engine(sqlite_url)
    with engine.begin() as conn:
        names = [r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE 'rollup_model%' "
            "OR name = 'model_call_metrics')"))]
        for name in names:
            conn.execute(text(f"DROP TABLE {name}"))
        for table, prefix in (("agent_execution_metrics", "exec"), ("tool_usage_metrics", "tool")):
            for column in ("parent_id", "trace_id"):
                conn.execute(text(f"DROP INDEX ix_{prefix}_{column.split('_')[0]}"))
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    engine.dispose()
    return sqlite_url
