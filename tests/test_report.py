"""The HTML report: renders for an empty and a demo workspace; reads well in Chromium."""

import re
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

import tidings
from tidings.cli import EXIT_OK, EXIT_USAGE, main
from tidings.demo_data import DemoConfig, run_demo
from tidings.report import (
    format_count,
    format_percent,
    format_points,
    render_report_html,
    render_stats_text,
    write_report,
)
from tidings.stats import compute_stats

REPO = Path(__file__).resolve().parents[1]
DEFINITIONS = REPO / "templates" / "demo" / "demo.json"
CHROMIUM = Path("/usr/bin/chromium")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Page(HTMLParser):
    """Collects tags with their attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]

    def classes(self, tag: str, name: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and name in (a.get("class") or "").split()]

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, DEFINITIONS, DemoConfig(users=2_000), workers=1)


def assert_self_contained(html: str) -> None:
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html
    assert "url(" not in html


# -- formatting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "value", "expected"),
    [
        (format_count, 1234567, "1,234,567"),
        (format_count, None, "\u2014"),
        (format_percent, 0.12345, "12.35%"),
        (format_percent, None, "undefined"),
        (format_points, 0.0231, "+2.31 pp"),
        (format_points, -0.005, "-0.50 pp"),
        (format_points, None, "undefined"),
    ],
)
def test_formatting(func, value, expected):
    assert func(value) == expected


# -- rendering ---------------------------------------------------------------------------


def test_report_of_an_empty_workspace():
    html = render_report_html(compute_stats(tidings.Workspace(clock=lambda: NOW)))
    assert_self_contained(html)
    page = Page(html)
    assert "No campaign or bulletin has been defined or dispatched yet." in page.all_text
    assert "No errors." in page.all_text
    assert "No bulletin has been dispatched yet." in page.all_text
    assert page.find("svg") == []
    assert "Generated 2026-11-27 12:00 UTC" in page.all_text


def test_report_of_a_campaign_without_goal_or_control_group():
    ws = tidings.Workspace(clock=lambda: NOW)
    ws.upsert_profiles([{"identity": "u1", "push_tokens": ["t"]}, {"identity": "u2"}])
    campaign_id = ws.publish_campaign(
        {"name": "Hello <b>", "message": {"channel": "push", "title": "T", "body": "B"}}
    )
    ws.trigger_campaign({"to": {"identity": ["u1", "u2"]}, "campaign_id": campaign_id})
    html = render_report_html(compute_stats(ws))
    assert "Hello &lt;b&gt;" in html  # names are escaped
    page = Page(html)
    assert len(page.classes("svg", "funnel")) == 1
    assert page.classes("svg", "conversion") == []
    assert "No goal: define a goal" in page.all_text
    assert page.find("g", **{"data-stage": "sent", "data-value": "1"})
    assert page.find("tr", **{"data-reason": "no_push_token"})


def test_report_with_an_empty_control_group_says_the_uplift_is_undefined():
    ws = tidings.Workspace(clock=lambda: NOW)
    ws.upsert_profiles([{"identity": "u1", "push_tokens": ["t"]}])
    campaign_id = ws.publish_campaign(
        {
            "name": "Goal only",
            "message": {"channel": "push", "title": "T", "body": "B"},
            "goal": {"event": "Bought", "window_hours": 2},
        }
    )
    ws.trigger_campaign({"to": {"identity": ["u1"]}, "campaign_id": campaign_id})
    ws.record_events(
        [{"identity": "u1", "name": "Bought", "timestamp": (NOW + timedelta(hours=1)).isoformat()}]
    )
    page = Page(render_report_html(compute_stats(ws)))
    assert len(page.classes("svg", "conversion")) == 1
    assert page.classes("svg", "uplift") == []  # no interval to draw
    assert "Undefined: the control group is empty" in page.all_text
    assert "100.00% (1 of 1)" in page.all_text
    assert page.find("g", **{"data-group": "control", "data-users": "0"})


def test_report_of_the_demo_workspace(demo):
    html = demo.report.read_text(encoding="utf-8")
    assert_self_contained(html)
    page = Page(html)
    stats = demo.stats
    assert len(stats.sources) == 6
    assert len(page.classes("svg", "funnel")) == 6
    with_goal = [s for s in stats.sources if s.conversion is not None]
    assert len(page.classes("svg", "conversion")) == len(with_goal) == 5
    for source in stats.sources:
        svg = page.find("svg", **{"data-source": source.source_id})
        assert svg, source.source_id
        for stage, value in source.funnel:
            if value is not None:
                assert page.find("g", **{"data-stage": stage, "data-value": str(value)})
    assert "Sa Re Ga Ma episode 12" in page.all_text  # the activity log
    assert "Winter jackets sale" in page.all_text
    assert page.find("tr", **{"data-reason": "missing_trigger_key"})  # a technical error
    assert "technical" in page.all_text
    assert 'href="deliveries.jsonl"' in html
    assert 'href="preview/index.html"' not in html  # no previews callback given


def test_write_report_creates_parent_directories(tmp_path):
    path = write_report(
        compute_stats(tidings.Workspace(clock=lambda: NOW)), tmp_path / "a" / "b" / "r.html"
    )
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_stats_text_of_the_demo(demo):
    text = render_stats_text(demo.stats)
    assert text.splitlines()[0] == "Campaigns and bulletins"
    for source in demo.stats.sources:
        assert f"[{source.source_id}]" in text
    assert "Business activity log (newest first)" in text
    assert "missing_trigger_key" in text


# -- the commands ------------------------------------------------------------------------


def test_stats_and_report_commands(demo, tmp_path, capsys):
    db = str(demo.database)
    assert main(["stats", "--db", db]) == EXIT_OK
    assert "New in your genre (push) [new-in-genre]" in capsys.readouterr().out
    assert main(["stats", "--db", db, "--format", "json", "--source", "order-summary"]) == EXIT_OK
    import json

    data = json.loads(capsys.readouterr().out)
    assert [s["source_id"] for s in data["sources"]] == ["order-summary"]
    order = next(s for s in demo.stats.sources if s.source_id == "order-summary")
    assert data["sources"][0]["sent"] == order.sent
    assert data["sources"][0]["conversion"]["uplift"]["method"] == "newcombe-wilson"
    args = ["stats", "--db", db, "--format", "json", "--business-event", "Sale Started"]
    assert main(args) == EXIT_OK
    activity = json.loads(capsys.readouterr().out)["activity"]
    assert [a["name"] for a in activity] == ["Winter jackets sale"]
    assert main([*args[:-2], "--since", "2030-01-01"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["activity"] == []
    out = tmp_path / "report.html"
    assert main(["report", "--db", db, "--out", str(out), "--title", "Weekly"]) == EXIT_OK
    assert f"wrote {out}" in capsys.readouterr().out
    assert "<h1>Weekly</h1>" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "--db", "missing.db"], "no workspace at missing.db"),
        (["report", "--db", "missing.db"], "no workspace at missing.db"),
        (["stats", "--db", "x.db", "--since", "yesterday"], "expected a date"),
    ],
)
def test_monitoring_commands_usage_errors(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == EXIT_USAGE
    assert message in capsys.readouterr().err


# -- in a real browser -------------------------------------------------------------------


def test_report_reads_well_in_headless_chromium(demo, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(
            "headless Chromium not installed (/usr/bin/chromium): install Debian's chromium "
            "package (.ci/run does) to check the report in a real browser"
        )
    profile = tmp_path / "chromium-profile"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
    ]  # fmt: skip
    dom = subprocess.run(
        [*command, "--dump-dom", demo.report.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = Page(dom.stdout)
    # The browser parsed the SVG charts and kept every bar and number.
    assert len(page.classes("svg", "funnel")) == 6
    assert len(page.classes("svg", "conversion")) == 5
    assert len(page.classes("rect", "bar")) >= 6 * 5 + 5 * 2
    for source in demo.stats.sources:
        assert page.find("tr", **{"data-source": source.source_id})
        assert f"{source.sent:,}" in page.all_text
        if source.conversion is not None and source.conversion.uplift.difference is not None:
            assert format_points(source.conversion.uplift.difference) in page.all_text
    assert "Business activity log" in page.all_text
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [
            *command,
            f"--screenshot={shot}",
            "--window-size=1280,2400",
            demo.report.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one
