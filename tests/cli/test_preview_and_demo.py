"""The ``tidings`` command line, run in-process: preview, demo, exit codes, the examples."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tidings.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from tidings.preview import preview_message

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "templates"

# The two message bodies of the vendor's External Trigger guide, character for character.
SEED_EXAMPLE_1 = (
    'Hey {{ Profile.name | default: "User" }}\n'
    "Thank you for shopping with us!\n"
    'Name: {{ ExternalTrigger.Name | default: "defaultName" }}\n'
    'Price: {{ ExternalTrigger.Price | default: "defaultPrice" }}\n'
    'ImageUrl: {{ ExternalTrigger.ImageUrl | default: "defaultImageUrl" }}'
)
SEED_EXAMPLE_2 = (
    'Hey {{ Profile.name | default: "User" }}\n'
    "Thank you for shopping with us!\n"
    "{% for product in ExternalTrigger.productDetails %}\n"
    'Name: {{ product.productName | default: "defaultProductName"}}\n'
    'productID: {{product.productID | default: "defaultProductId"}}\n'
    'imageURL: {{product.imageURL | default: "defaultImageUrl"}}\n'
    "{% for pricingDetail in product.pricingDetails %}\n"
    '{{ pricingDetail.name | default : "defaultPriceName"}} : '
    '{{ pricingDetail.value | default : "defaultPriceValue"}}\n'
    "{% endfor %}\n"
    "{% endfor %}"
)

LIVE_SCRIPT = re.compile(r"<\s*script", re.IGNORECASE)


def write_json(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


@pytest.fixture
def example1(tmp_path):
    template = tmp_path / "order.liquid"
    template.write_text(SEED_EXAMPLE_1, encoding="utf-8")
    profile = write_json(tmp_path / "profile.json", {"name": "Maya"})
    trigger = write_json(tmp_path / "trigger.json", {"Name": "Boots", "Price": "$149"})
    return template, profile, trigger


# --- tidings preview: success ----------------------------------------------------------


def test_preview_template_prints_text_and_warnings(example1, capsys):
    template, profile, trigger = example1
    code = main(["preview", str(template), "--profile", str(profile), "--trigger", str(trigger)])
    out, err = capsys.readouterr()
    assert code == EXIT_OK
    assert err == ""
    assert "Hey Maya\nThank you for shopping with us!\nName: Boots\nPrice: $149\n" in out
    assert "ImageUrl: defaultImageUrl" in out
    assert "warnings (1):" in out
    assert (
        "  - line 5: ExternalTrigger.ImageUrl is absent from the trigger data: used the default "
        '"defaultImageUrl"\n' in out
    )


def test_preview_json_format(example1, capsys):
    template, profile, trigger = example1
    args = ["preview", str(template), "--profile", str(profile), "--trigger", str(trigger)]
    code = main([*args, "--format", "json"])
    out, _ = capsys.readouterr()
    assert code == EXIT_OK
    data = json.loads(out)
    assert data["ok"] is True
    assert data["kind"] == "template"
    assert data["escape"] == "text"
    assert data["text"].startswith("Hey Maya\n")
    assert [w["key"] for w in data["warnings"]] == ["ImageUrl"]
    assert data["errors"] == []


def test_preview_without_data_files_uses_empty_data(example1, capsys):
    template, _, _ = example1
    assert main(["preview", str(template), "--format", "json"]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["text"].startswith("Hey User\n")
    assert len(data["warnings"]) == 4


def test_preview_escape_option_applies_to_templates(tmp_path, capsys):
    template = tmp_path / "link.liquid"
    template.write_text("https://x.example/?q={{ ExternalTrigger.q }}", encoding="utf-8")
    trigger = write_json(tmp_path / "t.json", {"q": "a b&c"})
    code = main(["preview", str(template), "--trigger", str(trigger), "--escape", "url"])
    assert code == EXIT_OK
    assert "https://x.example/?q=a%20b%26c" in capsys.readouterr().out


def test_preview_definition_prints_each_payload_field(capsys):
    args = ["preview", str(TEMPLATES / "subscription-upgrade.webhook.json")]
    args += ["--profile", str(TEMPLATES / "subscription-upgrade.profile.json")]
    args += ["--trigger", str(TEMPLATES / "subscription-upgrade.trigger.json")]
    assert main(args) == EXIT_OK
    out = capsys.readouterr().out
    assert "url: https://crm.example.com/api/v2/accounts/ACC-88412/events" in out
    assert "method: POST" in out
    assert "  X-Account-Id: ACC-88412" in out
    assert re.search(r'\n {8}"features": \[\n {10}"unlimited projects",\n', out)


# --- tidings preview: exit code 1 ------------------------------------------------------


def test_syntax_error_exits_1_with_caret_on_stderr(tmp_path, capsys):
    template = tmp_path / "broken.liquid"
    template.write_text("Hi\n{% if ExternalTrigger.vip %}VIP", encoding="utf-8")
    assert main(["preview", str(template)]) == EXIT_ERROR
    out, err = capsys.readouterr()
    assert "did not render: 1 error" in out
    assert "--> broken.liquid:2:4" in err
    assert "2 | {% if ExternalTrigger.vip %}VIP\n  |    ^" in err


def test_missing_trigger_key_exits_1_and_json_lists_the_error(tmp_path, capsys):
    definition = write_json(
        tmp_path / "order.email.json",
        {"channel": "email", "subject": "Order {{ ExternalTrigger.orderId }}", "html": "<p>ok</p>"},
    )
    assert main(["preview", str(definition), "--format", "json"]) == EXIT_ERROR
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["ok"] is False
    assert data["errors"][0]["code"] == "missing_trigger_key"
    assert data["errors"][0]["field"] == "email.subject"
    assert "email.subject: ExternalTrigger key missing: orderId" in err


def test_invalid_definition_exits_1(tmp_path, capsys):
    definition = write_json(tmp_path / "p.json", {"channel": "push", "title": "t", "bogus": 1})
    assert main(["preview", str(definition)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "push.body: Field required" in err
    assert "push.bogus: Extra inputs are not permitted" in err


# --- tidings preview: exit code 2 ------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "content", "message"),
    [
        ("--profile", "{not json", "profile"),
        ("--trigger", '{"a": 1,}', "trigger"),
        ("--trigger", "[1, 2]", "must hold a JSON object"),
    ],
)
def test_unusable_data_file_exits_2(example1, tmp_path, capsys, option, content, message):
    template, _, _ = example1
    data = tmp_path / "data.json"
    data.write_text(content, encoding="utf-8")
    assert main(["preview", str(template), option, str(data)]) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("tidings: error: ")
    assert message in err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.liquid", None, "template not found"),
        ("notes.txt", "hello", "expected a Liquid template (.liquid) or a message definition"),
        ("data.json", '{"title": "x"}', 'expected a JSON object with a "channel" key'),
        ("broken.json", '{"channel": ', "is not valid JSON"),
    ],
)
def test_unusable_source_exits_2(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["preview", str(path)]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_escape_option_with_a_definition_exits_2(capsys):
    args = ["preview", str(TEMPLATES / "order-example-1.email.json"), "--escape", "html"]
    assert main(args) == EXIT_USAGE
    assert "--escape applies to .liquid templates only" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [[], ["preview"], ["preview", "x.liquid", "--format", "yaml"], ["frobnicate"]],
)
def test_bad_arguments_exit_2(argv, capsys):
    assert main(argv) == EXIT_USAGE
    assert "usage: tidings" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "preview" in out
    assert "demo" in out


# --- tidings preview --html ------------------------------------------------------------


def test_html_page_for_an_email_with_hostile_trigger_data(tmp_path, capsys):
    definition = write_json(
        tmp_path / "note.email.json",
        {
            "channel": "email",
            "subject": "A note for {{ Profile.name }}",
            "html": "<h1>Hi</h1><p>{{ ExternalTrigger.note }}</p>{{ ExternalTrigger.sig | raw }}",
        },
    )
    trigger = write_json(
        tmp_path / "t.json",
        {"note": "<script>alert('note')</script>", "sig": '<script>alert("raw")</script>'},
    )
    page = tmp_path / "out" / "note.html"
    code = main(["preview", str(definition), "--trigger", str(trigger), "--html", str(page)])
    assert code == EXIT_OK
    assert f"wrote {page}" in capsys.readouterr().err
    text = page.read_text(encoding="utf-8")
    assert not LIVE_SCRIPT.search(text)
    assert '<iframe class="email" title="email body" sandbox srcdoc="' in text
    # Escaped once by the email's autoescape, once more for the srcdoc attribute.
    assert "&amp;lt;script&amp;gt;alert(&amp;#39;note&amp;#39;)" in text
    # The trusted `raw` value is still only attribute text: inert, in a sandbox anyway.
    assert "&lt;script&gt;alert(&#34;raw&#34;)&lt;/script&gt;" in text
    assert "&lt;h1&gt;Hi&lt;/h1&gt;" in text


def test_html_page_for_a_push_shows_the_mock(tmp_path):
    page = tmp_path / "push.html"
    args = ["preview", str(TEMPLATES / "fitness-milestone.push.json")]
    args += ["--profile", str(TEMPLATES / "fitness-milestone.profile.json")]
    args += ["--trigger", str(TEMPLATES / "fitness-milestone.trigger.json"), "--html", str(page)]
    assert main(args) == EXIT_OK
    text = page.read_text(encoding="utf-8")
    assert '<div class="push-title">15,000 steps, Jordan Alvarez!</div>' in text
    assert "You walked 15342 steps on Tuesday." in text
    assert 'src="https://cdn.fitpulse.example.com/badges/steps-15k-gold.png"' in text
    assert "fitpulse://milestones/steps-15k-2024-06-11?steps=15342" in text


def test_html_page_for_a_webhook_shows_the_request(tmp_path):
    page = tmp_path / "hook.html"
    args = ["preview", str(TEMPLATES / "subscription-upgrade.webhook.json")]
    args += ["--profile", str(TEMPLATES / "subscription-upgrade.profile.json")]
    args += ["--trigger", str(TEMPLATES / "subscription-upgrade.trigger.json"), "--html", str(page)]
    assert main(args) == EXIT_OK
    text = page.read_text(encoding="utf-8")
    assert (
        '<span class="method">POST</span> https://crm.example.com/api/v2/accounts/ACC-88412/events'
        in text
    )
    assert "X-Event-Type: subscription.upgraded" in text
    assert "&#34;features&#34;: [" in text


def test_html_page_is_written_for_an_error_too(tmp_path, capsys):
    template = tmp_path / "t.liquid"
    template.write_text("{{ Profile.name | nope }}", encoding="utf-8")
    page = tmp_path / "t.html"
    assert main(["preview", str(template), "--html", str(page)]) == EXIT_ERROR
    text = page.read_text(encoding="utf-8")
    assert "unknown filter" in text
    assert "line 1, column" in text
    assert "^" in capsys.readouterr().err


# --- tidings demo ----------------------------------------------------------------------


def test_demo_renders_every_example_from_the_repository_root(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    out_dir = tmp_path / "preview"
    assert main(["demo", "--preview-only", "--out", str(out_dir)]) == EXIT_OK
    out, err = capsys.readouterr()
    assert err == ""
    names = sorted(
        path.name.removesuffix(".json")
        for channel in ("push", "email", "webhook")
        for path in TEMPLATES.glob(f"*.{channel}.json")
    )
    assert names == [
        "fitness-milestone.push",
        "order-example-1.email",
        "order-example-2.email",
        "order-summary.email",
        "subscription-upgrade.webhook",
    ]
    for name in names:
        page = out_dir / f"{name}.html"
        assert page.is_file()
        assert f"preview page: {page}" in out
        assert f'href="{name}.html"' in (out_dir / "index.html").read_text(encoding="utf-8")
    assert "did not render" not in out
    assert f"5 of 5 examples rendered; open {out_dir / 'index.html'}" in out
    assert "warnings (" in out


def test_demo_default_output_is_relative_to_the_working_directory(tmp_path, monkeypatch, capsys):
    work = tmp_path / "clone"
    (work / "templates").mkdir(parents=True)
    for path in TEMPLATES.glob("fitness-milestone.*.json"):
        (work / "templates" / path.name).write_bytes(path.read_bytes())
    monkeypatch.chdir(work)
    assert main(["demo", "--preview-only"]) == EXIT_OK
    assert (work / "out" / "preview" / "fitness-milestone.push.html").is_file()
    assert "1 of 1 examples rendered" in capsys.readouterr().out


def test_demo_without_templates_dir_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == EXIT_USAGE
    assert "examples directory not found: templates" in capsys.readouterr().err


def test_demo_with_a_broken_example_exits_1(tmp_path, capsys):
    write_json(tmp_path / "ok.push.json", {"channel": "push", "title": "t", "body": "b"})
    write_json(
        tmp_path / "bad.email.json",
        {"channel": "email", "subject": "s", "html": "{{ ExternalTrigger.x }}"},
    )
    out_dir = tmp_path / "out"
    args = ["demo", "--preview-only", "--templates", str(tmp_path), "--out", str(out_dir)]
    assert main(args) == EXIT_ERROR
    out, err = capsys.readouterr()
    assert "1 of 2 examples rendered" in out
    assert "ExternalTrigger key missing: x" in out
    assert "1 example(s) did not render" in err
    assert (out_dir / "bad.email.html").is_file()


# --- the examples in templates/ --------------------------------------------------------


def load(name: str) -> dict:
    return json.loads((TEMPLATES / name).read_text(encoding="utf-8"))


def test_seed_examples_are_used_verbatim_as_email_html():
    assert load("order-example-1.email.json")["html"] == SEED_EXAMPLE_1
    example_2 = load("order-example-2.email.json")
    assert example_2["html"] == SEED_EXAMPLE_2
    assert example_2["text"] == SEED_EXAMPLE_2


@pytest.mark.parametrize(
    ("liquid", "definition"),
    [
        ("order-example-1.liquid", "order-example-1.email.json"),
        ("order-example-2.liquid", "order-example-2.email.json"),
        ("order-summary.liquid", "order-summary.email.json"),
    ],
)
def test_raw_liquid_bodies_match_their_definitions(liquid, definition):
    raw = (TEMPLATES / liquid).read_text(encoding="utf-8")
    assert raw.rstrip("\n") == load(definition)["html"].rstrip("\n")


def test_example_2_sample_has_three_products_with_four_pricing_details():
    products = load("order-example-2.trigger.json")["productDetails"]
    assert len(products) == 3
    assert all(len(p["pricingDetails"]) == 4 for p in products)
    result = preview_message(
        load("order-example-2.email.json"),
        load("order-example-2.profile.json"),
        load("order-example-2.trigger.json"),
    )
    assert result.ok
    assert result.warnings == ()
    assert result.payload is not None
    assert result.payload["text"].count("Shipping Fee : $") == 3


def test_fitness_push_deep_link_interpolates_values():
    definition = load("fitness-milestone.push.json")
    assert "{{ ExternalTrigger.milestoneId }}" in definition["deep_link"]
    trigger = dict(load("fitness-milestone.trigger.json"), milestoneId="15k steps/today")
    result = preview_message(definition, load("fitness-milestone.profile.json"), trigger)
    assert result.payload is not None
    assert result.payload["deep_link"].startswith("fitpulse://milestones/15k%20steps%2Ftoday?")


def test_subscription_webhook_body_uses_the_json_filter_and_stays_json():
    definition = load("subscription-upgrade.webhook.json")
    assert "| json }}" in definition["body"]
    trigger = load("subscription-upgrade.trigger.json")
    trigger["newPlan"]["name"] = 'Pro "Plus" \\ </script>'
    result = preview_message(definition, load("subscription-upgrade.profile.json"), trigger)
    assert result.payload is not None
    body = result.payload["body"]
    assert body["subscription"]["to"]["name"] == 'Pro "Plus" \\ </script>'
    assert body["subscription"]["to"]["features"][0] == "unlimited projects"
    assert body["subscription"]["billing"]["prorated"] is True


# --- the installed entry point ---------------------------------------------------------


def test_installed_console_script_runs():
    script = Path(sys.executable).parent / "tidings"
    if not script.exists():
        pytest.skip("the tidings console script is not installed in this environment")
    result = subprocess.run(
        [str(script), "preview", str(TEMPLATES / "order-example-1.liquid"), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert json.loads(result.stdout)["text"].startswith("Hey User\n")
