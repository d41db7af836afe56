"""The JSON of ``studio-analytics alerts check --format json`` (``studio-analytics/alerts/v1``):
one code path for the CLI and ``GET /api/analytics/alerts`` of ``studio-analytics serve``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from studio_analytics.alerts.results import Evaluation, Observation
from studio_analytics.alerts.rules import Rule, RuleProblem, RuleSet
from studio_analytics.alerts.transitions import baseline_to_json

SCHEMA = "studio-analytics/alerts/v1"


def check_json(evaluation: Evaluation, ruleset: RuleSet, problems: list[RuleProblem]) -> dict[str, Any]:
    source = ruleset.source
    by_id = {r.id: r for r in ruleset.rules}
    return {
        "schema": SCHEMA, "at": evaluation.at.isoformat(), "rules": source,
        "firing": [observation_json(o, by_id.get(o.rule_id)) for o in evaluation.firing],
        "observations": [observation_json(o, by_id.get(o.rule_id)) for o in evaluation.observations],
        "problems": [problem_json(p, source) for p in problems],
    }


def problem_json(problem: RuleProblem, source: str) -> dict[str, Any]:
    return {"message": problem.message, "line": problem.line, "rule_id": problem.rule_id,
            "source": problem.source or source, "text": str(replace(problem, source=problem.source or source))}


def observation_json(obs: Observation, rule: Rule | None) -> dict[str, Any]:
    def finite(v: float | None) -> float | None:
        return None if v is None or v != v or v in (float("inf"), float("-inf")) else v

    return {
        "rule_id": obs.rule_id, "rule_title": rule.title if rule else obs.rule_id,
        "severity": rule.severity.value if rule else None, "member": obs.member, "verdict": obs.verdict.value,
        "value": finite(obs.value), "sample": obs.sample, "baseline": baseline_to_json(obs.baseline),
        "threshold": rule.threshold if rule else None, "start": obs.start.isoformat(), "end": obs.end.isoformat(),
        "reason": obs.reason,
    }
