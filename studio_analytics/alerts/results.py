"""What an evaluation finds: frozen values that cross threads and go out as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from studio_analytics.alerts.rules import Rule, RuleProblem


class Verdict(StrEnum):
    FIRING = "firing"  # the condition holds
    OK = "ok"  # judged, and the condition does not hold
    INSUFFICIENT = "insufficient"  # fewer runs than the rule's min_sample
    LEARNING = "learning"  # an anomalous rule without enough baseline history yet


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the figure usually is at this hour of the week: the median of the same
    window in past weeks (and the hours beside it), and the band outside which it is
    anomalous."""

    median: float
    low: float
    high: float
    mad: float
    samples: int  # past windows the median was taken over


@dataclass(frozen=True, slots=True)
class Observation:
    """One rule's figure for one scope member (``member`` None: the rule's whole scope)."""

    rule_id: str
    member: str | None
    value: float | None  # None: nothing to measure (no finished runs for a rate)
    sample: int  # runs behind the figure
    verdict: Verdict
    baseline: Baseline | None
    #: the window measured, [start, end) — the executions behind the figure
    start: datetime
    end: datetime
    #: why, in one line ("failure rate 0.42 above the usual 0.03–0.12 (median 0.06)")
    reason: str

    @property
    def key(self) -> tuple[str, str]:
        """Identifies an alert: the rule and the member ('' for the whole scope)."""
        return self.rule_id, self.member or ""


@dataclass(frozen=True, slots=True)
class Evaluation:
    at: datetime
    observations: tuple[Observation, ...]
    #: rules that could not be evaluated (a table missing on this database, an error)
    problems: tuple[RuleProblem, ...]
    rules: tuple[Rule, ...]
    seconds: float

    @property
    def firing(self) -> tuple[Observation, ...]:
        return tuple(o for o in self.observations if o.verdict is Verdict.FIRING)
