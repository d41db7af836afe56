"""Charts of the web dashboard as inline SVG, drawn here so the page needs no script
library and works offline.

Text is never scaled: the outer ``<svg>`` has no viewBox, so labels keep their CSS pixel
size from a phone to a wide screen, and horizontal positions are percentages. Only the
plotted shapes sit in an inner ``<svg viewBox preserveAspectRatio="none">`` that stretches
with the width (lines keep their stroke with ``vector-effect="non-scaling-stroke"``).
Axis labels sit inside the plot (above their grid line, first and last time labels
anchored inwards), so no label can be clipped by a margin too small for it.

Every text that reaches the SVG goes through :func:`esc`. Colours are CSS classes
(``c0``…``c7``, ``ok``, ``fail``, ``slow``) that the page styles for light and dark.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

Formatter = Callable[[float], str]

#: XML 1.0 refuses these even as character references: a name carrying one would make
#: the SVG (and an XHTML parser) fail, so they are shown as U+FFFD.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
PLOT_WIDTH = 1000  # inner viewBox units across; stretched to the chart's width
BAR_ROW_PX = 36
#: a bar chart's width on a 360 px phone, and an 11 px figure's width per character
NARROWEST_CHART_PX = 310
VALUE_CHAR_PX = 6.6
TIME_TICKS_MAX = 8
#: time labels kept on a phone-wide chart; the others have class "minor", hidden there
TIME_TICKS_NARROW = 4
Y_TICKS = 4


def esc(value: object) -> str:
    """Text for HTML or SVG: markup characters escaped, XML-forbidden controls replaced."""
    return html.escape(_XML_FORBIDDEN.sub("\ufffd", str(value)), quote=True)


# --- units -------------------------------------------------------------------------

def fmt_count(v: float) -> str:
    """A whole count with separators: 2,585."""
    return f"{v:,.0f}"


def fmt_compact(v: float) -> str:
    """An axis figure: 0, 750, 1.5k, 12k, 3.2M — never 1e+06."""
    a = abs(v)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= limit:
            return f"{v / limit:,.1f}".rstrip("0").rstrip(".") + suffix
    if a == 0 or a >= 1:
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def fmt_ms(v: float) -> str:
    """A duration in its readable unit: 850 ms, 1.2 s, 3.5 min, 1.1 h."""
    a = abs(v)
    for limit, unit in ((3_600_000, "h"), (60_000, "min"), (1000, "s")):
        if a >= limit:
            return f"{v / limit:.1f}".removesuffix(".0") + f" {unit}"
    return f"{v:.0f} ms" if a >= 10 or a == 0 else f"{v:.2f} ms"


def fmt_pct(v: float) -> str:
    return f"{v * 100:.1f}%"


def fmt_usd(v: float) -> str:
    """A cost: $12.40; below a dollar two significant digits ($0.0042), never "$0.00"
    for a small known cost (as the window shows it)."""
    if v == 0 or abs(v) >= 1:
        return f"${v:,.2f}"
    return f"${v:.{min(12, max(2, 1 - math.floor(math.log10(abs(v)))))}f}"


# --- scales ------------------------------------------------------------------------

#: round steps of a duration axis in ms: whole ms, seconds, minutes, hours
DURATION_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000,
                  120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000)


def nice_ticks(top: float, count: int = Y_TICKS, *, steps: Sequence[float] | None = None) -> list[float]:
    """0 and round steps up to at least ``top``: 1, 2, 2.5, 5 × 10^k, or the first of
    ``steps`` (e.g. :data:`DURATION_STEPS`) that needs at most ``count`` of them."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    if steps is not None and raw <= steps[-1]:
        step = float(next(x for x in steps if x >= raw))
    else:
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


_TIME_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 2 * 86400,
               7 * 86400, 14 * 86400, 28 * 86400)


def time_ticks(start: float, end: float, max_ticks: int = TIME_TICKS_MAX) -> list[float]:
    """UTC-aligned tick times inside [start, end]: whole hours, days or weeks."""
    span = max(end - start, 1.0)
    step = next((s for s in _TIME_STEPS if span / s <= max_ticks), _TIME_STEPS[-1])
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, step)]


def time_label(t: float, span: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    if span <= 2 * 86400:
        return d.strftime("%H:%M")
    return f"{d.strftime('%b')} {d.day}"


def bucket_text(t: float, size: float) -> str:
    """A bucket's start as a tooltip says it: "Nov 27 14:00 UTC" or "Nov 27" for days."""
    d = datetime.fromtimestamp(t, UTC)
    if size >= 86400:
        return f"{d.strftime('%b')} {d.day} (UTC day)"
    return f"{d.strftime('%b')} {d.day} {d.strftime('%H:%M')} UTC"


def _pct(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") + "%"


def _num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def empty_chart(message: str) -> str:
    """What a chart says when it has nothing to draw: a sentence, not an empty axis box."""
    return f'<p class="chart-empty">{esc(message)}</p>'


# --- horizontal bars -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BarSeries:
    name: str
    values: Sequence[float]
    css: str  # colour class


def bar_chart(labels: Sequence[str], series: Sequence[BarSeries], *, title: str, fmt: Formatter = fmt_count,
              note: Callable[[int], str] | None = None, empty_message: str) -> str:
    """Horizontal bars, one row per label, the series stacked left to right. Each label
    sits above its bar, so a long name has the whole width at any screen size; the total
    (and ``note(i)``, e.g. a success rate) is written after the bar, and the row's tooltip
    gives every part."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    if not labels or max(totals, default=0) <= 0:
        return empty_chart(empty_message)
    top = max(totals)
    height = BAR_ROW_PX * len(labels) + 4
    figures = [fmt(totals[i]) + (f" · {note(i)}" if note and note(i) else "") for i in range(len(labels))]
    # % of the width for the longest bar: the rest keeps the longest figure inside a chart
    # as narrow as a phone's (its width in px estimated from its characters)
    text_px = max(len(f) for f in figures) * VALUE_CHAR_PX + 12
    bar_w = max(20.0, min(62.0, 100 - text_px / NARROWEST_CHART_PX * 100))
    out = [f'<svg class="chart bars" width="100%" height="{height}" role="img" aria-label="{esc(title)}">']
    for i, label in enumerate(labels):
        y = 2 + i * BAR_ROW_PX
        short = label if len(label) <= 48 else label[:47] + "…"
        parts = [f"{s.name}: {fmt(s.values[i] or 0)}" for s in series if s.values[i]]
        tip = f"{label} — total {fmt(totals[i])}" + (f" ({', '.join(parts)})" if len(series) > 1 else "")
        out.append(f'<g class="bar-row"><title>{esc(tip)}</title>')
        out.append(f'<text class="bar-label" x="0" y="{y + 12}">{esc(short)}</text>')
        x = 0.0
        for s in series:
            v = s.values[i] or 0
            if v <= 0:
                continue
            w = bar_w * v / top
            out.append(f'<rect class="{s.css}" x="{_pct(x)}" y="{y + 16}" width="{_pct(w)}" height="12"/>')
            x += w
        out.append(f'<text class="bar-value" x="{_pct(x)}" dx="5" y="{y + 27}">{esc(figures[i])}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


# --- over time -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TimeSeries:
    name: str
    values: Sequence[float | None]  # one per bucket; None where the bucket has no figure
    css: str


@dataclass(frozen=True, slots=True)
class TimeAxis:
    starts: Sequence[float]  # bucket starts, POSIX seconds
    size: float  # bucket length in seconds
    end: float | None = None  # where the axis stops, if before the last bucket's end

    @property
    def t0(self) -> float:
        return float(self.starts[0])

    @property
    def t1(self) -> float:
        last = float(self.starts[-1]) + self.size
        return last if self.end is None else min(self.end, last)

    def x(self, t: float) -> float:
        """Inner viewBox x of a time."""
        return (t - self.t0) / max(self.t1 - self.t0, 1.0) * PLOT_WIDTH


_PLOT_TOP, _PLOT_H, _AXIS_H = 16, 170, 22


def _frame(axis: TimeAxis, ticks: Sequence[float], fmt: Formatter, title: str, body: str, tips: str) -> str:
    """The outer SVG: y grid and labels, the stretched plot, the time labels under it."""
    top = ticks[-1]
    height = _PLOT_TOP + _PLOT_H + _AXIS_H
    out = [f'<svg class="chart time" width="100%" height="{height}" role="img" aria-label="{esc(title)}">']
    for v in ticks:
        y = _PLOT_TOP + _PLOT_H - v / top * _PLOT_H
        out.append(f'<line class="grid" x1="0" x2="100%" y1="{_num(y)}" y2="{_num(y)}"/>')
    out.append(f'<svg x="0" y="{_PLOT_TOP}" width="100%" height="{_PLOT_H}" viewBox="0 0 {PLOT_WIDTH} {_PLOT_H}" '
               f'preserveAspectRatio="none">{body}{tips}</svg>')
    for v in ticks[1:]:  # over the plot (with a halo, see the CSS) so no bar or line hides them
        y = _PLOT_TOP + _PLOT_H - v / top * _PLOT_H
        out.append(f'<text class="tick y" x="2" y="{_num(y - 3)}">{esc(fmt(v))}</text>')
    span = axis.t1 - axis.t0
    kept = set(time_ticks(axis.t0, axis.t1, TIME_TICKS_NARROW))
    for t in time_ticks(axis.t0, axis.t1):
        frac = (t - axis.t0) / max(span, 1.0) * 100
        # the outermost labels lean inwards so none is cut at the chart's edge
        anchor = "start" if frac < 6 else "end" if frac > 94 else "middle"
        minor = "" if t in kept else " minor"
        out.append(f'<line class="tick-mark{minor}" x1="{_pct(frac)}" x2="{_pct(frac)}" '
                   f'y1="{_PLOT_TOP + _PLOT_H}" y2="{_PLOT_TOP + _PLOT_H + 4}"/>')
        out.append(f'<text class="tick{minor}" x="{_pct(frac)}" y="{height - 4}" text-anchor="{anchor}">'
                   f'{esc(time_label(t, span))}</text>')
    out.append("</svg>")
    return "".join(out)


def _y(v: float, top: float) -> float:
    return _PLOT_H - v / top * _PLOT_H


def _tooltips(axis: TimeAxis, series: Sequence[TimeSeries], fmt: Formatter) -> str:
    """An invisible column per bucket whose tooltip gives that bucket's figures."""
    w = axis.size / max(axis.t1 - axis.t0, 1.0) * PLOT_WIDTH
    out = []
    for i, t in enumerate(axis.starts):
        figures = ", ".join(f"{s.name} {'—' if s.values[i] is None else fmt(s.values[i])}" for s in series)
        out.append(f'<rect class="hover" x="{_num(axis.x(t))}" y="0" width="{_num(w)}" height="{_PLOT_H}">'
                   f'<title>{esc(bucket_text(t, axis.size))}: {esc(figures)}</title></rect>')
    return "".join(out)


def column_chart(axis: TimeAxis, series: Sequence[TimeSeries], *, title: str, fmt: Formatter = fmt_count,
                 empty_message: str) -> str:
    """Stacked columns per bucket (counts over time)."""
    n = len(axis.starts)
    totals = [sum(s.values[i] or 0 for s in series) for i in range(n)]
    if n == 0 or max(totals, default=0) <= 0:
        return empty_chart(empty_message)
    ticks = nice_ticks(max(totals))
    top = ticks[-1]
    w = axis.size / max(axis.t1 - axis.t0, 1.0) * PLOT_WIDTH
    gap = min(w * 0.15, 2.0)
    body = []
    for i, t in enumerate(axis.starts):
        base = 0.0
        for s in series:
            v = s.values[i] or 0
            if v <= 0:
                continue
            y0, y1 = _y(base, top), _y(base + v, top)
            body.append(f'<rect class="{s.css}" x="{_num(axis.x(t) + gap / 2)}" y="{_num(y1)}" '
                        f'width="{_num(max(w - gap, 0.5))}" height="{_num(y0 - y1)}"/>')
            base += v
    return _frame(axis, ticks, fmt, title, "".join(body), _tooltips(axis, series, fmt))


def line_chart(axis: TimeAxis, series: Sequence[TimeSeries], *, title: str, fmt: Formatter,
               empty_message: str, area_first: bool = True, steps: Sequence[float] | None = None) -> str:
    """Lines over time at bucket middles, broken where a bucket has no figure; the first
    series is also filled down to zero when ``area_first``. ``steps``: round steps of the
    y axis in the values' unit (:data:`DURATION_STEPS` for milliseconds)."""
    values = [v for s in series for v in s.values if v is not None]
    if not axis.starts or not values or max(values) <= 0:
        return empty_chart(empty_message)
    ticks = nice_ticks(max(values), steps=steps)
    top = ticks[-1]
    half = axis.size / 2
    body = []
    for k, s in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]
        for t, v in zip(axis.starts, s.values, strict=True):
            if v is None:
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append((axis.x(t + half), _y(v, top)))
        for run in (r for r in runs if r):
            pts = " L".join(f"{_num(x)} {_num(y)}" for x, y in run)
            if k == 0 and area_first:
                body.append(f'<path class="area {s.css}" d="M{_num(run[0][0])} {_PLOT_H} L{pts} '
                            f'L{_num(run[-1][0])} {_PLOT_H} Z"/>')
            # a lone point draws as a dot (a zero-length segment with round caps)
            d = f"M{pts}" if len(run) > 1 else f"M{pts} l0.01 0"
            body.append(f'<path class="line {s.css}" d="{d}" vector-effect="non-scaling-stroke"/>')
    return _frame(axis, ticks, fmt, title, "".join(body), _tooltips(axis, series, fmt))
