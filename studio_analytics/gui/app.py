"""run_gui(): exception hook, logging, database URL, then the QApplication and the window."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from types import TracebackType

from studio_analytics.config import resolve_db_url

log = logging.getLogger(__name__)


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    # A slot that raises must not take the window down; log it and go on.
    log.error("unhandled exception:\n%s", "".join(traceback.format_exception(kind, value, tb)))


def _parse_size(text: str | None) -> tuple[int, int]:
    if not text:
        return (1280, 820)
    w, _, h = text.lower().partition("x")
    return (int(w), int(h))


def run_gui(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.excepthook = _excepthook
    url = resolve_db_url(getattr(args, "db", None))

    from PySide6.QtWidgets import QApplication

    from studio_analytics.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("studio-analytics")
    app.setOrganizationName("studio-analytics")
    window = MainWindow(url)
    window.resize(*_parse_size(getattr(args, "size", None)))
    screenshot = getattr(args, "screenshot", None)
    if screenshot:
        def save(_health: object) -> None:
            window.refresh_finished.disconnect(save)
            ok = window.grab().save(screenshot)
            if not ok:
                log.error("could not write %s", screenshot)
            window.close()
            app.exit(0 if ok else 1)

        window.refresh_finished.connect(save)
    window.show()
    code = app.exec()
    window.close()
    return int(code)
