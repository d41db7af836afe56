"""AlertWatch: the poll worker's alerts — rules, evaluation, the alert book and its file.

Owned by the poll worker and used only on its thread: the rules file is read again when
it changes (its mtime, size and inode), the state file is read once and written after
every change, and the window receives a frozen :class:`AlertsSnapshot`. No Qt here.

A failure anywhere in here is logged and reported in the snapshot (``error``): it never
reaches the dashboard's refresh, which has already been read when alerts are evaluated.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from studio_analytics.alerts.evaluate import evaluate
from studio_analytics.alerts.results import Evaluation
from studio_analytics.alerts.rules import Rule, RuleProblem, RuleSet, load_rules, rules_path
from studio_analytics.alerts.state_file import alerts_state_path, load_state, save_state
from studio_analytics.alerts.transitions import AlertBook, FiringAlert, Transition

log = logging.getLogger(__name__)

#: Transitions a snapshot carries for the history table (the book keeps more).
HISTORY_SHOWN = 500
#: Longest the alerts go unevaluated while the database does not change: stuck runs and
#: "traffic dropped" depend on the clock, not on new rows.
MAX_QUIET_S = 60.0

Evaluate = Callable[..., Evaluation]


@dataclass(frozen=True, slots=True)
class AlertsSnapshot:
    """What the window shows of the alerts after one evaluation (or one silence)."""

    at: datetime | None  # the evaluation's time; None: nothing evaluated yet
    firing: tuple[FiringAlert, ...]
    #: transitions this evaluation brought (each is delivered once: notifications)
    new: tuple[Transition, ...]
    #: the latest transitions, newest last
    history: tuple[Transition, ...]
    #: rules that could not be read (file, line) or evaluated (a table missing)
    problems: tuple[RuleProblem, ...]
    silenced_until: tuple[tuple[str, datetime], ...]
    #: every rule of the file, enabled or not
    rules: tuple[Rule, ...]
    rules_source: str
    #: the alerts part failed (the dashboard did not): why, in one line
    error: str | None = None
    seconds: float = 0.0

    @property
    def critical(self) -> bool:
        return any(a.severity == "critical" for a in self.firing)

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class AlertWatch:
    """Evaluates the rules on a connection it is given and keeps the alert book."""

    def __init__(self, *, rules_file: Path | None = None, state_file: Path | None = None,
                 evaluate_rules: Evaluate = evaluate) -> None:
        # Paths are looked up when first needed (on the worker's thread), not here.
        self._rules_file = rules_file
        self._state_file = state_file
        self._evaluate = evaluate_rules
        self._rules: RuleSet | None = None
        self._rules_signature: tuple[Any, ...] | None = None
        self._book: AlertBook | None = None
        self._state_signature: tuple[int, int, int] | None = None  # the file as we last read or wrote it
        self._last: Evaluation | None = None
        self._last_at: float | None = None  # time.monotonic() of the last evaluation
        self._error: str | None = None
        self._db_url: str | None = None

    def use_database(self, url: str) -> None:
        """Evaluate ``url`` from now on: each database has its own state file, so its
        alerts neither resolve nor mix with another's when the window switches."""
        if url != self._db_url:
            self._db_url = url
            self._book, self._state_signature, self._last, self._last_at = None, None, None, None

    @property
    def rules_file(self) -> Path:
        return self._rules_file or rules_path()

    @property
    def state_file(self) -> Path:
        return self._state_file or alerts_state_path(self._db_url)

    # -- when ----------------------------------------------------------------------
    def due(self) -> bool:
        """An evaluation is wanted although the database did not change: never evaluated,
        the rules file changed, or the clock moved on (MAX_QUIET_S)."""
        if self._last_at is None or time.monotonic() - self._last_at >= MAX_QUIET_S:
            return True
        return _file_signature(self.rules_file) != self._rules_signature

    # -- doing ---------------------------------------------------------------------
    def evaluate(self, conn: Connection, *, now: datetime | None = None) -> AlertsSnapshot:
        """Evaluate the enabled rules on ``conn`` (inside the caller's read transaction),
        apply the result to the book and save it when anything changed."""
        started = time.perf_counter()
        self._last_at = time.monotonic()
        try:
            rules = self._load_rules()
            book = self._load_book()
            evaluation = self._evaluate(conn, rules.enabled, now=now)
            # The book tells a disabled rule ("the rule was disabled") from a deleted one
            # by the rules it is given: all of them, not only the ones evaluated.
            evaluation = dataclasses.replace(evaluation, rules=rules.rules)
            silences = dict(book.snapshot().silenced_until)
            new = tuple(book.apply(evaluation))
            self._last = evaluation
            self._error = None
            if new or book.snapshot().silenced_until != silences:
                self._save()
        except Exception as e:  # noqa: BLE001 - the alerts must never break the refresh
            log.warning("evaluating the alert rules failed", exc_info=True)
            self._error = f"the alert rules could not be evaluated: {type(e).__name__}: {e}"
            new = ()
        return self.snapshot(new=new, seconds=time.perf_counter() - started)

    def silence(self, rule_id: str, until: datetime) -> AlertsSnapshot:
        self._load_book().silence(rule_id, until)
        self._save()
        return self.snapshot()

    def unsilence(self, rule_id: str) -> AlertsSnapshot:
        self._load_book().unsilence(rule_id)
        self._save()
        return self.snapshot()

    def snapshot(self, *, new: Sequence[Transition] = (), seconds: float = 0.0) -> AlertsSnapshot:
        """The book as it is (read from its file first if it was not yet)."""
        try:
            state = self._load_book().snapshot()
            rules = self._load_rules()
        except Exception as e:  # noqa: BLE001 - an unreadable folder: said, not raised
            log.warning("reading the alert rules or state failed", exc_info=True)
            return AlertsSnapshot(None, (), tuple(new), (), (), (), (), "", f"alerts unavailable: {e}", seconds)
        last = self._last
        problems = rules.problems + (last.problems if last is not None else ())
        return AlertsSnapshot(
            at=last.at if last is not None else None, firing=state.firing, new=tuple(new),
            history=state.history[-HISTORY_SHOWN:], problems=problems,
            silenced_until=tuple(sorted(state.silenced_until.items())), rules=rules.rules,
            rules_source=rules.source, error=self._error, seconds=seconds,
        )

    def fail(self, message: str) -> AlertsSnapshot:
        """The database could not be read: nothing evaluated, the book as it was."""
        self._error = message
        return self.snapshot()

    # -- files ---------------------------------------------------------------------
    def _load_rules(self) -> RuleSet:
        path = self.rules_file
        signature = _file_signature(path)
        if self._rules is None or signature != self._rules_signature:
            self._rules = load_rules(path)
            self._rules_signature = signature
        return self._rules

    def _load_book(self) -> AlertBook:
        """The book, read again when someone else wrote its file since (``studio-analytics
        alerts silence`` from a terminal): their silence is not overwritten by ours."""
        signature = _file_signature(self.state_file)
        if self._book is None or signature != self._state_signature:
            self._book = AlertBook(load_state(self.state_file))
            self._state_signature = _file_signature(self.state_file)  # load_state may set a bad file aside
        return self._book

    def _save(self) -> None:
        if self._book is None:
            return
        try:
            save_state(self.state_file, self._book.snapshot())
            self._state_signature = _file_signature(self.state_file)
        except OSError as e:
            log.warning("could not save the alert state to %s: %s", self.state_file, e)
            self._error = f"could not save the alert state: {e}"
