"""Fuzz targets: each takes one drawn input and checks the error contract on it.

The oracle is the contract of docs/errors.md: a call ends in a result or a
``TidingsError`` subclass, never another exception; the vendor-API entry points
answer (``success`` or ``fail``) and never raise. A target also checks the
invariants that hold for any input it reaches (every candidate ends as exactly one
delivery or skip, a webhook body is valid JSON, a delivery's email is one valid
address). Every crash found becomes a regression test in ``test_fuzz_regressions.py``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from tests import strategies as s

import tidings
from tidings.models.addresses import email_problem
from tidings.storage.jsonl import import_jsonl
from tidings.storage.memory import MemoryStore

ESCAPES = ("text", "html", "json", "url")


def _contract(call: Callable[[], Any]) -> Any:
    """Run ``call``; a TidingsError is an accepted end, any other exception is a crash."""
    try:
        return call()
    except tidings.TidingsError as error:
        str(error).encode("utf-8")  # every error prints, whatever the input held
        return None


def _check_dispatch(result: object) -> None:
    assert isinstance(result, tidings.Dispatch), type(result)
    status = result.response.get("status")
    assert status in ("success", "fail"), result.response
    if status == "fail":
        assert isinstance(result.response["error"], str)
        result.response["error"].encode("utf-8")
        return
    deliveries = list(result.deliveries)
    skips = list(result.skips)
    assert result.summary.candidates == len(deliveries) + len(skips)
    assert len({d.idempotency_key for d in deliveries}) == len(deliveries)
    for delivery in deliveries:
        json.dumps(delivery.to_dict(), ensure_ascii=False).encode("utf-8")
        if delivery.channel == "email":
            (address,) = delivery.to
            assert email_problem(address) is None, address
        if delivery.channel == "webhook":
            assert isinstance(
                delivery.payload["body"], dict | list | str | int | float | bool | None
            )


# -- targets ------------------------------------------------------------------------------


def template_render(case: tuple[str, str, dict[str, Any], Any]) -> None:
    """Template source + data, in each output context."""
    source, escape, profile, trigger = case
    template = _contract(lambda: tidings.compile_template(source, escape=escape))
    if template is None:
        return
    output = _contract(lambda: template.render(profile, trigger))
    if output is not None:
        assert isinstance(output, str)
    if output is not None and escape == "json" and _is_json(source):
        pass  # structure checks per context belong to the templating track's property tests


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def message_render(case: tuple[dict[str, Any], dict[str, Any], Any]) -> None:
    """A channel message built from a definition, rendered for a profile and trigger data."""
    definition, profile, trigger = case
    message = _contract(lambda: tidings.message_from_dict(definition))
    if message is None:
        return
    payload = _contract(lambda: message.render(profile, trigger))
    if payload is not None:
        json.dumps(payload.to_dict(), ensure_ascii=False)


def profiles_and_events(case: tuple[list[Any], list[Any]]) -> None:
    """Profiles and user events as a careless or hostile caller sends them."""
    profiles, events = case
    ws = tidings.Workspace()
    _contract(lambda: ws.upsert_profiles(profiles))
    _contract(lambda: ws.record_events(events))


def definitions(case: tuple[dict[str, Any], dict[str, Any], Any]) -> None:
    """Campaign and bulletin definitions (numbers drawn wide), then one trigger each."""
    campaign, bulletin, settings = case
    ws = _workspace()
    _contract(lambda: ws.configure(settings))
    campaign_id = _contract(lambda: ws.publish_campaign(campaign))
    if campaign_id is not None:
        body = {
            "campaign_id": campaign_id,
            "to": {"identity": ["u1", "u2", "ghost"]},
            "ExternalTrigger": {"v": "x", "n": 3, "items": [1]},
        }
        _check_dispatch(ws.trigger_campaign(body))
    if _contract(lambda: ws.publish_bulletin(bulletin)) is not None:
        _check_dispatch(
            ws.raise_business_event(
                {
                    "business_event": "Program Released",
                    "name": "R",
                    "c-by": "ops",
                    "when": "now",
                    "properties": {"genre": "Drama"},
                }
            )
        )


def trigger_body(case: tuple[dict[str, Any], Any]) -> None:
    """External Trigger API bodies (shared and per-recipient data) for a drawn campaign."""
    campaign, body = case
    ws = _workspace()
    campaign_id = _contract(lambda: ws.publish_campaign(campaign))
    if campaign_id is None:
        return
    if isinstance(body, dict) and "campaign_id" in body:
        body = {**body, "campaign_id": campaign_id}
    _check_dispatch(ws.trigger_campaign(body))
    _check_dispatch(
        ws.message_via_identity(
            body if not isinstance(body, Mapping) else {**body, "content": campaign.get("message")}
        )
    )


def bulletin_body(case: tuple[dict[str, Any], Any]) -> None:
    """Bulletins API bodies against a published bulletin."""
    bulletin, body = case
    ws = _workspace()
    if _contract(lambda: ws.publish_bulletin(bulletin)) is None:
        return
    _check_dispatch(ws.raise_business_event(body))


def jsonl_import(case: tuple[str, list[Any]]) -> None:
    """A JSON Lines file of profiles or events: good lines, hostile lines, raw bytes."""
    kind, lines = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{kind}.jsonl"
        with path.open("wb") as out:
            for line in lines:
                if isinstance(line, bytes):
                    out.write(line.replace(b"\n", b" ") + b"\n")
                    continue
                try:
                    text = json.dumps(line, ensure_ascii=True, default=str)
                except (TypeError, ValueError, RecursionError):
                    continue  # json itself cannot write it: not a file anyone can send
                out.write(text.encode() + b"\n")
        store = MemoryStore()
        for skip_bad in (False, True):
            result = _contract(lambda skip=skip_bad: import_jsonl(store, path, kind, skip_bad=skip))
            if result is not None:
                assert result.imported + len(result.bad) <= len(lines)


# -- inputs --------------------------------------------------------------------------------


def _workspace() -> tidings.Workspace:
    ws = tidings.Workspace(clock=lambda: s.NOW)
    ws.upsert_profiles(
        [
            {
                "identity": "u1",
                "email": "u1@example.com",
                "push_tokens": ["t1"],
                "timezone": "Asia/Kolkata",
            },
            {"identity": "u2", "email": "u2@example.org", "properties": {"plan": "gold"}},
        ]
    )
    ws.record_events(
        [
            {
                "identity": "u1",
                "name": "Movie Watched",
                "timestamp": s.NOW.isoformat(),
                "properties": {"genre": "Drama"},
            }
        ]
    )
    ws.define_business_event(s.business_event)
    return ws


_profile_data = s.json_objects | s.hostile_objects | st.none()

jsonl_lines = st.lists(
    s.profiles()
    | s.events()
    | s.hostile_profiles
    | s.hostile_events
    | st.binary(max_size=40)
    | s.json_values,
    max_size=5,
)


@dataclass(frozen=True)
class Target:
    """A fuzz target: its inputs and the function that checks one."""

    name: str
    inputs: st.SearchStrategy[Any]
    check: Callable[[Any], None]


TARGETS: tuple[Target, ...] = (
    Target(
        "template_render",
        st.tuples(
            s.template_sources,
            st.sampled_from(ESCAPES),
            s.json_objects,
            s.trigger_data | s.hostile_objects,
        ),
        template_render,
    ),
    Target(
        "message_render",
        st.tuples(
            s.messages | s.hostile_objects, s.json_objects, s.trigger_data | s.hostile_objects
        ),
        message_render,
    ),
    Target(
        "profiles_and_events",
        st.tuples(
            st.lists(s.profiles() | s.hostile_profiles, max_size=3) | s.hostile_scalars,
            st.lists(s.events() | s.hostile_events, max_size=3) | s.hostile_scalars,
        ),
        profiles_and_events,
    ),
    Target(
        "definitions",
        st.tuples(
            s.campaigns(),
            s.bulletins(),
            st.fixed_dictionaries(
                {},
                optional={
                    "default_timezone": s.zones | s.hostile_scalars,
                    "frequency_caps": st.lists(
                        st.fixed_dictionaries({"limit": s.numbers}), max_size=2
                    ),
                },
            ),
        ),
        definitions,
    ),
    Target(
        "trigger_body",
        s.campaigns().flatmap(lambda c: st.tuples(st.just(c), s.trigger_bodies("x"))),
        trigger_body,
    ),
    Target(
        "bulletin_body",
        st.tuples(s.bulletins(), s.bulletin_bodies | s.hostile_objects),
        bulletin_body,
    ),
    Target(
        "jsonl_import",
        st.tuples(st.sampled_from(["profiles", "events"]), jsonl_lines),
        jsonl_import,
    ),
)
