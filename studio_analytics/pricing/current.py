"""The price table in force: the shipped prices with the user's file on top.

:func:`current_prices` is what the tracker's writer asks for every model-call row, so it
is cheap: the table is built once and kept; the user's file is looked at again (one
``stat``) at most every :data:`RECHECK_SECONDS`, so a long-running agent picks up an
edit, and re-read only when it changed. A file that cannot be used never breaks the
tracker: the shipped prices are used and one warning names the file, the entry and what
is wrong (logger ``studio_analytics.pricing``, once per version of the file).
:func:`load_prices` with ``strict=True`` raises that problem instead, for the CLI.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from studio_analytics.config import prices_path
from studio_analytics.pricing.sources import PriceFileError, read_shipped, read_user_file
from studio_analytics.pricing.table import ModelPrice, PriceTable, ProviderSource

log = logging.getLogger("studio_analytics.pricing")

#: longest time a change to the user's price file goes unnoticed by a running process
RECHECK_SECONDS = 5.0

_Signature = tuple[int, int, int] | str | None  # (mtime_ns, size, inode), an error, or no file


@dataclass(frozen=True, slots=True)
class _Current:
    table: PriceTable
    path: Path
    signature: _Signature
    checked_at: float


_lock = threading.Lock()
_current: _Current | None = None
_shipped: tuple[str, dict[str, ProviderSource], list[ModelPrice]] | None = None


def load_prices(*, strict: bool = False, path: Path | None = None) -> PriceTable:
    """A fresh table: the shipped prices and the user's file (``path``, default the one in
    the config folder). A file that cannot be used raises :class:`PriceFileError` when
    ``strict``; otherwise the shipped prices come alone, with the problem recorded on the
    table (``user_file_problem``)."""
    file = prices_path() if path is None else path
    as_of, sources, shipped = _shipped_prices()
    try:
        user = read_user_file(file)
        problem = None
    except PriceFileError as e:
        if strict:
            raise
        user, problem = [], str(e)
    return PriceTable(shipped, user, as_of=as_of, sources=sources, user_file=str(file),
                      user_file_loaded=problem is None and file.is_file(),
                      user_file_problem=problem)


def current_prices() -> PriceTable:
    """The table in force for this process (see the module's docstring)."""
    state = _current
    # the hot path: one clock read (reading the environment here would cost ~2 us a row)
    if state is not None and time.monotonic() - state.checked_at < RECHECK_SECONDS:
        return state.table
    return _refresh(force=False)


def refresh_prices() -> PriceTable:
    """Look at the user's file now, instead of within :data:`RECHECK_SECONDS`."""
    return _refresh(force=True)


def _refresh(*, force: bool) -> PriceTable:
    global _current
    with _lock:
        now = time.monotonic()
        state = _current
        if not force and state is not None and now - state.checked_at < RECHECK_SECONDS:
            return state.table  # another thread refreshed it meanwhile
        path = prices_path()  # follows STUDIO_ANALYTICS_HOME
        signature = _signature(path)
        if state is not None and state.path == path and state.signature == signature and not force:
            _current = _Current(state.table, path, signature, now)
            return state.table
        table = load_prices(path=path)
        if table.user_file_problem is not None and (state is None or state.path != path
                                                    or state.signature != signature):
            log.warning("price file ignored, the shipped prices are used: %s", table.user_file_problem)
        _current = _Current(table, path, signature, now)
        return table


def _signature(path: Path) -> _Signature:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"error {e.errno}"
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _shipped_prices() -> tuple[str, dict[str, ProviderSource], list[ModelPrice]]:
    """The shipped table, read once per process (it is part of the installed package)."""
    global _shipped
    if _shipped is None:
        _shipped = read_shipped()
    return _shipped


__all__ = ["RECHECK_SECONDS", "current_prices", "load_prices", "refresh_prices"]
