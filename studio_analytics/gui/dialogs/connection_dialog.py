"""ConnectionDialog: choose a SQLite file or a PostgreSQL server, test it, remember it.

Recent connections are kept in QSettings without their passwords; a password typed
here lives only in memory for this run (or use ~/.pgpass).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, Qt, QThreadPool, Signal
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
    QSizePolicy,
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


def _form(page: QWidget) -> QFormLayout:
    form = QFormLayout(page)
    # Fields grow with the dialog on every platform (macOS keeps them at their hint).
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


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
        self._tested_page = 0
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
        _form(sqlite_page).addRow("SQLite file", file_row)

        self.host, self.database, self.user = QLineEdit("localhost"), QLineEdit(), QLineEdit()
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(5432)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("not saved; or use ~/.pgpass")
        pg_page = QWidget()
        form = _form(pg_page)
        for label, w in (("Host", self.host), ("Port", self.port), ("Database", self.database),
                         ("User", self.user), ("Password", self.password)):
            form.addRow(label, w)

        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("sqlite:////path/metrics.sqlite3 or postgresql://user@host/db")
        url_page = QWidget()
        _form(url_page).addRow("URL", self.url_edit)

        self.kinds = QTabWidget()
        self.kinds.addTab(sqlite_page, "SQLite file")
        self.kinds.addTab(pg_page, "PostgreSQL")
        self.kinds.addTab(url_page, "URL")
        # Each kind of connection says its own test result: a SQLite error is never left
        # on the PostgreSQL tab. A message goes when its tab is left or its fields change.
        self.results: list[QLabel] = []
        for page in (sqlite_page, pg_page, url_page):
            label = QLabel("")
            label.setObjectName("connectionResult")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # Taller as it wraps: the tab page's spare height, not a clipped second line.
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.MinimumExpanding)
            label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            page_form = page.layout()
            assert isinstance(page_form, QFormLayout)
            page_form.addRow(label)
            self.results.append(label)
        self.kinds.currentChanged.connect(lambda _i: self._clear_results())
        for i, edits in enumerate(((self.sqlite_path,), (self.host, self.database, self.user, self.password),
                                   (self.url_edit,))):
            for edit in edits:
                edit.textEdited.connect(lambda _t, i=i: self._clear_results(i))
        self.port.valueChanged.connect(lambda _v: self._clear_results(1))
        test = QPushButton("Test connection")
        test.clicked.connect(self.test_connection)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.recent)
        layout.addWidget(self.kinds)
        layout.addWidget(test)
        layout.addWidget(buttons)
        # Room for a real path or URL; the fields take any width the dialog is given.
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("x") * 84)
        self._use_url(current_url)

    @property
    def result(self) -> QLabel:
        """The test result of the kind of connection shown."""
        return self.results[self.kinds.currentIndex()]

    def _clear_results(self, page: int | None = None) -> None:
        """A switch or an edit: the shown results no longer describe the fields, and a
        test still running is dropped."""
        self._generation += 1
        for i, label in enumerate(self.results):
            if page is None or i == page:
                label.setText("")

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
        self._tested_page = self.kinds.currentIndex()
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
        self._show_result(text)
        self.tested.emit(health.ok, text)

    def _failed(self, generation: int, error: Any) -> None:
        if generation == self._generation:
            text = f"✘ {error.message}" + (f" — {error.hint}" if error.hint else "")
            self._show_result(text)
            self.tested.emit(False, text)

    def _show_result(self, text: str) -> None:
        # A path or URL has no spaces to wrap at: let it break after each "/" instead of
        # running out of the dialog.
        self.results[self._tested_page].setText(text.replace("/", "/\u200b"))

    def accept(self) -> None:
        remember_connection(self.selected_url())
        super().accept()
