"""Hourly rollup tables: what the dashboard reads instead of millions of raw rows.

Each ``*_hourly`` row holds counts and sums for one UTC hour (``hour`` = the hour's
start in POSIX seconds) and one agent, tool (and external API) or workflow type; each
``*_latency`` row holds one bucket of a log-scaled latency histogram for the same key
(see :mod:`studio_analytics.db.rollups` for the bucket scale and its error bound).
``*_latency_daily`` hold the same histograms per UTC day (``day`` = its start), and
``rollup_execution_latency`` all agents' histogram per hour.

The tracker's writer adds each batch's new rows in the batch's own transaction;
``studio-analytics db rebuild-rollups`` recomputes them from the raw rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, SmallInteger, String
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

__all__ = [
    "MODEL_ROLLUP_MODELS", "MODEL_ROLLUP_TABLES", "ModelAgentHourlyRollup", "ModelHourlyRollup",
    "ModelLatencyDailyRollup", "ModelLatencyRollup", "ModelTtftDailyRollup", "ModelTtftRollup",
    "ROLLUP_MODELS", "ROLLUP_TABLES", "AgentHourlyRollup", "AgentLatencyDailyRollup", "AgentLatencyRollup",
    "ExecutionLatencyRollup", "ToolAgentHourlyRollup", "ToolHourlyRollup", "ToolLatencyDailyRollup",
    "ToolLatencyRollup", "WorkflowHourlyRollup", "WorkflowLatencyDailyRollup", "WorkflowLatencyRollup",
]
