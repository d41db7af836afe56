"""What agent code imports: cheap, safe instrumentation of agents, tools, workflows, sessions.

    from studio_analytics.tracker import track_agent_execution, track_tool_usage

    with track_agent_execution(agent_name="CommandAgent", query=q, session_id=s) as run:
        with track_model_call(model="gpt-4o-mini", provider="openai", input=messages) as llm:
            llm.record_usage(input_tokens=812, output_tokens=96)
        with track_tool_usage(tool_name="web_search", input_data={"q": q}) as call:
            call.record_api_call("google_search", 200, 84.0)

Imports no Qt and nothing of the analytics layer or the window.
"""

from studio_analytics.tracker.api import (
    AnalyticsService,
    TrackerStats,
    analytics_service,
    configure,
    flush,
    shutdown,
    stats,
    track_agent,
    track_agent_execution,
    track_model,
    track_model_call,
    track_session,
    track_tool,
    track_tool_usage,
    track_workflow,
)
from studio_analytics.tracker.spans import SpanHandle, current_span

__all__ = [
    "AnalyticsService",
    "SpanHandle",
    "TrackerStats",
    "analytics_service",
    "configure",
    "current_span",
    "flush",
    "shutdown",
    "stats",
    "track_agent",
    "track_agent_execution",
    "track_model",
    "track_model_call",
    "track_session",
    "track_tool",
    "track_tool_usage",
    "track_workflow",
]
