"""``studio-analytics serve``: the original Agent Studio REST API and dashboard page over
HTTP, read-only (the server is :mod:`studio_analytics.server`)."""

from __future__ import annotations

import argparse
import os
import sys

from studio_analytics.commands.failures import UsageError, database_errors
from studio_analytics.commands.options import db_url_from_args, positive_number
from studio_analytics.db.engine import safe_url
from studio_analytics.server.settings import (
    API_PREFIX,
    DEFAULT_HOST,
    DEFAULT_MAX_AGE_S,
    DEFAULT_PORT,
    DEFAULT_QUERY_TIMEOUT_S,
    DEFAULT_RATE_PER_MIN,
    ENV_TOKEN,
    ServeConfigError,
    ServeSettings,
    check_cors_origin,
    check_token,
    parse_rate,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pathlib import Path

    from studio_analytics.cli import add_db_argument

    p = sub.add_parser(
        "serve", help="serve the figures over HTTP: Agent Studio's REST API and the dashboard page (read-only)",
        description=f"Serve Agent Studio's analytics endpoints ({API_PREFIX}/summary, /agents/usage, ...), "
        f"the dashboard page ({API_PREFIX}/dashboard) and the API description (/docs, /openapi.json), "
        "reading the database only. Any address but the loopback needs a token (--token or "
        f"${ENV_TOKEN}).",
    )
    add_db_argument(p)
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}; any other needs a token)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--token", metavar="TOKEN", default=None,
                   help=f"bearer token every request must carry (default ${ENV_TOKEN}, which keeps it out of the "
                        "shell history and the process list); browsers sign in on the dashboard page")
    p.add_argument("--cors", metavar="ORIGIN", default=None,
                   help="let pages of this one origin (e.g. https://grafana.example:3000) read the API from a "
                        "browser (default: no CORS headers)")
    p.add_argument("--rate-limit", metavar="N/min", type=_rate, default=float(DEFAULT_RATE_PER_MIN),
                   help=f"requests per minute per client address, a minute's worth at once (default "
                        f"{DEFAULT_RATE_PER_MIN}/min; also N/s, N/h; off)")
    p.add_argument("--query-timeout", metavar="SECONDS", type=_timeout, default=DEFAULT_QUERY_TIMEOUT_S,
                   help=f"a request whose queries take longer is answered 503 and its query cancelled "
                        f"(default {DEFAULT_QUERY_TIMEOUT_S:g})")
    p.add_argument("--max-age", metavar="SECONDS", type=_max_age, default=DEFAULT_MAX_AGE_S,
                   help=f"Cache-Control max-age, and how long a range ending now is reused (default {DEFAULT_MAX_AGE_S})")
    p.add_argument("--no-cache", action="store_true", help="compute every request afresh (ETags still work)")
    p.add_argument("--rules", metavar="FILE", type=Path,
                   help="alert rules for /alerts (default: alerts.toml in the config folder, else the shipped ones)")
    p.add_argument("--ingest", action="store_true",
                   help="also receive OpenTelemetry spans on POST /v1/traces (as `collect` does; the same token "
                        "rule) and write them to the database")
    p.set_defaults(func=cmd_serve)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r} (0-65535)")
    return value


def _rate(text: str) -> float:
    try:
        return parse_rate(text)
    except ServeConfigError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(f"--rate-limit {text!r}: ")) from None


def _timeout(text: str) -> float:
    return positive_number(text, maximum=3600)


def _max_age(text: str) -> int:
    return int(positive_number(text, maximum=3600))


def cmd_serve(args: argparse.Namespace) -> int:
    url = db_url_from_args(args)
    token = args.token if args.token is not None else (os.environ.get(ENV_TOKEN) or None)
    if args.rules is not None and not args.rules.exists():
        raise UsageError(f"rules file {args.rules} not found")
    settings = ServeSettings(
        db_url=url, token=token, cors_origin=args.cors, rate_per_min=args.rate_limit, max_age_s=args.max_age,
        query_timeout_s=args.query_timeout, cache_entries=0 if args.no_cache else ServeSettings.cache_entries,
        ingest=args.ingest, rules_path=args.rules,
    )
    try:
        check_token(token)
        check_cors_origin(args.cors)
        return _run(args, settings)
    except ServeConfigError as e:
        raise UsageError(str(e)) from None


def _run(args: argparse.Namespace, settings: ServeSettings) -> int:
    from studio_analytics.server.logs import log_to_stderr, stop_logging
    from studio_analytics.server.runner import ApiServer, check_exposure, require_extra

    check_exposure(args.host, settings.token)
    require_extra(settings.ingest)
    _check_database(settings.db_url)
    ingestor = None
    if settings.ingest:
        from studio_analytics.ingest.pipeline import SpanIngestor

        ingestor = SpanIngestor(db_url=settings.db_url)
    handler = log_to_stderr([settings.token] if settings.token else [])
    try:
        server = ApiServer(settings, host=args.host, port=args.port, ingestor=ingestor)
        print(f"studio-analytics serve: {server.base_url}{API_PREFIX}/dashboard (docs {server.base_url}/docs) "
              f"reading {safe_url(settings.db_url)}{' (bearer token required)' if settings.token else ''}"
              f"{'; receiving spans on POST /v1/traces' if ingestor else ''}; stop with Ctrl-C or SIGTERM",
              file=sys.stderr, flush=True)
        server.serve()
    finally:
        if ingestor is not None:
            print("studio-analytics serve: stopping: writing the spans received", file=sys.stderr, flush=True)
            ingestor.shutdown(10.0)
        stop_logging(handler)
    print("studio-analytics serve: stopped", file=sys.stderr, flush=True)
    return 0


def _check_database(url: str) -> None:
    """A database that cannot be read is said now, in one line, not on the first request."""
    from studio_analytics.db.engine import create_db_engine
    from studio_analytics.db.schema_state import require_metrics_tables

    with database_errors(url):
        engine = create_db_engine(url, read_only=True)
        try:
            with engine.connect() as conn:
                require_metrics_tables(conn)
        finally:
            engine.dispose()
