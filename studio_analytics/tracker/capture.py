"""What a span keeps of the agent's values at exit, on the agent's thread: cheap, and no
code of the agent's runs.

Values are told apart with ``type(x) is ...`` only, so no user ``__eq__``, ``__hash__``,
``__iter__``, ``__repr__``, ``__str__``, ``__int__`` or ``__float__`` runs here. Builtin
containers (exact ``dict``, ``list``, ``tuple``, ``set``, ``frozenset``) are copied, since
the agent may change them after the call, within a budget of items and depth so a huge
structure costs bounded time; builtin scalars are kept as they are (immutable); bytes
keep their first 64 bytes and their length; any other object is kept by reference and
turned into text later, in the writer thread, with a time limit (``payload.bounded_text``).
"""

from __future__ import annotations

import math
import types
from decimal import Decimal
from typing import Any

MAX_DEPTH = 20
MAX_ITEMS = 1_000  # per container
MAX_NODES = 10_000  # per snapshot, over all its containers
BYTES_HEAD = 64


class Pairs(tuple):  # type: ignore[type-arg]
    """A dict whose keys were not all ``str``: its (key, value) pairs, as a tuple (a new
    dict would hash the agent's key objects, which can run their ``__hash__``)."""

    __slots__ = ()


class BytesHead:
    __slots__ = ("size", "head")

    def __init__(self, size: int, head: bytes) -> None:
        self.size = size
        self.head = head


class CapturedError:
    """An exception at span exit. ``args`` when the message is BaseException's own
    formatting of builtin values (the common case: the writer formats it without the
    exception); otherwise the exception itself (``exc``), formatted in the writer with
    a time limit. Keeping it keeps its traceback alive until the writer has taken it."""

    __slots__ = ("name", "args", "exc")

    def __init__(self, name: str, args: tuple[Any, ...] | None, exc: BaseException | None) -> None:
        self.name = name
        self.args = args
        self.exc = exc


def _is_scalar(t: type) -> bool:
    return t is str or t is int or t is float or t is bool or t is types.NoneType


def snapshot(value: Any) -> Any:
    """A copy of ``value`` that the agent cannot change any more (see the module doc)."""
    t = type(value)
    if t is str or t is int or t is float or t is bool or value is None:
        return value
    if t is dict:
        # The usual tool input: a small flat dict with str keys -> one C-level copy.
        if len(value) <= 32:
            for k, v in value.items():
                if type(k) is not str or not _is_scalar(type(v)):
                    break
            else:
                return value.copy()
        return _snap(value, [MAX_NODES], set(), 0)
    if t is list or t is tuple or t is set or t is frozenset:
        return _snap(value, [MAX_NODES], set(), 0)
    if t is bytes or t is bytearray:
        return BytesHead(len(value), bytes(value[:BYTES_HEAD]))
    return value  # another object: by reference, made text in the writer


def _snap(value: Any, budget: list[int], path: set[int], depth: int) -> Any:
    t = type(value)
    if t is str or t is int or t is float or t is bool or value is None:
        return value
    if t is bytes or t is bytearray:
        return BytesHead(len(value), bytes(value[:BYTES_HEAD]))
    if not (t is dict or t is list or t is tuple or t is set or t is frozenset):
        return value
    if depth >= MAX_DEPTH:
        return "<max depth>"
    ident = id(value)
    if ident in path:
        return "<cycle>"
    path.add(ident)
    try:
        n = len(value)
        room = min(MAX_ITEMS, max(0, budget[0]))
        budget[0] -= min(n, room) + 1
        if t is dict:
            items = []
            str_keys = True
            for i, (k, v) in enumerate(value.items()):  # an exact dict: iterating runs no user code
                if i >= room:
                    break
                if type(k) is not str:
                    str_keys = False
                items.append((_snap(k, budget, path, depth + 1), _snap(v, budget, path, depth + 1)))
            if n > room:
                items.append(("<truncated>", f"{n - room} more items"))
            return dict(items) if str_keys else Pairs(items)
        out = []
        for i, v in enumerate(value):
            if i >= room:
                out.append(f"<{n - room} more items>")
                break
            out.append(_snap(v, budget, path, depth + 1))
        return out
    finally:
        path.discard(ident)


def capture_error(exc: BaseException) -> CapturedError:
    t = type(exc)
    name = t.__name__
    if t.__str__ is BaseException.__str__:  # type: ignore[comparison-overlap]
        args = exc.args
        if type(args) is tuple and len(args) <= 8 and all(_is_scalar(type(a)) for a in args):
            return CapturedError(name, args, None)
    return CapturedError(name, None, exc)


def _c_method(t: type, name: str) -> bool:
    """Whether ``t`` implements ``name`` in C (numpy's int64, Decimal...): calling it runs
    no Python code of the agent's."""
    method = getattr(t, name, None)
    return method is not None and not isinstance(method, types.FunctionType | types.MethodType | property)


def as_int(value: Any) -> int | None:
    """An integer from what the agent gave (``12``, ``"12"``, ``3.7``, ``Decimal``, numpy
    ints), or None; never raises, runs no Python code of the agent's."""
    try:
        t = type(value)
        if t is int:
            return value  # type: ignore[no-any-return]
        if t is bool:
            return int(value)
        if t is float:
            return int(value) if math.isfinite(value) else None
        if t is str:
            text = value.strip()
            if len(text) > 40:
                return None
            try:
                return int(text)
            except ValueError:
                f = float(text)
                return int(f) if math.isfinite(f) else None
        if t is Decimal:
            return int(value) if value.is_finite() else None
        if _c_method(t, "__index__"):
            return value.__index__()  # type: ignore[no-any-return]
        if _c_method(t, "__float__"):
            f = value.__float__()
            return int(f) if type(f) is float and math.isfinite(f) else None
    except Exception:  # noqa: BLE001 - a value we cannot read is no value
        return None
    return None


def as_float(value: Any) -> float | None:
    """A finite float from what the agent gave, or None (as :func:`as_int`)."""
    try:
        t = type(value)
        if t is float:
            f = value
        elif t is int or t is bool:
            f = float(value)
        elif t is str:
            if len(value) > 40:
                return None
            f = float(value)
        elif t is Decimal or _c_method(t, "__float__"):
            f = float(value)
        else:
            return None
    except Exception:  # noqa: BLE001
        return None
    return f if type(f) is float and math.isfinite(f) else None
