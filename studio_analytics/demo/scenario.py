"""The cast of the demo: agents, the models they call and their tools, each with its own
latency, failure and token profile."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class ToolProfile:
    name: str
    median_ms: float
    sigma: float  # lognormal shape: larger = longer tail
    failure_rate: float
    api: str | None = None
    errors: tuple[str, ...] = ()
    #: a model the tool calls itself (its span nests inside the tool's), or None
    model: str | None = None
    #: median tokens the tool's result adds to the agent's next prompt
    result_tokens: int = 300


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """A model as the demo's agents see it: speed, context window, caching, reasoning."""

    name: str
    provider: str  # as the price table and OpenTelemetry's gen_ai.system name it
    ttft_ms: float  # median time to first token of a short prompt (the whole call for embeddings)
    tokens_per_s: float  # output speed
    context: int  # context window, tokens
    operation: str = "chat"
    #: share of long prompts (>= 1,024 tokens) whose prefix the provider serves from its cache
    cache_hit: float = 0.0
    #: reasoning tokens per visible output token (median); 0 for models that do not reason
    reasoning: float = 0.0
    streamed: float = 0.9  # share of calls that stream the answer (first token recorded)


@dataclass(frozen=True, slots=True)
class AgentProfile:
    name: str
    median_ms: float  # the agent's own work per step (prompts, parsing); models and tools come on top
    sigma: float
    failure_rate: float
    timeout_rate: float
    tools: tuple[str, ...]
    weight: float  # how often it is chosen
    #: chat models it calls and how often each (weights)
    models: tuple[tuple[str, float], ...]
    prompt_tokens: int  # median input tokens of its first model call
    answer_tokens: int  # median output tokens of its final answer
    errors: tuple[str, ...] = ()
    #: agents it may hand a task to through a ``delegate_to_…`` tool
    delegates: tuple[str, ...] = ()
    #: agents it may call directly (a nested execution, no tool in between)
    sub_agents: tuple[str, ...] = ()


#: Models the agents use. All but the last two are in the price table; the in-house
#: fine-tune and the local Llama are not, so their calls stay unpriced (cost NULL).
MODELS: dict[str, ModelProfile] = {m.name: m for m in (
    ModelProfile("gpt-4o-mini", "openai", 350, 90, 128_000, cache_hit=0.35),
    ModelProfile("gpt-4o", "openai", 450, 70, 128_000, cache_hit=0.35),
    ModelProfile("gpt-4.1", "openai", 500, 75, 1_047_576, cache_hit=0.45),
    ModelProfile("o4-mini", "openai", 600, 150, 200_000, cache_hit=0.3, reasoning=1.5, streamed=0.5),
    ModelProfile("text-embedding-3-small", "openai", 90, 0, 8_191, operation="embeddings", streamed=0.0),
    ModelProfile("claude-sonnet-4-5", "anthropic", 900, 60, 200_000, cache_hit=0.85),
    ModelProfile("claude-3-5-haiku", "anthropic", 500, 95, 200_000, cache_hit=0.8),
    ModelProfile("gemini-2.5-flash", "google", 450, 180, 1_048_576, cache_hit=0.3, reasoning=0.8),
    ModelProfile("llama-3.3-70b-versatile", "groq", 200, 280, 131_072),
    ModelProfile("deepseek-chat", "deepseek", 700, 35, 128_000, cache_hit=0.5),
    ModelProfile("acme-support-ft-v3", "vllm", 300, 120, 32_768),
    ModelProfile("llama3.1:8b", "ollama", 250, 45, 131_072, streamed=0.95),
)}
UNPRICED_MODELS = ("acme-support-ft-v3", "llama3.1:8b")

@dataclass(frozen=True, slots=True)
class ProviderErrors:
    """What a provider's SDK raises ({model}, {context} and {tokens} filled in per call)."""

    rate_limit: str
    server: str
    context: str  # the prompt is longer than the model's context window
    timeout: str  # raised as a TimeoutError, so the call's status is "timeout"


_OPENAI_TIMEOUT = "APITimeoutError: Request timed out."
PROVIDER_ERRORS: dict[str, ProviderErrors] = {
    "openai": ProviderErrors(
        "RateLimitError: Error code: 429 - Rate limit reached for {model} in organization org-{hex} on tokens "
        "per min (TPM): Limit 200000, Used {n}, Requested {tokens}. Please try again in 1.2s.",
        "InternalServerError: Error code: 500 - The server had an error while processing your request.",
        "BadRequestError: Error code: 400 - This model's maximum context length is {context} tokens. However, "
        "your messages resulted in {tokens} tokens. Please reduce the length of the messages.",
        _OPENAI_TIMEOUT,
    ),
    "anthropic": ProviderErrors(
        "RateLimitError: Error code: 429 - rate_limit_error: This request would exceed the rate limit for your "
        "organization of 400,000 input tokens per minute.",
        "InternalServerError: Error code: 529 - overloaded_error: Overloaded",
        "BadRequestError: Error code: 400 - invalid_request_error: prompt is too long: {tokens} tokens > "
        "{context} maximum",
        _OPENAI_TIMEOUT,
    ),
    "google": ProviderErrors(
        "ResourceExhausted: 429 Resource has been exhausted (e.g. check quota).",
        "InternalServerError: 500 An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
        "InvalidArgument: 400 The input token count ({tokens}) exceeds the maximum number of tokens allowed "
        "({context}).",
        "DeadlineExceeded: 504 Deadline Exceeded",
    ),
    "groq": ProviderErrors(
        "RateLimitError: Error code: 429 - Rate limit reached for model `{model}` in organization org_{hex} "
        "service tier on_demand on tokens per minute (TPM): Limit 12000, Used {n}, Requested {tokens}.",
        "InternalServerError: Error code: 503 - Service Unavailable",
        "BadRequestError: Error code: 400 - Please reduce the length of the messages or completion.",
        _OPENAI_TIMEOUT,
    ),
    "deepseek": ProviderErrors(
        "RateLimitError: Error code: 429 - Rate Limit Reached",
        "APIError: Error code: 503 - Server overloaded, please try again later.",
        "BadRequestError: Error code: 400 - This model's maximum context length is {context} tokens. However, "
        "you requested {tokens} tokens. Please reduce the length of the messages.",
        _OPENAI_TIMEOUT,
    ),
    "vllm": ProviderErrors(
        "RateLimitError: Error code: 429 - Too many requests in the queue",
        "InternalServerError: Error code: 500 - CUDA out of memory. Tried to allocate 2.00 GiB",
        "BadRequestError: Error code: 400 - This model's maximum context length is {context} tokens. However, "
        "you requested {tokens} tokens.",
        _OPENAI_TIMEOUT,
    ),
    "ollama": ProviderErrors(
        "ResponseError: server busy, please try again. maximum pending requests exceeded (status code: 503)",
        "ResponseError: model runner has unexpectedly stopped (status code: 500)",
        "ResponseError: input length {tokens} exceeds maximum context length {context} (status code: 400)",
        "ReadTimeout: timed out",
    ),
}

#: What the models answer, by step of the agent's loop ({tool} is the step's tool).
RESPONSES: dict[str, tuple[str, ...]] = {
    "plan": ("I'll start with {tool}.", "Calling {tool} with the user's terms.", "First step: {tool}."),
    "step": ("{tool} returned {n} items; the first {m} look relevant.", "Not enough from {tool} yet; one more step.",
             "{tool} answered; reading the part about {word}."),
    "answer": ("Here is what I found about {word}: {m} relevant results.", "Done: {m} findings, summarised below.",
               "Short answer for {word}: yes, with {m} caveats."),
    "summary": ("Summary: {m} key points about {word}.", "In short: {word} grew by {m} % in Q{m}."),
}

#: the provider whose rate limit storms during the demo's latency spike
INCIDENT_PROVIDER = "openai"

TOOLS: dict[str, ToolProfile] = {t.name: t for t in (
    ToolProfile("web_search", 420, 0.6, 0.03, "google_search",
                ("HTTPError: 429 Too Many Requests for url https://www.googleapis.com/customsearch/v1?q={word}",),
                result_tokens=1_500),
    ToolProfile("fetch_url", 650, 0.9, 0.06, None,
                ("ConnectionError: HTTPSConnectionPool(host='{host}', port=443): Read timed out. (read timeout={n})",
                 "HTTPError: 404 Client Error: Not Found for url https://{host}/page/{n}"), result_tokens=4_000),
    ToolProfile("vector_search", 38, 0.4, 0.005, "pinecone",
                ("ValueError: vector dimension {n} does not match index dimension 1536",),
                model="text-embedding-3-small", result_tokens=2_500),
    ToolProfile("sql_query", 85, 1.1, 0.02, None,
                ("OperationalError: canceling statement due to statement timeout after {n} ms",
                 "ProgrammingError: column \"{word}\" does not exist"), result_tokens=800),
    ToolProfile("python_exec", 240, 1.0, 0.05, None,
                ("ZeroDivisionError: division by zero",
                 "NameError: name '{word}' is not defined"), result_tokens=400),
    ToolProfile("send_email", 310, 0.5, 0.01, "sendgrid",
                ("HTTPError: 401 Unauthorized: API key {hex} is revoked",), result_tokens=40),
    ToolProfile("calendar_lookup", 180, 0.5, 0.01, "google_calendar", (), result_tokens=500),
    ToolProfile("weather_api", 140, 0.5, 0.02, "openweathermap",
                ("HTTPError: 503 Service Unavailable for url https://api.openweathermap.org/data/2.5/weather?id={n}",),
                result_tokens=250),
    # The summary itself is a model call inside the tool: its failures are the model's.
    ToolProfile("summarize", 40, 0.5, 0.0, "openai", (), model="gpt-4o-mini", result_tokens=500),
    ToolProfile("translate", 260, 0.4, 0.01, "deepl", (), result_tokens=600),
    ToolProfile("file_read", 6, 0.8, 0.01, None,
                ("FileNotFoundError: [Errno 2] No such file or directory: '/data/uploads/{hex}.pdf'",),
                result_tokens=3_000),
    ToolProfile("crm_lookup", 520, 0.7, 0.03, "salesforce",
                ("KeyError: 'account_{n}'", "HTTPError: 500 Internal Server Error for url https://acme.my.salesforce.com/services/data/v59.0/{hex}"),
                result_tokens=700),
)}

AGENTS: tuple[AgentProfile, ...] = (
    AgentProfile("CommandAgent", 60, 0.5, 0.03, 0.01, ("web_search", "summarize"), 3.0,
                 (("gpt-4o", 0.7), ("gpt-4.1", 0.3)), 2_500, 400, delegates=("WebAgent", "DataAgent")),
    AgentProfile("WebAgent", 40, 0.6, 0.04, 0.02, ("web_search", "fetch_url", "fetch_url"), 2.2,
                 (("gemini-2.5-flash", 1.0),), 3_000, 350),
    AgentProfile("DataAgent", 50, 0.7, 0.03, 0.01, ("sql_query", "python_exec"), 1.8,
                 (("deepseek-chat", 0.8), ("gpt-4o-mini", 0.2)), 2_000, 500),
    AgentProfile("ResearchAgent", 90, 0.6, 0.04, 0.02, ("web_search", "fetch_url", "vector_search", "summarize"), 1.2,
                 (("gpt-4.1", 0.7), ("claude-sonnet-4-5", 0.3)), 8_000, 1_200, sub_agents=("SummaryAgent",)),
    AgentProfile("SummaryAgent", 30, 0.4, 0.01, 0.005, ("summarize",), 1.5,
                 (("llama-3.3-70b-versatile", 0.7), ("gpt-4o-mini", 0.3)), 4_000, 300),
    AgentProfile("CodeAgent", 80, 0.8, 0.06, 0.02, ("python_exec", "file_read"), 1.0,
                 (("o4-mini", 0.85), ("gpt-4.1", 0.15)), 5_000, 900),
    AgentProfile("SQLAgent", 40, 0.9, 0.04, 0.01, ("sql_query",), 1.3,
                 (("gpt-4.1", 0.5), ("deepseek-chat", 0.5)), 3_000, 250),
    AgentProfile("RouterAgent", 15, 0.3, 0.005, 0.0, (), 2.5,
                 (("gpt-4o-mini", 0.9), ("llama3.1:8b", 0.1)), 600, 40,
                 delegates=("SQLAgent", "WebAgent", "CalendarAgent", "SupportAgent", "ResearchAgent")),
    AgentProfile("EmailAgent", 40, 0.4, 0.02, 0.005, ("crm_lookup", "send_email"), 0.8,
                 (("gpt-4o-mini", 0.85), ("llama3.1:8b", 0.15)), 1_500, 350),
    AgentProfile("CalendarAgent", 30, 0.4, 0.01, 0.005, ("calendar_lookup",), 0.7,
                 (("claude-3-5-haiku", 1.0),), 1_200, 150),
    AgentProfile("SupportAgent", 60, 0.7, 0.03, 0.02, ("crm_lookup", "vector_search", "translate"), 1.4,
                 (("claude-sonnet-4-5", 0.55), ("claude-3-5-haiku", 0.3), ("acme-support-ft-v3", 0.15)),
                 6_000, 450),
    AgentProfile("PlannerAgent", 80, 0.5, 0.02, 0.01, ("calendar_lookup", "weather_api"), 0.6,
                 (("gemini-2.5-flash", 0.6), ("o4-mini", 0.4)), 2_500, 700,
                 ("ValueError: could not parse plan step {n}: expected JSON object",),
                 delegates=("CalendarAgent", "WebAgent")),
)
AGENTS_BY_NAME: dict[str, AgentProfile] = {a.name: a for a in AGENTS}

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


class IncidentKind(StrEnum):
    """What goes wrong during an incident of the demo (and of benchmarks/bench_alert_accuracy.py)."""

    #: everything: latency x4, failures x6, a rate-limit storm at INCIDENT_PROVIDER
    LATENCY_SPIKE = "latency_spike"
    #: one agent (the target): most of its runs fail
    AGENT_FAILURES = "agent_failures"
    #: one tool (the target): nearly every call fails, its API answering 503
    TOOL_OUTAGE = "tool_outage"
    #: one model provider (the target): many of its calls are answered 429
    RATE_LIMIT_STORM = "rate_limit_storm"
    #: no new run starts (runs already going finish)
    TRAFFIC_DROP = "traffic_drop"
    #: runs of one agent (the target) that start and never finish: left in progress
    STUCK_RUNS = "stuck_runs"


@dataclass(frozen=True, slots=True)
class Incident:
    """One injected incident: what, at whom, and when ([start_ns, end_ns), ns since the epoch).
    Stuck runs start from ``start_ns`` (STUCK_RUN_COUNT of them, STUCK_RUN_SPACING_MIN
    apart, as long as that is before ``end_ns``) and never finish."""

    kind: IncidentKind
    target: str | None  # the agent, tool or provider; None: everything
    start_ns: int
    end_ns: int

    @property
    def name(self) -> str:
        """``"tool_outage:web_search"``, ``"traffic_drop"``."""
        return f"{self.kind}:{self.target}" if self.target else str(self.kind)

    def active(self, ns: int) -> bool:
        return self.start_ns <= ns < self.end_ns

    def describe(self) -> str:
        return _DESCRIPTIONS[self.kind].format(target=self.target)


_DESCRIPTIONS = {
    IncidentKind.LATENCY_SPIKE: f"everything slows down 4x and fails 6x as often; {INCIDENT_PROVIDER} rate-limits",
    IncidentKind.AGENT_FAILURES: "{target} fails most of its runs",
    IncidentKind.TOOL_OUTAGE: "{target} is down: nearly every call fails",
    IncidentKind.RATE_LIMIT_STORM: "{target} answers many calls with 429 (rate limit)",
    IncidentKind.TRAFFIC_DROP: "no new runs start",
    IncidentKind.STUCK_RUNS: "runs of {target} start and never finish",
}

#: The agent whose runs fail during AGENT_FAILURES, and how often they then fail.
FAILING_AGENT = "DataAgent"
AGENT_FAILURE_RATE = 0.8
#: The tool that is down during TOOL_OUTAGE, the share of its calls that fail, and what they raise.
OUTAGE_TOOL = "web_search"
OUTAGE_FAILURE_RATE = 0.95
OUTAGE_ERROR = "HTTPError: 503 Service Unavailable for url https://www.googleapis.com/customsearch/v1?q={word}"
#: The provider of RATE_LIMIT_STORM (not INCIDENT_PROVIDER: the two storms stay apart) and
#: the share of its calls it answers 429 (SDK retries included: each retry is a call).
STORM_PROVIDER = "google"
STORM_RATE_LIMIT = 0.5
#: The agent whose runs hang (waiting on STUCK_TOOL forever), and how many of them.
STUCK_AGENT = "ResearchAgent"
STUCK_TOOL = "fetch_url"
STUCK_RUN_COUNT = 3
#: Minutes between the stuck runs' starts.
STUCK_RUN_SPACING_MIN = 10

#: The demo's incidents: kind, target, where each starts (share of the demo's span) and how
#: long it lasts (seconds; at most a 24th of the span, except the latency spike, which has
#: always been three hours). Apart from each other, so each shows on its own in the window.
DEMO_INCIDENTS: tuple[tuple[IncidentKind, str | None, float, int], ...] = (
    (IncidentKind.TRAFFIC_DROP, None, 0.20, 3600),
    (IncidentKind.AGENT_FAILURES, FAILING_AGENT, 0.35, 3600),
    (IncidentKind.TOOL_OUTAGE, OUTAGE_TOOL, 0.50, 3600),
    (IncidentKind.LATENCY_SPIKE, None, 0.70, 3 * 3600),
    (IncidentKind.RATE_LIMIT_STORM, STORM_PROVIDER, 0.87, 3600),
)
HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS
#: the demo's busiest hour (UTC): see generator.demo_rhythm
BUSIEST_HOUR_UTC = 14
#: The stuck runs start this long before the demo's end: long enough ago to count as stuck
#: for the default rule (30 minutes), recent enough to be inside its look-back (a day).
STUCK_RUNS_BEFORE_END_S = 100 * 60


def demo_incidents(start_ns: int, end_ns: int) -> tuple[Incident, ...]:
    """The demo's incidents over the span [start_ns, end_ns), in the order they start.

    The stuck runs start a little before the end (:data:`STUCK_RUNS_BEFORE_END_S`), the
    latency spike at 70 % of the span, as it always has. The others go near the busiest
    hour of the day their share of the span falls on, where the window shows them best,
    an hour or more apart from the rest (in a span too short for that: at their share
    of the span)."""
    span = end_ns - start_ns
    stuck = max(start_ns, end_ns - int(min(STUCK_RUNS_BEFORE_END_S * 1e9, span / 4)))
    placed = [Incident(IncidentKind.STUCK_RUNS, STUCK_AGENT, stuck, end_ns)]

    def free(begin: int, length: int) -> bool:
        return start_ns <= begin and begin + length <= end_ns and all(
            begin + length + HOUR_NS <= i.start_ns or i.end_ns + HOUR_NS <= begin for i in placed)

    for kind, target, at, seconds in sorted(DEMO_INCIDENTS, key=lambda d: d[0] is not IncidentKind.LATENCY_SPIKE):
        begin = start_ns + int(span * at)
        if kind is IncidentKind.LATENCY_SPIKE:
            length = int(seconds * 1e9)
        else:
            length = min(int(seconds * 1e9), span // 24)
            busiest = begin - begin % DAY_NS + BUSIEST_HOUR_UTC * HOUR_NS
            tries = [busiest + sign * k * HOUR_NS for k in range(7) for sign in ((1,) if k == 0 else (-1, 1))]
            begin = next((t for t in tries if free(t, length)), begin)
        placed.append(Incident(kind, target, begin, min(begin + length, end_ns)))
    return tuple(sorted(placed, key=lambda i: i.start_ns))
