"""The alert state between runs: firing alerts, cooldowns, silences and history, in a
JSON file of the user data folder (never in the metrics database, which stays read-only).

Written atomically (a private temporary file renamed over the old one), so a crash
leaves the previous state, never half a file. A file that cannot be understood is moved
aside to ``*.bad`` with a warning and the alerts start afresh: losing the history is
better than never alerting again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from studio_analytics.alerts.transitions import (
    AlertBook,
    AlertState,
    FiringAlert,
    Transition,
    parse_utc,
    utc,
)
from studio_analytics.config import data_dir, default_db_url, resolve_db_url
from studio_analytics.db.engine import normalize_url, sqlite_path
from studio_analytics.db.errors import DatabaseError
from studio_analytics.export.files import private_atomic_text
from studio_analytics.private_files import ensure_private_dir

log = logging.getLogger(__name__)

STATE_FILENAME = "alerts-state.json"
FORMAT = "studio-analytics/alerts-state"
VERSION = 1


WATCH_STATE_STEM = "alerts-watch-state"


def database_key(db_url: str | None) -> str | None:
    """None for the default database; otherwise 12 hex digits naming the database (a
    hash of its URL without the password, a SQLite file by its resolved path), so the
    alerts of one database never resolve or mix with another's."""
    url = resolve_db_url(db_url)
    if url == default_db_url():
        return None
    try:
        parsed = normalize_url(url)
        path = sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None
        text = f"sqlite:{path.resolve()}" if path is not None else parsed.render_as_string(hide_password=True)
    except DatabaseError:
        text = url
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def alerts_state_path(db_url: str | None = None, *, watch: bool = False) -> Path:
    """The state file of the window (``alerts-state.json`` in the user data folder) or of
    ``alerts watch`` (``alerts-watch-state.json``) for the default database;
    ``alerts-state-<key>.json`` for any other (:func:`database_key`)."""
    stem = WATCH_STATE_STEM if watch else STATE_FILENAME.removesuffix(".json")
    key = database_key(db_url)
    return data_dir() / (f"{stem}.json" if key is None else f"{stem}-{key}.json")


def state_to_json(state: AlertState) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "firing": [a.to_json() for a in state.firing],
        "last_notified": [{"rule_id": rule_id, "member": member, "at": at.isoformat()}
                          for (rule_id, member), at in sorted(state.last_notified.items())],
        "silenced_until": {rule_id: until.isoformat() for rule_id, until in sorted(state.silenced_until.items())},
        "history": [t.to_json() for t in state.history],
    }


def state_from_json(data: Any) -> AlertState:
    """The state :func:`state_to_json` wrote; ValueError (or KeyError/TypeError) when it is not one."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not an alerts state file")
    if data.get("version") != VERSION:
        raise ValueError(f"format version {data.get('version')!r}; this program reads version {VERSION}")
    last_notified: dict[tuple[str, str], datetime] = {
        (str(item["rule_id"]), str(item.get("member") or "")): parse_utc(item["at"])
        for item in data.get("last_notified", [])
    }
    silenced = {str(rule_id): parse_utc(until) for rule_id, until in data.get("silenced_until", {}).items()}
    return AlertState(
        firing=tuple(FiringAlert.from_json(a) for a in data.get("firing", [])),
        last_notified=last_notified,
        silenced_until=silenced,
        history=tuple(Transition.from_json(t) for t in data.get("history", [])),
    )


def load_state(path: Path, *, set_aside: bool = True) -> AlertState:
    """The state saved in ``path``; an empty state when there is none yet, or when the
    file is not a state file (then renamed ``*.bad``, with a warning; a reader that
    will not write the state again passes ``set_aside=False`` and leaves it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return AlertState()
    except (OSError, UnicodeDecodeError) as e:
        if isinstance(e, UnicodeDecodeError):
            return _set_aside(path, f"it is not UTF-8 text ({e.reason})", set_aside)
        log.warning("Cannot read the alert state %s (%s); starting without it", path, e.strerror or e)
        return AlertState()
    try:
        return state_from_json(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        return _set_aside(path, str(e) or type(e).__name__, set_aside)


def _set_aside(path: Path, why: str, move: bool) -> AlertState:
    if not move:
        log.warning("The alert state %s is unreadable (%s)", path, why)
        return AlertState()
    bad = path.with_name(path.name + ".bad")
    try:
        os.replace(path, bad)
    except OSError as e:
        log.warning("The alert state %s is unreadable (%s) and cannot be moved aside (%s); starting afresh",
                    path, why, e.strerror or e)
    else:
        log.warning("The alert state %s is unreadable (%s); moved it to %s and started afresh", path, why,
                    bad.name)
    return AlertState()


def save_state(path: Path, state: AlertState) -> None:
    """Write ``state`` to ``path`` atomically, private (0600). OSError names ``path``."""
    ensure_private_dir(path.parent)
    text = json.dumps(state_to_json(state), ensure_ascii=False, indent=1)
    with private_atomic_text(path) as f:
        f.write(text)
        f.write("\n")


class StateFile:
    """One program's state file, noticing when another program wrote it in between
    (``studio-analytics alerts silence`` while the window or ``alerts watch`` runs):
    :meth:`save` then takes that file's silences first, so they are not overwritten."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature: tuple[int, int, int] | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def load(self) -> AlertState:
        state = load_state(self.path)
        self._signature = self._stat()
        return state

    def changed_by_others(self) -> bool:
        return self._stat() != self._signature

    def take_silences(self, book: AlertBook) -> bool:
        """If another program wrote the file since, adopt its silences; True if so."""
        if not self.changed_by_others():
            return False
        book.set_silences(self.load().silenced_until)
        return True

    def save(self, book: AlertBook) -> None:
        """Save the book's state (after taking silences written by others). OSError names the file."""
        self.take_silences(book)
        save_state(self.path, book.snapshot())
        self._signature = self._stat()


def silence_rule(path: Path, rule_id: str, until: datetime) -> AlertState:
    """Silence ``rule_id`` until ``until`` in the state file ``path`` (read, change, write)."""
    state = load_state(path)
    silenced = dict(state.silenced_until)
    silenced[rule_id] = utc(until)
    new = AlertState(state.firing, dict(state.last_notified), silenced, state.history)
    save_state(path, new)
    return new


def unsilence_rule(path: Path, rule_id: str) -> tuple[AlertState, bool]:
    """Lift the silence on ``rule_id`` in ``path``; True if there was one."""
    state = load_state(path)
    silenced = dict(state.silenced_until)
    had = silenced.pop(rule_id, None) is not None
    if had:
        state = AlertState(state.firing, dict(state.last_notified), silenced, state.history)
        save_state(path, state)
    return state, had
