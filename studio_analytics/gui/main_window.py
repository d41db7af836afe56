"""MainWindow: database state, polled in the background and refreshed live."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics.results import Health
from studio_analytics.gui.models.row_count_table_model import RowCountTableModel
from studio_analytics.gui.views.banner import Banner
from studio_analytics.gui.workers.poll_worker import PollThread

DEFAULT_REFRESH_MS = 30_000
MAX_BACKOFF_MS = 60_000


class MainWindow(QMainWindow):
    refresh_finished = Signal(object)  # Health, after the window has shown it

    def __init__(self, url: str, *, refresh_ms: int = DEFAULT_REFRESH_MS) -> None:
        super().__init__()
        self.url = url
        self.setWindowTitle("studio-analytics")
        self._generation = 0
        self._refresh_ms = refresh_ms
        self._failures = 0
        self.last_health: Health | None = None

        self.banner = Banner()
        self.url_label = QLabel()
        self.schema_label = QLabel()
        self.size_label = QLabel()
        self.newest_label = QLabel()
        self.counts_model = RowCountTableModel()
        self.counts_view = QTableView()
        self.counts_view.setModel(self.counts_model)
        self.counts_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.counts_view.verticalHeader().hide()

        form = QFormLayout()
        form.addRow("Database", self.url_label)
        form.addRow("Schema", self.schema_label)
        form.addRow("Size", self.size_label)
        form.addRow("Newest execution", self.newest_label)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addLayout(form)
        layout.addWidget(self.counts_view)
        self.setCentralWidget(central)
        self.statusBar().showMessage("Connecting…")

        self.poller = PollThread(self)
        self.poller.worker.health_ready.connect(self._on_health)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self._generation += 1
        self.poller.poll_requested.emit(self._generation, self.url)

    def _on_health(self, generation: int, health: Health, seconds: float) -> None:
        if generation != self._generation:
            return  # a newer request is on its way
        if health.ok:
            self._failures = 0
            self.banner.hide()
            self.last_health = health
            self.url_label.setText(health.url)
            self.schema_label.setText(f"{health.schema_kind} (revision {health.schema_revision or '—'})")
            self.size_label.setText(_size(health.database_size_bytes))
            self.newest_label.setText(_when(health.newest_row_time))
            self.counts_model.set_counts(health.row_counts)
            self.centralWidget().setEnabled(True)
            delay = self._refresh_ms
        else:
            self._failures += 1
            self.banner.show_problem(health.message, health.hint)
            self.url_label.setText(health.url)
            self.counts_view.setEnabled(self.last_health is None)  # grey out stale data
            delay = min(1000 * 2 ** min(self._failures - 1, 6), MAX_BACKOFF_MS)
        now = datetime.now().strftime("%H:%M:%S")
        state = "connected" if health.ok else "disconnected"
        self.statusBar().showMessage(f"{state} · refreshed {now} · queries {seconds * 1000:.0f} ms")
        self.timer.start(delay)
        self.refresh_finished.emit(health)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.stop()
        self.poller.stop()
        super().closeEvent(event)


def _size(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n}"


def _when(t: datetime | None) -> str:
    return "no executions yet" if t is None else t.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
