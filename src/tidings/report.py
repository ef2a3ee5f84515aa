"""The monitoring report: one self-contained HTML page drawn from :mod:`tidings.stats`.

The page has, per campaign and bulletin, a funnel (qualified, sent, viewed,
clicked, converted) and the target vs control conversion with the uplift and
its 95% interval, all as inline SVG; then the error table (technical and
non-technical) and the business activity log. It uses no script, no web font
and no network: open it from disk, mail it, archive it.

>>> import tidings
>>> from tidings.report import render_report_html
>>> from tidings.stats import compute_stats
>>> html = render_report_html(compute_stats(tidings.Workspace()))
>>> "No campaign or bulletin" in html
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import jinja2

from .stats import Interval, Rate, SourceStats, WorkspaceStats

__all__ = [
    "format_count",
    "format_percent",
    "format_points",
    "render_report_html",
    "render_stats_text",
    "sources_table",
    "write_report",
]

# Chart geometry (SVG user units; the SVGs scale to the page width).
_CHART_WIDTH: Final = 560
_LABEL_WIDTH: Final = 96
_VALUE_WIDTH: Final = 150
_BAR_HEIGHT: Final = 24
_BAR_GAP: Final = 10
_PLOT_WIDTH: Final = _CHART_WIDTH - _LABEL_WIDTH - _VALUE_WIDTH


def format_count(value: int | None) -> str:
    """``12345`` as ``12,345``; None as an em dash."""
    return "\u2014" if value is None else f"{value:,}"


def format_percent(value: float | None, digits: int = 2) -> str:
    """A proportion as a percentage (``0.1234`` as ``12.34%``); None as "undefined"."""
    return "undefined" if value is None else f"{value * 100:.{digits}f}%"


def format_points(value: float | None, digits: int = 2) -> str:
    """A difference of proportions in percentage points, signed (``+2.31 pp``)."""
    return "undefined" if value is None else f"{value * 100:+.{digits}f} pp"


def _format_interval(interval: Interval | None, points: bool) -> str:
    if interval is None:
        return "undefined"
    fmt = format_points if points else format_percent
    return f"{fmt(interval.low)} to {fmt(interval.high)}"


@dataclass(frozen=True, slots=True)
class _Bar:
    label: str
    stage: str
    value: int | None
    y: float
    width: float
    text: str


def _funnel(source: SourceStats) -> dict[str, Any]:
    stages = source.funnel
    top = max([s.reached for s in stages if s.reached is not None] + [1])
    bars = []
    for i, step in enumerate(stages):
        stage, value = step.stage, step.reached
        y = i * (_BAR_HEIGHT + _BAR_GAP)
        width = 0.0 if not value else max(1.0, _PLOT_WIDTH * value / top)
        if value is None:
            text = "no goal"
        elif stage == "qualified" or not source.qualified:
            text = format_count(value)
        else:
            text = f"{format_count(value)} ({format_percent(value / source.qualified, 1)})"
        bars.append(_Bar(stage.capitalize(), stage, value, y, width, text))
    height = len(stages) * (_BAR_HEIGHT + _BAR_GAP) - _BAR_GAP
    return {"bars": bars, "height": height}


def _rate_row(label: str, group: str, rate: Rate, scale: float, y: float) -> dict[str, Any]:
    interval = rate.interval
    x = (lambda v: _PLOT_WIDTH * v / scale) if scale > 0 else (lambda v: 0.0)
    return {
        "label": label,
        "group": group,
        "y": y,
        "width": x(rate.rate or 0.0),
        "low": x(interval.low) if interval else None,
        "high": x(interval.high) if interval else None,
        "text": (
            f"{format_percent(rate.rate)} ({format_count(rate.converted)} of "
            f"{format_count(rate.users)})"
            if rate.users
            else "no users"
        ),
        "rate": rate,
    }


def _conversion(source: SourceStats) -> dict[str, Any] | None:
    conversion = source.conversion
    if conversion is None:
        return None
    highs = [r.interval.high for r in (conversion.target, conversion.control) if r.interval]
    scale = max([*highs, 0.01])
    step = _BAR_HEIGHT + _BAR_GAP
    rows = [
        _rate_row("Target", "target", conversion.target, scale, 0),
        _rate_row("Control", "control", conversion.control, scale, step),
    ]
    uplift = conversion.uplift
    chart: dict[str, Any] | None = None
    if uplift.interval is not None and uplift.difference is not None:
        reach = max(abs(uplift.interval.low), abs(uplift.interval.high), 0.001) * 1.15
        half = _PLOT_WIDTH / 2

        def position(value: float) -> float:
            return _LABEL_WIDTH + half + half * value / reach

        chart = {
            "zero": position(0.0),
            "low": position(uplift.interval.low),
            "high": position(uplift.interval.high),
            "point": position(uplift.difference),
            "left_label": format_points(-reach, 1),
            "right_label": format_points(reach, 1),
        }
    return {
        "goal_event": conversion.goal_event,
        "window_hours": conversion.window_hours,
        "rows": rows,
        "height": 2 * step - _BAR_GAP,
        "scale_label": format_percent(scale, 1),
        "uplift": uplift,
        "uplift_text": format_points(uplift.difference),
        "interval_text": _format_interval(uplift.interval, points=True),
        "relative_text": format_percent(uplift.relative, 1),
        "chart": chart,
        "undefined_reason": (
            None
            if uplift.interval is not None
            else "the target group is empty"
            if not conversion.target.users
            else "the control group is empty (no control group, or nobody held out)"
        ),
    }


def _source_view(source: SourceStats) -> dict[str, Any]:
    return {
        "stats": source,
        "anchor": "source-" + "".join(c if c.isalnum() else "-" for c in source.source_id),
        "funnel": _funnel(source),
        "conversion": _conversion(source),
    }


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tidings", "report_templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["count"] = format_count
    env.filters["percent"] = format_percent
    env.filters["points"] = format_points
    env.filters["num"] = lambda value: f"{value:.1f}"
    return env


def render_report_html(
    stats: WorkspaceStats,
    *,
    title: str = "tidings report",
    workspace: str | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> str:
    """Draw ``stats`` as one self-contained HTML page (inline CSS and SVG, no scripts).

    Args:
        stats: What :func:`tidings.stats.compute_stats` returned.
        title: The page heading.
        workspace: Where the numbers come from (a file name), shown under the title.
        links: ``(label, href)`` pairs listed under the title (other demo outputs).
    """
    errors = [
        {"source": source, "error": error} for source in stats.sources for error in source.errors
    ]
    return (
        _environment()
        .get_template("report.html")
        .render(
            title=title,
            workspace=workspace,
            links=list(links),
            stats=stats,
            generated=stats.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            sources=[_source_view(s) for s in stats.sources],
            errors=errors,
            chart={
                "width": _CHART_WIDTH,
                "label_width": _LABEL_WIDTH,
                "plot_width": _PLOT_WIDTH,
                "bar_height": _BAR_HEIGHT,
                "bar_gap": _BAR_GAP,
            },
        )
    )


def write_report(
    stats: WorkspaceStats,
    path: str | Path,
    *,
    title: str = "tidings report",
    workspace: str | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write :func:`render_report_html` to ``path`` (parents created); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        render_report_html(stats, title=title, workspace=workspace, links=links),
        encoding="utf-8",
    )
    return target


# -- plain text (``tidings stats`` and the demo summary) ----------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def sources_table(sources: Sequence[SourceStats], *, compact: bool = False) -> list[str]:
    """One line per campaign or bulletin: counts, engagement, conversion and uplift.

    ``delivered`` and ``failed`` are what senders made of the deliveries (see
    :mod:`tidings.senders`). ``compact`` leaves out the kind, delivered, failed,
    held-out, capped and filtered columns and shortens names (for an 80-to-120-column terminal).
    """
    headers = [
        "campaign / bulletin", "kind", "qualified", "sent", "delivered", "failed", "held out",
        "capped", "filtered", "errors (tech)", "viewed", "clicked", "target", "control",
        "uplift (95% CI)",
    ]  # fmt: skip
    rows = []
    for s in sources:
        conv = s.conversion
        if conv is None:
            target = control = "-"
            uplift = "no goal"
        else:
            target = format_percent(conv.target.rate, 1)
            control = format_percent(conv.control.rate, 1)
            interval = conv.uplift.interval
            ci = (
                f"{format_points(interval.low, 1)} to {format_points(interval.high, 1)}"
                if interval
                else "undefined"
            )
            uplift = f"{format_points(conv.uplift.difference, 1)} ({ci})"
        name = _shorten(s.name) if compact else s.name
        rows.append(
            [
                f"{name} [{s.source_id}]",
                s.kind,
                format_count(s.qualified),
                format_count(s.sent),
                format_count(s.delivered),
                format_count(s.failed),
                format_count(s.held_out),
                format_count(s.capped),
                format_count(s.filtered),
                f"{format_count(s.technical_errors + s.non_technical_errors)} "
                f"({format_count(s.technical_errors)})",
                format_count(s.viewed),
                format_count(s.clicked),
                target,
                control,
                uplift,
            ]
        )
    if compact:
        keep = [0, 2, 3, 9, 10, 11, 12, 13, 14]
        headers = [headers[i] for i in keep]
        rows = [[row[i] for i in keep] for row in rows]
        return _table(headers, rows, right=set(range(1, 8)))
    return _table(headers, rows, right=set(range(2, 14)))


def _shorten(text: str, width: int = 24) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def render_stats_text(stats: WorkspaceStats) -> str:
    """The numbers of :func:`render_report_html` as plain-text tables."""
    lines = ["Campaigns and bulletins", ""]
    lines += sources_table(stats.sources) if stats.sources else ["(none)"]
    errors = [(s, e) for s in stats.sources for e in s.errors]
    lines += ["", "Errors", ""]
    if errors:
        lines += _table(
            ["campaign / bulletin", "reason", "type", "users"],
            [
                [
                    f"{s.name} [{s.source_id}]",
                    e.reason,
                    "technical" if e.technical else "non-technical",
                    format_count(e.count),
                ]
                for s, e in errors
            ],
            right={3},
        )
    else:
        lines.append("(none)")
    lines += ["", "Business activity log (newest first)", ""]
    if stats.activity:
        lines += _table(
            ["event time", "business event", "name", "bulletin", "qualified", "sent", "creator"],
            [
                [
                    str(a.get("event_time", "")),
                    str(a.get("business_event", "")),
                    str(a.get("name", "")),
                    str(a.get("bulletin", "")),
                    format_count(a.get("qualified")),
                    format_count(a.get("sent")),
                    str(a.get("creator", "")),
                ]
                for a in stats.activity
            ],
            right={4, 5},
        )
    else:
        lines.append("(none)")
    return "\n".join(lines) + "\n"
