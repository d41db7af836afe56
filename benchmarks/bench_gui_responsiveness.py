"""Does the window stay responsive while a large database is refreshed?

    QT_QPA_PLATFORM=offscreen python -m benchmarks.bench_gui_responsiveness [--executions 1000000]

A 10 ms QTimer on the GUI thread records how late each tick fires (event-loop latency),
first while the window is idle, then while its poll worker refreshes the dashboard of a
large database (built by benchmarks/bench_analytics.py, cached under .bench/). The ratio
of the two is the cost the user feels; the refresh itself runs in the worker thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--refreshes", type=int, default=3)
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

    window = MainWindow(f"sqlite:///{path.resolve()}", refresh_ms=3_600_000)
    window.resize(1400, 900)
    window.show()
    loop = QEventLoop()
    window.refresh_finished.connect(lambda _h: loop.quit())
    loop.exec()  # first refresh, not measured
    busy, busy_s = measure(None, window)
    idle, _ = measure(min(5.0, busy_s))
    window.close()

    def p(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else 0.0

    print(f"database: {path} ({args.executions:,} executions); {args.refreshes} refreshes took {busy_s:.1f} s")
    print(f"event-loop lateness idle:       median {statistics.median(idle):5.1f} ms, p99 {p(idle, 0.99):6.1f} ms, max {max(idle):6.1f} ms")
    print(f"event-loop lateness refreshing: median {statistics.median(busy):5.1f} ms, p99 {p(busy, 0.99):6.1f} ms, max {max(busy):6.1f} ms")
    print(f"ratio refreshing/idle at p99: {p(busy, 0.99) / max(p(idle, 0.99), 0.1):.1f}x "
          "(one 60 Hz frame is 16.7 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
