"""The CLI contract as a property: whatever a body or file holds, no traceback, one line.

Valid bodies and definitions are overridden with arbitrary JSON values (lone
surrogates, NUL characters, huge numbers, deep lists, wrong types); every command
must end with exit code 0, 1 or 2, never raise, never print a traceback or an
internal error, and on exit code 2 print exactly one line (``import`` with bad
lines prints one per bad line and a count).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.cli import main

DEFINITIONS: dict[str, Any] = {
    "business_events": [{"name": "Sale", "properties": ["item"]}],
    "bulletins": [
        {
            "id": "b",
            "name": "b",
            "business_event": "Sale",
            "match": [{"business_property": "item", "event": "Bought", "event_property": "item"}],
            "message": {"channel": "push", "title": "{{ BusinessEvent.item }}", "body": "x"},
            "published": True,
        }
    ],
    "campaigns": [
        {
            "name": "c",
            "message": {
                "channel": "webhook",
                "url": "https://x.test/{{ ExternalTrigger.p }}",
                "body": '{"a": {{ ExternalTrigger.a | json }}}',
            },
        }
    ],
}
TRIGGER = {"campaign_id": "1", "to": {"identity": ["u1", "u2"]}, "ExternalTrigger": {"a": 1}}
RAISE = {"business_event": "Sale", "name": "s", "properties": {"item": "x"}, "c-by": "me"}
PROFILE = {"identity": "u9", "email": "a@example.com", "push_tokens": ["t"], "timezone": "UTC"}

ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["\ud800", "a\x00b", "\r\nBcc: x", "Europe", "{{ x }}", "{% if %}", "u1"]),
)
VALUES = st.recursive(
    ATOMS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def _overridden(valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.sampled_from([*valid, "extra", "to", "ExternalTrigger", "cap", "filters"])
    return st.dictionaries(keys, VALUES, max_size=3).map(lambda o: {**valid, **o})


def _definitions() -> st.SearchStrategy[dict[str, Any]]:
    section = st.sampled_from(sorted(DEFINITIONS))

    def override(name: str, changes: dict[str, Any]) -> dict[str, Any]:
        items = [{**item, **changes} for item in DEFINITIONS[name]]
        return {**DEFINITIONS, name: items}

    item_keys = st.sampled_from(["name", "message", "match", "id", "goal", "schedule", "cap"])
    return st.builds(override, section, st.dictionaries(item_keys, VALUES, min_size=1, max_size=2))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("ws")
    (work / "defs.json").write_text(json.dumps(DEFINITIONS), encoding="utf-8")
    rows = [{"identity": f"u{i}", "push_tokens": ["t"]} for i in range(3)]
    (work / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    db = work / "ws.db"
    argv = ["import", "--db", str(db), "--definitions", str(work / "defs.json")]
    assert main([*argv, "--profiles", str(work / "p.jsonl")]) == 0
    return db


def _run(workspace: Path, command: str, content: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "ws.db"
        shutil.copy(workspace, db)
        data = work / "data"
        data.write_text(content, encoding="utf-8", errors="surrogatepass")
        argv = {
            "trigger": ["dispatch", "--db", str(db), "--trigger", str(data), "--skips"],
            "raise": ["dispatch", "--db", str(db), "--business-event", str(data)],
            "definitions": ["import", "--db", str(db), "--definitions", str(data)],
            "profiles": ["import", "--db", str(db), "--profiles", str(data)],
            "preview": ["preview", str(work / "t.liquid"), "--trigger", str(data)],
        }[command]
        if command in ("trigger", "raise"):
            argv += ["--out", str(work / "out.jsonl")]
        (work / "t.liquid").write_text("{{ ExternalTrigger.a }}", encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    text = err.getvalue()
    assert code in (0, 1, 2), text
    assert "Traceback" not in text
    assert "internal error" not in text, text
    if code == 2 and command != "profiles":
        assert text.count("\n") == 1, text


@settings(max_examples=25)
@given(body=_overridden(TRIGGER))
def test_trigger_bodies_keep_the_contract(workspace, body):
    _run(workspace, "trigger", json.dumps(body))


@settings(max_examples=25)
@given(body=_overridden(RAISE))
def test_business_event_bodies_keep_the_contract(workspace, body):
    _run(workspace, "raise", json.dumps(body))


@settings(max_examples=25)
@given(definitions=_definitions())
def test_definitions_keep_the_contract(workspace, definitions):
    _run(workspace, "definitions", json.dumps(definitions))


@settings(max_examples=20)
@given(rows=st.lists(_overridden(PROFILE), min_size=1, max_size=3))
def test_profile_lines_keep_the_contract(workspace, rows):
    _run(workspace, "profiles", "".join(json.dumps(row) + "\n" for row in rows))


@settings(max_examples=20)
@given(trigger=VALUES)
def test_preview_trigger_files_keep_the_contract(workspace, trigger):
    _run(workspace, "preview", json.dumps(trigger))
