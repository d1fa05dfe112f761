"""Charts as inline SVG strings: no plotting library, no fonts or scripts to fetch.

The same SVG goes into the HTML report and, through ``IPython.display.SVG``, into notebooks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from warden.investigate.findings import SEVERITIES

__all__ = ["SEVERITY_COLOURS", "bar_chart_svg", "severity_chart_svg", "timings_chart_svg"]

SEVERITY_COLOURS: dict[str, str] = {
    "critical": "#7f1d1d",
    "high": "#dc2626",
    "medium": "#f59e0b",
    "low": "#3b82f6",
    "info": "#9ca3af",
}
_DEFAULT_COLOURS = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2")


def _fmt(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.3f}"


def bar_chart_svg(
    rows: Sequence[tuple[str, Mapping[str, float]]],
    *,
    series: Sequence[str],
    title: str,
    unit: str = "",
    colours: Mapping[str, str] | None = None,
    width: int = 640,
) -> str:
    """Horizontal bars, one per row, stacked by `series` in order; labels and totals as text."""
    colours = dict(colours or {})
    for i, name in enumerate(series):
        colours.setdefault(name, _DEFAULT_COLOURS[i % len(_DEFAULT_COLOURS)])
    bar_h, gap, top = 20, 8, 48 if len(series) > 1 else 32
    label_w = min(260, 16 + 7 * max((len(label) for label, _ in rows), default=4))
    plot_w = width - label_w - 70
    biggest = max((sum(v.values()) for _, v in rows), default=0) or 1
    height = top + len(rows) * (bar_h + gap) + 12
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    if len(series) > 1:
        x = label_w
        for name in series:
            out.append(f'<rect x="{x}" y="24" width="10" height="10" fill="{colours[name]}"/>')
            out.append(f'<text x="{x + 14}" y="33">{escape(name)}</text>')
            x += 24 + 7 * len(name)
    if not rows:
        out.append(f'<text x="{label_w}" y="{top + 14}" fill="#6b7280">nothing to show</text>')
    for i, (label, values) in enumerate(rows):
        y = top + i * (bar_h + gap)
        out.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{escape(label)}</text>')
        bar_x = float(label_w)
        for name in series:
            value = float(values.get(name, 0))
            if value <= 0:
                continue
            w = max(1.0, plot_w * value / biggest)
            out.append(
                f'<rect x="{bar_x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colours[name]}">'
                f"<title>{escape(label)}: {escape(name)} {_fmt(value)}{escape(unit)}</title></rect>"
            )
            bar_x += w
        total = sum(float(v) for v in values.values())
        out.append(f'<text x="{bar_x + 6:.1f}" y="{y + 14}">{_fmt(total)}{escape(unit)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def severity_chart_svg(table: Mapping[str, Mapping[str, int]], title: str = "Findings by system") -> str:
    """Findings per system, stacked by severity (the output of ``severity_by_system``)."""
    present = [s for s in SEVERITIES if any(s in row for row in table.values())]
    rows = sorted(table.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return bar_chart_svg(rows, series=present, title=title, colours=SEVERITY_COLOURS)


def timings_chart_svg(timings: Sequence[Mapping[str, Any]], title: str = "Step timings") -> str:
    """Seconds per analyser step (the output of ``step_timings``), in the order they ran."""
    rows = [(str(t["label"]), {"seconds": float(t["duration_s"] or 0.0)}) for t in timings]
    return bar_chart_svg(rows, series=["seconds"], title=title, unit=" s")
