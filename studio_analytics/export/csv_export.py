"""Stream a table's rows of a time range to CSV, or write a view's result rows.

Formula injection. Spreadsheets (Excel, LibreOffice Calc, Google Sheets) run a cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula,
and agent queries, error messages and names are text an attacker can choose. By
default every *text* cell, in every column, that starts with one of those characters
is written with a single quote in front (the OWASP rule): ``=HYPERLINK(...)`` becomes
``'=HYPERLINK(...)``, which a spreadsheet shows as text. Numbers from numeric columns
(``-3.5`` ms, a negative score) are not text and are written unchanged. Text that
merely looks like a negative number (``"-1"`` in a query) is prefixed too, as OWASP
says: telling harmless numbers from formulas such as ``-1+cmd|...`` is where
hand-written exceptions go wrong, and a text column stays text in the spreadsheet.
Machine consumers that want the stored bytes pass ``escape_formulas=False``
(``studio-analytics export --raw-csv``; the window's "Escape formulas" checkbox).

Files are private and atomic: see :mod:`studio_analytics.export.files`.
"""

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

from studio_analytics.analytics.executions import execution_params, execution_where, list_order
from studio_analytics.analytics.results import ExecutionFilter, TimeRange
from studio_analytics.analytics.sql import in_range
from studio_analytics.db.capabilities import has_model_calls
from studio_analytics.db.models import (
    AgentExecutionMetrics,
    SessionMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.export.files import private_atomic_text

TABLES = {
    "executions": AgentExecutionMetrics,
    "tools": ToolUsageMetrics,
    "workflows": WorkflowMetrics,
    "sessions": SessionMetrics,
}
BATCH = 2_000
#: A text cell starting with one of these is a formula to a spreadsheet.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class ExportCancelled(Exception):
    """The progress callback asked to stop; the partial file has been removed."""


def cell(value: Any) -> Any:
    """A value as the csv module writes it (strings, numbers; "" for NULL)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def neutralize_formula(value: Any) -> Any:
    """``'`` in front of a text cell a spreadsheet would run as a formula; numbers and
    other text unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def _cell_writer(escape_formulas: bool) -> Callable[[Any], Any]:
    if not escape_formulas:
        return cell
    return lambda value: neutralize_formula(cell(value))


@contextmanager
def _open(target: str | Path | IO[str]) -> Iterator[IO[str]]:
    """A path becomes a private file that appears only when complete; a stream is used as is."""
    if isinstance(target, str | Path):
        with private_atomic_text(target) as f:
            yield f
    else:
        yield target


def stream_table_csv(conn: Connection, table: str, tr: TimeRange, target: str | Path | IO[str], *,
                     filters: ExecutionFilter | None = None,
                     progress: Callable[[int, int | None], bool] | None = None,
                     escape_formulas: bool = True, sort: tuple[str, bool] | None = None) -> int:
    """Every row of ``table`` that started in ``tr`` (executions: also matching ``filters``).

    Oldest first, unless ``sort`` (executions only) gives the Executions list's order as
    ``(field, descending)``: then the file holds the rows in the order the view shows them.

    Rows are read with a server-side cursor in batches of 2,000, so memory stays flat
    whatever the range holds. ``progress(done, total)`` returning False cancels: the
    partial file is deleted and :class:`ExportCancelled` raised. ``escape_formulas``:
    see the module docstring.
    """
    model = TABLES[table]
    order: tuple[Any, ...] = (model.start_time, model.id)
    if table == "executions":
        f = filters or ExecutionFilter()
        where, params = execution_where(f, model_calls=has_model_calls(conn)), execution_params(tr, f)
        if sort is not None:
            order = list_order(*sort)
    else:
        where, params = [in_range(model.start_time, tr)], {}
    total = int(conn.execute(select(func.count()).select_from(model).where(*where), params).scalar() or 0)
    columns = [c.name for c in model.__table__.columns if c.name != "id"]
    stmt = select(*(model.__table__.c[c] for c in columns)).where(*where).order_by(*order)
    done = 0
    out = _cell_writer(escape_formulas)
    with _open(target) as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(stmt, params)
        for batch in result.partitions(BATCH):
            writer.writerows([out(v) for v in row] for row in batch)
            done += len(batch)
            if progress is not None and progress(done, total) is False:
                result.close()
                raise ExportCancelled(f"export cancelled after {done:,} of {total:,} rows")
        if progress is not None:
            progress(done, total)
    return done


def write_rows_csv(target: str | Path | IO[str], rows: Sequence[Any], *, escape_formulas: bool = True) -> int:
    """A view's result rows (frozen dataclasses), one column per field."""
    out = _cell_writer(escape_formulas)
    with _open(target) as f:
        writer = csv.writer(f)
        if not rows:
            writer.writerow([])
            return 0
        fields = [fl.name for fl in dataclasses.fields(rows[0])]
        writer.writerow(fields)
        for row in rows:
            writer.writerow([out(getattr(row, name)) for name in fields])
    return len(rows)
