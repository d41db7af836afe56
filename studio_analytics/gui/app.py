"""run_gui(): exception hook, logging, database URL, then the QApplication and the window."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

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


def restore_geometry(window: Any, saved: Any) -> None:
    """The window as it was last closed, but never larger than the screen it lands on nor
    off it: a geometry saved on a bigger monitor (or a screen since unplugged) would
    otherwise open a window whose title bar and edges cannot be reached. Call
    :func:`clamp_to_screen` again once the window is shown and its frame is known."""
    window.restoreGeometry(saved)
    clamp_to_screen(window)


def clamp_to_screen(window: Any) -> None:
    """Shrink and move ``window`` so that its frame lies within the available geometry
    (without panels and docks) of the screen it is on."""
    from PySide6.QtGui import QGuiApplication

    frame = window.frameGeometry()
    screen = QGuiApplication.screenAt(frame.center()) or window.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return
    available = screen.availableGeometry()
    # The frame (title bar, borders) counts; resize() sets the client area.
    extra_w, extra_h = frame.width() - window.width(), frame.height() - window.height()
    width = max(1, min(window.width(), available.width() - extra_w))
    height = max(1, min(window.height(), available.height() - extra_h))
    if (width, height) != (window.width(), window.height()):
        window.resize(width, height)
    frame = window.frameGeometry()
    x = min(max(frame.left(), available.left()), available.right() - frame.width() + 1)
    y = min(max(frame.top(), available.top()), available.bottom() - frame.height() + 1)
    if (x, y) != (frame.left(), frame.top()):
        window.move(x, y)  # move() places the frame's top-left corner


def run_gui(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.excepthook = _excepthook
    url = resolve_db_url(getattr(args, "db", None))

    from PySide6.QtWidgets import QApplication

    from studio_analytics.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("studio-analytics")
    app.setOrganizationName("studio-analytics")
    home = os.environ.get("STUDIO_ANALYTICS_HOME")
    if home:  # tests and development keep window state out of the user's settings
        from PySide6.QtCore import QSettings

        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, os.path.join(home, "settings"))
    from PySide6.QtCore import QSettings

    settings = QSettings()
    preset = getattr(args, "time_range", None) or str(settings.value("window/range", "7d"))
    from studio_analytics.gui import zone

    zone.setting().set_utc(str(settings.value("time/utc", "false")).lower() == "true")
    from studio_analytics.gui.resources import app_icon, stylesheet
    from studio_analytics.gui.sort_arrow_style import use_conventional_sort_arrows

    use_conventional_sort_arrows(app)  # before the stylesheet, which wraps the style
    app.setWindowIcon(app_icon())
    dark = app.palette().window().color().lightness() < 128  # the system's colour scheme
    app.setStyleSheet(stylesheet(dark))
    window = MainWindow(url, range_preset=preset)
    geometry = settings.value("window/geometry")
    if geometry is not None and not getattr(args, "size", None):
        restore_geometry(window, geometry)
    else:
        window.resize(*_parse_size(getattr(args, "size", None)))
    if getattr(args, "tab", None):
        window.show_tab(args.tab)
    window.show()
    if geometry is not None and not getattr(args, "size", None):
        clamp_to_screen(window)  # now with the frame the window manager gave it
    target = getattr(args, "open_target", None)
    dialog = _open_target(window, target, getattr(args, "size", None)) if target else None
    screenshot = getattr(args, "screenshot", None)
    if screenshot:
        _screenshot_when_ready(app, window, dialog, screenshot)
    code = app.exec()
    window.close()
    return int(code)


def _open_target(window: Any, target: tuple[str, str], size: str | None) -> Any:
    """``--open execution:ID`` / ``session:ID``: that drill-down dialog over the window."""
    import uuid

    kind, ident = target
    dialog = window.open_execution(uuid.UUID(ident)) if kind == "execution" else window.open_session(ident)
    if size:
        dialog.resize(*_parse_size(size))
    return dialog


def _screenshot_when_ready(app: Any, window: Any, dialog: Any, path: str) -> None:
    """Save a picture of the window after its first refresh — or of ``dialog`` once its
    detail has loaded — then quit (exit code 1 when it could not be written, or when
    the dialog's execution or session could not be shown)."""
    from PySide6.QtCore import QTimer

    shown = True

    def grab() -> None:
        ok = _save_private_png((dialog or window).grab(), path)
        if not ok:
            log.error("could not write %s", path)
        window.close()
        app.exit(0 if ok and shown else 1)

    def settled(_payload: object = None) -> None:
        # Let layouts settle (axis widths follow their labels) before the picture.
        QTimer.singleShot(300, grab)

    def ready(payload: object) -> None:
        nonlocal shown
        signal.disconnect(ready)
        if dialog is not None and payload is None:
            shown = False
            log.error("%s", dialog.message.text().replace("<b>", "").replace("</b>", "").replace("<br>", ": "))
        if dialog is None and window.current_tab == "latency":
            # The Latency tab reads its histogram after the refresh: wait for it (bounded).
            once = _Once(settled)
            window.latency.report_shown.connect(once)
            QTimer.singleShot(15_000, once)
            return
        if dialog is None and window.current_tab == "alerts" and window.alerts.chart_pending:
            # The Alerts tab replays its chart's rule after the refresh: wait for it (bounded).
            once = _Once(settled)
            window.alerts.chart_shown.connect(once)
            QTimer.singleShot(15_000, once)
            return
        settled()

    signal = window.refresh_finished if dialog is None else dialog.detail_loaded
    signal.connect(ready)


class _Once:
    """Calls ``action`` the first time it is called, never again."""

    def __init__(self, action: Any) -> None:
        self.action: Any = action

    def __call__(self, *_args: object) -> None:
        action, self.action = self.action, None
        if action is not None:
            action()


def _save_private_png(picture: Any, path: str) -> bool:
    """The window's picture shows the users' data: written 0600, to a temporary file
    beside ``path`` that replaces it only once complete."""
    import tempfile

    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".png")  # 0600
    os.close(fd)
    try:
        if not picture.save(tmp, "PNG"):
            return False
        os.replace(tmp, target)
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)
