"""The 30-day usage chart of a key, drawn on the server as inline SVG.

No chart library and no JavaScript: the page stays readable without scripts, printable, and free of
third-party code. Colours come from CSS classes (no inline styles, so a strict Content Security
Policy holds). Screen readers get the ``<title>``/``<desc>`` of the SVG, a ``<title>`` per bar, and
the text summary from :func:`summary`.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from keys.selectors import UsageDay

WIDTH = 900
HEIGHT = 200
LEFT = 36  # room for the axis labels
BOTTOM = 20
TOP = 8


def _n(number: float) -> str:
    """SVG coordinates with one decimal: small markup, no visible rounding."""
    return f"{number:.1f}"


def _nice_ceiling(value: int) -> int:
    """The axis maximum: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def summary(days: list[UsageDay]) -> str:
    total = sum(d.calls for d in days)
    if not total:
        return f"No calls in the last {len(days)} days."
    failed = sum(d.failed for d in days)
    busiest = max(days, key=lambda d: d.calls)
    active = sum(1 for d in days if d.calls)
    return (
        f"{_count(total, 'call')} in the last {len(days)} days on {active} of them; "
        f"{failed:,} did not succeed. Busiest day: {busiest.day:%b %-d} with {_count(busiest.calls, 'call')}."
    )


def _count(number: int, noun: str) -> str:
    """1 → "1 call", 1200 → "1,200 calls"."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _rect(css_class: str, x: float, y: float, width: float, height: float) -> SafeString:
    return format_html(
        '<rect class="{}" x="{}" y="{}" width="{}" height="{}"></rect>',
        css_class,
        _n(x),
        _n(y),
        _n(width),
        _n(height),
    )


# A phone's chart: drawn for a narrow box, so that its labels keep a readable size when it fills
# a 390 px screen (the wide one, scaled down to fit, has 4 px text there).
NARROW_WIDTH = 360
NARROW_HEIGHT = 190


def usage_chart(days: list[UsageDay], *, title: str, narrow: bool = False) -> SafeString:
    width, height = (NARROW_WIDTH, NARROW_HEIGHT) if narrow else (WIDTH, HEIGHT)
    # Room for the widest axis label ("100,000") at the text size the box shows.
    left = 48 if narrow else LEFT
    ids = "usage-chart-narrow" if narrow else "usage-chart"
    top = _nice_ceiling(max((d.calls for d in days), default=0))
    plot_width = width - left - 4
    plot_height = height - TOP - BOTTOM
    slot = plot_width / max(len(days), 1)
    bar = max(slot - 3, 1)

    def y(value: int) -> float:
        return TOP + plot_height - (value / top) * plot_height

    bars = []
    for index, day in enumerate(days):
        x = left + index * slot + (slot - bar) / 2
        label = f"{day.day:%a %b %-d}: {day.calls:,} calls, {day.failed:,} not successful"
        parts = [format_html("<title>{}</title>", label)]
        if day.success:  # stacked: the failed calls at the bottom, the successful ones above
            parts.append(_rect("bar-ok", x, y(day.calls), bar, y(day.failed) - y(day.calls)))
        if day.failed:
            parts.append(_rect("bar-failed", x, y(day.failed), bar, y(0) - y(day.failed)))
        if not day.calls:
            parts.append(_rect("bar-empty", x, y(0) - 1, bar, 1))
        bars.append(format_html("<g>{}</g>", SafeString("".join(parts))))

    gridlines = format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
        '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (left, width - 4, _n(y(value)), _n(y(value)), left - 6, _n(y(value) + 4), f"{value:,}")
            for value in (0, top // 2 if top >= 2 else None, top)
            if value is not None
        ),
    )
    first, last = days[0].day if days else None, days[-1].day if days else None
    axis = (
        format_html(
            '<text class="axis" x="{}" y="{}">{}</text>'
            '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
            left,
            height - 4,
            f"{first:%b %-d}",
            width - 4,
            height - 4,
            f"{last:%b %-d}",
        )
        if first and last
        else ""
    )
    return format_html(
        '<svg class="usage-chart{}" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-title '
        '{}-desc" focusable="false">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>'
        "{}{}{}</svg>",
        " usage-chart-narrow" if narrow else "",
        width,
        height,
        ids,
        ids,
        ids,
        title,
        ids,
        summary(days),
        gridlines,
        SafeString("".join(bars)),
        axis,
    )
