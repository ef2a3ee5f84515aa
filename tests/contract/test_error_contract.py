"""The error contract: bad input to any public function ends in a ``TidingsError`` subclass.

A hand-made table of bad inputs, each with the error class it must raise (or, for the
vendor-API entry points, the ``fail`` answer they give instead of raising). A case
fails when the call raises anything else (a ``TypeError``, a ``RecursionError``, a
pydantic ``ValidationError``), raises a different tidings error, or succeeds.
See docs/errors.md.
"""

from __future__ import annotations

import inspect
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import tidings
import tidings.errors as errors
from tidings import (
    ArgumentError,
    DataError,
    DefinitionError,
    EventError,
    ProfileError,
    TemplateError,
    TidingsError,
)

FAIL = "fail"
"""Expect the vendor ``fail`` answer (``status: fail``, code 400), not an exception."""


def _deep(depth: int = 1000) -> list[Any]:
    root: list[Any] = []
    node = root
    for _ in range(depth):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


def _cycle() -> dict[str, Any]:
    data: dict[str, Any] = {}
    data["me"] = data
    return data


# Values JSON-like data must never hold; each becomes a row for every data entry point.
HOSTILE_DATA: dict[str, Callable[[], Any]] = {
    "lone surrogate": lambda: "\ud800",
    "surrogate in longer text": lambda: "caf\udce9 au lait",
    "deep nesting": _deep,
    "circular": _cycle,
    "5000-digit int": lambda: 10**5000,
    "NaN": lambda: math.nan,
    "infinity": lambda: -math.inf,
    "tuple key": lambda: {("a", 1): 1},
    "int key": lambda: {1: "x"},
    "bytes": lambda: b"raw",
    "set": lambda: {1, 2},
    "object": object,
    "datetime": lambda: datetime(2026, 1, 1),
}


def _show(value: Any, size: int = 30) -> str:
    """A short label for a value (a 5,000-digit integer cannot be printed)."""
    try:
        return repr(value)[:size]
    except (ValueError, RecursionError):
        return f"<{type(value).__name__}>"


@dataclass(frozen=True)
class Case:
    """One bad call and what it must end in."""

    name: str
    call: Callable[[tidings.Workspace], Any]
    expect: type[TidingsError] | str


def _ws() -> tidings.Workspace:
    ws = tidings.Workspace()
    ws.upsert_profiles([{"identity": "u1", "email": "u1@example.com", "push_tokens": ["t1"]}])
    ws.define_business_event({"name": "Program Released", "properties": ["genre"]})
    ws.record_events(
        [
            {
                "identity": "u1",
                "name": "Watched",
                "timestamp": "2026-01-01T00:00:00Z",
                "properties": {"genre": "x"},
            }
        ]
    )
    ws.publish_bulletin({**_BULLETIN, "id": "live", "published": True})
    ws.publish_campaign(
        {
            "id": "c1",
            "name": "C",
            "message": {"channel": "email", "subject": "Hi", "html": "{{ ExternalTrigger.v }}"},
        }
    )
    return ws


CASES: list[Case] = []


def case(name: str, expect: type[TidingsError] | str) -> Callable[[Callable[..., Any]], None]:
    def register(call: Callable[..., Any]) -> None:
        CASES.append(Case(name, call, expect))

    return register


# -- compile_template, Template.render, Limits -----------------------------------------

for label, source in {
    "bytes source": b"x",
    "None source": None,
    "int source": 5,
    "list source": ["{{ x }}"],
}.items():
    case(f"compile_template: {label}", ArgumentError)(
        lambda ws, s=source: tidings.compile_template(s)
    )
for escape in ["xml", "", "HTML", None, 1]:
    case(f"compile_template: escape={escape!r}", ArgumentError)(
        lambda ws, e=escape: tidings.compile_template("x", escape=e)
    )
for label, source in {
    "unclosed output": "{{ ExternalTrigger.v ",
    "unclosed tag": "{% if ExternalTrigger.v %}",
    "unknown tag": "{% frobnicate %}",
    "unknown filter": "{{ ExternalTrigger.v | nofilter }}",
    "unknown namespace": "{{ Profle.name }}",
    "include": "{% include 'other' %}",
    "render": "{% render 'other' %}",
    "bad range": "{% for i in (1..) %}{% endfor %}",
    "stray endfor": "{% endfor %}",
    "bad operator": "{% if 1 === 1 %}x{% endif %}",
    "unclosed raw": "{% raw %}",
    "bad assign": "{% assign = 1 %}",
}.items():
    case(f"compile_template: {label}", TemplateError)(
        lambda ws, s=source: tidings.compile_template(s)
    )
for label, (profile, trigger) in {
    "trigger is a str": ({}, "data"),
    "trigger is a list": ({}, [1, 2]),
    "trigger is an int": ({}, 5),
}.items():
    case(f"Template.render: {label}", TidingsError)(
        lambda ws, p=profile, t=trigger: tidings.compile_template("{{ ExternalTrigger.v }}").render(
            p, t
        )
    )
for label, data in {"deep": _deep(), "circular": _cycle(), "5000-digit int": 10**5000}.items():
    case(f"Template.render: trigger value {label}", TidingsError)(
        lambda ws, d=data: tidings.compile_template("{{ ExternalTrigger.v }}").render({}, {"v": d})
    )
case("Template.render: unknown namespace keyword", ArgumentError)(
    lambda ws: tidings.compile_template("x").render({}, {}, Nope={})
)
for name, value in [("loop_iterations", -1), ("output_bytes", 0), ("loop_iterations", "many")]:
    case(f"Limits({name}={value!r})", ArgumentError)(
        lambda ws, n=name, v=value: tidings.Limits(**{n: v})
    )

# -- messages ----------------------------------------------------------------------------

for label, definition in {
    "None": None,
    "a list": [1],
    "unknown channel": {"channel": "fax", "text": "x"},
    "no channel": {"title": "t", "body": "b"},
    "push without body": {"channel": "push", "title": "t"},
    "push extra field": {"channel": "push", "title": "t", "body": "b", "colour": "red"},
    "push negative ttl": {"channel": "push", "title": "t", "body": "b", "ttl_seconds": -1},
    "push size 0": {"channel": "push", "title": "t", "body": "b", "max_payload_bytes": 0},
    "push size 2 GiB": {"channel": "push", "title": "t", "body": "b", "max_payload_bytes": 2**31},
    "email subject int": {"channel": "email", "subject": 5, "html": "x"},
    "email bcc": {"channel": "email", "subject": "s", "html": "h", "bcc": "x@example.com"},
    "email html 2 GiB": {"channel": "email", "subject": "s", "html": "h", "max_html_bytes": 2**31},
    "webhook no url": {"channel": "webhook", "body": "{}"},
    "webhook bad method": {"channel": "webhook", "url": "https://x.example", "method": "HEAD"},
    "webhook bad header": {
        "channel": "webhook",
        "url": "https://x.example",
        "headers": {"A B": "x"},
    },
    "webhook header CRLF": {
        "channel": "webhook",
        "url": "https://x.example",
        "headers": {"X-A\r\n": "x"},
    },
    "webhook body 2 GiB": {
        "channel": "webhook",
        "url": "https://x.example",
        "max_body_bytes": 2**31,
    },
}.items():
    case(f"message_from_dict: {label}", DefinitionError)(
        lambda ws, d=definition: tidings.message_from_dict(d)
    )
for label, definition in {
    "bad subject template": {"channel": "email", "subject": "{% if %}", "html": "x"},
    "typo namespace": {"channel": "push", "title": "{{ Profle.name }}", "body": "b"},
    "unknown filter in body": {"channel": "push", "title": "t", "body": "{{ 1 | zap }}"},
}.items():
    case(f"message_from_dict: {label}", TemplateError)(
        lambda ws, d=definition: tidings.message_from_dict(d)
    )
for cls, fields in [
    (tidings.EmailMessage, {"subject": None, "html": "x"}),
    (tidings.EmailMessage, {"subject": "s"}),
    (tidings.PushMessage, {"title": "t", "body": "b", "sound": "ding"}),
    (tidings.PushMessage, {"title": ["t"], "body": "b"}),
    (tidings.WebhookMessage, {"url": "https://x.example", "method": ""}),
    (tidings.WebhookMessage, {"url": 5}),
]:
    case(f"{cls.__name__}({sorted(fields)})", DefinitionError)(lambda ws, c=cls, f=fields: c(**f))
    case(f"{cls.__name__}.model_validate({sorted(fields)})", DefinitionError)(
        lambda ws, c=cls, f=fields: c.model_validate(f)
    )
_EMAIL = tidings.EmailMessage(
    subject="{{ ExternalTrigger.v }}", html="<p>{{ ExternalTrigger.v }}</p>"
)
_WEBHOOK = tidings.WebhookMessage(
    url="https://x.example/{{ ExternalTrigger.v }}", body='{"v": {{ ExternalTrigger.v | json }}}'
)
for label, trigger in {
    "CRLF in subject": {"v": "x\r\nBcc: all@evil.test"},
    "deep": {"v": _deep()},
    "circular": {"v": _cycle()},
    "missing key": {},
    "5000-digit int": {"v": 10**5000},
    "trigger not a mapping": "x",
}.items():
    case(f"EmailMessage.render: {label}", TidingsError)(lambda ws, t=trigger: _EMAIL.render({}, t))
case("WebhookMessage.render: body not JSON", tidings.InvalidWebhookBodyError)(
    lambda ws: tidings.WebhookMessage(url="https://x.example", body="{nope").render({}, {})
)
for label, trigger in {
    "surrogate": {"v": "\ud800"},
    "deep": {"v": _deep()},
    "circular": {"v": _cycle()},
    "5000-digit int": {"v": 10**5000},
}.items():
    case(f"WebhookMessage.render: {label}", TidingsError)(
        lambda ws, t=trigger: _WEBHOOK.render({}, t)
    )

# -- profiles and events -----------------------------------------------------------------

for label, items in {
    "None": None,
    "an int": 5,
    "a str": "u1",
    "a dict": {"identity": "u1"},
    "bytes": b"u1",
}.items():
    case(f"upsert_profiles({label})", ArgumentError)(lambda ws, i=items: ws.upsert_profiles(i))
    case(f"record_events({label})", ArgumentError)(lambda ws, i=items: ws.record_events(i))
for label, item in {"None": None, "an int": 5, "a list": [1, 2], "a str": "u1"}.items():
    case(f"upsert_profiles([{label}])", ProfileError)(lambda ws, i=item: ws.upsert_profiles([i]))
    case(f"record_events([{label}])", EventError)(lambda ws, i=item: ws.record_events([i]))

BAD_PROFILE_FIELDS: dict[str, list[Any]] = {
    "identity": ["", "   ", 5, None, "x" * 300, "a\ud800", ["u"]],
    "email": [
        "v@x.test\r\nBcc: all@evil.test",
        "a@example.com, b@evil.example.com",
        "Ann <ann@example.com>",
        "ann",
        "ann@localhost",
        "ann@[127.0.0.1]",
        "a..b@example.com",
        "",
        5,
        ["a@example.com"],
    ],
    "timezone": ["Europe", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "UTC\x00", "", 5],
    "push_tokens": ["t1", [""], ["a b"], ["x\r\ny"], ["t" * 5000], [5], ["t"] * 101],
    "name": [5, ["Ann"], "x" * 2000],
    "properties": [None, "x", [1, 2], 5],
    "nickname": ["extra field"],
}
for field, values in BAD_PROFILE_FIELDS.items():
    for value in values:
        case(f"upsert_profiles: {field}={_show(value)}", ProfileError)(
            lambda ws, f=field, v=value: ws.upsert_profiles([{"identity": "p", f: v}])
        )
for label, make in HOSTILE_DATA.items():
    case(f"upsert_profiles: property {label}", ProfileError)(
        lambda ws, m=make: ws.upsert_profiles([{"identity": "p", "properties": {"x": m()}}])
    )
    case(f"UserProfile(properties={label})", ProfileError)(
        lambda ws, m=make: tidings.UserProfile(identity="p", properties={"x": m()})
    )
    case(f"record_events: property {label}", EventError)(
        lambda ws, m=make: ws.record_events(
            [
                {
                    "identity": "u1",
                    "name": "E",
                    "timestamp": "2026-01-01T00:00:00Z",
                    "properties": {"x": m()},
                }
            ]
        )
    )

BAD_EVENT_FIELDS: dict[str, list[Any]] = {
    "timestamp": [
        None,
        "yesterday",
        "2026-01-01T00:00:00",  # naive
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+14:00",
        1e30,
    ],
    "name": ["", "x" * 121, 5, None],
    "identity": ["", 5, None],
    "properties": ["x", [1]],
    "extra": [1],
}
for field, values in BAD_EVENT_FIELDS.items():
    for value in values:
        case(f"record_events: {field}={_show(value)}", EventError)(
            lambda ws, f=field, v=value: ws.record_events(
                [{"identity": "u1", "name": "E", "timestamp": "2026-01-01T00:00:00Z", f: v}]
            )
        )
case("record_events: no timestamp", EventError)(
    lambda ws: ws.record_events([{"identity": "u1", "name": "E"}])
)
case("UserEvent.model_validate_json: not JSON", EventError)(
    lambda ws: tidings.UserEvent.model_validate_json("{nope")
)

# -- definitions ---------------------------------------------------------------------------

_MESSAGE = {"channel": "push", "title": "t", "body": "b"}
BAD_CAMPAIGN_FIELDS: dict[str, list[Any]] = {
    "name": ["", None, 5],
    "targeting_cap": [99, -1, 10**10, "many", 10**5000, math.nan],
    "max_recipients_per_call": [0, 10**7],
    "max_trigger_bytes": [0, 2**40],
    "control_group": [
        {"kind": "campaign", "percent": 101},
        {"kind": "custom"},
        {"percent": math.nan},
        5,
    ],
    "filters": [
        [{"kind": "event", "event": "x", "within_days": 1_000_000}],
        [{"kind": "event", "event": "x", "within_days": 0}],
        [{"kind": "event", "event": "x", "min_count": 10**9}],
        [{"kind": "property", "property": "p", "op": "in", "value": "notalist"}],
        [{"kind": "property", "property": "p", "value": "\ud800"}],
        [{"kind": "property", "property": "p", "value": _deep()}],
        [{"kind": "property", "property": "p", "value": {("t",): 1}}],
        [{"kind": "teleport"}],
        "x",
    ],
    "schedule": [
        {"start": "2026-01-02T00:00:00+00:00", "end": "2026-01-01T00:00:00+00:00"},
        {"start": "2026-01-01T00:00:00"},
        {"end": "9999-12-31T23:59:59-12:00"},
        {"cutoff": "0001-01-01T00:00:00+14:00"},
    ],
    "goal": [{"event": "Buy", "window_hours": 10**6}, {"event": ""}],
    "delivery": [
        {"dnd": {"start": "21:00", "end": "21:00"}},
        {"local_send_time": "25:00"},
        {"teleport": True},
    ],
    "message": [{"channel": "fax"}, None, {"channel": "push", "title": "t"}],
    "unknown": [1],
}
for field, values in BAD_CAMPAIGN_FIELDS.items():
    for i, value in enumerate(values):
        case(f"publish_campaign: {field}#{i}={_show(value, 40)}", DefinitionError)(
            lambda ws, f=field, v=value: ws.publish_campaign(
                {"name": "c", "message": _MESSAGE, f: v}
            )
        )
for label, definition in {"None": None, "a list": [1], "a str": "c", "an int": 5}.items():
    case(f"publish_campaign({label})", DefinitionError)(
        lambda ws, d=definition: ws.publish_campaign(d)
    )
    case(f"publish_bulletin({label})", DefinitionError)(
        lambda ws, d=definition: ws.publish_bulletin(d)
    )
    case(f"define_business_event({label})", DefinitionError)(
        lambda ws, d=definition: ws.define_business_event(d)
    )
    case(f"define_control_group({label})", DefinitionError)(
        lambda ws, d=definition: ws.define_control_group(d)
    )
    case(f"configure({label})", DefinitionError)(lambda ws, d=definition: ws.configure(d))
case("publish_campaign: template does not compile", DefinitionError)(
    lambda ws: ws.publish_campaign(
        {"name": "c", "message": {"channel": "push", "title": "{% if %}", "body": "b"}}
    )
)
case("publish_campaign: API shape, content not an object", DefinitionError)(
    lambda ws: ws.publish_campaign({"name": "c", "channel": "push", "content": "x"})
)

_BULLETIN = {
    "id": "b1",
    "name": "B",
    "business_event": "Program Released",
    "match": [{"business_property": "genre", "event": "Watched", "event_property": "genre"}],
    "message": _MESSAGE,
}
BAD_BULLETIN_FIELDS: dict[str, list[Any]] = {
    "id": ["", "x" * 121, None],
    "business_event": ["Nope"],
    "match": [[], [{"business_property": "mood", "event": "W", "event_property": "m"}]],
    "targeting_cap": [0, 10**10],
    "ttl_seconds": [-1, 10**12],
    "segment": [{"kind": "engaged", "engaged_days": 10**6}, {"kind": "engaged", "engaged_days": 0}],
    "control_group": [{"kind": "custom", "group": "undefined-group"}],
}
for field, values in BAD_BULLETIN_FIELDS.items():
    for value in values:
        case(f"publish_bulletin: {field}={_show(value, 40)}", DefinitionError)(
            lambda ws, f=field, v=value: ws.publish_bulletin({**_BULLETIN, f: v})
        )
for label, definition in {
    "empty name": {"name": ""},
    "duplicate properties": {"name": "E", "properties": ["a", "a"]},
    "long property": {"name": "E", "properties": ["x" * 121]},
    "redefined properties": {"name": "Program Released", "properties": ["mood"]},
    "goal window": {"name": "E", "goal": {"event": "Buy", "window_hours": 0}},
}.items():
    case(f"define_business_event: {label}", DefinitionError)(
        lambda ws, d=definition: ws.define_business_event(d)
    )
for label, group in {
    "no name": {"percent": 5},
    "percent 200": {"name": "g", "percent": 200},
    "identities int": {"name": "g", "identities": 5},
}.items():
    case(f"define_control_group: {label}", DefinitionError)(
        lambda ws, g=group: ws.define_control_group(g)
    )
for label, settings in {
    "zone Europe": {"default_timezone": "Europe"},
    "zone path": {"default_timezone": "../../etc/passwd"},
    "zone int": {"default_timezone": 5},
    "frequency cap 0": {"frequency_caps": [{"limit": 0}]},
    "frequency cap huge": {"frequency_caps": [{"limit": 10**9}]},
    "frequency cap channel": {"frequency_caps": [{"limit": 1, "channel": "fax"}]},
}.items():
    case(f"configure: {label}", DefinitionError)(lambda ws, s=settings: ws.configure(s))
for cls, fields in [
    (tidings.PropertyFilter, {"property": ""}),
    (tidings.PropertyFilter, {"property": "p", "op": "in", "value": 5}),
    (tidings.PropertyFilter, {"property": "p", "value": "\ud800"}),
    (tidings.EventFilter, {"event": "e", "within_days": 10**9}),
    (tidings.EventFilter, {"event": "e", "min_count": 0}),
    (tidings.MatchRule, {"business_property": "a"}),
    (tidings.Segment, {"kind": "engaged", "engaged_days": 10**6}),
    (tidings.DoNotDisturb, {"start": "21:00", "end": "21:00"}),
    (tidings.DoNotDisturb, {"start": "25:00", "end": "09:00"}),
    (tidings.DeliveryPreferences, {"dnd": 5}),
    (tidings.FrequencyCap, {"limit": 0}),
    (tidings.FrequencyCap, {"limit": 1, "period": "year"}),
    (tidings.ControlGroup, {"kind": "custom"}),
    (tidings.CustomControlGroup, {"name": "g", "percent": -1}),
    (tidings.BusinessEventDefinition, {"name": "E", "properties": ["a", "a"]}),
    (tidings.ExternalTriggerCampaign, {"name": "c"}),
    (tidings.Bulletin, {"id": "b"}),
    (tidings.Goal, {"event": "e", "window_hours": -1}),
    (tidings.Schedule, {"start": "not a date"}),
    (tidings.WorkspaceSettings, {"default_timezone": "Europe"}),
]:
    case(f"{cls.__name__}({_show(fields, 70)})", DefinitionError)(
        lambda ws, c=cls, f=fields: c(**f)
    )

# -- vendor-API entry points: a fail answer, never an exception ----------------------------

for label, make in HOSTILE_DATA.items():
    case(f"trigger_campaign: ExternalTrigger value {label}", FAIL)(
        lambda ws, m=make: ws.trigger_campaign(
            {"campaign_id": "c1", "to": {"identity": ["u1"]}, "ExternalTrigger": {"v": m()}}
        )
    )
    case(f"trigger_campaign: per-recipient value {label}", FAIL)(
        lambda ws, m=make: ws.trigger_campaign(
            {"campaign_id": "c1", "to": [{"identity": "u1", "ExternalTrigger": {"v": m()}}]}
        )
    )
    case(f"raise_business_event: property {label}", FAIL)(
        lambda ws, m=make: ws.raise_business_event(
            {
                "business_event": "Program Released",
                "name": "R",
                "c-by": "ops",
                "when": "now",
                "properties": {"genre": m()},
            }
        )
    )
    case(f"message_via_identity: ExternalTrigger value {label}", FAIL)(
        lambda ws, m=make: ws.message_via_identity(
            {"to": {"identity": ["u1"]}, "content": _MESSAGE, "ExternalTrigger": {"v": m()}}
        )
    )
for label, body in {
    "None": None,
    "a list": [1],
    "a str": "body",
    "unknown campaign": {"campaign_id": "nope", "to": {"identity": ["u1"]}},
    "to missing": {"campaign_id": "c1"},
    "to an int": {"campaign_id": "c1", "to": 5},
    "identity list empty": {"campaign_id": "c1", "to": {"identity": []}},
    "identity int": {"campaign_id": "c1", "to": {"identity": [5]}},
    "ExternalTrigger a list": {
        "campaign_id": "c1",
        "to": {"identity": ["u1"]},
        "ExternalTrigger": [1],
    },
    "idempotency_key int": {"campaign_id": "c1", "to": {"identity": ["u1"]}, "idempotency_key": 5},
    "missing trigger key": {"campaign_id": "c1", "to": {"identity": ["u1"]}, "ExternalTrigger": {}},
    "surrogate identity": {"campaign_id": "c1", "to": {"identity": ["u\ud800"]}},
    "surrogate campaign id": {"campaign_id": "c\ud800", "to": {"identity": ["u1"]}},
}.items():
    case(f"trigger_campaign: {label}", FAIL)(lambda ws, b=body: ws.trigger_campaign(b))
_RAISE = {"business_event": "Program Released", "name": "R", "c-by": "ops", "when": "now"}
for label, body in {
    "None": None,
    "unknown event": {**_RAISE, "business_event": "Nope", "properties": {"genre": "x"}},
    "when garbage": {**_RAISE, "when": "yesterday", "properties": {"genre": "x"}},
    "when 1e30": {**_RAISE, "when": 1e30, "properties": {"genre": "x"}},
    "when far future": {
        **_RAISE,
        "when": "9999-12-31T23:59:59-12:00",
        "properties": {"genre": "x"},
    },
    "properties missing": _RAISE,
    "property missing": {**_RAISE, "properties": {}},
    "property int": {**_RAISE, "properties": {"genre": 5}},
    "property too long": {**_RAISE, "properties": {"genre": "x" * 600}},
    "key too long": {**_RAISE, "properties": {"genre": "x", "k" * 121: "v"}},
    "name surrogate": {**_RAISE, "name": "R\ud800", "properties": {"genre": "x"}},
    "c-by missing": {
        "business_event": "Program Released",
        "name": "R",
        "when": "now",
        "properties": {"genre": "x"},
    },
}.items():
    case(f"raise_business_event: {label}", FAIL)(lambda ws, b=body: ws.raise_business_event(b))
for label, body in {
    "None": None,
    "content missing": {"to": {"identity": ["u1"]}},
    "content bad channel": {"to": {"identity": ["u1"]}, "content": {"channel": "fax"}},
    "content bad template": {
        "to": {"identity": ["u1"]},
        "content": {"channel": "push", "title": "{% if %}", "body": "b"},
    },
    "targeting cap 5": {"to": {"identity": ["u1"]}, "content": _MESSAGE, "targeting_cap": 5},
    "custom group undefined": {
        "to": {"identity": ["u1"]},
        "content": _MESSAGE,
        "control_group": {"kind": "custom", "group": "g"},
    },
}.items():
    case(f"message_via_identity: {label}", FAIL)(lambda ws, b=body: ws.message_via_identity(b))

# -- workspaces ------------------------------------------------------------------------------

for workers in [0, -1, "2", None, 1.5, True]:
    case(f"Workspace(workers={workers!r})", ArgumentError)(
        lambda ws, w=workers: tidings.Workspace(workers=w)
    )


def _sqlite_directory(ws: tidings.Workspace, tmp: Path) -> Any:
    return tidings.Workspace.sqlite(tmp)


def _sqlite_not_a_database(ws: tidings.Workspace, tmp: Path) -> Any:
    path = tmp / "notes.txt"
    path.write_text("not a database, just some text that is long enough " * 20)
    return tidings.Workspace.sqlite(path)


def _sqlite_missing_folder(ws: tidings.Workspace, tmp: Path) -> Any:
    return tidings.Workspace.sqlite(tmp / "no" / "such" / "folder" / "ws.db")


PATH_CASES = [
    ("Workspace.sqlite: a directory", _sqlite_directory),
    ("Workspace.sqlite: not a database", _sqlite_not_a_database),
    ("Workspace.sqlite: missing folder", _sqlite_missing_folder),
]


def test_the_table_is_large_and_names_are_unique():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]
    assert len(CASES) > 200


@pytest.fixture(scope="module")
def workspace() -> tidings.Workspace:
    return _ws()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_ends_in_a_tidings_error(case: Case, workspace: tidings.Workspace):
    if case.expect == FAIL:
        result = case.call(workspace)
        assert isinstance(result, tidings.Dispatch)
        assert result.response["status"] == "fail", result.response
        assert result.response["code"] == 400
        message = result.response["error"]
        assert isinstance(message, str)
        assert message
        message.encode("utf-8")  # printable, whatever the body held
        return
    assert isinstance(case.expect, type)
    with pytest.raises(TidingsError) as info:
        case.call(workspace)
    assert isinstance(info.value, case.expect), f"{type(info.value).__name__}: {info.value}"
    assert str(info.value)
    str(info.value).encode("utf-8")


@pytest.mark.parametrize(("name", "call"), PATH_CASES, ids=[n for n, _ in PATH_CASES])
def test_bad_paths_end_in_an_argument_error(name, call, tmp_path, workspace):
    with pytest.raises(ArgumentError) as info:
        call(workspace, tmp_path)
    assert info.value.field == "path"


def test_errors_name_the_field_and_keep_pydantic_details(workspace):
    with pytest.raises(ProfileError) as info:
        workspace.upsert_profiles(
            [{"identity": "ok"}, {"identity": "p", "properties": {"items": [1, {"x": "\ud800"}]}}]
        )
    error = info.value
    assert error.index == 1
    assert error.field == "properties.items[1].x"
    assert error.errors
    assert error.__cause__ is not None
    data_error = DataError("x", field="f", rule="cycle")
    assert isinstance(data_error, ValueError)


def test_a_fail_answer_keeps_the_typed_error(workspace):
    result = workspace.trigger_campaign(
        {"campaign_id": "c1", "to": {"identity": ["u1"]}, "ExternalTrigger": {"v": _cycle()}}
    )
    assert isinstance(result.error, DataError)
    assert result.error.rule == "cycle"
    assert result.error.field == "ExternalTrigger.v.me"


def _every_error_class() -> list[type[errors.TidingsError]]:
    found: list[type[errors.TidingsError]] = []
    todo: list[type[errors.TidingsError]] = [errors.TidingsError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda c: c.__name__)
def test_every_error_survives_pickling(cls: type[errors.TidingsError]) -> None:
    """Errors raised in worker processes (pool or Dask) reach the caller intact."""
    params = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, object] = {"field": "push.title"}
    if "line" in params:
        kwargs.update(line=3, column=7, source_line="{{ x | nope }}")
    if "keys" in params:
        error = cls(["b", "a"], **kwargs)  # type: ignore[call-arg]
    elif "size" in params:
        error = cls(5000, 4096, **kwargs)  # type: ignore[call-arg]
    else:
        error = cls("bad input", **kwargs)  # type: ignore[call-arg]
    error.__cause__ = ValueError("root")
    clone = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(clone) is cls
    assert str(clone) == str(error)
    assert clone.__dict__ == error.__dict__
    assert clone.args == error.args
