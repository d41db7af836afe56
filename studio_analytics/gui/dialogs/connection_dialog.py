"""ConnectionDialog: choose a SQLite file or a PostgreSQL server, test it, remember it.

Recent connections are kept in QSettings without their passwords; a password typed
here lives only in memory for this run (or use ~/.pgpass).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, QThreadPool, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import URL, make_url

from studio_analytics.analytics import database_health
from studio_analytics.db.engine import create_db_engine, safe_url
from studio_analytics.gui.workers.query_runner import QueryRunner

RECENT_KEY = "connections/recent"
MAX_RECENT = 8


def without_password(url: str) -> str:
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001
        return url
    if not parsed.password:
        return url
    # URL.set(password=None) means "leave unchanged": rebuild without it.
    return URL.create(parsed.drivername, username=parsed.username, host=parsed.host, port=parsed.port,
                      database=parsed.database, query=parsed.query).render_as_string(hide_password=False)


def recent_connections() -> list[str]:
    value = QSettings().value(RECENT_KEY, [])
    return [str(v) for v in (value if isinstance(value, list) else [value] if value else [])]


def remember_connection(url: str) -> None:
    clean = without_password(url)
    items = [clean] + [u for u in recent_connections() if u != clean]
    QSettings().setValue(RECENT_KEY, items[:MAX_RECENT])


class _HealthRunner(QueryRunner):
    """Tests a URL: connect read-only, read the schema state and row counts."""

    def run(self) -> None:
        try:
            engine = create_db_engine(self.url, read_only=True)
            health = database_health(engine, self.url)
            engine.dispose()
        except Exception as e:  # noqa: BLE001
            from studio_analytics.db.engine import translate_error

            self.signals.failed.emit(self.generation, translate_error(e, self.url))
            return
        self.signals.finished.emit(self.generation, health)


class ConnectionDialog(QDialog):
    tested = Signal(bool, str)  # ok, message shown

    def __init__(self, current_url: str, pool: QThreadPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to a metrics database")
        self.pool = pool
        self._generation = 0
        self._runner: _HealthRunner | None = None
        self.recent = QComboBox()
        self.recent.addItems(recent_connections())
        self.recent.setPlaceholderText("Recent connections")
        self.recent.setCurrentIndex(-1)
        self.recent.activated.connect(lambda _i: self._use_url(self.recent.currentText()))

        self.sqlite_path = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.sqlite_path)
        file_row.addWidget(browse)
        sqlite_page = QWidget()
        QFormLayout(sqlite_page).addRow("SQLite file", file_row)

        self.host, self.database, self.user = QLineEdit("localhost"), QLineEdit(), QLineEdit()
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(5432)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("not saved; or use ~/.pgpass")
        pg_page = QWidget()
        form = QFormLayout(pg_page)
        for label, w in (("Host", self.host), ("Port", self.port), ("Database", self.database),
                         ("User", self.user), ("Password", self.password)):
            form.addRow(label, w)

        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("sqlite:////path/metrics.sqlite3 or postgresql://user@host/db")
        url_page = QWidget()
        QFormLayout(url_page).addRow("URL", self.url_edit)

        self.kinds = QTabWidget()
        self.kinds.addTab(sqlite_page, "SQLite file")
        self.kinds.addTab(pg_page, "PostgreSQL")
        self.kinds.addTab(url_page, "URL")
        self.result = QLabel(" ")
        self.result.setWordWrap(True)
        test = QPushButton("Test connection")
        test.clicked.connect(self.test_connection)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.recent)
        layout.addWidget(self.kinds)
        layout.addWidget(test)
        layout.addWidget(self.result)
        layout.addWidget(buttons)
        self._use_url(current_url)

    def _use_url(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except Exception:  # noqa: BLE001
            self.url_edit.setText(url)
            self.kinds.setCurrentIndex(2)
            return
        if parsed.get_backend_name() == "sqlite":
            self.sqlite_path.setText(parsed.database or "")
            self.kinds.setCurrentIndex(0)
        elif parsed.get_backend_name() == "postgresql":
            self.host.setText(parsed.host or "localhost")
            self.port.setValue(parsed.port or 5432)
            self.database.setText(parsed.database or "")
            self.user.setText(parsed.username or "")
            self.kinds.setCurrentIndex(1)
        self.url_edit.setText(safe_url(url))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "SQLite metrics file", self.sqlite_path.text(),
                                              "SQLite (*.sqlite3 *.sqlite *.db);;All files (*)")
        if path:
            self.sqlite_path.setText(path)

    def selected_url(self) -> str:
        kind = self.kinds.currentIndex()
        if kind == 0:
            return f"sqlite:///{self.sqlite_path.text().strip()}"
        if kind == 1:
            return URL.create("postgresql", username=self.user.text().strip() or None,
                              password=self.password.text() or None, host=self.host.text().strip() or None,
                              port=self.port.value(), database=self.database.text().strip() or None
                              ).render_as_string(hide_password=False)
        return self.url_edit.text().strip()

    def test_connection(self) -> None:
        self._generation += 1
        self.result.setText("Testing…")
        runner = _HealthRunner(self.selected_url(), self._generation, lambda _c: None)
        runner.signals.finished.connect(self._tested)
        runner.signals.failed.connect(self._failed)
        self._runner = runner
        self.pool.start(runner)

    def _tested(self, generation: int, health: Any) -> None:
        if generation != self._generation:
            return
        if health.ok:
            rows = health.row_counts.get("agent_execution_metrics", 0)
            text = f"✔ Connected: {health.schema_kind} schema, {rows:,} executions"
        else:
            text = f"✘ {health.message}" + (f" — {health.hint}" if health.hint else "")
        self.result.setText(text)
        self.tested.emit(health.ok, text)

    def _failed(self, generation: int, error: Any) -> None:
        if generation == self._generation:
            text = f"✘ {error.message}" + (f" — {error.hint}" if error.hint else "")
            self.result.setText(text)
            self.tested.emit(False, text)

    def accept(self) -> None:
        remember_connection(self.selected_url())
        super().accept()
