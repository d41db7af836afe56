"""``GET /api/analytics/alerts``: the JSON of ``studio-analytics alerts check --format
json`` (``studio-analytics/alerts/v1``, built by :mod:`studio_analytics.alerts.check_json`
for both) for the database, evaluated read-only; the alert state files are not touched."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from studio_analytics.alerts.check_json import SCHEMA as ALERTS_SCHEMA
from studio_analytics.alerts.check_json import check_json
from studio_analytics.alerts.evaluate import evaluate
from studio_analytics.alerts.rules import RuleSet, load_rules
from studio_analytics.db.schema_state import require_metrics_tables


def read_rules(path: Path | None) -> RuleSet:
    """The rules in force: ``path``, else alerts.toml in the config folder, else the
    shipped ones (read per request, so an edited file counts at once)."""
    return load_rules(path)


def alerts_payload(conn: Connection, ruleset: RuleSet, at: datetime | None) -> dict[str, Any]:
    require_metrics_tables(conn)
    evaluation = evaluate(conn, ruleset.enabled, now=at)
    problems = list(ruleset.problems) + [replace(p, source=p.source or ruleset.source) for p in evaluation.problems]
    return check_json(evaluation, ruleset, problems)


__all__ = ["ALERTS_SCHEMA", "alerts_payload", "read_rules"]
