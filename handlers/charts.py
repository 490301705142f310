"""The reports' charts as SVG drawn on the server by pygal (no script, no CDN: the admin page works offline), and
one of them as PNG for the digest posted to chats (cairosvg).

Each chart is drawn small (480 × 300) with large text, and scales with its box: whole on a 390 px phone, two side by
side on a desktop. pygal's inline script is dropped and its ``<style>`` given the page's CSP nonce.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys  # nosec B404: fc-match, fixed arguments
from typing import Any

import pygal
from pygal.style import Style

# pygal appends a finder of its map plugins to ``sys.meta_path`` that only has the old ``find_module``: every import
# that finds nothing (an optional speed-up tried in a ``try``) then warns (ImportWarning). We draw no maps.
sys.meta_path[:] = [finder for finder in sys.meta_path if type(finder).__module__ != "pygal"]

WIDTH, HEIGHT = 480, 300
_FONTS = (
    'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", '
    '"WenQuanYi Micro Hei", sans-serif'
)
_LOOK: dict[str, Any] = dict(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1b1f24",
    foreground_strong="#1b1f24",
    foreground_subtle="#9aa5b1",
    colors=("#1f6feb", "#2da44e", "#bf8700", "#cf222e", "#8250df"),
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    title_font_size=16,
    value_font_size=12,
    value_label_font_size=12,
)
STYLE = Style(font_family=_FONTS, **_LOOK)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)
_MAX_DAY_LABELS = 10
_WIDE = 0x2E80  # CJK and beyond: letters about twice as wide as Latin ones


def _config(**changes: Any) -> dict[str, Any]:
    return {
        "style": STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "explicit_size": False,
        "width": WIDTH,
        "height": HEIGHT,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 2,
        "truncate_legend": -1,
        "truncate_label": -1,
        "margin": 8,
        "no_data_text": "—",
        **changes,
    }


def _days(report: dict[str, Any]) -> list[str]:
    return [day["day"][5:] for day in report["per_day"]]  # MM-DD


def _day_axis(labels: list[str]) -> dict[str, Any]:
    every = max(len(labels) // _MAX_DAY_LABELS, 1)
    return {"x_labels_major_every": every, "show_minor_x_labels": every == 1, "x_label_rotation": 0}


def _counts(*series: list[int]) -> dict[str, Any]:
    """Whole-number axis labels for counts (pygal would label 0.1, 0.2, … under a largest value of 1)."""
    top = max((v for values in series for v in values), default=0)
    step = max(-(-top // 5), 1)
    return {"y_labels": list(range(0, top + step, step)), "range": (0, max(top, 1))}


def volume(
    report: dict[str, Any], title: str = "Orders per day", names: tuple[str, str] = ("created", "resolved")
) -> Any:
    labels = _days(report)
    created = [day["created"] for day in report["per_day"]]
    resolved = [day["resolved"] for day in report["per_day"]]
    chart = pygal.Bar(**_config(title=title, **_day_axis(labels), **_counts(created, resolved)))
    chart.x_labels = labels
    chart.add(names[0], created)
    chart.add(names[1], resolved)
    return chart


def times(report: dict[str, Any], figure: str, title: str, unit: float, unit_name: str) -> Any:
    """Median and p90 of ``time_to_claim`` or ``time_to_fix`` per day, in ``unit`` seconds (gaps: none that day)."""
    labels = _days(report)
    chart = pygal.Line(**_config(title=f"{title} ({unit_name})", allow_interruptions=True, **_day_axis(labels)))
    chart.x_labels = labels
    for measure in ("median", "p90"):
        values = [day[figure][measure] for day in report["per_day"]]
        dashed = {"stroke_style": {"dasharray": "6,4", "width": 2}} if measure == "p90" else {}
        chart.add(measure, [None if v is None else round(v / unit, 1) for v in values], **dashed)
    return chart


def backlog(report: dict[str, Any]) -> Any:
    ages = report["backlog"]["by_age"]
    chart = pygal.Bar(
        **_config(title="Open orders by age", show_legend=False, print_values=True, **_counts(list(ages.values())))
    )
    chart.x_labels = list(ages)
    chart.add("orders", list(ages.values()))
    return chart


def ranked(rows: list[dict[str, Any]], title: str) -> Any:
    # the chart's room; pygal draws a horizontal bar chart's first bar at the bottom, and the first is the largest
    shown = rows[:8][::-1]
    counts = [row["orders"] for row in shown]
    # pygal sizes the label column by Latin letters; a Chinese one is about twice as wide
    wide = max((sum(ord(ch) >= _WIDE for ch in row["name"]) for row in shown), default=0)
    chart = pygal.HorizontalBar(
        **_config(title=title, show_legend=False, print_values=True, margin_left=8 + 7 * wide, **_counts(counts))
    )
    chart.x_labels = [row["name"] for row in shown]
    chart.add("orders", counts)
    return chart


def svg(chart: Any, nonce: str) -> str:
    """The chart as inline SVG for a page with a CSP: no script, the style carries the nonce."""
    text = _SCRIPT.sub("", chart.render(is_unicode=True))
    text = text.replace('style="opacity: 0"', "")
    return text.replace("<style", f'<style nonce="{nonce}"', 1)


@functools.cache
def _png_font() -> str:
    """The font cairo draws a PNG's text in: it takes one family and falls back per glyph to nothing, so the
    family must have Chinese letters — fontconfig's choice for Chinese text (``fc-match``), else sans-serif."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return "sans-serif"
    try:
        found = subprocess.run(  # noqa: S603 - fixed arguments
            [fc_match, "-f", "%{family[0]}", "sans-serif:lang=zh-cn"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "sans-serif"
    return found.stdout.strip() or "sans-serif"


def png(chart: Any, scale: float = 2.0) -> bytes:
    """The chart as a PNG image (for a chat), drawn twice the size for phone screens."""
    import cairosvg

    chart.config.style = Style(font_family=_png_font(), **_LOOK)
    data: bytes = cairosvg.svg2png(bytestring=_SCRIPT.sub("", chart.render(is_unicode=True)).encode(), scale=scale)
    return data


def page_charts(report: dict[str, Any], nonce: str) -> dict[str, str]:
    """Every chart of the reports page, by name."""
    return {
        name: svg(chart, nonce)
        for name, chart in (
            ("volume", volume(report)),
            ("claim", times(report, "time_to_claim", "Time to claim", 60, "min")),
            ("fix", times(report, "time_to_fix", "Time to fix", 3600, "h")),
            ("backlog", backlog(report)),
            ("sites", ranked(report["by_site"], "Top sites")),
            ("types", ranked(report["by_type"], "Top types")),
        )
    }
