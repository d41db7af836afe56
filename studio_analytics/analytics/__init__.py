"""Analytics layer: every figure the window shows, aggregated in SQL. No Qt."""

from studio_analytics.analytics.health import database_health

__all__ = ["database_health"]
