"""A server-rendered SVG bar chart of a patient's abnormal readings over time.

Drawn here, not in the browser, so no chart library (and no CDN) is needed. Each bar is
one time bin: abnormal readings in red on top of normal ones in grey, with a ``<title>``
per bar for pointer and screen-reader users; the page also lists every reading in a table.

A device whose clock was once wrong leaves a reading years away from the others; drawn as
is, it would stretch the axis until every other bar is one sliver. So the chart covers the
bulk of the readings (:func:`charted_window`) and says how many earlier ones it leaves out;
the table below it still lists them all. Tick labels carry the date, and the year when the
chart spans more than one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from html import escape

from markupsafe import Markup

from physician.dashboard.views import Reading, format_time

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 16, 44
MAX_BINS = 24
MAX_BAR_W = 40.0
BIN_SIZES = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=7),
    timedelta(days=30),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def choose_bin(first: datetime, last: datetime) -> timedelta:
    """The smallest bin size that covers ``first..last`` in at most ``MAX_BINS`` bins."""
    span = last - first
    for size in BIN_SIZES:
        if span < size * (MAX_BINS - 1):
            return size
    return BIN_SIZES[-1]


def _floor(moment: datetime, size: timedelta) -> datetime:
    return _EPOCH + size * ((moment - _EPOCH) // size)


BULK_QUANTILE = 0.1
STRAY_FACTOR = 3


def charted_window(times: Sequence[datetime]) -> datetime:
    """Where the chart starts: the first reading, unless the earliest ones lie far before
    the bulk - more than three times the span from the 10th percentile to the newest
    reading before that percentile - in which case they are left out."""
    ordered = sorted(times)
    newest = ordered[-1]
    bulk_start = ordered[int(BULK_QUANTILE * (len(ordered) - 1))]
    limit = bulk_start - STRAY_FACTOR * max(newest - bulk_start, timedelta(hours=1))
    return max(ordered[0], limit)


def bin_counts(
    readings: Sequence[Reading],
) -> tuple[timedelta, list[tuple[datetime, int, int]]]:
    """Decided readings counted per bin: ``(bin size, [(bin start, abnormal, normal)])``,
    from :func:`charted_window` on (earlier, stray readings are not counted)."""
    decided = [r for r in readings if r.verdict in ("normal", "abnormal")]
    if not decided:
        return BIN_SIZES[0], []
    start_at = charted_window([r.taken_at for r in decided])
    decided = [r for r in decided if r.taken_at >= start_at]
    first = min(r.taken_at for r in decided)
    last = max(r.taken_at for r in decided)
    size = choose_bin(first, last)
    start = _floor(first, size)
    count = (last - start) // size + 1
    abnormal, normal = [0] * count, [0] * count
    for reading in decided:
        index = (reading.taken_at - start) // size
        if reading.verdict == "abnormal":
            abnormal[index] += 1
        else:
            normal[index] += 1
    return size, [(start + i * size, abnormal[i], normal[i]) for i in range(count)]


def _bin_label(start: datetime, size: timedelta, *, with_date: bool, with_year: bool) -> str:
    local = start.astimezone()
    day = local.strftime("%d %b %Y" if with_year else "%d %b")
    if size >= timedelta(days=1):
        return day
    return f"{day} {local:%H:%M}" if with_date else local.strftime("%H:%M")


def abnormal_chart(readings: Sequence[Reading]) -> Markup:
    """The chart as inline SVG markup (safe to insert into a template)."""
    size, bins = bin_counts(readings)
    if not bins:
        return Markup('<p class="chart-empty">No decided readings yet: nothing to chart.</p>')
    decided = [r for r in readings if r.verdict in ("normal", "abnormal")]
    left_out = sum(r.taken_at < bins[0][0] for r in decided)
    total_abnormal = sum(b[1] for b in bins)
    tallest = max(b[1] + b[2] for b in bins)
    y_max = max(1, tallest)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot_w = plot_w / len(bins)
    bar_w = min(MAX_BAR_W, max(2.0, slot_w * 0.7))
    summary = (
        f"{total_abnormal} abnormal of {sum(b[1] + b[2] for b in bins)} decided readings, "
        f"from {format_time(bins[0][0])}, in bins of {_duration(size)}"
        + (
            f"; {left_out} earlier reading{'s' if left_out != 1 else ''} far before the "
            "others not charted (listed below)"
            if left_out
            else ""
        )
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" preserveAspectRatio="xMidYMid meet">',
        '<title id="chart-title">Abnormal readings over time</title>',
        f'<desc id="chart-desc">{escape(summary)}</desc>',
    ]
    for tick in sorted({0, y_max // 2, y_max}):
        y = TOP + plot_h - plot_h * tick / y_max
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.2f}" y2="{y:.2f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.2f}" text-anchor="end">{tick}</text>'
        )
    for i, (start, abnormal, normal) in enumerate(bins):
        x = LEFT + i * slot_w + (slot_w - bar_w) / 2
        label = escape(
            f"{format_time(start)} ({_duration(size)}): {abnormal} abnormal, {normal} normal"
        )
        parts.append(f"<g><title>{label}</title>")
        base = float(TOP + plot_h)
        for count, css in ((normal, "bar-normal"), (abnormal, "bar-abnormal")):
            if count:
                h = plot_h * count / y_max
                base -= h
                parts.append(
                    f'<rect class="{css}" x="{x:.2f}" y="{base:.2f}" '
                    f'width="{bar_w:.2f}" height="{h:.2f}"/>'
                )
        parts.append("</g>")
    step = max(1, math.ceil(len(bins) / 6))
    years = {b[0].astimezone().year for b in bins}
    with_year = len(years) > 1 or years != {datetime.now().astimezone().year}
    shown_day = None
    for i in range(0, len(bins), step):
        x = LEFT + (i + 0.5) * slot_w
        day = bins[i][0].astimezone().date()
        label = _bin_label(bins[i][0], size, with_date=day != shown_day, with_year=with_year)
        shown_day = day
        parts.append(
            f'<text class="axis" x="{x:.2f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    if left_out:
        parts.append(
            f'<text class="axis" x="{LEFT}" y="{HEIGHT - 6}">'
            f"{left_out} earlier reading{'s' if left_out != 1 else ''} not charted</text>"
        )
    parts.append(
        f'<line class="axis-line" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def _duration(size: timedelta) -> str:
    minutes = int(size.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days" if minutes > 24 * 60 else "1 day"
