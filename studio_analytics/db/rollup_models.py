"""Hourly rollup tables: what the dashboard reads instead of millions of raw rows.

Each ``*_hourly`` row holds counts and sums for one UTC hour (``hour`` = the hour's
start in POSIX seconds) and one agent, tool (and external API) or workflow type; each
``*_latency`` row holds one bucket of a log-scaled latency histogram for the same key
(see :mod:`studio_analytics.db.rollups` for the bucket scale and its error bound).
``*_latency_daily`` hold the same histograms per UTC day (``day`` = its start), and
``rollup_execution_latency`` all agents' histogram per hour. Revision 0004 adds the
figures that need more than a sum per name: sessions and users (distinct counts, per-user
latency and cost) and error groups.

The tracker's writer adds each batch's new rows in the batch's own transaction;
``studio-analytics db rebuild-rollups`` recomputes them from the raw rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from studio_analytics.db.base import Base

# WITHOUT ROWID: the table *is* its primary-key b-tree, so range scans by hour read
# one structure (SQLite only; PostgreSQL ignores the option).
_CLUSTERED = {"sqlite_with_rowid": False}


def _count() -> Mapped[int]:
    return mapped_column(BigInteger, default=0)


class _Histogram:
    """The bucket columns every latency histogram table shares (after its period and key)."""

    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class AgentHourlyRollup(Base):
    __tablename__ = "rollup_agent_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    agent_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    executions: Mapped[int] = _count()
    successes: Mapped[int] = _count()
    failures: Mapped[int] = _count()
    timeouts: Mapped[int] = _count()
    finished: Mapped[int] = _count()
    duration_count: Mapped[int] = _count()
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    tool_calls: Mapped[int] = _count()
    tokens: Mapped[int] = _count()
    api_calls: Mapped[int] = _count()
    last_start: Mapped[datetime]


class AgentLatencyRollup(_Histogram, Base):
    __tablename__ = "rollup_agent_latency"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    agent_name: Mapped[str] = mapped_column(String(255), primary_key=True)


class ToolHourlyRollup(Base):
    __tablename__ = "rollup_tool_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tool_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: the external API called, '' for none (a key column cannot be NULL)
    api: Mapped[str] = mapped_column(String(255), primary_key=True)
    calls: Mapped[int] = _count()
    successes: Mapped[int] = _count()
    failures: Mapped[int] = _count()
    finished: Mapped[int] = _count()
    duration_count: Mapped[int] = _count()
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    api_errors: Mapped[int] = _count()
    last_start: Mapped[datetime]


class ToolAgentHourlyRollup(Base):
    """Calls per tool and calling agent ('' when the tool ran outside any execution)."""

    __tablename__ = "rollup_tool_agent_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tool_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    agent_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    calls: Mapped[int] = _count()


class ToolLatencyRollup(_Histogram, Base):
    __tablename__ = "rollup_tool_latency"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tool_name: Mapped[str] = mapped_column(String(255), primary_key=True)


class WorkflowHourlyRollup(Base):
    __tablename__ = "rollup_workflow_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    workflow_type: Mapped[str] = mapped_column(String(255), primary_key=True)
    runs: Mapped[int] = _count()
    successes: Mapped[int] = _count()
    failures: Mapped[int] = _count()
    timeouts: Mapped[int] = _count()
    finished: Mapped[int] = _count()
    duration_count: Mapped[int] = _count()
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    agent_count_sum: Mapped[int] = _count()
    tool_calls: Mapped[int] = _count()
    api_calls: Mapped[int] = _count()
    tokens: Mapped[int] = _count()
    satisfaction_count: Mapped[int] = _count()
    satisfaction_sum: Mapped[float] = mapped_column(Float, default=0.0)
    completion_count: Mapped[int] = _count()
    completion_sum: Mapped[float] = mapped_column(Float, default=0.0)
    last_start: Mapped[datetime]


class WorkflowLatencyRollup(_Histogram, Base):
    __tablename__ = "rollup_workflow_latency"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    workflow_type: Mapped[str] = mapped_column(String(255), primary_key=True)


class AgentLatencyDailyRollup(_Histogram, Base):
    """The same histograms per UTC day: a week's percentiles read ~24x fewer rows."""

    __tablename__ = "rollup_agent_latency_daily"
    __table_args__ = _CLUSTERED

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    agent_name: Mapped[str] = mapped_column(String(255), primary_key=True)


class ToolLatencyDailyRollup(_Histogram, Base):
    __tablename__ = "rollup_tool_latency_daily"
    __table_args__ = _CLUSTERED

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tool_name: Mapped[str] = mapped_column(String(255), primary_key=True)


class WorkflowLatencyDailyRollup(_Histogram, Base):
    __tablename__ = "rollup_workflow_latency_daily"
    __table_args__ = _CLUSTERED

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    workflow_type: Mapped[str] = mapped_column(String(255), primary_key=True)


class ExecutionLatencyRollup(_Histogram, Base):
    """All agents together per hour: the overview's p95 line reads this, not 12x more rows."""

    __tablename__ = "rollup_execution_latency"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class ModelHourlyRollup(Base):
    """Model calls per hour, model and provider ('' when none was given) (0003).

    ``cost_usd`` sums the priced calls only; ``unpriced_*`` count the calls whose cost
    is unknown (no price for the model, or no token count), so nothing unknown is ever
    shown as $0."""

    __tablename__ = "rollup_model_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(255), primary_key=True)
    calls: Mapped[int] = _count()
    successes: Mapped[int] = _count()
    failures: Mapped[int] = _count()
    timeouts: Mapped[int] = _count()
    finished: Mapped[int] = _count()
    duration_count: Mapped[int] = _count()
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_count: Mapped[int] = _count()
    ttft_sum: Mapped[float] = mapped_column(Float, default=0.0)
    input_tokens: Mapped[int] = _count()
    output_tokens: Mapped[int] = _count()
    cached_input_tokens: Mapped[int] = _count()
    reasoning_tokens: Mapped[int] = _count()
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    unpriced_calls: Mapped[int] = _count()
    unpriced_input_tokens: Mapped[int] = _count()
    unpriced_output_tokens: Mapped[int] = _count()
    last_start: Mapped[datetime]


class ModelAgentHourlyRollup(Base):
    """Model calls per hour, model and calling agent ('' outside any execution) (0003)."""

    __tablename__ = "rollup_model_agent_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    agent_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    calls: Mapped[int] = _count()
    failures: Mapped[int] = _count()
    duration_count: Mapped[int] = _count()
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    input_tokens: Mapped[int] = _count()
    output_tokens: Mapped[int] = _count()
    cached_input_tokens: Mapped[int] = _count()
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    unpriced_calls: Mapped[int] = _count()


class ModelLatencyRollup(_Histogram, Base):
    __tablename__ = "rollup_model_latency"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)


class ModelLatencyDailyRollup(_Histogram, Base):
    __tablename__ = "rollup_model_latency_daily"
    __table_args__ = _CLUSTERED

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)


class ModelTtftRollup(_Histogram, Base):
    """Time to first token per hour and model (streamed calls only)."""

    __tablename__ = "rollup_model_ttft"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)


class ModelTtftDailyRollup(_Histogram, Base):
    """Time to first token per UTC day and model: a week's TTFT percentiles read ~24x fewer rows."""

    __tablename__ = "rollup_model_ttft_daily"
    __table_args__ = _CLUSTERED

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)


# -- revision 0004: the figures that cannot be summed from the tables above -------------
class SessionHourlyRollup(Base):
    """Executions per hour and session (executions with a session only) (0004).

    One row per (hour, session), so the distinct sessions of a range (the sessions KPI,
    the Sessions tab) are an exact ``COUNT(DISTINCT)`` over its hours, and a session's
    span in the range an exact MIN/MAX. Rows: one per session and hour it was busy in."""

    __tablename__ = "rollup_session_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    executions: Mapped[int] = _count()
    successes: Mapped[int] = _count()
    finished: Mapped[int] = _count()
    first_start: Mapped[datetime]
    last_start: Mapped[datetime]
    #: the latest end of these executions (their start when none has ended later)
    last_end: Mapped[datetime]


class UserHourlyRollup(Base):
    """Executions per hour, user and session (0004): the Users tab, exact distinct sessions
    per user. ``user_id`` '' holds the executions without a user (session '' for them:
    one row per hour); ``session_id`` '' the user's executions without a session. Rows:
    one per (user, session) and hour — at most one per execution."""

    __tablename__ = "rollup_user_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    executions: Mapped[int] = _count()
    failures: Mapped[int] = _count()  # failed or timed out
    finished: Mapped[int] = _count()
    tokens: Mapped[int] = _count()
    last_start: Mapped[datetime]


class UserLatencyRollup(_Histogram, Base):
    """Execution latency per hour and user (executions with a user only) (0004)."""

    __tablename__ = "rollup_user_latency"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class UserLatencyDailyRollup(_Histogram, Base):
    __tablename__ = "rollup_user_latency_daily"
    __table_args__ = _CLUSTERED

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class ModelUserHourlyRollup(Base):
    """Model calls per hour and user (calls with a user only): the Users tab's cost (0004)."""

    __tablename__ = "rollup_model_user_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    calls: Mapped[int] = _count()
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    unpriced_calls: Mapped[int] = _count()


class ErrorHourlyRollup(Base):
    """Failed and timed-out executions per hour, error signature and agent (0004).

    The signature (:func:`studio_analytics.db.error_signature.error_signature`) folds
    ids, numbers and quoted values, and is cut at 255 characters, so the keys stay few
    however many distinct texts there are. ``example``: the smallest message text of the
    cell (MIN adds up across hours exactly, so any range shows the same example)."""

    __tablename__ = "rollup_error_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    signature: Mapped[str] = mapped_column(String(255), primary_key=True)
    agent_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    errors: Mapped[int] = _count()
    timeouts: Mapped[int] = _count()
    first_start: Mapped[datetime]
    last_start: Mapped[datetime]
    example: Mapped[str] = mapped_column(Text)


class ErrorToolHourlyRollup(Base):
    """Failed tool calls inside failed executions, per hour of the execution's start,
    its error signature and the tool (0004): the Errors tab's most affected tool."""

    __tablename__ = "rollup_error_tool_hourly"
    __table_args__ = _CLUSTERED

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    signature: Mapped[str] = mapped_column(String(255), primary_key=True)
    tool_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    calls: Mapped[int] = _count()


ROLLUP_MODELS = (
    AgentHourlyRollup, AgentLatencyRollup, AgentLatencyDailyRollup, ExecutionLatencyRollup, ToolHourlyRollup,
    ToolAgentHourlyRollup,
    ToolLatencyRollup, ToolLatencyDailyRollup, WorkflowHourlyRollup, WorkflowLatencyRollup,
    WorkflowLatencyDailyRollup,
)
ROLLUP_TABLES: tuple[str, ...] = tuple(m.__tablename__ for m in ROLLUP_MODELS)
#: Rollups of model calls (revision 0003): a database at 0002 has the others only.
MODEL_ROLLUP_MODELS = (ModelHourlyRollup, ModelAgentHourlyRollup, ModelLatencyRollup, ModelLatencyDailyRollup,
                       ModelTtftRollup, ModelTtftDailyRollup)
MODEL_ROLLUP_TABLES: tuple[str, ...] = tuple(m.__tablename__ for m in MODEL_ROLLUP_MODELS)
#: Rollups of revision 0004 (sessions, users, error groups): a database at 0003 reads those
#: figures from raw rows.
FIGURE_ROLLUP_MODELS = (SessionHourlyRollup, UserHourlyRollup, UserLatencyRollup, UserLatencyDailyRollup, ModelUserHourlyRollup,
                        ErrorHourlyRollup, ErrorToolHourlyRollup)
FIGURE_ROLLUP_TABLES: tuple[str, ...] = tuple(m.__tablename__ for m in FIGURE_ROLLUP_MODELS)

__all__ = [
    "FIGURE_ROLLUP_MODELS", "FIGURE_ROLLUP_TABLES", "ErrorHourlyRollup", "ErrorToolHourlyRollup",
    "ModelUserHourlyRollup", "SessionHourlyRollup", "UserHourlyRollup", "UserLatencyDailyRollup", "UserLatencyRollup",
    "MODEL_ROLLUP_MODELS", "MODEL_ROLLUP_TABLES", "ModelAgentHourlyRollup", "ModelHourlyRollup",
    "ModelLatencyDailyRollup", "ModelLatencyRollup", "ModelTtftDailyRollup", "ModelTtftRollup",
    "ROLLUP_MODELS", "ROLLUP_TABLES", "AgentHourlyRollup", "AgentLatencyDailyRollup", "AgentLatencyRollup",
    "ExecutionLatencyRollup", "ToolAgentHourlyRollup", "ToolHourlyRollup", "ToolLatencyDailyRollup",
    "ToolLatencyRollup", "WorkflowHourlyRollup", "WorkflowLatencyDailyRollup", "WorkflowLatencyRollup",
]
