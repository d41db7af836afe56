"""Alert rules: what is watched (metric × scope × window), when it fires (condition,
minimum sample) and how often it may say so (cooldown).

A rule is one ``[[rule]]`` table of a TOML file (``alerts.toml`` in the config folder;
:func:`load_rules`). Each rule is read on its own: a rule with a mistake is skipped
with a :class:`RuleProblem` naming its line, and every other rule still runs — even
when the mistake is TOML syntax, because the file is then read again one rule at a time.

Metrics (``value`` of one scope member over ``[now - window, now)``):

==========================  =================================================================
``failure_rate``            (failures + timeouts) / finished runs
``failure_count``           failures + timeouts
``timeout_rate``            timeouts / finished runs
``p95_latency``             95th percentile of the duration, ms
``executions``              runs started in the window (a drop to zero is ``below`` or
                            ``anomalous`` with ``direction = "down"``)
``tool_error_rate``         failed / finished tool calls
``api_error_rate``          tool calls whose external API answered >= 400 or failed / calls
``model_failure_rate``      (failed + timed-out) / finished model calls
``tokens_per_hour``         input + output tokens of model calls, per hour of the window
``cost_per_hour``           USD of the priced model calls, per hour of the window
``stuck_runs``              runs still ``in_progress`` (``running``) longer than ``stuck_after``
==========================  =================================================================

The run counted depends on the scope: executions for ``all`` and agents, workflow runs
for workflow types, model calls for models, tool calls for tools and external APIs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from studio_analytics.alerts.durations import format_duration, parse_duration
from studio_analytics.config import config_dir

RULES_FILENAME = "alerts.toml"


class Metric(StrEnum):
    FAILURE_RATE = "failure_rate"
    FAILURE_COUNT = "failure_count"
    TIMEOUT_RATE = "timeout_rate"
    P95_LATENCY = "p95_latency"
    EXECUTIONS = "executions"
    TOOL_ERROR_RATE = "tool_error_rate"
    API_ERROR_RATE = "api_error_rate"
    MODEL_FAILURE_RATE = "model_failure_rate"
    TOKENS_PER_HOUR = "tokens_per_hour"
    COST_PER_HOUR = "cost_per_hour"
    STUCK_RUNS = "stuck_runs"


class Subject(StrEnum):
    """The rows a figure counts."""

    EXECUTIONS = "executions"
    WORKFLOWS = "workflows"
    TOOLS = "tools"
    APIS = "apis"
    MODELS = "models"


ScopeKind = Literal["all", "agent", "tool", "api", "model", "workflow"]
SCOPE_KINDS: tuple[str, ...] = ("agent", "tool", "api", "model", "workflow")


class MetricKind(StrEnum):
    """How a metric's value behaves, which decides its anomaly floor (see baseline.py)."""

    RATE = "rate"  # a share in [0, 1] of ``sample`` runs
    COUNT = "count"  # a number of events (Poisson-like)
    AMOUNT = "amount"  # a positive quantity: latency, tokens, dollars


@dataclass(frozen=True, slots=True)
class MetricInfo:
    label: str
    unit: str  # "", "ms", "tokens/h", "USD/h", "runs"
    kind: MetricKind
    #: scope kinds the metric accepts ("all" always)
    scopes: tuple[str, ...]


METRICS: dict[Metric, MetricInfo] = {
    Metric.FAILURE_RATE: MetricInfo("failure rate", "", MetricKind.RATE, ("agent", "workflow", "model", "tool")),
    Metric.FAILURE_COUNT: MetricInfo("failures", "runs", MetricKind.COUNT, ("agent", "workflow", "model", "tool")),
    Metric.TIMEOUT_RATE: MetricInfo("timeout rate", "", MetricKind.RATE, ("agent", "workflow", "model")),
    Metric.P95_LATENCY: MetricInfo("p95 latency", "ms", MetricKind.AMOUNT, ("agent", "workflow", "model", "tool")),
    Metric.EXECUTIONS: MetricInfo("runs", "runs", MetricKind.COUNT, ("agent", "workflow", "model", "tool", "api")),
    Metric.TOOL_ERROR_RATE: MetricInfo("tool error rate", "", MetricKind.RATE, ("tool",)),
    Metric.API_ERROR_RATE: MetricInfo("API error rate", "", MetricKind.RATE, ("api",)),
    Metric.MODEL_FAILURE_RATE: MetricInfo("model failure rate", "", MetricKind.RATE, ("model", "agent")),
    Metric.TOKENS_PER_HOUR: MetricInfo("tokens per hour", "tokens/h", MetricKind.AMOUNT, ("model", "agent")),
    Metric.COST_PER_HOUR: MetricInfo("cost per hour", "USD/h", MetricKind.AMOUNT, ("model", "agent")),
    Metric.STUCK_RUNS: MetricInfo("stuck runs", "runs", MetricKind.COUNT, ("agent", "tool")),
}


def subject_of(metric: Metric, scope_kind: str) -> Subject:
    """Which rows a rule's figure counts (see the module docstring)."""
    if metric is Metric.TOOL_ERROR_RATE:
        return Subject.TOOLS
    if metric is Metric.API_ERROR_RATE:
        return Subject.APIS
    if metric in (Metric.MODEL_FAILURE_RATE, Metric.TOKENS_PER_HOUR, Metric.COST_PER_HOUR):
        return Subject.MODELS
    return {"workflow": Subject.WORKFLOWS, "model": Subject.MODELS, "tool": Subject.TOOLS,
            "api": Subject.APIS}.get(scope_kind, Subject.EXECUTIONS)


@dataclass(frozen=True, slots=True)
class Scope:
    """``all``; one member (``agent:WebAgent``); or ``each agent`` (one alert per member)."""

    kind: ScopeKind = "all"
    name: str | None = None
    each: bool = False

    def __str__(self) -> str:
        if self.kind == "all":
            return "all"
        return f"each {self.kind}" if self.each else f"{self.kind}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> Scope:
        value = text.strip()
        if value.lower() == "all":
            return cls()
        if value.lower().startswith("each "):
            kind = value[5:].strip().lower()
            if kind not in SCOPE_KINDS:
                raise ValueError(f"unknown scope {text!r}; 'each' takes one of {', '.join(SCOPE_KINDS)}")
            return cls(kind, None, True)  # type: ignore[arg-type]
        kind, sep, name = value.partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in SCOPE_KINDS or not name.strip():
            raise ValueError(f"unknown scope {text!r}; write \"all\", \"each agent\" or \"agent:NAME\" "
                             f"(also tool, api, model, workflow)")
        return cls(kind, name.strip(), False)  # type: ignore[arg-type]


class When(StrEnum):
    ABOVE = "above"
    BELOW = "below"
    ANOMALOUS = "anomalous"


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"
    BOTH = "both"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")

#: Defaults of the optional keys.
DEFAULT_WINDOW_S = 3600
DEFAULT_COOLDOWN_S = 3600
DEFAULT_STUCK_AFTER_S = 1800
#: How far back stuck runs are looked for: older ones were left by a process that is gone.
DEFAULT_STUCK_LOOKBACK_S = 86_400
DEFAULT_SENSITIVITY = 4.0
DEFAULT_BASELINE_WEEKS = 4
MIN_WINDOW_S = 60
MAX_WINDOW_S = 7 * 86_400


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    metric: Metric
    scope: Scope = field(default_factory=Scope)
    window_s: int = DEFAULT_WINDOW_S
    when: When = When.ABOVE
    threshold: float | None = None  # above / below
    direction: Direction = Direction.UP  # anomalous
    #: band half-width in robust standard deviations (1.4826 × MAD) — anomalous only
    sensitivity: float = DEFAULT_SENSITIVITY
    baseline_weeks: int = DEFAULT_BASELINE_WEEKS
    #: fewest runs behind the figure for it to be judged (for "below"/"down": in the baseline)
    min_sample: int = 10
    cooldown_s: int = DEFAULT_COOLDOWN_S
    stuck_after_s: int = DEFAULT_STUCK_AFTER_S
    stuck_lookback_s: int = DEFAULT_STUCK_LOOKBACK_S
    severity: Severity = Severity.WARNING
    enabled: bool = True
    name: str = ""
    #: the line of its ``[[rule]]`` header in the file it came from (0: not from a file)
    line: int = 0

    @property
    def title(self) -> str:
        return self.name or self.id

    @property
    def subject(self) -> Subject:
        return subject_of(self.metric, self.scope.kind)

    def describe(self) -> str:
        """One line saying what the rule watches, e.g. "failure rate of each agent over
        1h is anomalous (up)"."""
        info = METRICS[self.metric]
        scope = {"all": "everything"}.get(str(self.scope), str(self.scope))
        if self.metric is Metric.STUCK_RUNS:
            what = f"{info.label} (in progress > {format_duration(self.stuck_after_s)}) of {scope}"
        else:
            what = f"{info.label} of {scope} over {format_duration(self.window_s)}"
        if self.when is When.ANOMALOUS:
            return f"{what} is anomalous ({self.direction})"
        return f"{what} is {self.when} {self.threshold:g}"


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """Why a rule (or the file) could not be used; ``line`` in the rules file when known."""

    message: str
    line: int | None = None
    rule_id: str | None = None
    source: str = ""

    def __str__(self) -> str:
        where = self.source or "rules"
        if self.line:
            where += f", line {self.line}"
        rule = f" (rule {self.rule_id!r})" if self.rule_id else ""
        return f"{where}{rule}: {self.message}; the rule is skipped"


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]
    problems: tuple[RuleProblem, ...] = ()
    source: str = ""

    @property
    def enabled(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def rules_path() -> Path:
    """The user's rules file (``alerts.toml`` in the config folder)."""
    return config_dir() / RULES_FILENAME


_KEYS = {"id", "name", "metric", "scope", "window", "when", "threshold", "direction", "sensitivity",
         "baseline_weeks", "min_sample", "cooldown", "stuck_after", "stuck_lookback", "severity", "enabled"}


def _choice(enum: type[StrEnum], key: str, value: Any) -> Any:
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        raise ValueError(f"{key} = {value!r} is not one of {', '.join(m.value for m in enum)}") from None


def _number(key: str, value: Any, *, minimum: float | None = None, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ValueError(f"{key} = {value!r} is not {'a whole number' if integer else 'a number'}")
    if value != value or (minimum is not None and value < minimum):
        raise ValueError(f"{key} = {value!r} must be at least {minimum:g}")
    return value


def _duration(key: str, value: Any, *, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        seconds = parse_duration(value)
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None
    if seconds < minimum or (maximum is not None and seconds > maximum):
        top = f" and at most {format_duration(maximum)}" if maximum else ""
        raise ValueError(f"{key} = {value!r} must be at least {format_duration(minimum)}{top}")
    return seconds


def rule_from_table(table: dict[str, Any], *, line: int = 0) -> Rule:
    """A :class:`Rule` from one ``[[rule]]`` table; ValueError names the key that is wrong."""
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; a rule takes {', '.join(sorted(_KEYS))}")
    rule_id = table.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        raise ValueError("id is missing or not a name of letters, digits, '-', '_' or '.' (at most 80)"
                         if rule_id is None or isinstance(rule_id, str) else f"id = {rule_id!r} is not text")
    if "metric" not in table:
        raise ValueError(f"metric is missing; one of {', '.join(m.value for m in Metric)}")
    metric = _choice(Metric, "metric", table["metric"])
    scope_text = table.get("scope", "all")
    if not isinstance(scope_text, str):
        raise ValueError(f"scope = {scope_text!r} is not text")
    scope = Scope.parse(scope_text)
    info = METRICS[metric]
    if scope.kind != "all" and scope.kind not in info.scopes:
        raise ValueError(f"{metric} cannot be scoped to {scope.kind}s; it takes all"
                         + "".join(f", {k}" for k in info.scopes))
    when = _choice(When, "when", table.get("when", "above"))
    threshold = table.get("threshold")
    if when is not When.ANOMALOUS:
        if threshold is None:
            raise ValueError(f"threshold is missing (when = \"{when}\" compares the figure with it)")
        threshold = float(_number("threshold", threshold))
        if info.kind is MetricKind.RATE and not 0 <= threshold <= 1:
            raise ValueError(f"threshold = {threshold:g} is a share between 0 and 1 for {metric} (0.2 = 20 %)")
    elif threshold is not None:
        raise ValueError("threshold is for when = \"above\" or \"below\"; an anomalous rule learns its band")
    if metric is Metric.STUCK_RUNS and when is When.ANOMALOUS:
        raise ValueError("stuck_runs takes when = \"above\" (e.g. threshold = 0)")
    kwargs: dict[str, Any] = {}
    if "window" in table:
        kwargs["window_s"] = _duration("window", table["window"], minimum=MIN_WINDOW_S, maximum=MAX_WINDOW_S)
    if "cooldown" in table:
        kwargs["cooldown_s"] = _duration("cooldown", table["cooldown"])
    if "stuck_after" in table:
        kwargs["stuck_after_s"] = _duration("stuck_after", table["stuck_after"], minimum=MIN_WINDOW_S)
    if "stuck_lookback" in table:
        kwargs["stuck_lookback_s"] = _duration("stuck_lookback", table["stuck_lookback"], minimum=3600,
                                               maximum=30 * 86_400)
    if "direction" in table:
        kwargs["direction"] = _choice(Direction, "direction", table["direction"])
    if "sensitivity" in table:
        kwargs["sensitivity"] = float(_number("sensitivity", table["sensitivity"], minimum=0.5))
    if "baseline_weeks" in table:
        kwargs["baseline_weeks"] = int(_number("baseline_weeks", table["baseline_weeks"], minimum=1, integer=True))
        if kwargs["baseline_weeks"] > 12:
            raise ValueError("baseline_weeks must be at most 12")
    if "min_sample" in table:
        kwargs["min_sample"] = int(_number("min_sample", table["min_sample"], minimum=0, integer=True))
    if "severity" in table:
        kwargs["severity"] = _choice(Severity, "severity", table["severity"])
    if "enabled" in table:
        if not isinstance(table["enabled"], bool):
            raise ValueError(f"enabled = {table['enabled']!r} is not true or false")
        kwargs["enabled"] = table["enabled"]
    if "name" in table:
        if not isinstance(table["name"], str):
            raise ValueError(f"name = {table['name']!r} is not text")
        kwargs["name"] = table["name"].strip()
    return Rule(id=rule_id, metric=metric, scope=scope, when=when, threshold=threshold, line=line, **kwargs)


_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]\s*(#.*)?$")
_TABLE = re.compile(r"^\s*\[")


def rule_blocks(text: str) -> tuple[str, list[tuple[int, str]]]:
    """The file's preamble and each ``[[rule]]`` block with its header's line number."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    preamble = "".join(lines[: starts[0]] if starts else lines)
    chunks = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        chunks.append((start + 1, "".join(lines[start:end])))
    return preamble, chunks


def _syntax_problem(e: tomllib.TOMLDecodeError, offset: int, source: str) -> RuleProblem:
    message = str(e)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    line = None
    if match:
        line = int(match.group(1)) + offset
        message = message[: match.start()].strip() + f" (column {match.group(2)})"
    return RuleProblem(f"TOML syntax: {message}", line, None, source)


def parse_rules(text: str, source: str = "") -> RuleSet:
    """Every usable rule of ``text`` and a problem for each one that is not."""
    preamble, chunks = rule_blocks(text)
    problems: list[RuleProblem] = []
    try:
        tomllib.loads(preamble)
    except tomllib.TOMLDecodeError as e:
        problems.append(_syntax_problem(e, 0, source))
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for line, chunk in chunks:
        rule_id = guess_rule_id(chunk)
        try:
            doc = tomllib.loads(chunk)
        except tomllib.TOMLDecodeError as e:
            problem = _syntax_problem(e, line - 1, source)
            problems.append(replace(problem, rule_id=rule_id))
            continue
        tables = doc.get("rule", [])
        extra = sorted(set(doc) - {"rule"})
        if extra or len(tables) != 1:
            problems.append(RuleProblem(f"unexpected table {extra[0]!r} inside a rule" if extra else
                                        "a rule must be one [[rule]] table", line, rule_id, source))
            continue
        try:
            rule = rule_from_table(tables[0], line=line)
        except ValueError as e:
            problems.append(RuleProblem(str(e), line, rule_id, source))
            continue
        if rule.id in seen:
            problems.append(RuleProblem(f"id {rule.id!r} is already used by the rule on line {seen[rule.id]}",
                                        line, rule.id, source))
            continue
        seen[rule.id] = line
        rules.append(rule)
    if not chunks and not problems and text.strip():
        stray = [k for k in tomllib.loads(text) if k != "rule"]
        if stray:
            problems.append(RuleProblem(f"no [[rule]] tables; found {stray[0]!r}", None, None, source))
    return RuleSet(tuple(rules), tuple(problems), source)


def guess_rule_id(chunk: str) -> str | None:
    match = re.search(r"^\s*id\s*=\s*[\"']([^\"'\n]*)[\"']", chunk, re.MULTILINE)
    return match.group(1) if match else None


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules in ``path`` (default: the user's file); the shipped defaults when the
    file does not exist. An unreadable file is a problem, not an exception."""
    file = rules_path() if path is None else path
    if not file.exists():
        return replace(default_rules(), source="default rules (no rules file yet)")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return RuleSet((), (RuleProblem(f"cannot read the file: {e}", None, None, str(file)),), str(file))
    return parse_rules(text, str(file))


DEFAULT_RULES_TEXT = '''\
# studio-analytics alert rules. Each [[rule]] is read on its own: a rule with a mistake
# is skipped (the window and `studio-analytics alerts check` say which line) and the
# others still run. Keys: see `studio-analytics alerts --help` and the README.

[[rule]]
id = "agent-failure-spike"
name = "An agent fails far more often than usual"
metric = "failure_rate"
scope = "each agent"
window = "30m"
when = "anomalous"
direction = "up"
min_sample = 8
cooldown = "2h"
severity = "critical"

[[rule]]
id = "failure-rate-high"
name = "More than a third of all runs fail"
metric = "failure_rate"
scope = "all"
window = "30m"
when = "above"
threshold = 0.34
min_sample = 20
cooldown = "2h"
severity = "critical"

[[rule]]
id = "tool-outage"
name = "A tool fails far more often than usual"
metric = "tool_error_rate"
scope = "each tool"
window = "30m"
when = "anomalous"
direction = "up"
sensitivity = 5
min_sample = 8
cooldown = "2h"
severity = "critical"

[[rule]]
id = "model-errors"
name = "A model's calls fail far more often than usual (rate limits, outages)"
metric = "model_failure_rate"
scope = "each model"
window = "30m"
when = "anomalous"
direction = "up"
sensitivity = 5
min_sample = 8
cooldown = "2h"
severity = "warning"

[[rule]]
id = "traffic-drop"
name = "Runs stopped coming in"
metric = "executions"
scope = "all"
window = "15m"
when = "anomalous"
direction = "down"
# runs come in sessions, so counts vary more than by chance alone: a wider band
sensitivity = 6
min_sample = 20
cooldown = "2h"
severity = "critical"

[[rule]]
id = "latency-spike"
name = "An agent is far slower than usual (p95)"
metric = "p95_latency"
scope = "each agent"
window = "1h"
when = "anomalous"
direction = "up"
min_sample = 20
cooldown = "3h"
severity = "warning"

[[rule]]
id = "cost-spike"
name = "Spending per hour is far above usual"
metric = "cost_per_hour"
scope = "all"
window = "1h"
when = "anomalous"
direction = "up"
# spending follows a few long conversations: only a large jump is worth a message
sensitivity = 8
min_sample = 20
cooldown = "3h"
severity = "warning"

[[rule]]
id = "stuck-runs"
name = "Runs still in progress after 30 minutes"
metric = "stuck_runs"
scope = "all"
stuck_after = "30m"
when = "above"
threshold = 0
min_sample = 0
cooldown = "6h"
severity = "warning"
'''


def default_rules() -> RuleSet:
    return parse_rules(DEFAULT_RULES_TEXT, "default rules")


def rule_to_toml(rule: Rule) -> str:
    """The ``[[rule]]`` table for ``rule`` (only keys that differ from the defaults)."""
    out = ["[[rule]]", f"id = {_quote(rule.id)}"]
    if rule.name:
        out.append(f"name = {_quote(rule.name)}")
    out += [f"metric = {_quote(rule.metric.value)}", f"scope = {_quote(str(rule.scope))}"]
    if rule.metric is Metric.STUCK_RUNS:
        out.append(f"stuck_after = {_quote(format_duration(rule.stuck_after_s))}")
        if rule.stuck_lookback_s != DEFAULT_STUCK_LOOKBACK_S:
            out.append(f"stuck_lookback = {_quote(format_duration(rule.stuck_lookback_s))}")
    else:
        out.append(f"window = {_quote(format_duration(rule.window_s))}")
    out.append(f"when = {_quote(rule.when.value)}")
    if rule.when is When.ANOMALOUS:
        out.append(f"direction = {_quote(rule.direction.value)}")
        if rule.sensitivity != DEFAULT_SENSITIVITY:
            out.append(f"sensitivity = {rule.sensitivity:g}")
        if rule.baseline_weeks != DEFAULT_BASELINE_WEEKS:
            out.append(f"baseline_weeks = {rule.baseline_weeks}")
    else:
        out.append(f"threshold = {rule.threshold!r}")
    out += [f"min_sample = {rule.min_sample}", f"cooldown = {_quote(format_duration(rule.cooldown_s))}",
            f"severity = {_quote(rule.severity.value)}"]
    if not rule.enabled:
        out.append("enabled = false")
    return "\n".join(out) + "\n"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def rules_to_toml(rules: Iterable[Rule], header: str = "") -> str:
    return header + "\n".join(rule_to_toml(r) for r in rules)
