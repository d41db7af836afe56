"""Time ranges: presets, days back, or explicit ISO bounds; bucket size from the span."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from studio_analytics.analytics.results import Bucket, TimeRange

PRESETS: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
BUCKET_SECONDS: dict[Bucket, int] = {Bucket.MINUTE: 60, Bucket.HOUR: 3600, Bucket.DAY: 86_400}


def parse_time(value: str | datetime) -> datetime:
    """An ISO date or datetime; naive values are taken as UTC."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def bucket_for(span: timedelta) -> Bucket:
    """Minutes up to 3 hours, hours up to 14 days, days beyond: at most ~340 points a chart."""
    if span <= timedelta(hours=3):
        return Bucket.MINUTE
    return Bucket.HOUR if span <= timedelta(days=14) else Bucket.DAY


def time_range(*, days: float | None = None, start_date: str | datetime | None = None,
               end_date: str | datetime | None = None, preset: str | None = None,
               now: datetime | None = None) -> TimeRange:
    now = parse_time(now) if now is not None else datetime.now(UTC)
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"unknown range {preset!r}; use one of {', '.join(PRESETS)}")
        end, start, label = now, now - PRESETS[preset], preset
    elif start_date is not None or end_date is not None:
        end = parse_time(end_date) if end_date is not None else now
        start = parse_time(start_date) if start_date is not None else end - timedelta(days=days or 7)
        label = "custom"
    else:
        span = timedelta(days=7 if days is None else days)
        end, start, label = now, now - span, f"{days:g}d" if days is not None else "7d"
    if start >= end:
        raise ValueError("the range's start must be before its end")
    return TimeRange(start=start, end=end, bucket=bucket_for(end - start), label=label)


def previous_period(tr: TimeRange) -> TimeRange:
    span = tr.end - tr.start
    return TimeRange(start=tr.start - span, end=tr.start, bucket=tr.bucket, label=f"previous {tr.label}")


def bucket_starts(tr: TimeRange) -> list[int]:
    """Every bucket start (POSIX seconds, UTC-aligned) that overlaps the range."""
    size = BUCKET_SECONDS[tr.bucket]
    first = int(tr.start.timestamp()) // size * size
    last = int((tr.end - timedelta(microseconds=1)).timestamp()) // size * size
    return list(range(first, last + size, size))
