"""Where each kind of run is counted: its raw table and the hourly rollup that sums it,
with the same sums under the same names on both sides.

Every source yields, per member (agent, tool, API, model or workflow type):

- ``n``: runs started, ``finished``: of those, finished (success, failure or timeout),
- ``errors``: finished but not successful (failures and timeouts),
- ``timeouts``, ``api_errors`` (API answered >= 400 or the call failed), ``tokens``
  (input + output; model calls), ``cost`` (USD of the priced model calls).

Raw rows and rollups agree by construction: the rollups are built from the same status
vocabulary (:mod:`studio_analytics.db.models`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, literal, true
from sqlalchemy.sql.elements import ColumnElement

from studio_analytics.alerts.rules import Rule, Subject
from studio_analytics.analytics.sql import is_failure, is_finished, is_success, is_timeout
from studio_analytics.db.models import (
    FAILURE_VALUES,
    AgentExecutionMetrics,
    ModelCallMetrics,
    ToolUsageMetrics,
    WorkflowMetrics,
)
from studio_analytics.db.rollup_models import (
    AgentHourlyRollup,
    AgentLatencyDailyRollup,
    AgentLatencyRollup,
    ModelAgentHourlyRollup,
    ModelHourlyRollup,
    ModelLatencyDailyRollup,
    ModelLatencyRollup,
    ToolHourlyRollup,
    ToolLatencyDailyRollup,
    ToolLatencyRollup,
    WorkflowHourlyRollup,
    WorkflowLatencyDailyRollup,
    WorkflowLatencyRollup,
)

SUMS = ("n", "finished", "errors", "timeouts", "api_errors", "tokens", "cost")
_ZERO = literal(0)


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    raw: Any  # the raw table's mapped class
    raw_member: Any
    raw_filter: ColumnElement[bool]
    raw_sums: dict[str, Any]  # per-row expressions, summed
    rollup: Any  # the hourly rollup's mapped class
    rollup_member: Any
    rollup_filter: ColumnElement[bool]
    rollup_sums: dict[str, Any]  # rollup columns (expressions), summed
    #: latency histograms (hourly, daily) and their name column, or None
    histograms: tuple[Any, Any, str] | None
    needs_model_calls: bool = False

    @property
    def raw_time(self) -> Any:
        return self.raw.start_time


def _coalesce(column: Any) -> Any:
    return func.coalesce(column, 0)


def _status_sums(status: Any) -> dict[str, Any]:
    return {"n": literal(1), "finished": is_finished(status),
            "errors": is_finished(status) - is_success(status), "timeouts": is_timeout(status)}


_E, _T, _W, _M = AgentExecutionMetrics, ToolUsageMetrics, WorkflowMetrics, ModelCallMetrics

EXECUTIONS = Source(
    "executions", _E, _E.agent_name, true(),
    {**_status_sums(_E.status), "api_errors": _ZERO, "tokens": _coalesce(_E.tokens_used), "cost": _ZERO},
    AgentHourlyRollup, AgentHourlyRollup.agent_name, true(),
    {"n": AgentHourlyRollup.executions, "finished": AgentHourlyRollup.finished,
     "errors": AgentHourlyRollup.finished - AgentHourlyRollup.successes, "timeouts": AgentHourlyRollup.timeouts,
     "api_errors": _ZERO, "tokens": AgentHourlyRollup.tokens, "cost": _ZERO},
    (AgentLatencyRollup, AgentLatencyDailyRollup, "agent_name"),
)

WORKFLOWS = Source(
    "workflows", _W, _W.workflow_type, true(),
    {**_status_sums(_W.status), "api_errors": _ZERO, "tokens": _coalesce(_W.total_tokens_used), "cost": _ZERO},
    WorkflowHourlyRollup, WorkflowHourlyRollup.workflow_type, true(),
    {"n": WorkflowHourlyRollup.runs, "finished": WorkflowHourlyRollup.finished,
     "errors": WorkflowHourlyRollup.finished - WorkflowHourlyRollup.successes,
     "timeouts": WorkflowHourlyRollup.timeouts, "api_errors": _ZERO, "tokens": WorkflowHourlyRollup.tokens,
     "cost": _ZERO},
    (WorkflowLatencyRollup, WorkflowLatencyDailyRollup, "workflow_type"),
)

_api_error = case((_T.external_api_called.isnot(None) & ((_T.api_status_code >= 400) | _T.status.in_(FAILURE_VALUES)),
                   1), else_=0)
_TH = ToolHourlyRollup
_tool_rollup_sums = {
    "n": _TH.calls, "finished": _TH.finished, "errors": _TH.finished - _TH.successes,
    "timeouts": _TH.finished - _TH.successes - _TH.failures, "api_errors": _TH.api_errors,
    "tokens": _ZERO, "cost": _ZERO,
}
_tool_raw_sums = {**_status_sums(_T.status), "api_errors": _api_error, "tokens": _ZERO, "cost": _ZERO}

TOOLS = Source(
    "tools", _T, _T.tool_name, true(), _tool_raw_sums,
    _TH, _TH.tool_name, true(), _tool_rollup_sums,
    (ToolLatencyRollup, ToolLatencyDailyRollup, "tool_name"),
)

APIS = Source(
    "apis", _T, _T.external_api_called, _T.external_api_called.isnot(None), _tool_raw_sums,
    _TH, _TH.api, _TH.api != "", _tool_rollup_sums, None,
)

_MH, _MA = ModelHourlyRollup, ModelAgentHourlyRollup
_model_raw_sums = {**_status_sums(_M.status), "api_errors": _ZERO,
                   "tokens": _coalesce(_M.input_tokens) + _coalesce(_M.output_tokens), "cost": _coalesce(_M.cost_usd)}

MODELS = Source(
    "models", _M, _M.model, true(), _model_raw_sums,
    _MH, _MH.model, true(),
    {"n": _MH.calls, "finished": _MH.finished, "errors": _MH.finished - _MH.successes, "timeouts": _MH.timeouts,
     "api_errors": _ZERO, "tokens": _MH.input_tokens + _MH.output_tokens, "cost": _MH.cost_usd},
    (ModelLatencyRollup, ModelLatencyDailyRollup, "model"),
    needs_model_calls=True,
)

#: Model calls per calling agent ('' outside any execution). The per-agent rollup keeps
#: no "finished" count, so here every call counts as finished and ``errors`` are the
#: failed and timed-out calls — the same on raw rows.
MODELS_BY_AGENT = Source(
    "models-by-agent", _M, func.coalesce(_M.agent_name, ""), true(),
    {"n": literal(1), "finished": literal(1), "errors": is_failure(_M.status) + is_timeout(_M.status),
     "timeouts": _ZERO, "api_errors": _ZERO,
     "tokens": _coalesce(_M.input_tokens) + _coalesce(_M.output_tokens), "cost": _coalesce(_M.cost_usd)},
    _MA, _MA.agent_name, true(),
    {"n": _MA.calls, "finished": _MA.calls, "errors": _MA.failures, "timeouts": _ZERO, "api_errors": _ZERO,
     "tokens": _MA.input_tokens + _MA.output_tokens, "cost": _MA.cost_usd},
    None, needs_model_calls=True,
)

_BY_SUBJECT = {Subject.EXECUTIONS: EXECUTIONS, Subject.WORKFLOWS: WORKFLOWS, Subject.TOOLS: TOOLS,
               Subject.APIS: APIS, Subject.MODELS: MODELS}


def source_for(rule: Rule) -> Source:
    """The rows a rule's figure is counted from."""
    if rule.subject is Subject.MODELS and rule.scope.kind == "agent":
        return MODELS_BY_AGENT
    return _BY_SUBJECT[rule.subject]
