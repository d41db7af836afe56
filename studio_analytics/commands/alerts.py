"""``studio-analytics alerts check|watch|rules|init|test|silence|unsilence``: the alert
rules without the window, for cron, CI and servers.

``check`` evaluates once and exits 1 when anything fires (0 when nothing does, 2 when it
cannot tell: a bad option, a database that cannot be read, no usable rule), so a cron
job or a CI step can act on it. Its JSON is ``{"schema": "studio-analytics/alerts/v1",
"at": ..., "firing": [...], "observations": [...], "problems": [...]}``.

``watch`` evaluates every ``--interval`` seconds until Ctrl-C or SIGTERM, prints each
transition as one line and posts the notified ones to ``--webhook`` (or
``$STUDIO_ANALYTICS_ALERT_WEBHOOK``, which keeps the URL's token off the command line).
Its alert state (firing alerts, cooldowns, history) lives in its own state file, so a
restart neither repeats nor forgets an alert, and it never fights the window's. A
database that goes away or a webhook that fails is said once and retried; the rules
file is read again when it changes.

Rule problems (a mistake in the rules file) go to stderr naming the file and line; the
rule is skipped and the others run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from studio_analytics.alerts.check_json import SCHEMA, check_json  # noqa: F401 - SCHEMA: scripts import it here
from studio_analytics.alerts.durations import format_duration, parse_duration
from studio_analytics.alerts.results import Evaluation, Verdict
from studio_analytics.alerts.rules import (
    DEFAULT_RULES_TEXT,
    Metric,
    Rule,
    RuleProblem,
    RuleSet,
    load_rules,
    rules_path,
)
from studio_analytics.alerts.state_file import (
    StateFile,
    alerts_state_path,
    load_state,
    silence_rule,
    unsilence_rule,
)
from studio_analytics.alerts.transitions import (
    AlertBook,
    Transition,
    TransitionKind,
)
from studio_analytics.alerts.webhook import (
    ENV_WEBHOOK,
    DeliveryReport,
    WebhookSender,
    redact_url,
    webhook_url_problem,
)
from studio_analytics.commands.failures import (
    DRIVER_ERRORS,
    UsageError,
    database_error_line,
    database_errors,
)
from studio_analytics.commands.options import (
    days,
    db_url_from_args,
    iso_time,
    positive_count,
    positive_number,
)
from studio_analytics.config import config_dir
from studio_analytics.db.engine import create_db_engine, read_transaction, translate_error
from studio_analytics.db.errors import DatabaseError
from studio_analytics.db.schema_state import require_metrics_tables
from studio_analytics.export.files import private_atomic_text

WATCH_STATE_FILENAME = "alerts-watch-state.json"
EXIT_FIRING = 1
EXIT_CANNOT_TELL = 2
MIN_INTERVAL_S = 0.1
WATCH_QUERY_TIMEOUT_S = 60.0
DEFAULT_TEST_DAYS = 7.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from studio_analytics.cli import add_db_argument

    p = sub.add_parser("alerts", help="alert rules: check once, watch and post to a webhook, list, test, silence",
                       description=__doc__.split("\n\n")[0].replace("``", "'"), epilog=_rules_help(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)

    check = actions.add_parser("check", help="evaluate the rules once; exit 1 when anything fires")
    add_db_argument(check)
    _add_rules_argument(check)
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--at", type=iso_time, metavar="ISO",
                       help="evaluate as of this time (naive = UTC; default now)")
    check.set_defaults(func=cmd_check)

    watch = actions.add_parser("watch", help="evaluate every --interval seconds; print and post transitions")
    add_db_argument(watch)
    _add_rules_argument(watch)
    watch.add_argument("--interval", type=_interval, default=60.0, metavar="SECONDS",
                       help="seconds between evaluations (default 60)")
    watch.add_argument("--webhook", metavar="URL",
                       help=f"post each notified transition as JSON here (default ${ENV_WEBHOOK}); "
                            "Slack-compatible, never shown in clear")
    watch.add_argument("--state", metavar="FILE", type=Path,
                       help=f"its alert state (default {WATCH_STATE_FILENAME} in the user data folder for the "
                            "default database, alerts-watch-state-<key>.json for another)")
    watch.add_argument("--count", type=positive_count, metavar="N", help="stop after N evaluations")
    watch.set_defaults(func=cmd_watch)

    rules = actions.add_parser("rules", help="the rules in force, one line each, and their problems")
    _add_rules_argument(rules)
    add_db_argument(rules)  # whose silences to show
    rules.set_defaults(func=cmd_rules)

    init = actions.add_parser("init", help="write the default rules file to the config folder (if missing)")
    init.set_defaults(func=cmd_init)

    test = actions.add_parser("test", help="how often a rule would have fired over the last days")
    test.add_argument("rule_id", metavar="RULE_ID")
    add_db_argument(test)
    _add_rules_argument(test)
    test.add_argument("--days", type=days, default=DEFAULT_TEST_DAYS, help="look back N days (default 7)")
    test.add_argument("--step", type=_step, default=900, metavar="DURATION",
                      help="time between replayed evaluations (default 15m)")
    test.set_defaults(func=cmd_test)

    for name, func, text in (("silence", cmd_silence, "send no notifications of a rule for a while"),
                             ("unsilence", cmd_unsilence, "lift a rule's silence")):
        action = actions.add_parser(name, help=text)
        action.add_argument("rule_id", metavar="RULE_ID")
        if name == "silence":
            action.add_argument("--for", dest="duration", type=_step, required=True, metavar="DURATION",
                                help="how long, e.g. 30m, 2h, 1d")
        _add_rules_argument(action)
        add_db_argument(action)
        action.add_argument("--state", metavar="FILE", type=Path,
                            help="the state file to edit (default: the window's for the database, "
                                 "alerts-state.json in the user data folder for the default one; "
                                 f"{WATCH_STATE_FILENAME} for `alerts watch`)")
        action.set_defaults(func=func)


def _rules_help() -> str:
    # Wrapped here, not by dedent: the list is inserted after the text is laid out.
    metrics = textwrap.fill(" ".join(m.value for m in Metric), width=96, initial_indent=" " * 26,
                            subsequent_indent=" " * 26).lstrip()
    return textwrap.dedent(f"""\
        The rules file (alerts.toml in the config folder; `alerts init` writes the default
        one) holds one [[rule]] table per rule:
          id, name        what the rule is called (id: letters, digits, '-', '_', '.')
          metric          {metrics}
          scope           all | each agent | agent:NAME  (also tool, api, model, workflow)
          window          the time measured, e.g. 30m, 1h (1m to 7d; default 1h)
          when            above | below (with threshold) | anomalous (with direction =
                          up | down | both, sensitivity, baseline_weeks)
          min_sample      fewest runs behind a figure for it to be judged (default 10)
          cooldown        no repeated notification of an alert within it (default 1h)
          stuck_after     stuck_runs: in progress longer than this (default 30m)
          severity        info | warning | critical
          enabled         true | false
        `alerts check` exits 0 when nothing fires, 1 when something does, and 2 when it
        cannot tell (a bad option, a database it cannot read, no usable rule).""")


def _add_rules_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", metavar="FILE", type=Path,
                        help="rules file (default: alerts.toml in the config folder; the shipped rules "
                             "when there is none)")


def _interval(text: str) -> float:
    value = positive_number(text, maximum=7 * 86_400)
    if value < MIN_INTERVAL_S:
        raise argparse.ArgumentTypeError(f"{text!r} is shorter than {MIN_INTERVAL_S}s")
    return value


def _step(text: str) -> int:
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if seconds < 60:
        raise argparse.ArgumentTypeError(f"{text!r} is shorter than a minute")
    return seconds


# -- shared ------------------------------------------------------------------------------


def _load_rules(args: argparse.Namespace) -> RuleSet:
    path: Path | None = args.rules
    if path is not None and not path.exists():
        raise UsageError(f"rules file {path} not found (`studio-analytics alerts init` writes the default one "
                         f"to {rules_path()})")
    return load_rules(path)


def _print_problems(problems: tuple[RuleProblem, ...] | list[RuleProblem], source: str = "") -> None:
    for problem in problems:
        if source and not problem.source:
            problem = replace(problem, source=source)
        print(f"problem: {problem}", file=sys.stderr)


def _with_rule_problems(evaluation: Evaluation, ruleset: RuleSet) -> Evaluation:
    """The evaluation as the book should see it: every rule of the file (a disabled one
    resolves its alerts as disabled, not as gone) and the file's problems (a rule with a
    mistake keeps its alerts until it is fixed, instead of resolving and firing again)."""
    problems = evaluation.problems + tuple(p for p in ruleset.problems if p.rule_id)
    return replace(evaluation, rules=ruleset.rules, problems=problems)


@contextlib.contextmanager
def _read_only_connection(url: str) -> Iterator[Any]:
    with database_errors(url):
        engine = create_db_engine(url, read_only=True)
        try:
            with engine.connect() as conn:
                require_metrics_tables(conn)
                yield conn
        finally:
            engine.dispose()


def _evaluate(conn: Any, rules: tuple[Rule, ...], at: datetime | None) -> Evaluation:
    from studio_analytics.alerts.evaluate import evaluate

    with read_transaction(conn):
        return evaluate(conn, rules, now=at)


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- check -------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    url = db_url_from_args(args)
    ruleset = _load_rules(args)
    source = ruleset.source
    try:
        with _read_only_connection(url) as conn:
            evaluation = _evaluate(conn, ruleset.enabled, args.at)
    except DatabaseError as e:
        _print_problems(ruleset.problems, source)
        print(database_error_line(e), file=sys.stderr)
        return EXIT_CANNOT_TELL
    problems = list(ruleset.problems) + [replace(p, source=p.source or source) for p in evaluation.problems]
    _print_problems(problems)
    by_id = {r.id: r for r in ruleset.rules}
    firing = evaluation.firing
    if args.format == "json":
        json.dump(check_json(evaluation, ruleset, problems), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_check(evaluation, ruleset, by_id)
    if not ruleset.enabled and problems:
        print("error: no rule could be used", file=sys.stderr)
        return EXIT_CANNOT_TELL
    return EXIT_FIRING if firing else 0


def _print_check(evaluation: Evaluation, ruleset: RuleSet, by_id: dict[str, Rule]) -> None:
    counts: dict[Verdict, int] = {}
    for obs in evaluation.observations:
        counts[obs.verdict] = counts.get(obs.verdict, 0) + 1
    firing = evaluation.firing
    enabled = len(ruleset.enabled)
    print(f"{_when(evaluation.at)} · {enabled} rule{'s' if enabled != 1 else ''} from {ruleset.source} · "
          f"{len(firing)} firing")
    for obs in firing:
        rule = by_id.get(obs.rule_id)
        severity = rule.severity.value if rule else ""
        who = f" ({obs.member})" if obs.member else ""
        print(f"  FIRING  {severity:8}  {obs.rule_id}{who}: {obs.reason}")
    if not firing:
        rest = ", ".join(f"{n} {v.value}" for v, n in sorted(counts.items(), key=lambda kv: kv[0].value))
        print(f"  nothing firing ({rest or 'nothing measured'})")


# -- watch -------------------------------------------------------------------------------


class _RulesWatcher:
    """The rules file, read again whenever its size or modification time changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path if path is not None else rules_path()
        self.explicit = path is not None
        self._signature: tuple[int, int] | None = None
        self.ruleset = RuleSet(())

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def refresh(self) -> bool:
        """True when the rules were (re)read. A file named on the command line that
        disappears keeps the rules read before (said once) rather than falling back to
        the shipped ones."""
        signature = self._stat()
        if signature == self._signature and self.ruleset.source:
            return False
        self._signature = signature
        if signature is None and self.explicit and self.ruleset.source:
            print(f"rules file {self.path} is gone; keeping the {len(self.ruleset.rules)} rules read before",
                  file=sys.stderr, flush=True)
            return False
        self.ruleset = load_rules(self.path)
        return True


def _transition_line(t: Transition) -> str:
    who = f" ({t.member})" if t.member else ""
    quiet = "" if t.notified else "  [not notified: cooldown or silenced]"
    return f"{_when(t.at)}  {t.kind.value.upper():8}  {t.severity:8}  {t.rule_id}{who}: {t.reason}{quiet}"


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the watch after the current step (handlers restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # asked twice: stop now, even inside a slow query
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _webhook_url(args: argparse.Namespace) -> str | None:
    url = args.webhook or os.environ.get(ENV_WEBHOOK) or None
    if url is None:
        return None
    problem = webhook_url_problem(url)
    if problem:
        origin = "--webhook" if args.webhook else f"${ENV_WEBHOOK}"
        raise UsageError(f"bad webhook URL in {origin} ({redact_url(url)}): {problem}")
    return url.strip()


def _print_delivery(report: DeliveryReport) -> None:
    t = report.transition
    what = f"{t.kind.value} {t.rule_id}" + (f" ({t.member})" if t.member else "")
    if report.outcome.ok:
        print(f"webhook: {what} {report.outcome.describe()}", flush=True)
    else:
        print(f"webhook: {what} {report.outcome.describe()}", file=sys.stderr, flush=True)


def cmd_watch(args: argparse.Namespace) -> int:
    url = db_url_from_args(args)
    if args.rules is not None and not args.rules.exists():
        _load_rules(args)  # the same usage error as the other actions
    webhook = _webhook_url(args)
    state_path: Path = args.state if args.state is not None else alerts_state_path(url, watch=True)
    state_file = StateFile(state_path)
    book = AlertBook(state_file.load())
    rules = _RulesWatcher(args.rules)
    sender = WebhookSender(webhook, on_outcome=_print_delivery) if webhook else None
    stop = threading.Event()
    outage_since: float | None = None
    state_failed = False
    engine = None
    runs = 0
    said: set[str] = set()  # evaluation problems already shown for the rules in force
    print(f"watching every {args.interval:g}s · state {state_path}"
          + (f" · webhook {sender.target}" if sender else "") + " · Ctrl-C to stop", flush=True)
    try:
        with _stop_on_signals(stop):
            while not stop.is_set():
                if rules.refresh():
                    rs = rules.ruleset
                    print(f"rules: {len(rs.enabled)} enabled of {len(rs.rules)} from {rs.source}", flush=True)
                    _print_problems(rs.problems, rs.source)
                    said = set()
                state_file.take_silences(book)
                try:
                    if engine is None:
                        # A query that hangs is cancelled instead of stopping the watch.
                        engine = create_db_engine(url, read_only=True, statement_timeout_s=WATCH_QUERY_TIMEOUT_S)
                    with engine.connect() as conn:
                        require_metrics_tables(conn)
                        evaluation = _evaluate(conn, rules.ruleset.enabled, None)
                except (*DRIVER_ERRORS, OSError) as e:
                    if outage_since is None:
                        outage_since = time.monotonic()
                        print(f"database unavailable, trying again every {args.interval:g}s: "
                              f"{_outage_line(e, url)}", file=sys.stderr, flush=True)
                    if engine is not None:
                        engine.dispose()  # a fresh connection next time (a replaced file, a restarted server)
                        engine = None
                except Exception as e:  # noqa: BLE001 - a bug must not end a watch that runs for months
                    if outage_since is None:
                        outage_since = time.monotonic()
                        print(f"error: unexpected {type(e).__name__} while evaluating: {e}; trying again "
                              f"every {args.interval:g}s", file=sys.stderr, flush=True)
                else:
                    if outage_since is not None:
                        print(f"evaluating again after {format_duration(int(time.monotonic() - outage_since))}",
                              file=sys.stderr, flush=True)
                        outage_since = None
                    new_problems = [p for p in evaluation.problems if str(p) not in said]
                    said.update(str(p) for p in new_problems)
                    _print_problems(new_problems, rules.ruleset.source)
                    transitions = book.apply(_with_rule_problems(evaluation, rules.ruleset))
                    if transitions or runs == 0:  # saved first: a restart must not tell them again
                        state_failed = _save(state_file, book, state_failed)
                    for t in transitions:
                        print(_transition_line(t), flush=True)
                        if sender is not None and t.notified:
                            sender.send(t)
                runs += 1
                if args.count is not None and runs >= args.count:
                    break
                stop.wait(args.interval)
    finally:
        _save(state_file, book, state_failed)
        if engine is not None:
            engine.dispose()
        if sender is not None:
            left = sender.close(timeout_s=5.0)
            if left:
                print(f"webhook: {left} transition{'s' if left != 1 else ''} not sent", file=sys.stderr)
    return 0


def _outage_line(error: BaseException, url: str) -> str:
    if isinstance(error, DatabaseError):
        return database_error_line(error)
    if isinstance(error, OSError) and not isinstance(error, DRIVER_ERRORS):
        return f"error: {error.strerror or error}"
    return database_error_line(translate_error(error, url))


def _save(state_file: StateFile, book: AlertBook, failed_before: bool) -> bool:
    """Save the state; True while saving fails (said once, not at every step)."""
    try:
        state_file.save(book)
    except OSError as e:
        if not failed_before:
            print(f"error: cannot save the alert state to {state_file.path}: {e.strerror or e}; going on "
                  "without it", file=sys.stderr, flush=True)
        return True
    return False


# -- rules, init -------------------------------------------------------------------------


def cmd_rules(args: argparse.Namespace) -> int:
    ruleset = _load_rules(args)
    # only read: the window's file is left as it is
    state = load_state(alerts_state_path(db_url_from_args(args)), set_aside=False)
    now = datetime.now(UTC)
    print(f"{len(ruleset.rules)} rule{'s' if len(ruleset.rules) != 1 else ''} from {ruleset.source}")
    width = max((len(r.id) for r in ruleset.rules), default=0)
    for rule in ruleset.rules:
        flags = []
        if not rule.enabled:
            flags.append("disabled")
        until = state.silenced_until.get(rule.id)
        if until is not None and until > now:
            flags.append(f"silenced until {_when(until)}")
        extra = f"  [{', '.join(flags)}]" if flags else ""
        print(f"  {rule.id:{width}}  {rule.severity.value:8}  {rule.describe()}{extra}")
        if rule.name:
            print(f"  {'':{width}}  {'':8}  {rule.name}")
    _print_problems(ruleset.problems, ruleset.source)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    path = rules_path()
    if path.exists():
        print(f"{path} (already there; left as it is)")
        return 0
    config_dir(create=True)
    with private_atomic_text(path) as f:
        f.write(DEFAULT_RULES_TEXT)
    print(path)
    return 0


# -- test --------------------------------------------------------------------------------


def _rule_or_usage_error(ruleset: RuleSet, rule_id: str) -> Rule:
    rule = ruleset.get(rule_id)
    if rule is not None:
        return rule
    for problem in ruleset.problems:
        if problem.rule_id == rule_id:
            raise UsageError(f"rule {rule_id!r} cannot be used: {replace(problem, source=problem.source or ruleset.source)}")
    known = ", ".join(r.id for r in ruleset.rules) or "none"
    raise UsageError(f"no rule {rule_id!r} in {ruleset.source} (its rules: {known})")


def cmd_test(args: argparse.Namespace) -> int:
    from studio_analytics.alerts.backtest import backtest

    url = db_url_from_args(args)
    ruleset = _load_rules(args)
    rule = _rule_or_usage_error(ruleset, args.rule_id)
    end = datetime.now(UTC)
    start = end - timedelta(days=args.days)
    with _read_only_connection(url) as conn:
        try:
            with read_transaction(conn):
                result = backtest(conn, [replace(rule, enabled=True)], start=start, end=end, step_s=args.step)
        except ValueError as e:
            raise UsageError(str(e)) from None
    _print_problems(result.problems(rule.id), ruleset.source)
    fired = result.fired(rule.id)
    quiet = len(result.fired_all(rule.id)) - len(fired)
    span = f"{args.days:g} day{'s' if args.days != 1 else ''}"
    times = "time" if len(fired) == 1 else "times"
    print(f"{rule.id} would have fired {len(fired)} {times} over the last {span} "
          f"(evaluated every {format_duration(args.step)}, {len(result.times)} evaluations)"
          + ("" if rule.enabled else "; the rule is disabled"))
    for t in fired:
        print(f"  {_when(t.at)}  {t.member + ': ' if t.member else ''}{t.reason}")
    if quiet:
        print(f"  and {quiet} more inside its cooldown of {format_duration(rule.cooldown_s)} (not notified)")
    resolved = [t for t in result.transitions if t.kind is TransitionKind.RESOLVED]
    if fired and resolved:
        print(f"  resolved {len(resolved)} {'time' if len(resolved) == 1 else 'times'}")
    return 0


# -- silence -----------------------------------------------------------------------------


def _state_path(args: argparse.Namespace) -> Path:
    return args.state if args.state is not None else alerts_state_path(db_url_from_args(args))


def cmd_silence(args: argparse.Namespace) -> int:
    ruleset = _load_rules(args)
    if ruleset.get(args.rule_id) is None and not any(p.rule_id == args.rule_id for p in ruleset.problems):
        _rule_or_usage_error(ruleset, args.rule_id)
    until = datetime.now(UTC) + timedelta(seconds=args.duration)
    path = _state_path(args)
    silence_rule(path, args.rule_id, until)
    print(f"{args.rule_id} silenced until {_when(until)} ({format_duration(args.duration)}) in {path}")
    return 0


def cmd_unsilence(args: argparse.Namespace) -> int:
    path = _state_path(args)
    _, had = unsilence_rule(path, args.rule_id)
    print(f"{args.rule_id} is no longer silenced" if had else f"{args.rule_id} was not silenced")
    return 0
