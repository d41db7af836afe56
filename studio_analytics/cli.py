"""Command-line parser. Each subcommand lives in ``studio_analytics.commands.<name>``
and contributes ``register(subparsers)``; its handler returns the exit code.

Errors are one line on stderr, never a traceback (see
:mod:`studio_analytics.commands.failures`): exit code 2 for a bad value on the command
line, 1 for a database or file that cannot be used and for unexpected errors, whose
traceback ``--debug`` shows.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from studio_analytics import __version__

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "studio_analytics.commands.db",
    "studio_analytics.commands.report",
    "studio_analytics.commands.export",
    "studio_analytics.commands.show",
    "studio_analytics.commands.demo",
    "studio_analytics.commands.collect",
    "studio_analytics.commands.serve",
    "studio_analytics.commands.prices",
    "studio_analytics.commands.alerts",
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """``--db``, and ``--debug``, which every command with a database accepts too."""
    # SUPPRESS: a subcommand's unset --db must not undo one given before the subcommand.
    parser.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="database URL or SQLite file path (default: $STUDIO_ANALYTICS_DB, "
        "then the SQLite file in the user data folder)",
    )
    # The same for --debug.
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an unexpected error, and the tracker's")


def open_target(text: str) -> tuple[str, str]:
    """``--open execution:ID`` or ``session:ID``: what to drill into, checked here so a
    bad value is a usage error before any window opens."""
    kind, _, ident = text.partition(":")
    if kind not in ("execution", "session") or not ident.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected execution:ID or session:ID")
    if kind == "execution":
        import uuid

        try:
            uuid.UUID(ident.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{ident!r} is not an execution id (a UUID)") from None
    return kind, ident.strip()


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--screenshot", metavar="FILE.png", help="render the window offscreen after the first refresh, save it and exit")
    parser.add_argument("--tab", metavar="NAME", help="tab to show first (overview, agents, tools, models, workflows, errors, latency, alerts, "
                        "sessions, users, executions, database)")
    parser.add_argument("--open", dest="open_target", metavar="execution:ID|session:ID", type=open_target,
                        help="open that execution's or session's dialog (with --screenshot: picture that dialog)")
    parser.add_argument("--size", metavar="WxH", default=None, help="window size, e.g. 1400x900")
    parser.add_argument("--range", dest="time_range", metavar="RANGE", default=None, help="time range: 24h, 7d or 30d")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="studio-analytics",
        description="Monitoring window and reports for AI-agent metrics. "
        "Without a subcommand, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_db_argument(parser)
    add_gui_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def run_cli(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from studio_analytics.gui.app import run_gui  # Qt only when the window is wanted

        return run_gui(args)
    debug = bool(getattr(args, "debug", False))
    with _log_to_stderr(debug):
        return _run_command(args, debug)


def _run_command(args: argparse.Namespace, debug: bool) -> int:
    """The command's exit code; every failure becomes one line on stderr."""
    from studio_analytics.archive.manifest import ArchiveError
    from studio_analytics.commands.failures import (
        UsageError,
        database_error_line,
        file_error_line,
    )
    from studio_analytics.db.errors import DatabaseError

    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # `report ... | head` is normal use
        return EXIT_OK
    except UsageError as e:
        _fail(f"error: {e}", debug)
        return EXIT_USAGE
    except DatabaseError as e:
        _fail(database_error_line(e), debug)
        return EXIT_ERROR
    except ArchiveError as e:  # a file of an archive that is missing or changed: named in the message
        _fail(f"error: {e}", debug)
        return EXIT_ERROR
    except OSError as e:
        _fail(file_error_line(e), debug)
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - a bug: one line, the traceback on request
        hint = "" if debug else " (run with --debug for the traceback)"
        _fail(f"error: unexpected {type(e).__name__}: {e}{hint}", debug)
        return EXIT_ERROR


def _fail(line: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(line, file=sys.stderr)


class _OneLineFormatter(logging.Formatter):
    """Warnings (the tracker's, while `demo` writes) as their message alone: their
    tracebacks are for --debug."""

    def __init__(self, debug: bool) -> None:
        super().__init__("%(message)s")
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record) if self.debug else record.getMessage()


@contextmanager
def _log_to_stderr(debug: bool) -> Iterator[None]:
    """The package's warnings go to stderr, one line each, for the command's duration
    (removed after, so repeated run_cli calls in one process do not stack handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_OneLineFormatter(debug))
    logger = logging.getLogger("studio_analytics")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
