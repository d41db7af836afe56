"""``studio-analytics serve``: the original Agent Studio REST API and its dashboard page,
read-only, over FastAPI. Beside the commands: it calls :mod:`studio_analytics.analytics`
through :mod:`studio_analytics.analytics.report_payload`, as ``studio-analytics report``
does, so a body is the CLI's JSON for the same range. No Qt, no tracker."""
