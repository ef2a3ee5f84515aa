"""Everything detectable at publish time is refused at publish time, all at once (issue 11, 3)."""

import pytest

import tidings

EVENT = {"name": "Program Released", "properties": ["program_id", "genre", "language"]}


@pytest.fixture
def ws():
    workspace = tidings.Workspace()
    workspace.define_business_event(EVENT)
    yield workspace
    workspace.close()


def _bulletin(message: dict, **changes) -> dict:
    bulletin = {
        "id": "b1",
        "name": "New",
        "business_event": "Program Released",
        "match": [
            {"business_property": "genre", "event": "Movie Watched", "event_property": "genre"}
        ],
        "message": message,
        "published": True,
    }
    bulletin.update(changes)
    return bulletin


def _problems(info) -> list[tuple[str, int | None, int | None]]:
    return [(p.field, p.line, p.column) for p in info.value.problems]


def test_every_failing_field_is_listed_at_once(ws):
    message = {
        "channel": "email",
        "subject": "New {{ BusinessEvent.genr }}\nout now",
        "html": "Hi\n{{ ExternalTrigger.coupon }}",
    }
    bulletin = _bulletin(
        message,
        match=[{"business_property": "mood", "event": "Movie Watched", "event_property": "genre"}],
        control_group={"kind": "custom", "group": "nobody"},
    )
    with pytest.raises(tidings.DefinitionError) as info:
        ws.publish_bulletin(bulletin)
    assert _problems(info) == [
        ("match.0.business_property", None, None),
        ("message.subject", 1, 8),
        ("message.subject", 1, 29),
        ("message.html", 2, 4),
        ("control_group", None, None),
    ]
    messages = [p.message for p in info.value.problems]
    assert "did you mean 'genre'?" in messages[1]
    assert "program_id, genre, language" in messages[1]
    assert "line break" in messages[2]
    assert "ExternalTrigger" in messages[3]
    assert info.value.field == "match.0.business_property"
    assert "5 problems" in str(info.value)
    assert len(info.value.detailed_message().splitlines()) == 5
    assert "b1" not in ws.bulletins


def test_template_compile_errors_join_the_other_problems(ws):
    message = {
        "channel": "email",
        "subject": "New {{ BusinessEvent.genre | nope }}",
        "html": "<p>\n{% if Profile.name %}Hi</p>",
        "text": "{{ Profle.name }}",
    }
    bulletin = _bulletin(
        message,
        match=[{"business_property": "mood", "event": "Movie Watched", "event_property": "genre"}],
        control_group={"kind": "custom", "group": "nobody"},
    )
    with pytest.raises(tidings.DefinitionError) as info:
        ws.publish_bulletin(bulletin)
    fields = [p.field for p in info.value.problems]
    assert fields == [
        "message.subject",
        "message.html",
        "message.text",
        "match.0.business_property",
        "control_group",
    ]
    subject = info.value.problems[0]
    assert (subject.line, subject.column) == (1, 30)
    assert "nope" in subject.message
    assert info.value.problems[1].line == 2
    assert isinstance(info.value.__cause__, tidings.TemplateError)
    assert info.value.__cause__.field == "email.subject"
    assert "b1" not in ws.bulletins


def test_compile_error_joins_a_model_error(ws):
    bulletin = _bulletin({"channel": "push", "title": "{% if %}", "body": "b"}, targeting_cap=0)
    with pytest.raises(tidings.DefinitionError) as info:
        ws.publish_bulletin(bulletin)
    assert [p.field for p in info.value.problems] == ["message.title", "targeting_cap"]


def test_campaign_compile_errors_are_listed_at_once(ws):
    campaign = {
        "name": "c",
        "message": {"channel": "push", "title": "{% if %}", "body": "{{ x | nope }}"},
        "control_group": {"kind": "custom", "group": "nobody"},
    }
    with pytest.raises(tidings.DefinitionError) as info:
        ws.publish_campaign(campaign)
    assert _problems(info) == [
        ("message.title", 1, 4),
        ("message.body", 1, 8),
        ("control_group", None, None),
    ]
    assert ws.campaigns == {}


def test_bulletin_may_read_name_and_defined_properties(ws):
    message = {
        "channel": "push",
        "title": "{{ BusinessEvent.name }}",
        "body": "{{ BusinessEvent.program_id }}",
    }
    ws.publish_bulletin(_bulletin(message))
    assert "b1" in ws.bulletins


def test_campaign_template_using_business_event_is_refused(ws):
    campaign = {
        "name": "c",
        "message": {"channel": "push", "title": "Hi", "body": "{{ BusinessEvent.genre }}"},
    }
    with pytest.raises(tidings.DefinitionError) as info:
        ws.publish_campaign(campaign)
    assert _problems(info) == [("message.body", 1, 4)]


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ("{not json", False),
        ('{"a": {{ ExternalTrigger.a }}, "b": "{{ Profile.name }}"}', True),
        (
            '{"items": [{% for p in ExternalTrigger.items %}{{ p }}'
            "{% unless forloop.last %},{% endunless %}{% endfor %}]}",
            True,
        ),
        ('{"a": 1,}', False),
        ('{"a": {% if ExternalTrigger.x %}1{% else %}2{% endif %}}', True),
    ],
)
def test_webhook_body_skeleton_must_be_json(ws, body, ok):
    campaign = {
        "name": "hook",
        "message": {"channel": "webhook", "url": "https://hooks.example.com/x", "body": body},
    }
    if ok:
        ws.publish_campaign(campaign)
        return
    with pytest.raises(tidings.DefinitionError) as info:
        ws.publish_campaign(campaign)
    assert [p.field for p in info.value.problems] == ["message.body"]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example.com/{{ ExternalTrigger.id }}", True),
        ("{{ ExternalTrigger.url | raw }}", True),
        ("https://{{ ExternalTrigger.host }}/x", True),
        ("not a url {{ Profile.name }}", False),
        ("ftp://example.com/x", False),
        ("https://exa mple.com/{{ Profile.name }}", False),
        ("https:///path", False),
    ],
)
def test_webhook_url_must_be_able_to_become_a_url(ws, url, ok):
    campaign = {"name": "hook", "message": {"channel": "webhook", "url": url, "body": "{}"}}
    if ok:
        ws.publish_campaign(campaign)
        return
    with pytest.raises(tidings.DefinitionError) as info:
        ws.publish_campaign(campaign)
    assert [p.field for p in info.value.problems] == ["message.url"]


def test_line_break_inside_a_tag_is_not_literal_text(ws):
    message = {
        "channel": "push",
        "title": "Hi {% if Profile.name %}\n{{- Profile.name }}{% endif %}",
        "body": "two\nlines are fine here",
    }
    ws.publish_bulletin(_bulletin(message))


def test_cli_import_prints_every_problem(tmp_path, capsys):
    import json

    from tidings.cli import main

    definitions = {
        "business_events": [EVENT],
        "bulletins": [
            _bulletin(
                {
                    "channel": "push",
                    "title": "{{ BusinessEvent.genr }}\n",
                    "body": "{{ ExternalTrigger.x }}",
                }
            )
        ],
    }
    path = tmp_path / "defs.json"
    path.write_text(json.dumps(definitions), encoding="utf-8")
    code = main(["import", "--db", str(tmp_path / "ws.db"), "--definitions", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "3 problems" in err
    for where in ("message.title:1:4", "message.title:1:25", "message.body:1:4"):
        assert where in err


def test_preview_reports_every_text_problem():
    message = {
        "channel": "webhook",
        "url": "ftp://example.com/{{ Profile.name }}",
        "headers": {"X-A": "a\nb"},
        "body": "{not json",
    }
    from tidings.preview import preview_message

    result = preview_message(message, {"name": "Ann"}, {})
    assert [(e.field, e.line) for e in result.errors] == [
        ("webhook.url", 1),
        ("webhook.headers.X-A", 1),
        ("webhook.body", 1),
    ]
    assert result.payload is None


def test_preview_warns_for_every_profile_key_absent_from_the_sample():
    from tidings.preview import preview_message

    message = {
        "channel": "push",
        "title": "Hi {{ Profile.nmae }}, {{ Profile.name | default: 'you' }}",
        "body": "{{ Profile.city }} {{ Profile.language }} {{ Profile.nmae }}",
    }
    result = preview_message(message, {"language": "Hindi"}, {})
    absent = [(w.field, w.key) for w in result.warnings if w.kind == "absent_profile_key"]
    assert absent == [("push.title", "nmae"), ("push.body", "city"), ("push.body", "nmae")]
    fallbacks = [w.expression for w in result.warnings if w.kind == "fallback"]
    assert fallbacks == ["Profile.name"]  # explained once, by its fallback
    typo = next(w for w in result.warnings if w.key == "nmae")
    assert "renders as nothing" in typo.message
    assert result.ok


def test_cli_preview_strict_turns_warnings_into_exit_1(tmp_path, capsys):
    import json

    from tidings.cli import main

    template = tmp_path / "hi.liquid"
    template.write_text("Hi {{ Profile.nmae }}, ", encoding="utf-8")
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"name": "Ann"}), encoding="utf-8")
    args = ["preview", str(template), "--profile", str(profile)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Profile.nmae is absent from the sample profile" in out
    assert "did you mean 'name'?" in out
    assert main([*args, "--strict"]) == 1
    assert "1 warning (--strict)" in capsys.readouterr().err
    template.write_text("Hi {{ Profile.name }}", encoding="utf-8")
    assert main([*args, "--strict"]) == 0
