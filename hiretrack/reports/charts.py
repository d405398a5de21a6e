"""Server-side SVG bar charts: no script, readable without colour, with their table beside them.

Every bar carries its series name and its value as text, and each series has its own fill
pattern as well as its own colour, so the chart reads in greyscale, in print and to people who
do not tell the colours apart. The SVG uses presentation attributes only (no inline styles), as
the Content-Security-Policy requires.
"""

from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 520
LABEL_WIDTH = 170
BAR_AREA = 250
GROUP_HEADING = 22
BAR_HEIGHT = 16
BAR_GAP = 5
GROUP_GAP = 12

#: (colour, pattern) per series; the pattern alone tells the series apart in greyscale.
SERIES_STYLES = (
    ("#1f4e99", "solid"),
    ("#b35900", "diagonal"),
    ("#2d7a3e", "dots"),
    ("#8a1c3b", "crosshatch"),
    ("#5b4a99", "horizontal"),
    ("#555555", "vertical"),
)


@dataclass(frozen=True)
class Series:
    key: str
    label: str


@dataclass(frozen=True)
class Group:
    label: str
    values: tuple[int | float, ...]


def _pattern(pattern_id: str, colour: str, kind: str) -> str:
    """An SVG <pattern> filling a bar with colour plus a texture of its own."""
    if kind == "solid":
        body = f'<rect width="8" height="8" fill="{colour}"/>'
    elif kind == "diagonal":
        body = (
            f'<rect width="8" height="8" fill="#ffffff"/>'
            f'<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="{colour}" stroke-width="2.2"/>'
        )
    elif kind == "dots":
        body = (
            f'<rect width="8" height="8" fill="#ffffff"/>'
            f'<circle cx="4" cy="4" r="2.2" fill="{colour}"/>'
        )
    elif kind == "crosshatch":
        body = (
            f'<rect width="8" height="8" fill="#ffffff"/>'
            f'<path d="M0,0 l8,8 M8,0 l-8,8" stroke="{colour}" stroke-width="1.6"/>'
        )
    elif kind == "horizontal":
        body = (
            f'<rect width="8" height="8" fill="#ffffff"/>'
            f'<path d="M0,2 h8 M0,6 h8" stroke="{colour}" stroke-width="2"/>'
        )
    else:
        body = (
            f'<rect width="8" height="8" fill="#ffffff"/>'
            f'<path d="M2,0 v8 M6,0 v8" stroke="{colour}" stroke-width="2"/>'
        )
    return (
        f'<pattern id="{pattern_id}" width="8" height="8" patternUnits="userSpaceOnUse">'
        f"{body}</pattern>"
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    series: list[Series],
    groups: list[Group],
    unit: tuple[str, str] = ("", ""),
) -> Markup:
    """A grouped horizontal bar chart: per group a heading, then one labelled bar per series."""
    chart_id = "".join(ch for ch in chart_id if ch.isalnum() or ch in "-_") or "chart"
    largest = max((value for group in groups for value in group.values if value), default=0)
    scale = BAR_AREA / largest if largest else 0
    rows_height = len(series) * (BAR_HEIGHT + BAR_GAP)
    height = max(40, len(groups) * (GROUP_HEADING + rows_height + GROUP_GAP) + 8)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="100%" viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        "<defs>",
    ]
    for index, _ in enumerate(series):
        colour, kind = SERIES_STYLES[index % len(SERIES_STYLES)]
        parts.append(_pattern(f"{chart_id}-p{index}", colour, kind))
    parts.append("</defs>")
    if not groups:
        parts.append('<text x="0" y="24">Nothing to chart for these filters.</text>')
    y = 4
    for group in groups:
        parts.append(
            f'<text x="0" y="{y + 15}" font-weight="bold">{escape(_shorten(group.label, 60))}'
            f"</text>"
        )
        y += GROUP_HEADING
        for index, (one, value) in enumerate(zip(series, group.values, strict=True)):
            colour, _ = SERIES_STYLES[index % len(SERIES_STYLES)]
            width = round((value or 0) * scale, 1)
            text_y = y + BAR_HEIGHT - 4
            parts.append(
                f'<text x="{LABEL_WIDTH - 6}" y="{text_y}" text-anchor="end">'
                f"{escape(_shorten(one.label, 30))}</text>"
            )
            if width > 0:
                parts.append(
                    f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width}" height="{BAR_HEIGHT}" '
                    f'fill="url(#{chart_id}-p{index})" stroke="{colour}" stroke-width="1"/>'
                )
            noun = unit[0] if value == 1 else unit[1]
            value_text = _number(value or 0) + (f" {noun}" if noun else "")
            parts.append(
                f'<text x="{LABEL_WIDTH + width + 6}" y="{text_y}">{escape(value_text)}</text>'
            )
            y += BAR_HEIGHT + BAR_GAP
        y += GROUP_GAP
    parts.append("</svg>")
    return Markup("".join(parts))


def report_chart(report, rows: list[dict]) -> Markup | None:
    """Draw a report's chart from the rows of the table it is based on (already fetched)."""
    chart = report.chart
    if chart is None:
        return None
    table = report.table(chart.table)
    columns = {column.key: column for column in table.columns}
    group_column = columns[chart.group]
    series = [Series(key, columns[key].label) for key in chart.bars]
    groups = [
        Group(
            group_column.text(row[chart.group]) or "—",
            tuple(row[key] or 0 for key in chart.bars),
        )
        for row in rows
    ]
    return bar_chart(
        f"{report.name}-chart", chart.title, chart.description, series, groups, chart.unit
    )
