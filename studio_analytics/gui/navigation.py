"""Back and Forward through the window's places: which tab, with which executions filter.

A place is recorded when the tab or the Executions filter changes (by a drill-down, a
tab shortcut or a click), as a browser records pages: Back after a drill-down returns
to the summary it came from, Forward goes there again. Going back and then somewhere
new drops the places ahead, as a browser does.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio_analytics.analytics.results import ExecutionFilter

#: Enough for any session of drilling around; the oldest places go first.
MAX_PLACES = 100


@dataclass(frozen=True, slots=True)
class NavState:
    tab: str
    filters: ExecutionFilter = ExecutionFilter()


class NavigationHistory:
    """Places visited, and where in them the window is now."""

    def __init__(self, limit: int = MAX_PLACES) -> None:
        self._places: list[NavState] = []
        self._index = -1
        self._limit = limit

    @property
    def current(self) -> NavState | None:
        return self._places[self._index] if self._places else None

    def visit(self, place: NavState) -> bool:
        """Record ``place`` as where the window now is; False when it is already there."""
        if place == self.current:
            return False
        del self._places[self._index + 1:]
        self._places.append(place)
        if len(self._places) > self._limit:
            del self._places[0]
        self._index = len(self._places) - 1
        return True

    def can_go_back(self) -> bool:
        return self._index > 0

    def can_go_forward(self) -> bool:
        return self._index < len(self._places) - 1

    def back(self) -> NavState | None:
        """The previous place (now the current one), or None at the first."""
        if not self.can_go_back():
            return None
        self._index -= 1
        return self._places[self._index]

    def forward(self) -> NavState | None:
        """The next place (now the current one), or None at the last."""
        if not self.can_go_forward():
            return None
        self._index += 1
        return self._places[self._index]
