"""Saved views: a named tab + time range + executions filters + sorts, kept in
``saved_views.json`` in the user's config folder.

A small versioned JSON file rather than QSettings: the house keeps QSettings for window
state, and a user's views are settings that matter (readable, copyable to another
machine, checked when read). A file that cannot be read is reported and left alone;
the window then starts with no saved views rather than failing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from studio_analytics.analytics.results import ExecutionFilter
from studio_analytics.config import config_dir

log = logging.getLogger(__name__)

FILE_NAME = "saved_views.json"
VERSION = 1


@dataclass(frozen=True, slots=True)
class SavedView:
    name: str
    tab: str
    range_preset: str  # "24h", "7d", "30d" or "custom"
    custom_range: tuple[datetime, datetime] | None = None  # UTC, for "custom"
    filters: ExecutionFilter = ExecutionFilter()
    executions_sort: tuple[str, bool] = ("start_time", True)  # field, descending
    #: the summary tabs' header sorts: (tab, field, descending)
    sorts: tuple[tuple[str, str, bool], ...] = field(default_factory=tuple)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"datetime"}:
        return datetime.fromisoformat(value["datetime"])
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


def view_to_json(view: SavedView) -> dict[str, Any]:
    filters = {f.name: _encode(getattr(view.filters, f.name)) for f in dataclasses.fields(ExecutionFilter)
               if getattr(view.filters, f.name) is not None}
    return {"name": view.name, "tab": view.tab, "range": view.range_preset,
            "custom_range": _encode(view.custom_range) if view.custom_range else None,
            "filters": filters, "executions_sort": list(view.executions_sort),
            "sorts": [list(s) for s in view.sorts]}


def view_from_json(data: dict[str, Any]) -> SavedView:
    known = {f.name for f in dataclasses.fields(ExecutionFilter)}
    filters = {k: _decode(v) for k, v in dict(data.get("filters") or {}).items() if k in known}
    custom = _decode(data["custom_range"]) if data.get("custom_range") else None
    sort_field, descending = data.get("executions_sort") or ("start_time", True)
    return SavedView(
        name=str(data["name"]), tab=str(data["tab"]), range_preset=str(data.get("range", "7d")),
        custom_range=(custom[0], custom[1]) if custom else None,
        filters=ExecutionFilter(**filters),
        executions_sort=(str(sort_field), bool(descending)),
        sorts=tuple((str(t), str(f), bool(d)) for t, f, d in data.get("sorts") or ()),
    )


class SavedViewStore:
    """The user's saved views, in the order they were first saved."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.problem: str | None = None  # why the file could not be read, if it could not

    def _file(self, *, create: bool = False) -> Path:
        return self.path if self.path is not None else config_dir(create=create) / FILE_NAME

    def load(self) -> list[SavedView]:
        path = self._file()
        self.problem = None
        if not path.exists():
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
            return [view_from_json(v) for v in data["views"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            self.problem = f"{path}: {e}"
            log.warning("saved views not read: %s", self.problem)
            return []

    def save(self, view: SavedView) -> list[SavedView]:
        """Add ``view``, replacing one of the same name; returns the views now saved."""
        views = self.load()
        if self.problem is not None:
            raise OSError(f"not overwriting an unreadable file: {self.problem}")
        names = [v.name for v in views]
        if view.name in names:
            views[names.index(view.name)] = view
        else:
            views.append(view)
        self._write(views)
        return views

    def delete(self, name: str) -> list[SavedView]:
        views = [v for v in self.load() if v.name != name]
        if self.problem is None:
            self._write(views)
        return views

    def _write(self, views: list[SavedView]) -> None:
        path = self._file(create=True)
        text = json.dumps({"version": VERSION, "views": [view_to_json(v) for v in views]}, indent=2)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600, replaced when complete
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
