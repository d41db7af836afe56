"""Frozen result types of the analytics layer: what crosses from workers to the GUI.

Every field is a plain value (str, int, float, datetime, tuple, or numpy array for
long series); nothing here refers to SQLAlchemy. Rates are fractions in [0, 1];
durations are milliseconds; times are timezone-aware UTC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # their modules import this one
    from studio_analytics.analytics.heatmap import UsageHeatmap
    from studio_analytics.analytics.users import UserActivity


class Bucket(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Half-open interval [start, end) in UTC, with the bucket size for series."""

    start: datetime
    end: datetime
    bucket: Bucket
    label: str = ""  # "24h", "7d", "30d", or "custom"


@dataclass(frozen=True, slots=True)
class KpiValue:
    value: float | None
    previous: float | None  # same metric over the previous period of equal length

    @property
    def change(self) -> float | None:
        """Relative change against the previous period (0.1 == +10 %)."""
        if self.value is None or self.previous in (None, 0):
            return None
        return (self.value - self.previous) / abs(self.previous)  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class SummaryKpis:
    active_sessions: KpiValue
    queries_per_hour: KpiValue
    avg_response_time_ms: KpiValue
    success_rate: KpiValue
    total_executions: int
    total_failures: int
    #: executions of the previous period: below MIN_RUNS_TO_COMPARE the changes are noise
    previous_executions: int = 0
    #: USD of the priced model calls in the range (and the previous period); None on a
    #: database without model calls. Unpriced calls are never counted as $0: see
    #: ``unpriced_calls``.
    cost_usd: KpiValue | None = None
    #: model calls of the range whose cost is unknown (no price, or no token count)
    unpriced_calls: int = 0


@dataclass(frozen=True, slots=True)
class AgentUsageRow:
    agent_name: str
    executions: int
    successes: int
    failures: int
    timeouts: int
    success_rate: float | None
    avg_duration_ms: float | None
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    p99_duration_ms: float | None
    total_tool_calls: int
    total_tokens: int
    last_used: datetime | None
    #: from the agent's model calls (None on a database without model calls)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None  # priced calls only; None when none is priced
    unpriced_calls: int = 0
    #: the percentiles come from the rollups' latency histograms (within ±4.4 %)
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class AgentUsage:
    rows: tuple[AgentUsageRow, ...]  # sorted by executions desc unless asked otherwise
    total_executions: int
    #: agents in the range, whatever the limit on ``rows``
    total_rows: int = 0


@dataclass(frozen=True, slots=True)
class ToolUsageRow:
    tool_name: str
    calls: int
    successes: int
    failures: int
    success_rate: float | None
    avg_duration_ms: float | None
    p95_duration_ms: float | None
    external_apis: tuple[str, ...]
    api_calls: int
    api_error_rate: float | None  # share of API calls with status >= 400 or failed
    top_agents: tuple[tuple[str, int], ...]  # (agent_name, calls), at most 3
    last_used: datetime | None
    #: the percentile comes from the rollups' latency histograms (within ±4.4 %)
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class ToolUsage:
    rows: tuple[ToolUsageRow, ...]
    total_calls: int
    #: tools in the range, whatever the limit on ``rows``
    total_rows: int = 0


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    bucket_start: datetime
    value: float


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """Aligned series over the same buckets (numpy arrays of equal length).

    ``bucket_starts`` are POSIX seconds (UTC) as float64 so pyqtgraph's DateAxisItem
    can use them directly. Empty buckets are present with 0 counts and NaN latency.
    """

    bucket: Bucket
    bucket_starts: Any  # np.ndarray[float64]
    executions: Any  # np.ndarray[int64]
    failures: Any  # np.ndarray[int64] (failures + timeouts)
    timeouts: Any  # np.ndarray[int64]
    p95_duration_ms: Any  # np.ndarray[float64], NaN where no data
    avg_duration_ms: Any  # np.ndarray[float64], NaN where no data


@dataclass(frozen=True, slots=True)
class WorkflowPerformanceRow:
    workflow_type: str
    runs: int
    successes: int
    success_rate: float | None
    avg_duration_ms: float | None
    p95_duration_ms: float | None
    avg_agent_count: float | None
    total_tool_calls: int
    total_api_calls: int
    total_tokens: int
    avg_satisfaction: float | None
    avg_completion_rate: float | None
    #: how many of the runs have a satisfaction score / a completion rate (the means' base)
    satisfaction_count: int = 0
    completion_count: int = 0
    #: p95 read from the hourly histograms (within their bound), not from raw rows
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class WorkflowPerformance:
    rows: tuple[WorkflowPerformanceRow, ...]
    #: per workflow type: an analytics.workflows.WorkflowTrend (bucket_starts, runs,
    #: avg_duration_ms, p95_duration_ms, success_rate numpy arrays)
    trends: dict[str, tuple[Any, Any, Any]] = field(default_factory=dict)
    #: workflow types in the range, whatever the limit on ``rows``
    total_rows: int = 0


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    signature: str  # normalised message (numbers, ids, quoted values folded)
    example: str  # one real message of the group
    count: int
    share: float  # of all failures+timeouts in range
    first_seen: datetime
    last_seen: datetime
    top_agent: str | None
    top_tool: str | None
    status: str  # "failure" or "timeout"


@dataclass(frozen=True, slots=True)
class ErrorAnalysis:
    total_failures: int
    total_timeouts: int
    error_rate: float | None
    series: TimeSeries
    groups: tuple[ErrorGroup, ...]


@dataclass(frozen=True, slots=True)
class SessionRow:
    session_id: str
    user_id: str | None
    start_time: datetime
    end_time: datetime | None
    duration_ms: float | None
    total_queries: int
    successful_queries: int
    failed_queries: int
    unique_agents_count: int
    average_response_time_ms: float | None
    total_tokens_used: int
    is_active: bool
    row_id: int | None = None  # the keyset tie-breaker: where the next page starts
    cost_usd: float | None = None  # of the session's priced model calls
    unpriced_calls: int = 0


@dataclass(frozen=True, slots=True)
class SessionActivity:
    active_sessions: int
    total_sessions: int
    avg_duration_ms: float | None
    avg_queries_per_session: float | None
    success_rate: float | None
    top_users: tuple[tuple[str, int], ...]  # (user_id, sessions)
    bucket_starts: Any  # np.ndarray[float64] POSIX seconds
    sessions_started: Any  # np.ndarray[int64]
    recent: tuple[SessionRow, ...]  # newest first, limited


@dataclass(frozen=True, slots=True)
class ToolCall:
    usage_id: uuid.UUID
    tool_name: str
    start_time: datetime
    end_time: datetime | None
    duration_ms: float | None
    status: str
    error_message: str | None
    external_api_called: str | None
    api_response_time_ms: float | None
    api_status_code: int | None
    input_data: Any
    output_data: Any


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    """One execution as listed (no large text fields)."""

    execution_id: uuid.UUID
    agent_name: str
    start_time: datetime
    duration_ms: float | None
    status: str  # normalised: success/failure/timeout/in_progress
    tool_count: int
    tokens_used: int | None
    session_id: str | None
    user_id: str | None
    error_message: str | None  # first 200 characters
    row_id: int | None = None  # the keyset tie-breaker: where a live list resumes
    #: from the execution's own model calls (None: no model calls, or no such table)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    unpriced_calls: int = 0
    # Issue 16, the Executions list's optional columns (filled by list_executions only).
    query_preview: str | None = None  # the query's first 120 characters
    correlation_id: str | None = None  # e.g. the workflow's id
    workflow_type: str | None = None  # the workflow whose id is the correlation id
    model: str | None = None  # a model it called (the first by name)
    model_count: int = 0  # how many different models it called


@dataclass(frozen=True, slots=True)
class ExecutionDetail:
    execution_id: uuid.UUID
    agent_id: str | None
    agent_name: str
    start_time: datetime
    end_time: datetime | None
    duration_ms: float | None
    status: str
    raw_status: str
    query: str | None
    response: str | None
    error_message: str | None
    tools_called: Any
    tool_count: int
    retry_count: int
    session_id: str | None
    user_id: str | None
    correlation_id: str | None
    tokens_used: int | None
    api_calls_count: int
    tool_calls: tuple[ToolCall, ...]  # ordered by start_time
    workflow_id: uuid.UUID | None = None
    workflow_type: str | None = None
    session: SessionRow | None = None
    #: every span below the execution at any depth, the execution itself first, then
    #: depth first with siblings by start time (see analytics.trace)
    spans: tuple[TraceSpan, ...] = ()
    spans_truncated: bool = False
    parent_id: uuid.UUID | None = None
    trace_id: uuid.UUID | None = None
    cost_usd: float | None = None  # of the execution's own model calls
    unpriced_calls: int = 0


@dataclass(frozen=True, slots=True)
class TraceSpan:
    """One span of an execution's tree: the execution, a sub-agent's execution, a tool
    call or a model call. ``depth`` 0 is the execution the tree was opened on."""

    span_id: uuid.UUID
    parent_id: uuid.UUID | None
    kind: str  # "execution", "tool" or "model"
    name: str  # agent name, tool name, or model
    start_time: datetime
    end_time: datetime | None
    duration_ms: float | None
    status: str  # normalised
    error_message: str | None
    depth: int
    input: Any = None  # query, input_data or request
    output: Any = None  # response, output_data or response
    tokens_used: int | None = None  # executions
    input_tokens: int | None = None  # model calls
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    time_to_first_token_ms: float | None = None
    cost_usd: float | None = None
    cost_source: str | None = None
    provider: str | None = None
    operation: str | None = None
    external_api_called: str | None = None  # tools
    api_status_code: int | None = None
    api_response_time_ms: float | None = None


@dataclass(frozen=True, slots=True)
class SessionDetail:
    session: SessionRow
    user_agent: str | None
    ip_address: str | None
    agents_used: tuple[str, ...]
    executions: tuple[ExecutionRow, ...]  # ordered by start_time, limited
    executions_truncated: bool


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    agent_name: str | None = None
    tool_name: str | None = None
    status: str | None = None  # normalised status
    session_id: str | None = None
    user_id: str | None = None
    text: str | None = None  # substring of query or error_message
    error_signature: str | None = None  # an ErrorGroup.signature
    correlation_id: str | None = None  # e.g. a workflow id: the workflow's executions
    # Issue 16 (Executions list): agent, tool, user and model match case-insensitive substrings.
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    min_tokens: int | None = None  # tokens_used at least
    min_cost_usd: float | None = None  # the execution's own model calls cost at least
    model: str | None = None  # made a call to a model whose name contains this
    workflow: str | None = None  # a workflow id, or part of a workflow type
    has_error: bool | None = None  # True: with an error message; False: without
    started_after: datetime | None = None  # a brushed span, inside the range
    started_before: datetime | None = None
    #: agent, tool, user, model and workflow are whole names (case-insensitive), not
    #: parts: a drill-down from a row means that agent, not every agent containing it
    exact: bool = False


#: The ExecutionFilter fields ``exact`` makes whole names.
NAME_FIELDS = ("agent_name", "tool_name", "user_id", "model", "workflow")


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Keyset position: the sort value and execution id of the last row seen."""

    sort_value: Any
    row_id: int


@dataclass(frozen=True, slots=True)
class ExecutionPage:
    rows: tuple[ExecutionRow, ...]
    next_cursor: PageCursor | None  # None when this is the last page


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    dialect: str
    url: str  # password masked
    schema_kind: str
    schema_revision: str | None
    row_counts: dict[str, int]
    database_size_bytes: int | None
    newest_row_time: datetime | None
    message: str = ""
    hint: str = ""
    #: the range ``row_counts`` cover; None: whole tables
    counts_range: TimeRange | None = None


@dataclass(frozen=True, slots=True)
class CostTotals:
    """Model calls of a range: what is known of their cost, and what is not."""

    calls: int
    failures: int  # failed or timed out
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    cost_usd: float  # of the priced calls
    priced_calls: int
    unpriced_calls: int
    unpriced_input_tokens: int
    unpriced_output_tokens: int


@dataclass(frozen=True, slots=True)
class ModelUsageRow:
    model: str
    providers: tuple[str, ...]
    calls: int
    failures: int  # failed or timed out
    failure_rate: float | None
    avg_duration_ms: float | None
    p50_duration_ms: float | None
    p95_duration_ms: float | None
    avg_ttft_ms: float | None
    p50_ttft_ms: float | None
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    cost_usd: float | None  # None when none of its calls is priced
    cost_per_1k_calls: float | None  # over the priced calls
    unpriced_calls: int
    unpriced_input_tokens: int
    unpriced_output_tokens: int
    #: the model has a price in the current price table
    priced: bool
    last_used: datetime | None
    #: the percentiles come from the rollups' latency histograms (within ±4.4 %)
    approximate: bool = False


@dataclass(frozen=True, slots=True)
class CostSeries:
    """Cost and tokens per bucket. ``by_model`` / ``by_agent``: cost per bucket of the
    largest spenders (numpy float64 arrays), the rest summed as "other"."""

    bucket: Bucket
    bucket_starts: Any  # np.ndarray[float64] POSIX seconds
    by_model: dict[str, Any]
    by_agent: dict[str, Any]
    input_tokens: Any  # np.ndarray[int64]
    output_tokens: Any  # np.ndarray[int64]
    calls: Any  # np.ndarray[int64]
    unpriced_calls: Any  # np.ndarray[int64]


@dataclass(frozen=True, slots=True)
class ModelUsage:
    rows: tuple[ModelUsageRow, ...]
    totals: CostTotals
    series: CostSeries | None = None
    #: models in the range, whatever the limit on ``rows``
    total_rows: int = 0


@dataclass(frozen=True, slots=True)
class CostBreakdownRow:
    key: str  # the model, agent, user, session or day (ISO date)
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None when none of its calls is priced
    unpriced_calls: int


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    by: str  # "model", "agent", "user", "session" or "day"
    rows: tuple[CostBreakdownRow, ...]
    totals: CostTotals
    total_rows: int = 0


@dataclass(frozen=True, slots=True)
class DashboardSnapshot:
    """Everything one refresh of the window shows, from one worker run."""

    generation: int
    time_range: TimeRange
    taken_at: datetime
    query_ms: float
    kpis: SummaryKpis
    #: None when the visible tab does not show them (the overview shows all three; the
    #: Agents and Tools tabs their own)
    series: TimeSeries | None
    agents: AgentUsage | None
    tools: ToolUsage | None
    workflows: WorkflowPerformance | None = None
    errors: ErrorAnalysis | None = None
    sessions: SessionActivity | None = None
    health: Health | None = None
    models: ModelUsage | None = None
    #: the Users tab's table and all users' heatmap (None unless that tab is shown)
    users: UserActivity | None = None
    heatmap: UsageHeatmap | None = None


@dataclass(frozen=True, slots=True)
class ExecutionCount:
    """How many executions the range holds and how many match the filters.

    ``matching`` is exact unless ``capped``: then at least ``matching`` rows match
    (a filtered count stops early so it answers in bounded time)."""

    range_total: int
    matching: int
    capped: bool = False


@dataclass(frozen=True, slots=True)
class SessionPage:
    rows: tuple[SessionRow, ...]
    next_cursor: PageCursor | None  # None when this is the last page
