"""Which alerts are firing, and what changed: evaluations in, transitions out. No I/O.

An alert is one rule for one scope member (``Observation.key``). The :class:`AlertBook`
remembers the firing ones between evaluations and turns each new evaluation into
transitions:

- an observation whose verdict is ``firing`` for a key that is not firing: FIRED;
- a firing key whose rule was evaluated but whose observation is not ``firing`` (ok,
  insufficient, learning) or is missing (the member left the window and its
  baseline): RESOLVED;
- a firing key whose rule is gone from the evaluation's rules, or disabled: RESOLVED;
- a rule named in ``evaluation.problems`` (it could not be evaluated this time) keeps
  its alerts as they were: a database hiccup must not resolve and re-fire them.

Every transition is recorded in the history. Whether anyone is *told* (a desktop
notification, a webhook) is ``Transition.notified``: False for a FIRED inside the rule's
cooldown after the key's last notified FIRED, for the RESOLVED of an alert whose FIRED
was not notified (nobody heard it start), and for anything of a silenced rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from studio_analytics.alerts.results import Baseline, Evaluation, Observation, Verdict
from studio_analytics.alerts.rules import Rule

#: The ``schema`` of a transition's JSON (webhook body, state file history).
TRANSITION_SCHEMA = "studio-analytics/alert-transition/v1"
DEFAULT_HISTORY_LIMIT = 2000

AlertKey = tuple[str, str]  # (rule_id, member or "")


class TransitionKind(StrEnum):
    FIRED = "fired"
    RESOLVED = "resolved"


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC time (a naive one is taken as UTC, like everywhere in
    the project)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_utc(text: str) -> datetime:
    return utc(datetime.fromisoformat(text))


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def baseline_to_json(baseline: Baseline | None) -> dict[str, Any] | None:
    if baseline is None:
        return None
    return {"median": _finite(baseline.median), "low": _finite(baseline.low), "high": _finite(baseline.high),
            "mad": _finite(baseline.mad), "samples": baseline.samples}


def baseline_from_json(data: dict[str, Any] | None) -> Baseline | None:
    if data is None:
        return None
    nan = float("nan")

    def number(key: str) -> float:
        value = data.get(key)
        return nan if value is None else float(value)

    return Baseline(number("median"), number("low"), number("high"), number("mad"), int(data["samples"]))


_EMOJI = {TransitionKind.FIRED: ":red_circle:", TransitionKind.RESOLVED: ":large_green_circle:"}


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert that started (FIRED) or ended (RESOLVED) at ``at``."""

    kind: TransitionKind
    rule_id: str
    rule_title: str
    severity: str
    member: str | None
    at: datetime
    value: float | None
    baseline: Baseline | None
    threshold: float | None
    reason: str
    #: the window behind the figure, [start, end): the executions link
    start: datetime
    end: datetime
    scope_kind: str  # "all" | "agent" | "tool" | "api" | "model" | "workflow"
    subject: str  # Rule.subject: executions / workflows / tools / apis / models
    #: False inside the rule's cooldown, or when the rule is silenced
    notified: bool

    @property
    def key(self) -> AlertKey:
        return self.rule_id, self.member or ""

    @property
    def text(self) -> str:
        """One line for people (Slack's ``text``), e.g. ":red_circle: FIRED
        agent-failure-spike (WebAgent): failure rate 0.42 above the usual 0.03–0.12"."""
        who = f" ({self.member})" if self.member else ""
        return f"{_EMOJI[self.kind]} {self.kind.value.upper()} {self.rule_id}{who}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": TRANSITION_SCHEMA,
            "text": self.text,
            "kind": self.kind.value,
            "rule_id": self.rule_id,
            "rule_title": self.rule_title,
            "severity": self.severity,
            "member": self.member,
            "at": self.at.isoformat(),
            "value": _finite(self.value),
            "baseline": baseline_to_json(self.baseline),
            "threshold": _finite(self.threshold),
            "reason": self.reason,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "scope_kind": self.scope_kind,
            "subject": self.subject,
            "notified": self.notified,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transition:
        """The transition :meth:`to_json` wrote; KeyError/ValueError/TypeError when it is not one."""
        return cls(
            kind=TransitionKind(data["kind"]),
            rule_id=str(data["rule_id"]),
            rule_title=str(data.get("rule_title") or data["rule_id"]),
            severity=str(data.get("severity", "")),
            member=None if data.get("member") is None else str(data["member"]),
            at=parse_utc(data["at"]),
            value=_finite(data.get("value")),
            baseline=baseline_from_json(data.get("baseline")),
            threshold=_finite(data.get("threshold")),
            reason=str(data.get("reason", "")),
            start=parse_utc(data["start"]),
            end=parse_utc(data["end"]),
            scope_kind=str(data.get("scope_kind", "all")),
            subject=str(data.get("subject", "executions")),
            notified=bool(data.get("notified", False)),
        )


@dataclass(frozen=True, slots=True)
class FiringAlert:
    """An alert that is firing now: since when, and what the latest evaluation said."""

    rule_id: str
    member: str | None
    since: datetime
    #: from the latest observation that found it firing
    value: float | None
    reason: str
    severity: str
    rule_title: str
    at: datetime  # that evaluation's time
    baseline: Baseline | None = None
    threshold: float | None = None
    start: datetime | None = None
    end: datetime | None = None
    scope_kind: str = "all"
    subject: str = "executions"
    #: whether its FIRED was notified (its RESOLVED is notified only if so)
    notified: bool = True

    @property
    def key(self) -> AlertKey:
        return self.rule_id, self.member or ""

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id, "member": self.member, "since": self.since.isoformat(),
            "value": _finite(self.value), "reason": self.reason, "severity": self.severity,
            "rule_title": self.rule_title, "at": self.at.isoformat(), "baseline": baseline_to_json(self.baseline),
            "threshold": _finite(self.threshold),
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "scope_kind": self.scope_kind, "subject": self.subject, "notified": self.notified,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FiringAlert:
        return cls(
            rule_id=str(data["rule_id"]),
            member=None if data.get("member") is None else str(data["member"]),
            since=parse_utc(data["since"]),
            value=_finite(data.get("value")),
            reason=str(data.get("reason", "")),
            severity=str(data.get("severity", "")),
            rule_title=str(data.get("rule_title") or data["rule_id"]),
            at=parse_utc(data.get("at") or data["since"]),
            baseline=baseline_from_json(data.get("baseline")),
            threshold=_finite(data.get("threshold")),
            start=None if data.get("start") is None else parse_utc(data["start"]),
            end=None if data.get("end") is None else parse_utc(data["end"]),
            scope_kind=str(data.get("scope_kind", "all")),
            subject=str(data.get("subject", "executions")),
            notified=bool(data.get("notified", True)),
        )


@dataclass(frozen=True, slots=True)
class AlertState:
    """Everything the book remembers; what the state file holds."""

    firing: tuple[FiringAlert, ...] = ()
    #: when each key last had a notified FIRED (the cooldown counts from there)
    last_notified: dict[AlertKey, datetime] = field(default_factory=dict)
    #: rule id -> silenced until then
    silenced_until: dict[str, datetime] = field(default_factory=dict)
    #: newest last, at most the book's history_limit
    history: tuple[Transition, ...] = ()


def _threshold(rule: Rule | None) -> float | None:
    return None if rule is None else rule.threshold


class AlertBook:
    """The firing alerts, cooldowns, silences and history, fed one evaluation at a time.

    Not thread-safe: one owner (the window's poll worker, ``alerts watch``) applies
    evaluations; others get :meth:`snapshot`'s frozen copy.
    """

    def __init__(self, state: AlertState | None = None, *, history_limit: int = DEFAULT_HISTORY_LIMIT) -> None:
        state = state or AlertState()
        self.history_limit = max(0, history_limit)
        self._firing: dict[AlertKey, FiringAlert] = {a.key: a for a in state.firing}
        self._last_notified: dict[AlertKey, datetime] = {k: utc(v) for k, v in state.last_notified.items()}
        self._silenced_until: dict[str, datetime] = {k: utc(v) for k, v in state.silenced_until.items()}
        self._history: list[Transition] = list(state.history)[-self.history_limit:] if self.history_limit else []

    # -- silences ---------------------------------------------------------------------

    def silence(self, rule_id: str, until: datetime) -> None:
        """Record the rule's transitions un-notified until ``until``."""
        self._silenced_until[rule_id] = utc(until)

    def unsilence(self, rule_id: str) -> None:
        self._silenced_until.pop(rule_id, None)

    def set_silences(self, silenced_until: Mapping[str, datetime]) -> None:
        """Take these silences instead of the book's own (those another program wrote
        to the state file: ``studio-analytics alerts silence``)."""
        self._silenced_until = {rule_id: utc(until) for rule_id, until in silenced_until.items()}

    def is_silenced(self, rule_id: str, at: datetime) -> bool:
        until = self._silenced_until.get(rule_id)
        return until is not None and utc(at) < until

    # -- reading ----------------------------------------------------------------------

    @property
    def firing(self) -> tuple[FiringAlert, ...]:
        return tuple(self._firing.values())

    def snapshot(self) -> AlertState:
        return AlertState(
            firing=tuple(self._firing.values()),
            last_notified=dict(self._last_notified),
            silenced_until=dict(self._silenced_until),
            history=tuple(self._history),
        )

    # -- applying an evaluation -------------------------------------------------------

    def apply(self, evaluation: Evaluation) -> list[Transition]:
        """The transitions ``evaluation`` brings, in order (resolutions first, then new
        alerts, each in the order of the rules), also appended to the history."""
        at = utc(evaluation.at)
        rules = {r.id: r for r in evaluation.rules}
        failed = {p.rule_id for p in evaluation.problems if p.rule_id}
        observed: dict[AlertKey, Observation] = {}
        for obs in evaluation.observations:
            observed.setdefault(obs.key, obs)
        transitions: list[Transition] = []

        for key, alert in list(self._firing.items()):
            rule_id = key[0]
            if rule_id in failed:
                continue  # not evaluated this time: as it was
            rule = rules.get(rule_id)
            obs = observed.get(key)
            if rule is not None and rule.enabled and obs is not None and obs.verdict is Verdict.FIRING:
                self._firing[key] = self._refreshed(alert, rule, obs, at)
                continue
            transitions.append(self._resolve(alert, rule, obs, at))
            del self._firing[key]

        for obs in evaluation.observations:
            rule = rules.get(obs.rule_id)
            if (obs.verdict is not Verdict.FIRING or obs.key in self._firing or rule is None
                    or not rule.enabled or obs.rule_id in failed):
                continue
            transitions.append(self._fire(rule, obs, at))

        self._forget_expired_silences(at)
        self._record(transitions)
        return transitions

    def _fire(self, rule: Rule, obs: Observation, at: datetime) -> Transition:
        last = self._last_notified.get(obs.key)
        in_cooldown = last is not None and at - last < timedelta(seconds=rule.cooldown_s)
        notified = not in_cooldown and not self.is_silenced(rule.id, at)
        if notified:
            self._last_notified[obs.key] = at
        transition = Transition(
            kind=TransitionKind.FIRED, rule_id=rule.id, rule_title=rule.title, severity=rule.severity.value,
            member=obs.member, at=at, value=obs.value, baseline=obs.baseline, threshold=rule.threshold,
            reason=obs.reason, start=utc(obs.start), end=utc(obs.end), scope_kind=rule.scope.kind,
            subject=rule.subject.value, notified=notified,
        )
        self._firing[obs.key] = FiringAlert(
            rule_id=rule.id, member=obs.member, since=at, value=obs.value, reason=obs.reason,
            severity=rule.severity.value, rule_title=rule.title, at=at, baseline=obs.baseline,
            threshold=rule.threshold, start=utc(obs.start), end=utc(obs.end), scope_kind=rule.scope.kind,
            subject=rule.subject.value, notified=notified,
        )
        return transition

    @staticmethod
    def _refreshed(alert: FiringAlert, rule: Rule, obs: Observation, at: datetime) -> FiringAlert:
        return replace(alert, value=obs.value, reason=obs.reason, severity=rule.severity.value,
                       rule_title=rule.title, at=at, baseline=obs.baseline, threshold=rule.threshold,
                       start=utc(obs.start), end=utc(obs.end), scope_kind=rule.scope.kind,
                       subject=rule.subject.value)

    def _resolve(self, alert: FiringAlert, rule: Rule | None, obs: Observation | None,
                 at: datetime) -> Transition:
        notified = alert.notified and not self.is_silenced(alert.rule_id, at)
        if rule is None or not rule.enabled:
            obs = None  # what it measured does not matter: the rule no longer runs
        if obs is not None:
            value, baseline, reason = obs.value, obs.baseline, obs.reason
            start, end = utc(obs.start), utc(obs.end)
        else:
            value, baseline = None, None
            if rule is None:
                reason = "the rule is no longer in the rules"
            elif not rule.enabled:
                reason = "the rule was disabled"
            else:
                reason = f"{alert.member} no longer appears in the rule's window or baseline" if alert.member \
                    else "no longer measured"
            end = at
            start = at - (alert.end - alert.start) if alert.start and alert.end else at
        return Transition(
            kind=TransitionKind.RESOLVED, rule_id=alert.rule_id,
            rule_title=rule.title if rule is not None else alert.rule_title,
            severity=rule.severity.value if rule is not None else alert.severity, member=alert.member, at=at,
            value=value, baseline=baseline, threshold=_threshold(rule) if rule is not None else alert.threshold,
            reason=reason, start=start, end=end, scope_kind=alert.scope_kind, subject=alert.subject,
            notified=notified,
        )

    def _forget_expired_silences(self, at: datetime) -> None:
        for rule_id in [r for r, until in self._silenced_until.items() if until <= at]:
            del self._silenced_until[rule_id]

    def _record(self, transitions: Iterable[Transition]) -> None:
        if not self.history_limit:
            return
        self._history.extend(transitions)
        if len(self._history) > self.history_limit:
            del self._history[: len(self._history) - self.history_limit]
