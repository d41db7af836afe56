"""Helpers for the ingestion tests: hand-made spans of each convention, an ingestor on a real
database, reading rows back, and the rollups-equal-a-rebuild check."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from studio_analytics.db.engine import create_db_engine
from studio_analytics.db.rollup_models import (
    FIGURE_ROLLUP_MODELS,
    MODEL_ROLLUP_MODELS,
    ROLLUP_MODELS,
)
from studio_analytics.db.rollups import rebuild_rollups, rollup_drift
from studio_analytics.ingest.ids import row_id
from studio_analytics.ingest.pipeline import SpanIngestor
from studio_analytics.ingest.spans import STATUS_ERROR, IngestEvent, IngestSpan

#: 2026-03-02 10:00:00 UTC, whole hour: rows of a test fall in one or two known hours
BASE_NS = 1_772_445_600 * 10**9
MS = 1_000_000


def span(trace: int, sid: int, parent: int | None, name: str, attrs: dict[str, Any] | None = None, *,
         start_ms: float = 0, end_ms: float = 10, status: int = 0, message: str | None = None,
         events: tuple[IngestEvent, ...] = ()) -> IngestSpan:
    return IngestSpan(trace, sid, parent, name, BASE_NS + int(start_ms * MS), BASE_NS + int(end_ms * MS),
                      status, message, dict(attrs or {}), events)


def agent(trace: int, sid: int, parent: int | None, name: str, **kw: Any) -> IngestSpan:
    extra = kw.pop("attrs", {})
    return span(trace, sid, parent, f"invoke_agent {name}",
                {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, **extra}, **kw)


def tool(trace: int, sid: int, parent: int | None, name: str, **kw: Any) -> IngestSpan:
    extra = kw.pop("attrs", {})
    return span(trace, sid, parent, f"execute_tool {name}",
                {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, **extra}, **kw)


def chat(trace: int, sid: int, parent: int | None, model: str = "gpt-4o-mini", n_in: int = 100, n_out: int = 20,
         **kw: Any) -> IngestSpan:
    extra = kw.pop("attrs", {})
    return span(trace, sid, parent, f"chat {model}",
                {"gen_ai.operation.name": "chat", "gen_ai.request.model": model, "gen_ai.provider.name": "openai",
                 "gen_ai.usage.input_tokens": n_in, "gen_ai.usage.output_tokens": n_out, **extra}, **kw)


def chain(trace: int, sid: int, parent: int | None, name: str = "RunnableSequence", **kw: Any) -> IngestSpan:
    extra = kw.pop("attrs", {})
    return span(trace, sid, parent, name, {"openinference.span.kind": "CHAIN", **extra}, **kw)


def http(trace: int, sid: int, parent: int | None, **kw: Any) -> IngestSpan:
    extra = kw.pop("attrs", {})
    return span(trace, sid, parent, "GET /api", {"http.request.method": "GET", "url.path": "/api", **extra}, **kw)


def failed(exc_type: str, message: str) -> dict[str, Any]:
    """Keywords for a span that raised."""
    return {"status": STATUS_ERROR, "events": (IngestEvent("exception", BASE_NS, {
        "exception.type": exc_type, "exception.message": message}),)}


def rid(trace: int, sid: int) -> str:
    """The stored (hex) id of a span's row."""
    return uuid.UUID(int=row_id(trace, sid)).hex


def new_ingestor(url: str, tmp: Path, **options: Any) -> SpanIngestor:
    return SpanIngestor(db_url=url, spool_path=str(tmp / "spool.sqlite3"), flush_interval_s=0.05,
                        exit_timeout_s=5.0, **options)


def submit_all(ing: SpanIngestor, *batches: list[IngestSpan]) -> None:
    for batch in batches:
        result = ing.submit(batch)
        assert not result.busy and result.rejected == 0, result
    assert ing.flush(30), "the writer did not finish in 30 s"


def _hex(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    return value


def fetch(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a query as dicts, ids as hex text on both dialects."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return [{k: _hex(v) for k, v in row.items()} for row in conn.execute(text(sql), params).mappings()]
    finally:
        engine.dispose()


def by_id(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {r[key]: r for r in rows}


def executions(url: str) -> dict[str, dict[str, Any]]:
    return by_id(fetch(url, "SELECT * FROM agent_execution_metrics"), "execution_id")


def tools(url: str) -> dict[str, dict[str, Any]]:
    return by_id(fetch(url, "SELECT * FROM tool_usage_metrics"), "usage_id")


def models(url: str) -> dict[str, dict[str, Any]]:
    return by_id(fetch(url, "SELECT * FROM model_call_metrics"), "call_id")


def _rollups(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for model in ROLLUP_MODELS + MODEL_ROLLUP_MODELS + FIGURE_ROLLUP_MODELS:
        table = model.__table__
        rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
        out[table.name] = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]
    return out


def assert_rollups_match_rebuild(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rollups the writer kept (fix-ups included) equal a rebuild from the raw rows."""
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            assert set(rollup_drift(conn).values()) == {0}
            kept = _rollups(conn)
            rebuild_rollups(conn)
            rebuilt = _rollups(conn)
            conn.rollback()  # leave the database as the writer made it
    finally:
        engine.dispose()
    for table, rows in kept.items():
        assert rows == rebuilt[table], f"{table}: kept {rows} != rebuilt {rebuilt[table]}"
    return kept


def all_rows(url: str, table: str) -> Iterator[dict[str, Any]]:
    yield from fetch(url, f"SELECT * FROM {table}")
