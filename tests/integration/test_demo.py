"""`studio-analytics demo` writes realistic, reproducible data through the tracker."""

from __future__ import annotations

import pytest

from studio_analytics.cli import run_cli
from tests.tracker.conftest import raw


def _summary(url: str) -> dict[str, object]:
    return {
        "by_agent_status": raw(url, "SELECT agent_name, status, count(*) FROM agent_execution_metrics GROUP BY 1, 2 ORDER BY 1, 2"),
        "tools": raw(url, "SELECT tool_name, count(*) FROM tool_usage_metrics GROUP BY 1 ORDER BY 1"),
        "sessions": raw(url, "SELECT count(*), sum(total_queries) FROM session_metrics"),
        "models": raw(url, "SELECT model, provider, status, count(*), sum(input_tokens), sum(output_tokens), "
                           "sum(cached_input_tokens), sum(reasoning_tokens) FROM model_call_metrics "
                           "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"),
        "sub_agents": raw(url, "SELECT agent_name, count(*) FROM agent_execution_metrics "
                               "WHERE parent_id IS NOT NULL GROUP BY 1 ORDER BY 1"),
    }


def test_demo_is_realistic_and_reproducible(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = f"sqlite:///{tmp_path / 'a.sqlite3'}", f"sqlite:///{tmp_path / 'b.sqlite3'}"
    # The rhythm and the incidents follow the hours of the day: a fixed end makes two runs equal
    # wherever the clock is (without it, runs a few seconds apart near a boundary differ).
    seeded = ["--executions", "600", "--days", "3", "--seed", "7", "--end", "2026-11-30T09:30:00Z"]
    assert run_cli(["demo", "--db", a, *seeded]) == 0
    assert run_cli(["demo", "--db", b, *seeded]) == 0
    assert _summary(a) == _summary(b)
    assert raw(a, "SELECT min(start_time), max(coalesce(end_time, start_time)) FROM agent_execution_metrics") == \
        raw(b, "SELECT min(start_time), max(coalesce(end_time, start_time)) FROM agent_execution_metrics")
    executions = raw(a, "SELECT count(*) FROM agent_execution_metrics")[0][0]
    assert 600 <= executions < 640
    statuses = {s for _, s, _ in _summary(a)["by_agent_status"]}  # type: ignore[misc]
    assert {"success", "failure", "timeout"} <= statuses
    assert len({name for name, _, _ in _summary(a)["by_agent_status"]}) >= 10  # type: ignore[misc]
    assert len(_summary(a)["tools"]) >= 10  # type: ignore[arg-type]
    # model calls and sub-agents are part of what is reproduced (tests/integration/test_demo_models.py
    # checks what they hold)
    assert len(_summary(a)["models"]) >= 20 and _summary(a)["sub_agents"]  # type: ignore[arg-type]
    # sessions hold several queries; workflows link their executions
    assert raw(a, "SELECT max(total_queries) FROM session_metrics")[0][0] >= 3
    assert raw(a, "SELECT count(*) FROM workflow_metrics WHERE agent_count >= 2")[0][0] > 0
    # repeated error messages with varying details, for grouping
    assert raw(a, "SELECT count(DISTINCT error_message) FROM agent_execution_metrics WHERE status = 'failure'")[0][0] > 3
    # history spans the requested days, with a latency spike in the incident window
    first, last = raw(a, "SELECT min(start_time), max(start_time) FROM agent_execution_metrics")[0]
    assert "2026-11-27 09:30" <= str(first) < str(last) <= "2026-11-30 09:30:00"
    assert "wrote" in capsys.readouterr().out


def test_if_empty_leaves_existing_data_alone(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "50", "--if-empty", "--seed", "1"]) == 0
    n = raw(url, "SELECT count(*) FROM agent_execution_metrics")[0][0]
    assert run_cli(["demo", "--db", url, "--executions", "50", "--if-empty"]) == 0
    assert raw(url, "SELECT count(*) FROM agent_execution_metrics")[0][0] == n
    assert "already has" in capsys.readouterr().out


def test_live_mode_writes_as_it_goes(tmp_path) -> None:
    from studio_analytics.demo.generator import live

    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    written: list[int] = []

    def stop_after_five() -> bool:
        written.append(raw(url, "SELECT count(*) FROM agent_execution_metrics")[0][0]
                       if (tmp_path / "live.sqlite3").exists() else 0)
        return len(written) > 5

    n = live(url, per_second=1000.0, seed=4, should_stop=stop_after_five)
    # each run (with the sub-agents it called) is flushed before the next starts: the
    # window sees them one by one
    assert written[0] == 0 and all(a < b for a, b in zip(written[1:], written[2:], strict=False))
    assert n == written[-1] >= 5
    assert raw(url, "SELECT count(*) FROM agent_execution_metrics WHERE parent_id IS NULL")[0][0] == 5
    # every run calls models, written with it
    assert raw(url, "SELECT count(DISTINCT execution_id) FROM model_call_metrics")[0][0] == n


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def unusable_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A valid URL whose database takes no rows: a file that is not SQLite, or a
    PostgreSQL database that does not exist."""
    if request.param == "sqlite":
        junk = tmp_path / "junk.sqlite3"
        junk.write_bytes(b"this is not a database" * 500)
        return str(junk)
    from sqlalchemy import make_url

    server = request.getfixturevalue("pg_server_url")
    return make_url(server).set(database="sa_test_does_not_exist").render_as_string(hide_password=False)


def test_demo_says_when_rows_only_reached_the_spool(unusable_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["demo", "--db", unusable_url, "--executions", "40", "--days", "1", "--seed", "3"]) == 1
    out, err = capsys.readouterr()
    assert "wrote" not in out
    (line,) = [ln for ln in err.splitlines() if ln.startswith("tracked ")]
    assert "but only 0 of" in line and "rows are waiting in the spool" in line and "(database error: " in line
    assert "Traceback" not in err


def test_a_demo_larger_than_the_tracker_queue_loses_nothing(tmp_path) -> None:
    """The demo makes rows faster than the writer stores them: with a queue of 300 rows
    it must wait for the writer rather than let the drop policy lose rows."""
    from studio_analytics.demo.generator import backfill

    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    result = backfill(url, executions=400, days=1, seed=5, max_queue=300)
    s = result.tracker
    assert s is not None and s.dropped == 0 and s.written == s.enqueued, s
    executions = raw(url, "SELECT count(*) FROM agent_execution_metrics")[0][0]
    assert executions == result.executions


def test_an_end_in_the_future_is_refused(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'future.sqlite3'}"
    assert run_cli(["demo", "--db", url, "--executions", "20", "--end", "9000-01-01"]) == 2
    assert "--end 9000-01-01 00:00:00 UTC is in the future" in capsys.readouterr().err
    assert not (tmp_path / "future.sqlite3").exists()
