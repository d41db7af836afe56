"""Where the raw rows start after a prune: lists of raw rows (executions and the
drill-downs into them) say so instead of showing an empty list.

A prune deletes raw rows and keeps the hourly rollups, and rollups are only ever made
from raw rows: a rollup hour older than the oldest raw execution's hour means raw rows
were pruned. Two lookups at the ends of indexes (min start_time, and the rollup hours
before it), cheap on a million rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from studio_analytics.analytics.results import TimeRange
from studio_analytics.archive.manifest import ArchiveError, read_manifest
from studio_analytics.db.models import AgentExecutionMetrics
from studio_analytics.db.rollup_models import AgentHourlyRollup
from studio_analytics.db.rollups import HOUR_S, rollups_available
from studio_analytics.retention_settings import RetentionSettings


@dataclass(frozen=True, slots=True)
class PrunedRange:
    """Raw executions before ``raw_start`` are gone; the rollups still count them."""

    #: the oldest raw execution's start, or None when every raw row was pruned
    raw_start: datetime | None
    #: the first hour the rollups hold
    first_hour: datetime
    #: the end of the newest rollup hour with no raw row left (raw rows before it were pruned)
    pruned_until: datetime

    @property
    def day(self) -> datetime:
        """The moment the message names by its UTC day (the oldest raw row left)."""
        return self.raw_start if self.raw_start is not None else self.pruned_until

    def reaches(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) holds hours whose raw rows were pruned."""
        return start < self.pruned_until and end > self.first_hour

    def covers(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) lies wholly before the oldest raw row (no raw row can be in it)."""
        return self.raw_start is None or end <= self.raw_start

    def message(self, archive: Path | str | None) -> str:
        """The line lists show; ``archive``: the folder the days went to, or what
        :func:`archive_note` found out about it."""
        where = archive if isinstance(archive, str) else _archived_in(archive) if archive else "not archived"
        return f"Raw rows pruned before {self.day:%Y-%m-%d} (UTC) — {where}"


def _archived_in(folder: Path) -> str:
    return f"archived in {folder} (restore with `studio-analytics db restore {folder} --from …`)"


def archive_note(pruned: PrunedRange, settings: RetentionSettings) -> str:
    """Where the pruned days are, as far as the retention setting and the archive's
    manifest tell: the line never claims an archive that does not hold them, nor "not
    archived" when the setting cannot be read. Reads a file: call it in a worker."""
    if settings.problem:
        return f"the archive folder is unknown: {settings.problem}"
    folder = settings.archive_dir
    if folder is None:
        return "not archived (retention.toml names no archive folder)"
    try:
        days = [e.day for e in read_manifest(folder) if e.table == AgentExecutionMetrics.__tablename__]
    except (ArchiveError, OSError) as e:
        return f"the archive in {folder} cannot be read: {e}"
    before = [d for d in days if d < pruned.day.date()]
    if not before:
        return f"not in the archive {folder} (it holds no day before {pruned.day:%Y-%m-%d})"
    return _archived_in(folder)


def raw_rows_start(conn: Connection) -> PrunedRange | None:
    """The pruned span of raw executions, or None when nothing was pruned (or the
    database has no rollups, e.g. Agent Studio's)."""
    if not rollups_available(conn):
        return None
    oldest = _utc(conn.execute(select(func.min(AgentExecutionMetrics.start_time))).scalar())
    hours = select(func.min(AgentHourlyRollup.hour), func.max(AgentHourlyRollup.hour))
    if oldest is not None:
        hours = hours.where(AgentHourlyRollup.hour < int(oldest.timestamp()) // HOUR_S * HOUR_S)
    first, last = conn.execute(hours).one()
    if first is None:
        return None
    return PrunedRange(raw_start=oldest, first_hour=datetime.fromtimestamp(int(first), UTC),
                       pruned_until=datetime.fromtimestamp(int(last), UTC) + timedelta(seconds=HOUR_S))


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def pruned_in(pruned: PrunedRange | None, tr: TimeRange, after: datetime | None = None,
              before: datetime | None = None) -> PrunedRange | None:
    """``pruned`` when the range (narrowed to a brushed span) reaches pruned hours, else None."""
    if pruned is None:
        return None
    start = max(tr.start, after) if after is not None else tr.start
    end = min(tr.end, before) if before is not None else tr.end
    return pruned if pruned.reaches(start, end) else None


__all__ = ["PrunedRange", "archive_note", "pruned_in", "raw_rows_start"]
