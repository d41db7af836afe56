"""Entry point: ``studio-analytics`` (window or subcommand)."""

from __future__ import annotations

import sys

#: The first argument that makes this entry point the tracker's SQLite writer process
#: (a frozen bundle has no ``python -m``; see tracker/sink_process.py).
SINK_PROCESS_FLAG = "--studio-analytics-sink-process"


def main() -> int:
    if sys.argv[1:2] == [SINK_PROCESS_FLAG]:
        from studio_analytics.tracker.sink_process import main as sink_main

        return sink_main(sys.argv[2:])
    from studio_analytics.cli import run_cli

    return run_cli(sys.argv[1:])


def gui_main() -> int:
    return main()


if __name__ == "__main__":
    sys.exit(main())
