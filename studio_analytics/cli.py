"""Command-line parser. Each subcommand lives in ``studio_analytics.commands.<name>``
and contributes ``register(subparsers)``; its handler returns the exit code."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from studio_analytics import __version__

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "studio_analytics.commands.db",
    "studio_analytics.commands.report",
    "studio_analytics.commands.export",
    "studio_analytics.commands.show",
    "studio_analytics.commands.demo",
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database URL or SQLite file path (default: $STUDIO_ANALYTICS_DB, "
        "then the SQLite file in the user data folder)",
    )


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--screenshot", metavar="FILE.png", help="render the window offscreen after the first refresh, save it and exit")
    parser.add_argument("--tab", metavar="NAME", help="tab to show first (overview, agents, tools, workflows, errors, sessions, executions)")
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
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()  # `report ... | head` is normal use
        return EXIT_OK
