"""Rules files: each rule read on its own, every mistake named with its line, the
other rules still used; the shipped defaults; rules written back read the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_analytics.alerts.durations import format_duration, parse_duration
from studio_analytics.alerts.rules import (
    DEFAULT_RULES_TEXT,
    Direction,
    Metric,
    Scope,
    When,
    default_rules,
    load_rules,
    parse_rules,
    rule_to_toml,
    rules_path,
)

GOOD = '''
[[rule]]
id = "first"
metric = "failure_rate"
threshold = 0.2
'''


def _with(rule_body: str) -> str:
    """A file: a good rule, the rule under test (its header on line 7), a good rule."""
    return GOOD + "\n[[rule]]\n" + rule_body + '\n[[rule]]\nid = "last"\nmetric = "executions"\nwhen = "anomalous"\n'


@pytest.mark.parametrize(("body", "message", "line"), [
    ('id = "bad"\nmetric = "failure_rate"\nthreshold = 0.2\nwindow = 1h', "TOML syntax", 11),
    ('id = "bad"\nmetric = "failure_rates"', "metric = 'failure_rates' is not one of", 7),
    ('id = "bad"\nmetric = "api_error_rate"\nscope = "agent:Web"\nthreshold = 0.1', "cannot be scoped to agents", 7),
    ('id = "bad"\nmetric = "failure_rate"', "threshold is missing", 7),
    ('id = "bad"\nmetric = "failure_rate"\nthreshold = 20', "a share between 0 and 1", 7),
    ('id = "bad"\nmetric = "failure_rate"\nthreshold = 0.2\nwindw = "1h"', "unknown key 'windw'", 7),
    ('id = "bad"\nmetric = "failure_rate"\nthreshold = 0.2\nwindow = "an hour"', "window: 'an hour' is not a duration", 7),
    ('id = "bad"\nmetric = "failure_rate"\nthreshold = 0.2\nwindow = "10s"', "must be at least 1m", 7),
    ('id = "bad"\nmetric = "failure_rate"\nscope = "every agent"\nthreshold = 0.2', "unknown scope 'every agent'", 7),
    ('id = "bad"\nmetric = "stuck_runs"\nwhen = "anomalous"', "stuck_runs takes when", 7),
    ('id = "bad"\nmetric = "executions"\nwhen = "anomalous"\ndirection = "sideways"', "direction = 'sideways'", 7),
    ('id = "bad"\nmetric = "executions"\nwhen = "anomalous"\nthreshold = 3', "an anomalous rule learns its band", 7),
    ('id = "first"\nmetric = "executions"\nwhen = "anomalous"', "already used by the rule on line 2", 7),
    ('id = "has space"\nmetric = "executions"', "id is missing or not a name", 7),
    ('id = "bad"\nmetric = "executions"\nthreshold = 3\nmin_sample = 2.5', "min_sample = 2.5 is not a whole number", 7),
    ('id = "bad"\nmetric = "executions"\nthreshold = 3\nenabled = "yes"', "enabled = 'yes' is not true or false", 7),
])
def test_a_bad_rule_is_named_by_line_and_the_others_still_run(body: str, message: str, line: int) -> None:
    parsed = parse_rules(_with(body), "alerts.toml")
    assert [r.id for r in parsed.rules] == ["first", "last"]
    (problem,) = parsed.problems
    assert message in problem.message
    assert problem.line == line
    text = str(problem)
    assert text.startswith(f"alerts.toml, line {line}") and text.endswith("the rule is skipped")
    if 'id = "bad"' in body:
        assert problem.rule_id == "bad"


def test_a_syntax_error_before_the_first_rule_leaves_the_rules() -> None:
    parsed = parse_rules("title = \n" + GOOD, "f")
    assert [r.id for r in parsed.rules] == ["first"]
    assert parsed.problems[0].line == 1 and "TOML syntax" in parsed.problems[0].message


def test_the_shipped_defaults_parse_and_are_documented() -> None:
    rules = default_rules()
    assert not rules.problems
    assert len(rules.rules) >= 6 and all(r.enabled for r in rules.rules)
    assert {r.metric for r in rules.rules} >= {Metric.FAILURE_RATE, Metric.TOOL_ERROR_RATE, Metric.MODEL_FAILURE_RATE,
                                               Metric.EXECUTIONS, Metric.STUCK_RUNS, Metric.P95_LATENCY}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for rule in rules.rules:
        assert f"`{rule.id}`" in readme, f"default rule {rule.id} is not in the README"


def test_no_file_means_the_defaults_and_an_unreadable_one_is_a_problem(tmp_path: Path) -> None:
    assert not rules_path().exists()
    assert [r.id for r in load_rules().rules] == [r.id for r in default_rules().rules]
    bad = tmp_path / "alerts.toml"
    bad.write_bytes(b"\xff\xfe[[rule]]")
    loaded = load_rules(bad)
    assert not loaded.rules and "cannot read the file" in loaded.problems[0].message


def test_rules_written_back_read_the_same() -> None:
    for rule in default_rules().rules:
        (again,) = parse_rules(rule_to_toml(rule)).rules
        assert again == type(rule)(**{**{f: getattr(rule, f) for f in rule.__slots__}, "line": 1})
    (odd,) = parse_rules('[[rule]]\nid = "x"\nname = "quote \\" and \\\\ back"\nmetric = "executions"\n'
                         'scope = "agent:a:b"\nwhen = "anomalous"\ndirection = "both"\nsensitivity = 2.5\n'
                         'baseline_weeks = 6\nwindow = "1h30m"\nenabled = false\n').rules
    assert (odd.scope, odd.window_s, odd.direction, odd.enabled) == (Scope("agent", "a:b"), 5400, Direction.BOTH, False)
    assert odd.when is When.ANOMALOUS
    (again,) = parse_rules(rule_to_toml(odd)).rules
    assert again == odd


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90s", "15m", "1h30m", "2d", "1w", "1.5h", 60)] == [
        90, 900, 5400, 172_800, 604_800, 5400, 60]
    for bad in ("", "abc", "1h x", "-1h", True):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert [format_duration(s) for s in (90, 3600, 5400, 86_400)] == ["1m30s", "1h", "1h30m", "1d"]


def test_defaults_text_is_what_alerts_init_writes() -> None:
    assert DEFAULT_RULES_TEXT.startswith("# studio-analytics alert rules")
