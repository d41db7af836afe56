"""Stream a table's rows of a time range to CSV, or write a view's result rows."""

from __future__ import annotations

import csv
import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.executions import execution_params, execution_where
from studio_analytics.analytics.results import ExecutionFilter, TimeRange
from studio_analytics.analytics.sql import in_range
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)

TABLES = {
    "executions": AgentExecutionMetrics,
    "tools": ToolUsageMetrics,
    "workflows": WorkflowMetrics,
    "sessions": SessionMetrics,
}
BATCH = 2_000


class ExportCancelled(Exception):
    """The progress callback asked to stop; the partial file has been removed."""


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


@contextmanager
def _open(target: str | Path | IO[str]) -> Iterator[tuple[IO[str], Path | None]]:
    if isinstance(target, str | Path):
        path = Path(target)
        try:
            with path.open("w", newline="", encoding="utf-8") as f:
                yield f, path
        except ExportCancelled:
            path.unlink(missing_ok=True)
            raise
    else:
        yield target, None


def stream_table_csv(conn: Connection, table: str, tr: TimeRange, target: str | Path | IO[str], *,
                     filters: ExecutionFilter | None = None,
                     progress: Callable[[int, int | None], bool] | None = None) -> int:
    """Every row of ``table`` that started in ``tr`` (executions: also matching ``filters``).

    Rows are read with a server-side cursor in batches of 2,000, so memory stays flat
    whatever the range holds. ``progress(done, total)`` returning False cancels: the
    partial file is deleted and :class:`ExportCancelled` raised.
    """
    model = TABLES[table]
    if table == "executions":
        f = filters or ExecutionFilter()
        where, params = execution_where(f), execution_params(tr, f)
    else:
        where, params = [in_range(model.start_time, tr)], {}
    total = int(conn.execute(select(func.count()).select_from(model).where(*where), params).scalar() or 0)
    columns = [c.name for c in model.__table__.columns if c.name != "id"]
    stmt = select(*(model.__table__.c[c] for c in columns)).where(*where).order_by(model.start_time, model.id)
    done = 0
    with _open(target) as (f, _path):
        writer = csv.writer(f)
        writer.writerow(columns)
        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(stmt, params)
        for batch in result.partitions(BATCH):
            writer.writerows([cell(v) for v in row] for row in batch)
            done += len(batch)
            if progress is not None and progress(done, total) is False:
                result.close()
                raise ExportCancelled(f"export cancelled after {done:,} of {total:,} rows")
        if progress is not None:
            progress(done, total)
    return done


def write_rows_csv(target: str | Path | IO[str], rows: Sequence[Any]) -> int:
    """A view's result rows (frozen dataclasses), one column per field."""
    with _open(target) as (f, _path):
        writer = csv.writer(f)
        if not rows:
            writer.writerow([])
            return 0
        fields = [fl.name for fl in dataclasses.fields(rows[0])]
        writer.writerow(fields)
        for row in rows:
            writer.writerow([cell(getattr(row, name)) for name in fields])
    return len(rows)


