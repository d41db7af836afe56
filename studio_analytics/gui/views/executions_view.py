"""Executions tab: filters over a lazily paged, live list of every execution in the range.

Live: each window refresh moves a preset range to now; the newest-first list then
prepends the rows newer than its first one (other sorts reload), keeping the user's
scroll position and selection, and says "N new" while the user is scrolled down.
Navigation: Home/End jump to the newest/oldest rows of the range, Ctrl+G (or the time
box and Go) restarts the list at a time; the count above the table is the filters'.
Pruned: when the range reaches hours whose raw rows a prune deleted, a line above the
list says so and where they were archived (it replaces the empty list's text when the
whole range lies before the oldest raw row); read in the first page's worker query.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QThreadPool, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateTimeEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from studio_analytics.analytics import list_executions
from studio_analytics.analytics.executions import (
    count_executions,
    cursor_at,
    list_newer_executions,
    list_oldest_executions,
)
from studio_analytics.analytics.pruning import PrunedRange, archive_note, pruned_in, raw_rows_start
from studio_analytics.analytics.results import (
    ExecutionCount,
    ExecutionFilter,
    ExecutionPage,
    PageCursor,
    TimeRange,
)
from studio_analytics.gui import zone
from studio_analytics.gui.models.execution_list_model import ExecutionListModel
from studio_analytics.gui.views.column_chooser import ColumnChooser
from studio_analytics.gui.views.execution_filter_bar import ExecutionFilterBar
from studio_analytics.gui.views.filter_chips import FilterChipsBar
from studio_analytics.gui.workers.query_runner import start_query
from studio_analytics.retention_settings import load_retention

PAGE_SIZE = 200
#: More new rows than this since the last refresh: reload instead of prepending.
PREPEND_MAX = 2_000
#: QSettings key of the columns shown and their widths (see ColumnChooser)
COLUMNS_SETTING = "executions/columns"
#: The optional columns hidden until chosen.
DEFAULT_HIDDEN = frozenset({"query_preview", "user_id", "workflow_type", "model"})
NEWEST_FIRST = ("start_time", True)
EMPTY_TEXT = "No executions match these filters in this range."


@dataclass(frozen=True, slots=True)
class PrunedPage:
    """A refresh's first page, with where the raw rows start (read once per refresh)."""

    page: ExecutionPage
    pruned: PrunedRange | None
    #: where the pruned days are (see archive_note); None when nothing was pruned
    archive: str | None


def with_pruning(query: Callable[[Any], ExecutionPage]) -> Callable[[Any], PrunedPage]:
    """``query`` plus the pruned span and the archive folder, in the same worker."""
    def run(conn: Any) -> PrunedPage:
        pruned = raw_rows_start(conn)
        return PrunedPage(query(conn), pruned, None if pruned is None else archive_note(pruned, load_retention()))
    return run


def is_live_move(old: TimeRange, new: TimeRange) -> bool:
    """The same preset, moved forward to a later now: the loaded rows are still valid."""
    return (old.label == new.label != "custom" and new.end >= old.end
            and new.end - new.start == old.end - old.start)


def count_text(c: ExecutionCount) -> str:
    noun = "execution" if c.matching == 1 and not c.capped else "executions"
    verb = "matches" if c.matching == 1 and not c.capped else "match"
    return f"{'≥ ' if c.capped else ''}{c.matching:,} {noun} {verb}"


class ExecutionTableView(QTableView):
    """The list's table: Home and End mean the range's newest and oldest rows, not just
    the first and last loaded row (the view's own meaning)."""

    home_pressed = Signal()
    end_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Home and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.home_pressed.emit()
        elif event.key() == Qt.Key.Key_End and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.end_pressed.emit()
        else:
            super().keyPressEvent(event)

    def keep_top_row(self, row: int) -> None:
        """Scroll so ``row`` is the first visible row, now: the layout after an insertion
        is normally delayed, and scrolling against the old layout would be clamped."""
        self.updateGeometries()
        self.scrollTo(self.model().index(row, 0), QAbstractItemView.ScrollHint.PositionAtTop)


class ExecutionsView(QWidget):
    execution_activated = Signal(object)  # uuid.UUID
    session_activated = Signal(str)
    pages_loaded = Signal(int)  # rows now held, after each page
    rows_prepended = Signal(int)  # how many new rows a live refresh put on top
    count_changed = Signal(object)  # ExecutionCount, for the filters and range now shown

    def __init__(self, pool: QThreadPool) -> None:
        super().__init__()
        self.pool = pool
        self.url = ""
        self.time_range: TimeRange | None = None
        self.filters = ExecutionFilter()
        self.sort: tuple[str, bool] = ("start_time", True)
        self._generation = 0
        self._runners: list[Any] = []
        self._prepending = False
        self._unseen = 0  # prepended rows above the viewport the user has not scrolled to
        self.anchor: datetime | None = None  # the list starts at this time, not the newest
        self.count: ExecutionCount | None = None
        self.pruned: PrunedRange | None = None
        self.archive: str | None = None
        self._pruned_generation = -1  # the generation self.pruned was read for
        self.model = ExecutionListModel()
        self.model.page_requested.connect(self._load_page)

        self.filter_bar = ExecutionFilterBar(pool, lambda: self.url)
        self.filter_bar.apply_requested.connect(self.apply_filters)
        self.filter_bar.clear_requested.connect(lambda: self.set_filter(ExecutionFilter()))
        bar = self.filter_bar
        self.text, self.agent, self.tool = bar.text, bar.agent, bar.tool
        self.session, self.user, self.status = bar.session, bar.user, bar.status
        self.chips = FilterChipsBar()
        self.chips.filter_reduced.connect(self.set_filter)
        self.columns_button = QPushButton("Col&umns…")
        self.columns_button.setToolTip("Choose the columns shown (also: right-click a column header)")

        self.count_label = QLabel()
        self.count_label.setObjectName("executionCount")
        self.new_button = QPushButton()
        self.new_button.setObjectName("newRows")
        self.new_button.setToolTip("Newer executions arrived above; click (or press Home) to see them")
        self.new_button.clicked.connect(self._new_clicked)
        self.new_button.hide()
        self.anchor_label = QLabel()
        self.anchor_label.hide()
        self.goto_time = QDateTimeEdit(zone.to_input(datetime.now(UTC)))
        self.goto_time.setCalendarPopup(True)
        self.goto_time.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.goto_time.setToolTip("Show the executions that started at or before this time (Ctrl+G)")
        goto = QPushButton("Go")
        goto.setToolTip("Go to time (Ctrl+G)")
        goto.clicked.connect(lambda: self.go_to_time(zone.from_input(self.goto_time.dateTime().toPython())))
        self.goto_time.editingFinished.connect(goto.setFocus)  # Enter in the box, then Enter on Go
        QShortcut(QKeySequence("Ctrl+G"), self, self._focus_goto)
        nav = QHBoxLayout()
        nav.addWidget(self.columns_button)
        nav.addWidget(self.count_label)
        nav.addWidget(self.new_button)
        nav.addWidget(self.anchor_label)
        nav.addStretch(1)
        go_label = QLabel("&Go to time")
        go_label.setBuddy(self.goto_time)
        nav.addWidget(go_label)
        nav.addWidget(self.goto_time)
        nav.addWidget(goto)

        self.table = ExecutionTableView()
        self.table.setModel(self.model)
        self.table.home_pressed.connect(self.go_newest)
        self.table.end_pressed.connect(self.go_oldest)
        self.table.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.activated.connect(self._activated)  # double-click or Enter, once either way
        # Connected after the initial sort indicator, which would otherwise ask for a reload.
        self.model.sort_requested.connect(self._sort_changed)
        self.pruned_label = QLabel()
        self.pruned_label.setObjectName("prunedRows")
        self.pruned_label.setWordWrap(True)
        self.pruned_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pruned_label.hide()
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setWordWrap(True)
        self.empty.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.hide()
        self.column_chooser = ColumnChooser(self.table, self.model.COLUMNS, COLUMNS_SETTING, DEFAULT_HIDDEN)
        self.columns_button.clicked.connect(self._choose_columns)
        layout = QVBoxLayout(self)
        layout.addWidget(bar)
        layout.addWidget(self.chips)
        layout.addLayout(nav)
        layout.addWidget(self.pruned_label)
        layout.addWidget(self.table, stretch=1)
        layout.addWidget(self.empty)

    # -- inputs ---------------------------------------------------------------------
    def set_database(self, url: str) -> None:
        self.url = url
        self.refresh()

    def set_time_range(self, tr: TimeRange) -> None:
        """A new range, or the same preset moved to now by a refresh (then the list stays
        and only what is new is fetched)."""
        if tr == self.time_range:
            return
        old, self.time_range = self.time_range, tr
        if old is None or not self.url or not is_live_move(old, tr):
            self.refresh()
        else:
            self._live_update(tr)

    def set_filter(self, f: ExecutionFilter) -> None:
        """Show and apply ``f`` (a drill-down, a saved view, a removed chip): every field
        set is a chip, none is hidden state."""
        self.filters = f
        self.filter_bar.show_filter(f)
        self.chips.set_filter(f)
        self.refresh()

    def apply_filters(self) -> None:
        """The inputs' filter (drill-down-only parts such as an error group, a workflow's
        executions or a brushed span kept until their chips are removed)."""
        f = self.filter_bar.read(self.filters)
        if f is None:
            return  # a number that does not parse: its input says why
        self.filters = f
        self.chips.set_filter(f)
        self.refresh()

    def show_span(self, start: datetime, end: datetime) -> None:
        """Only the executions that started in [start, end) (a span brushed on a chart)."""
        self.set_filter(replace(self.filters, started_after=min(start, end), started_before=max(start, end)))

    def refresh(self) -> None:
        """Start over from the first page (new filter, sort, range or database)."""
        self._start_over(None)
        if self.url and self.time_range is not None:
            self.model.fetchMore()

    def _start_over(self, anchor: datetime | None, cursor: PageCursor | None = None) -> None:
        self._generation += 1
        self._prepending = False
        self.anchor = anchor
        self.model.start_at(cursor)
        self.empty.hide()
        self.pruned_label.hide()  # until this refresh's first page says where raw rows start
        self._show_unseen(0)
        self.anchor_label.setText("" if anchor is None else
                                  f"From {zone.in_zone(anchor):%Y-%m-%d %H:%M:%S %Z} back · Home: newest")
        self.anchor_label.setVisible(anchor is not None)
        self._start_count()

    # -- navigation -----------------------------------------------------------------
    def go_newest(self) -> None:
        """Home: the newest rows of the range, at the top."""
        if self.anchor is not None or self.sort != NEWEST_FIRST:
            self._use_newest_first()
            self.refresh()
        self._show_unseen(0)
        self.table.scrollToTop()
        if self.model.rowCount():
            self.table.selectRow(0)

    def go_oldest(self) -> None:
        """End: the oldest rows of the range (read ascending from its start, shown newest
        first at the bottom) — not the end of however many pages happen to be loaded."""
        tr, filters = self.time_range, self.filters
        if tr is None or not self.url:
            return
        self._use_newest_first()
        self._start_over(tr.start)
        self.anchor_label.setText("Oldest executions of the range · Home: newest")
        self.model.hold()
        self._start(self._first_page(lambda conn: list_oldest_executions(conn, tr, filters=filters,
                                                                         limit=PAGE_SIZE)),
                    self._oldest_loaded, self._page_failed)

    def go_to_time(self, when: datetime) -> None:
        """Restart the list at ``when``: the newest row that started at or before it
        first, older ones below as the user scrolls."""
        tr = self.time_range
        if tr is None or not self.url:
            return
        if when >= tr.end:
            self.anchor = None
            self.go_newest()
            return
        self._use_newest_first()
        when = max(when, tr.start)
        self._start_over(when, cursor_at(when))
        self.model.fetchMore()
        self.table.setFocus()

    def _focus_goto(self) -> None:
        self.goto_time.setFocus()
        self.goto_time.setSelectedSection(QDateTimeEdit.Section.DaySection)

    def _use_newest_first(self) -> None:
        """Jumps are in time: they show the list newest first whatever sort was chosen."""
        self.sort = NEWEST_FIRST
        header = self.table.horizontalHeader()
        header.blockSignals(True)
        header.setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        header.blockSignals(False)

    def _oldest_loaded(self, generation: int, page: ExecutionPage | PrunedPage) -> None:
        self._page_loaded(generation, page)
        if generation == self._generation and self.model.rowCount():
            self.table.scrollToBottom()
            self.table.selectRow(self.model.rowCount() - 1)

    # -- live refresh ---------------------------------------------------------------
    def _live_update(self, tr: TimeRange) -> None:
        # Anchored at a time, or sorted by duration: new rows do not go on top, so the
        # count says how many arrived (see _counted) and the list reloads when the user
        # is at its top with nothing selected, or clicks "N new".
        self._start_count(live=True)
        self._show_pruned()  # the range moved on: it may have left the pruned days
        if self.anchor is not None or self.sort != NEWEST_FIRST:
            return
        self.model.drop_older_than(tr.start)
        newest = self.model.newest()
        if newest is None:
            if self.model.complete:  # an empty, finished list: ask again
                self.refresh()
            return
        if self._prepending:
            return  # the one on its way will be followed by the next refresh
        self._prepending = True
        filters = self.filters
        self._start(lambda conn: list_newer_executions(conn, tr, newest, filters=filters, limit=PREPEND_MAX),
                    self._newer_loaded, self._newer_failed)

    def _newer_loaded(self, generation: int, page: ExecutionPage | None) -> None:
        if generation != self._generation:
            return
        self._prepending = False
        if page is None:
            self.refresh()  # too many to prepend
            return
        n = len(page.rows)
        if not n:
            return
        top = self.table.rowAt(0)
        scrolled = self.table.verticalScrollBar().value() > 0 and top > 0
        self.model.prepend_rows(page.rows)  # selection follows: Qt shifts persistent indexes
        if scrolled:
            self.table.keep_top_row(top + n)
            self._show_unseen(self._unseen + n)
        self.empty.setVisible(self.model.rowCount() == 0)
        self.rows_prepended.emit(n)

    def _newer_failed(self, generation: int, _error: Any) -> None:
        if generation == self._generation:
            self._prepending = False  # the next refresh tries again

    def _new_clicked(self) -> None:
        if self.sort != NEWEST_FIRST and self.anchor is None:
            self.refresh()  # a new row may sort anywhere: only a reload places it
        else:
            self.go_newest()

    def _untouched(self) -> bool:
        """At the top with nothing selected: a reload would move nothing the user chose."""
        return self.table.verticalScrollBar().value() == 0 and not self.table.selectionModel().hasSelection()

    def _show_unseen(self, n: int) -> None:
        self._unseen = n
        self.new_button.setText(f"↑ {n:,} new")
        self.new_button.setVisible(n > 0)

    def _scrolled(self, value: int) -> None:
        if value == 0 and self._unseen:
            self._show_unseen(0)

    # -- counting -------------------------------------------------------------------
    def _start_count(self, *, live: bool = False) -> None:
        tr, filters = self.time_range, self.filters
        if tr is None or not self.url:
            return
        self._start(lambda conn: count_executions(conn, tr, filters=filters),
                    lambda generation, c: self._counted(generation, c, live=live), lambda _g, _e: None)

    def _counted(self, generation: int, c: ExecutionCount, *, live: bool = False) -> None:
        if generation != self._generation:
            return
        before, self.count = self.count, c
        if live and before is not None and (self.anchor is not None or self.sort != NEWEST_FIRST):
            arrived = c.matching - before.matching  # same filters: the range only moved on
            if arrived > 0 and self.anchor is None and self._untouched():
                self.refresh()
                return
            if arrived > 0:
                self._show_unseen(self._unseen + arrived)
        self.count_label.setText(count_text(c))
        self.count_changed.emit(c)

    def _start(self, query: Callable[[Any], Any], done: Callable[[int, Any], None],
               failed: Callable[[int, Any], None]) -> None:
        self._runners = [r for r in self._runners if r.generation == self._generation]
        self._runners.append(start_query(self.pool, self.url, self._generation, query, done, failed))

    # -- paging ---------------------------------------------------------------------
    def _load_page(self, cursor: PageCursor | None) -> None:
        tr, filters, (sort, desc) = self.time_range, self.filters, self.sort
        if tr is None:
            self.model.page_failed()
            return
        self._start(self._first_page(lambda conn: list_executions(conn, tr, filters=filters, sort=sort,
                                                                  descending=desc, after=cursor, limit=PAGE_SIZE)),
                    self._page_loaded, self._page_failed)

    def _first_page(self, query: Callable[[Any], ExecutionPage]) -> Callable[[Any], Any]:
        """The first page of a refresh also reads where the raw rows start; later pages don't."""
        return query if self._pruned_generation == self._generation else with_pruning(query)

    def _page_loaded(self, generation: int, page: ExecutionPage | PrunedPage) -> None:
        if generation != self._generation:
            return  # a page for an old filter or sort
        if isinstance(page, PrunedPage):
            self.pruned, self.archive, self._pruned_generation = page.pruned, page.archive, generation
            page = page.page
        first = self.model.rowCount() == 0
        self.model.add_page(page)
        if first and page.rows:
            # Sized from the first page the first time only (a million rows are never
            # measured); sizing on every reload made the widths jump with each filter.
            self.column_chooser.fit_once()
        self._show_pruned()
        self.empty.setVisible(self.model.rowCount() == 0)
        self.pages_loaded.emit(self.model.rowCount())

    def _show_pruned(self) -> None:
        """The pruned line for the range and brushed span shown (from this refresh's read:
        no database here): above the list, or instead of the empty list's text when the
        whole span lies before the oldest raw row."""
        tr, f = self.time_range, self.filters
        pruned = None if tr is None else pruned_in(self.pruned, tr, f.started_after, f.started_before)
        if pruned is None or tr is None:
            self.pruned_label.hide()
            self.empty.setText(EMPTY_TEXT)
            return
        text = pruned.message(self.archive)
        end = min(tr.end, f.started_before) if f.started_before is not None else tr.end
        if pruned.covers(tr.start, end) and self.model.rowCount() == 0:
            self.pruned_label.hide()
            self.empty.setText(text)
        else:
            self.pruned_label.setText(text)
            self.pruned_label.show()
            self.empty.setText(EMPTY_TEXT)

    def _page_failed(self, generation: int, error: Any) -> None:
        if generation == self._generation:
            self.model.page_failed()
            self.empty.setText(f"Could not load executions: {error.message}")
            self.empty.show()

    def _sort_changed(self, field: str, descending: bool) -> None:
        self.sort = (field if field in ("start_time", "duration_ms") else "start_time", descending)
        self.refresh()

    def _choose_columns(self) -> None:
        button = self.columns_button
        self.column_chooser.menu().exec(button.mapToGlobal(button.rect().bottomLeft()))

    def _activated(self, index: QModelIndex) -> None:
        row = self.model.row_at(index.row())
        if self.model.COLUMNS[index.column()].field == "session_id" and row.session_id:
            self.session_activated.emit(row.session_id)
        else:
            self.execution_activated.emit(uuid.UUID(str(row.execution_id)))
