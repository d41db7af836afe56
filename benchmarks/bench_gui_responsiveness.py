"""Does the window stay responsive, start fast and idle cheaply on a large database?

    QT_QPA_PLATFORM=offscreen python -m benchmarks.bench_gui_responsiveness [--executions 300000]

On a database built by benchmarks/bench_analytics.py (cached under .bench/):

1. Cold start: the first refresh of this fresh process (empty SQLite page cache, no
   statement compiled yet; the OS file cache stays warm, dropping it needs root) as a
   ratio to the warm refreshes after it.
2. Responsiveness: a 10 ms QTimer on the GUI thread records how late each tick fires
   (event-loop latency), first while the window is idle, then while its poll worker
   refreshes the dashboard. The ratio is the cost the user feels.
3. Live idle CPU: process CPU time over ``--idle-seconds`` of the window refreshing
   every 2 s ("live") on an unchanged database, with the worker's change detection
   (PRAGMA data_version) and without it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=300_000)
    parser.add_argument("--refreshes", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from benchmarks.bench_analytics import build
    from studio_analytics.gui.main_window import MainWindow

    path = Path(".bench") / f"analytics-{args.executions}.sqlite3"
    path.parent.mkdir(exist_ok=True)
    build(path, args.executions)
    _app = QApplication.instance() or QApplication([])
    lateness: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        lateness.append(max(0.0, (now - last[0]) * 1000 - 10))
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)

    def measure(seconds: float | None, window: MainWindow | None = None) -> tuple[list[float], float]:
        lateness.clear()
        last[0] = time.perf_counter()
        timer.start()
        loop = QEventLoop()
        started = time.perf_counter()
        if window is None:
            QTimer.singleShot(int((seconds or 1) * 1000), loop.quit)
            loop.exec()
        else:
            done = [0]

            def finished(_h: object) -> None:
                done[0] += 1
                if done[0] >= args.refreshes:
                    loop.quit()
                else:
                    window.refresh()

            window.refresh_finished.connect(finished)
            window.refresh()
            loop.exec()
            window.refresh_finished.disconnect(finished)
        timer.stop()
        return list(lateness), time.perf_counter() - started

    seconds: list[float] = []  # the worker's time per refresh, in order
    window = MainWindow(f"sqlite:///{path.resolve()}", refresh_ms=3_600_000)
    window.poller.worker.change_detection = False  # every refresh below runs its queries
    window.poller.worker.refreshed.connect(lambda r: seconds.append(r.seconds))
    window.resize(1400, 900)
    window.show()
    loop = QEventLoop()
    window.refresh_finished.connect(lambda _h: loop.quit())
    loop.exec()  # the cold first refresh
    busy, busy_s = measure(None, window)
    idle, _ = measure(min(5.0, busy_s))
    cold_ms, warm_ms = seconds[0] * 1000, statistics.median(seconds[1:]) * 1000
    cpu = {on: live_cpu(window, args.idle_seconds, change_detection=on) for on in (True, False)}
    window.close()

    def p(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else 0.0

    print(f"database: {path} ({args.executions:,} executions); {args.refreshes} refreshes took {busy_s:.1f} s")
    print(f"event-loop lateness idle:       median {statistics.median(idle):5.1f} ms, p99 {p(idle, 0.99):6.1f} ms, max {max(idle):6.1f} ms")
    print(f"event-loop lateness refreshing: median {statistics.median(busy):5.1f} ms, p99 {p(busy, 0.99):6.1f} ms, max {max(busy):6.1f} ms")
    print(f"ratio refreshing/idle at p99: {p(busy, 0.99) / max(p(idle, 0.99), 0.1):.1f}x "
          "(one 60 Hz frame is 16.7 ms)")
    print(f"cold first refresh {cold_ms:,.0f} ms, warm {warm_ms:,.0f} ms: {cold_ms / max(warm_ms, 0.1):.1f}x")
    print(f"live (2 s) idle CPU over {args.idle_seconds:g} s: change detection on {cpu[True]:.1%} of a core, "
          f"off {cpu[False]:.1%}; ratio off/on {cpu[False] / max(cpu[True], 1e-6):.1f}x")
    return 0


def live_cpu(window: object, seconds: float, *, change_detection: bool) -> float:
    """Share of one core the process used while the window refreshed every 2 s for
    ``seconds`` on a database nobody writes to."""
    from PySide6.QtCore import QEventLoop, QTimer

    win: Any = window
    win.poller.worker.change_detection = change_detection
    win.interval.setValue(2)
    win.auto_refresh.setChecked(True)
    win.refresh()  # the first poll of each mode reads fully; then the 2 s timer runs
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    cpu, wall = time.process_time(), time.perf_counter()
    loop.exec()
    used = (time.process_time() - cpu) / (time.perf_counter() - wall)
    win.auto_refresh.setChecked(False)
    return used


if __name__ == "__main__":
    raise SystemExit(main())
