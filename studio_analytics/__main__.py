"""Entry point: ``studio-analytics`` (window or subcommand)."""

from __future__ import annotations

import sys


def main() -> int:
    from studio_analytics.cli import run_cli

    return run_cli(sys.argv[1:])


def gui_main() -> int:
    return main()


if __name__ == "__main__":
    sys.exit(main())
