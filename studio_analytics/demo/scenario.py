"""The cast of the demo: agents and tools with their own latency, failure and cost profiles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ToolProfile:
    name: str
    median_ms: float
    sigma: float  # lognormal shape: larger = longer tail
    failure_rate: float
    api: str | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentProfile:
    name: str
    median_ms: float  # the agent's own thinking time, tools come on top
    sigma: float
    failure_rate: float
    timeout_rate: float
    tools: tuple[str, ...]
    tokens: tuple[int, int]  # range of tokens per run
    weight: float  # how often it is chosen
    errors: tuple[str, ...] = ()


TOOLS: dict[str, ToolProfile] = {t.name: t for t in (
    ToolProfile("web_search", 420, 0.6, 0.03, "google_search",
                ("HTTPError: 429 Too Many Requests for url https://www.googleapis.com/customsearch/v1?q={word}",)),
    ToolProfile("fetch_url", 650, 0.9, 0.06, None,
                ("ConnectionError: HTTPSConnectionPool(host='{host}', port=443): Read timed out. (read timeout={n})",
                 "HTTPError: 404 Client Error: Not Found for url https://{host}/page/{n}")),
    ToolProfile("vector_search", 38, 0.4, 0.005, "pinecone",
                ("ValueError: vector dimension {n} does not match index dimension 1536",)),
    ToolProfile("sql_query", 85, 1.1, 0.02, None,
                ("OperationalError: canceling statement due to statement timeout after {n} ms",
                 "ProgrammingError: column \"{word}\" does not exist")),
    ToolProfile("python_exec", 240, 1.0, 0.05, None,
                ("ZeroDivisionError: division by zero",
                 "NameError: name '{word}' is not defined")),
    ToolProfile("send_email", 310, 0.5, 0.01, "sendgrid",
                ("HTTPError: 401 Unauthorized: API key {hex} is revoked",)),
    ToolProfile("calendar_lookup", 180, 0.5, 0.01, "google_calendar", ()),
    ToolProfile("weather_api", 140, 0.5, 0.02, "openweathermap",
                ("HTTPError: 503 Service Unavailable for url https://api.openweathermap.org/data/2.5/weather?id={n}",)),
    ToolProfile("summarize", 1200, 0.5, 0.01, "openai",
                ("RateLimitError: Rate limit reached for gpt-4o in organization org-{hex} on tokens per min: Limit 30000, Used {n}",)),
    ToolProfile("translate", 260, 0.4, 0.01, "deepl", ()),
    ToolProfile("file_read", 6, 0.8, 0.01, None,
                ("FileNotFoundError: [Errno 2] No such file or directory: '/data/uploads/{hex}.pdf'",)),
    ToolProfile("crm_lookup", 520, 0.7, 0.03, "salesforce",
                ("KeyError: 'account_{n}'", "HTTPError: 500 Internal Server Error for url https://acme.my.salesforce.com/services/data/v59.0/{hex}")),
)}

AGENTS: tuple[AgentProfile, ...] = (
    AgentProfile("CommandAgent", 900, 0.5, 0.03, 0.01, ("web_search", "summarize"), (600, 2400), 3.0),
    AgentProfile("WebAgent", 700, 0.6, 0.04, 0.02, ("web_search", "fetch_url", "fetch_url"), (400, 1800), 2.2),
    AgentProfile("DataAgent", 500, 0.7, 0.03, 0.01, ("sql_query", "python_exec"), (300, 1500), 1.8),
    AgentProfile("ResearchAgent", 1800, 0.6, 0.05, 0.03, ("web_search", "fetch_url", "vector_search", "summarize"), (2000, 8000), 1.2),
    AgentProfile("SummaryAgent", 1100, 0.4, 0.01, 0.005, ("summarize",), (800, 3000), 1.5),
    AgentProfile("CodeAgent", 1400, 0.8, 0.07, 0.02, ("python_exec", "file_read"), (1000, 6000), 1.0),
    AgentProfile("SQLAgent", 450, 0.9, 0.04, 0.01, ("sql_query",), (300, 1200), 1.3),
    AgentProfile("RouterAgent", 120, 0.3, 0.005, 0.0, (), (80, 300), 2.5),
    AgentProfile("EmailAgent", 600, 0.4, 0.02, 0.005, ("crm_lookup", "send_email"), (400, 1600), 0.8),
    AgentProfile("CalendarAgent", 350, 0.4, 0.01, 0.005, ("calendar_lookup",), (200, 700), 0.7),
    AgentProfile("SupportAgent", 950, 0.7, 0.04, 0.02, ("crm_lookup", "vector_search", "translate"), (700, 2500), 1.4),
    AgentProfile("PlannerAgent", 1600, 0.5, 0.02, 0.01, ("calendar_lookup", "weather_api"), (900, 3500), 0.6,
                 ("ValueError: could not parse plan step {n}: expected JSON object",)),
)

AGENT_ERRORS: tuple[str, ...] = (
    "ValueError: model returned invalid JSON at position {n}",
    "RuntimeError: max retries ({n}) exceeded while calling the planner",
    "KeyError: 'tool_call_{n}'",
)

WORKFLOWS: dict[str, tuple[str, ...]] = {
    "multi_agent_research": ("RouterAgent", "ResearchAgent", "SummaryAgent"),
    "customer_support": ("RouterAgent", "SupportAgent", "EmailAgent"),
    "data_analysis": ("RouterAgent", "SQLAgent", "DataAgent", "SummaryAgent"),
    "trip_planning": ("PlannerAgent", "CalendarAgent", "WebAgent"),
    "command_agent_orchestration": ("CommandAgent", "WebAgent", "DataAgent"),
}

QUERIES: tuple[str, ...] = (
    "search for weather in {city}", "summarise the Q{n} sales report", "find flights to {city} next week",
    "why did order #{n} fail?", "draft a reply to the ticket from {word}", "plot revenue by region for {year}",
    "what meetings do I have on Thursday?", "translate the contract summary into German",
    "compare our pricing with {word}", "list open incidents older than {n} days",
)

HOSTS = ("docs.python.org", "news.ycombinator.com", "en.wikipedia.org", "api.github.com", "status.aws.amazon.com")
WORDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell")
CITIES = ("Berlin", "Lisbon", "Toronto", "Osaka", "Nairobi", "Lima", "Oslo", "Austin")
USER_AGENTS = ("studio-web/2.3 (Chrome 131)", "studio-web/2.3 (Firefox 133)", "studio-cli/1.4", "studio-slack-bot/0.9")
