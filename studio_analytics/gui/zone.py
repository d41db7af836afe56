"""The one time zone the window shows times in: the computer's local time, or UTC.

One choice everywhere — tables, charts, dialogs, the status bar and the time inputs —
switched with the toolbar's "UTC" box (remembered between runs). Times cross from the
analytics layer as aware UTC datetimes; only this module turns them into the zone
shown, and turns what a person types back into UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QObject, Signal


class ZoneSetting(QObject):
    """Emits ``changed`` when the window switches between local time and UTC."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.utc = False

    def set_utc(self, on: bool) -> None:
        if on != self.utc:
            self.utc = on
            self.changed.emit()


_setting: ZoneSetting | None = None


def setting() -> ZoneSetting:
    global _setting
    if _setting is None:
        _setting = ZoneSetting()
    return _setting


def showing_utc() -> bool:
    return setting().utc


def in_zone(value: datetime) -> datetime:
    """``value`` (aware; naive is taken as UTC) in the zone the window shows."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC) if showing_utc() else value.astimezone()


def from_input(naive: datetime) -> datetime:
    """A date and time a person entered (no zone: the zone shown) as aware UTC."""
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=UTC) if showing_utc() else naive.astimezone(UTC)


def to_input(value: datetime) -> datetime:
    """An aware datetime as the naive value a time input shows."""
    return in_zone(value).replace(tzinfo=None)


def zone_name() -> str:
    """"UTC", or the computer's zone ("CET"; an offset where the system has no name)."""
    if showing_utc():
        return "UTC"
    now = datetime.now().astimezone()
    return now.strftime("%Z") or now.strftime("UTC%z")


def axis_offset() -> int | None:
    """pyqtgraph's ``DateAxisItem.utcOffset`` for the zone shown (None: local time)."""
    return 0 if showing_utc() else None


def with_zone(label: str) -> str:
    """A column title that says its zone: "Started (UTC)"."""
    return f"{label} ({zone_name()})"
