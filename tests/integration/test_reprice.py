"""``db reprice`` on both dialects: model calls written by the real tracker are costed at
write time from the shipped table; after a price file of the user's, ``db reprice``
recomputes the costs that came from the table (``--since`` bounding it), leaves the ones
the agent recorded, prices what had no price, and the model rollups follow."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from studio_analytics import config, tracker
from studio_analytics.cli import run_cli
from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.models import METRICS_TABLES, Base, ModelCallMetrics
from studio_analytics.db.rollup_models import (
    MODEL_ROLLUP_MODELS,
    ModelAgentHourlyRollup,
    ModelHourlyRollup,
)
from studio_analytics.db.rollups import rebuild_model_rollups
from studio_analytics.pricing import ModelPrice
from studio_analytics.pricing import current as current_prices_module
from tests.tracker.conftest import configure_fast

OLD = datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
NEW = datetime(2026, 11, 20, 14, 40, tzinfo=UTC)
SINCE = "2026-11-10"

USER_PRICES = """
[models."acme-llm"]
input = 1.0
output = 2.0
cached_input = 0.25

[models."gpt-4o-mini"]
input = 0.30
output = 1.20
"""


@pytest.fixture(autouse=True)
def _fresh_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tracker here costs with this test's prices (none of the user's at first), and
    the table in force is put back afterwards."""
    monkeypatch.setattr(current_prices_module, "_current", None)


def _write_calls(url: str, spool: Path) -> None:
    """At OLD and at NEW: a priced model, an unpriced one, a recorded cost, a call
    without token counts."""
    now = [0]
    configure_fast(url, spool, clock=lambda: now[0])
    try:
        for when in (OLD, NEW):
            now[0] = int(when.timestamp() * 1e9)
            with tracker.track_agent_execution(agent_name="Planner"):
                with tracker.track_model_call(model="gpt-4o-mini-2024-07-18", provider="openai") as call:
                    call.record_usage(input_tokens=12_000, output_tokens=800, cached_input_tokens=4_000,
                                      reasoning_tokens=100)
                with tracker.track_model_call(model="acme-llm", provider="acme") as call:
                    call.record_usage(input_tokens=5_000, output_tokens=1_000, cached_input_tokens=1_000)
                with tracker.track_model_call(model="gpt-4o", provider="openai") as call:
                    call.record_usage(input_tokens=3_000, output_tokens=300)
                    call.set_cost(0.5)
            with tracker.track_model_call(model="gpt-4o-mini", provider="openai"):
                pass  # no usage recorded: unpriced whatever the price
        assert tracker.flush(10)
    finally:
        tracker.shutdown(5)


def _calls(url: str) -> dict[tuple[str, str], tuple[float | None, str | None, int | None, int | None, int | None]]:
    mc = ModelCallMetrics
    engine = create_db_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(mc.model, mc.start_time, mc.cost_usd, mc.cost_source, mc.input_tokens,
                                   mc.output_tokens, mc.cached_input_tokens)).all()
    engine.dispose()
    out = {}
    for model, start, cost, source, n_in, n_out, n_cached in rows:
        when = "old" if start < datetime(2026, 11, 10, tzinfo=UTC) else "new"
        key = (model if n_in is not None else f"{model} (no tokens)", when)
        out[key] = (cost, source, n_in, n_out, n_cached)
    return out


def _rollups(conn) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    out = {}
    for model in MODEL_ROLLUP_MODELS:
        table = model.__table__
        rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
        out[table.name] = [tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in rows]
    return out


def _assert_rollups_follow(url: str) -> None:
    """The rollups equal a rebuild of everything, and their costs the raw rows' sum."""
    engine = create_db_engine(url)
    with engine.begin() as conn:
        kept = _rollups(conn)
        raw_cost, raw_unpriced = conn.execute(
            select(func.sum(ModelCallMetrics.cost_usd), func.count().filter(ModelCallMetrics.cost_usd.is_(None)))
        ).one()
        assert conn.execute(select(func.sum(ModelHourlyRollup.cost_usd))).scalar() == pytest.approx(raw_cost)
        assert conn.execute(select(func.sum(ModelAgentHourlyRollup.cost_usd))).scalar() == pytest.approx(raw_cost)
        assert conn.execute(select(func.sum(ModelHourlyRollup.unpriced_calls))).scalar() == raw_unpriced
        rebuild_model_rollups(conn)
        rebuilt = _rollups(conn)
        conn.rollback()
    engine.dispose()
    assert kept == rebuilt


def test_reprice_after_a_price_file(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_calls(db_url, tmp_path / "spool.sqlite3")
    shipped_mini = ModelPrice("gpt-4o-mini", 0.15, 0.60, 0.075)
    user_mini = ModelPrice("gpt-4o-mini", 0.30, 1.20)
    acme = ModelPrice("acme-llm", 1.0, 2.0, 0.25)
    mini_cost = shipped_mini.cost(12_000, 800, 4_000)

    written = _calls(db_url)
    for when in ("old", "new"):
        assert written[("gpt-4o-mini-2024-07-18", when)][:2] == (pytest.approx(mini_cost), "price_table")
        assert written[("acme-llm", when)][:2] == (None, None)  # no price: unpriced, not $0
        assert written[("gpt-4o", when)][:2] == (0.5, "recorded")
        assert written[("gpt-4o-mini (no tokens)", when)][:2] == (None, None)
    _assert_rollups_follow(db_url)

    config.config_dir(create=True)
    config.prices_path().write_text(USER_PRICES, encoding="utf-8")

    # a dry run reports and changes nothing
    assert run_cli(["db", "reprice", "--db", db_url, "--since", SINCE, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing was changed" in out and "newly priced:    1" in out
    assert _calls(db_url) == written

    # from SINCE on: the new calls only
    assert run_cli(["db", "reprice", "--db", db_url, "--since", SINCE]) == 0
    out = capsys.readouterr().out
    assert "repriced:        2" in out and "newly priced:    1" in out and "newly unpriced:  0" in out
    assert "model rollups rebuilt" in out
    after = _calls(db_url)
    assert after[("gpt-4o-mini-2024-07-18", "new")][:2] == (pytest.approx(user_mini.cost(12_000, 800, 4_000),
                                                                          rel=1e-12), "price_table")
    assert after[("acme-llm", "new")][:2] == (pytest.approx(acme.cost(5_000, 1_000, 1_000), rel=1e-12),
                                             "price_table")
    for when in ("old", "new"):
        assert after[("gpt-4o", when)][:2] == (0.5, "recorded")  # the agent's own cost stays
        assert after[("gpt-4o-mini (no tokens)", when)][:2] == (None, None)
    # before SINCE: as written
    assert after[("gpt-4o-mini-2024-07-18", "old")] == written[("gpt-4o-mini-2024-07-18", "old")]
    assert after[("acme-llm", "old")] == written[("acme-llm", "old")]
    _assert_rollups_follow(db_url)

    # everything
    assert run_cli(["db", "reprice", "--db", db_url]) == 0
    capsys.readouterr()
    after = _calls(db_url)
    for when in ("old", "new"):
        assert after[("gpt-4o-mini-2024-07-18", when)][0] == pytest.approx(user_mini.cost(12_000, 800, 4_000),
                                                                            rel=1e-12)
        assert after[("acme-llm", when)][0] == pytest.approx(acme.cost(5_000, 1_000, 1_000), rel=1e-12)
    _assert_rollups_follow(db_url)

    # the price goes away again: those calls become unpriced, never $0
    config.prices_path().write_text('[models."other"]\ninput = 1\noutput = 1\n', encoding="utf-8")
    assert run_cli(["db", "reprice", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "newly unpriced:  2" in out and "acme-llm (acme)" in out
    after = _calls(db_url)
    assert after[("acme-llm", "old")][:2] == after[("acme-llm", "new")][:2] == (None, None)
    assert after[("gpt-4o-mini-2024-07-18", "old")][0] == pytest.approx(mini_cost, rel=1e-12)
    _assert_rollups_follow(db_url)


def test_reprice_refuses_a_broken_price_file(sqlite_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config.config_dir(create=True)
    config.prices_path().write_text('[models."x"]\ninput = "a lot"\noutput = 1\n', encoding="utf-8")
    assert run_cli(["db", "reprice", "--db", sqlite_db_url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(config.prices_path()) in err and '[models."x"] input' in err


def test_reprice_refuses_an_agent_studio_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'agent_studio.sqlite3'}"
    engine = create_db_engine(url)
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[name] for name in METRICS_TABLES])
    engine.dispose()
    assert run_cli(["db", "reprice", "--db", url]) == 1
    err = capsys.readouterr().err
    assert "Agent Studio database" in err and "Traceback" not in err


def test_reprice_refuses_a_database_without_model_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.sqlite3"
    assert run_cli(["db", "reprice", "--db", str(missing)]) == 1
    assert "not found" in capsys.readouterr().err and not missing.exists()
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    assert run_cli(["db", "reprice", "--db", str(empty)]) == 1
    assert "no model calls to reprice" in capsys.readouterr().err
