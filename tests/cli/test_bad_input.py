"""The CLI contract: bad input prints one line naming the file or field, exits 2, no traceback.

Table-driven: each case builds its files in a fresh directory (with a real workspace
at ``ws.db``), runs one command in-process, and checks the exit code, that stderr is
exactly one line holding the expected words, and that nothing went to stdout. Two
cases run again as real subprocesses.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import tidings
from tidings.cli import EXIT_USAGE, main

DEFINITIONS = {
    "business_events": [{"name": "Sale", "properties": ["item"]}],
    "campaigns": [
        {"name": "Hello", "message": {"channel": "push", "title": "Hi", "body": "there"}}
    ],
}
NOT_UTF8 = b'{"a": "caf\xe9"}'
DEEP = b"[" * 100_000 + b"]" * 100_000
SURROGATE = b'{"a": {"b": "\\ud800"}}'
HUGE_INT = b'{"a": ' + b"9" * 5_000 + b"}"
TEMPLATE = "Hi {{ Profile.name }}"


@dataclass(frozen=True)
class Case:
    """One bad invocation: files to write, the argv (``{dir}`` is the case's directory)."""

    name: str
    argv: list[str]
    words: tuple[str, ...]
    files: dict[str, bytes | str] = field(default_factory=dict)
    skip: Callable[[], str | None] = lambda: None


def _no_dev_full() -> str | None:
    return None if os.path.exists("/dev/full") else "no /dev/full on this system"


def _definitions(value: object) -> dict[str, bytes | str]:
    return {"defs.json": json.dumps(value)}


IMPORT = ["import", "--db", "{dir}/ws.db", "--definitions", "{dir}/defs.json"]
DISPATCH = ["dispatch", "--db", "{dir}/ws.db", "--trigger", "{dir}/body.json"]
TRIGGER = json.dumps({"campaign_id": "1", "to": {"identity": ["u1"]}})

CASES = [
    # -- preview ------------------------------------------------------------------------
    Case("template-not-utf8", ["preview", "{dir}/t.liquid"], ("t.liquid", "not UTF-8", "line 2"),
         {"t.liquid": b"ok\nHi \xff"}),
    Case("profile-not-utf8", ["preview", "{dir}/t.liquid", "--profile", "{dir}/p.json"],
         ("p.json", "not UTF-8", "line 1"), {"t.liquid": TEMPLATE, "p.json": NOT_UTF8}),
    Case("profile-deep", ["preview", "{dir}/t.liquid", "--profile", "{dir}/p.json"],
         ("p.json", "nested too deeply"), {"t.liquid": TEMPLATE, "p.json": DEEP}),
    Case("trigger-surrogate", ["preview", "{dir}/t.liquid", "--trigger", "{dir}/tr.json"],
         ("tr.json", "a.b", "lone surrogate"), {"t.liquid": TEMPLATE, "tr.json": SURROGATE}),
    Case("trigger-nan", ["preview", "{dir}/t.liquid", "--trigger", "{dir}/tr.json"],
         ("tr.json", "NaN"), {"t.liquid": TEMPLATE, "tr.json": '{"a": NaN}'}),
    Case("trigger-huge-int", ["preview", "{dir}/t.liquid", "--trigger", "{dir}/tr.json"],
         ("tr.json", "not valid JSON"), {"t.liquid": TEMPLATE, "tr.json": HUGE_INT}),
    Case("trigger-array", ["preview", "{dir}/t.liquid", "--trigger", "{dir}/tr.json"],
         ("tr.json", "must hold a JSON object, not an array"),
         {"t.liquid": TEMPLATE, "tr.json": "[1]"}),
    Case("profile-is-directory", ["preview", "{dir}/t.liquid", "--profile", "{dir}"],
         ("profile", "is a directory"), {"t.liquid": TEMPLATE}),
    Case("html-is-directory", ["preview", "{dir}/t.liquid", "--html", "{dir}"],
         ("preview page", "is a directory"), {"t.liquid": TEMPLATE}),
    Case("html-dev-full", ["preview", "{dir}/t.liquid", "--html", "/dev/full"],
         ("/dev/full", "No space left"), {"t.liquid": TEMPLATE}, _no_dev_full),
    # -- import -------------------------------------------------------------------------
    Case("defs-campaigns-not-a-list", IMPORT, ("defs.json", '"campaigns" must be a list'),
         _definitions({"campaigns": 5})),
    Case("defs-campaign-not-an-object", IMPORT, ("defs.json", "campaigns[0] must be an object"),
         _definitions({"campaigns": [5]})),
    Case("defs-not-an-object", IMPORT, ("defs.json", "must hold a JSON object"),
         _definitions([DEFINITIONS])),
    Case("defs-not-utf8", IMPORT, ("defs.json", "not UTF-8"), {"defs.json": NOT_UTF8}),
    Case("defs-surrogate", IMPORT, ("defs.json", "lone surrogate"), {"defs.json": SURROGATE}),
    Case("defs-deep", IMPORT, ("defs.json", "nested too deeply"), {"defs.json": DEEP}),
    Case("defs-bad-template", IMPORT, ("defs.json", "campaigns[0]", "title"),
         _definitions({"campaigns": [{"name": "x", "message": {
             "channel": "push", "title": "{% if %}", "body": "b"}}]})),
    Case("defs-unknown-business-event", IMPORT, ("defs.json", "bulletins[0]"),
         _definitions({"bulletins": [{"id": "b", "name": "b", "business_event": "Nope",
                                      "message": {"channel": "push", "title": "t", "body": "b"}}]})),
    Case("defs-missing", IMPORT, ("definitions not found", "defs.json")),
    Case("db-not-a-database", ["import", "--db", "{dir}/junk.db"], ("junk.db", "not a tidings "
         "workspace"), {"junk.db": "this is not SQLite " * 100}),
    Case("db-is-directory", ["import", "--db", "{dir}"], ("is a directory",)),
    Case("profiles-missing", ["import", "--db", "{dir}/ws.db", "--profiles", "{dir}/p.jsonl"],
         ("profiles file not found", "p.jsonl")),
    Case("profiles-is-directory", ["import", "--db", "{dir}/ws.db", "--profiles", "{dir}"],
         ("profiles file is a directory",)),
    # -- dispatch -----------------------------------------------------------------------
    Case("out-is-directory", [*DISPATCH, "--out", "{dir}"], ("--out", "is a directory"),
         {"body.json": TRIGGER}),
    Case("out-dev-full", [*DISPATCH, "--out", "/dev/full"], ("--out", "/dev/full", "No space"),
         {"body.json": TRIGGER}, _no_dev_full),
    Case("dispatch-db-not-a-database", [*DISPATCH[:2], "{dir}/junk.db", *DISPATCH[3:]],
         ("junk.db", "not a tidings workspace"),
         {"body.json": TRIGGER, "junk.db": b"\x00garbage" * 100}),
    Case("dispatch-db-missing", [*DISPATCH[:2], "{dir}/none.db", *DISPATCH[3:]],
         ("no workspace at", "none.db"), {"body.json": TRIGGER}),
    Case("body-not-utf8", DISPATCH, ("body.json", "not UTF-8"), {"body.json": NOT_UTF8}),
    Case("body-surrogate", DISPATCH, ("body.json", "lone surrogate"), {"body.json": SURROGATE}),
    Case("body-deep", DISPATCH, ("body.json", "nested too deeply"), {"body.json": DEEP}),
    Case("body-array", DISPATCH, ("body.json", "must hold a JSON object"), {"body.json": "[]"}),
    Case("body-missing", ["dispatch", "--db", "{dir}/ws.db", "--business-event", "{dir}/b.json"],
         ("business event body not found", "b.json")),
    # -- stats / report -----------------------------------------------------------------
    Case("stats-db-not-a-database", ["stats", "--db", "{dir}/junk.db"],
         ("junk.db", "not a tidings workspace"), {"junk.db": "nope " * 300}),
    Case("stats-db-is-directory", ["stats", "--db", "{dir}"], ("is a directory",)),
    Case("report-out-is-directory", ["report", "--db", "{dir}/ws.db", "--out", "{dir}"],
         ("report", "is a directory")),
    Case("report-out-dev-full", ["report", "--db", "{dir}/ws.db", "--out", "/dev/full"],
         ("/dev/full", "No space"), {}, _no_dev_full),
]  # fmt: skip


@pytest.fixture(scope="module")
def workspace_file(tmp_path_factory) -> bytes:
    """A small real workspace (one campaign, one user), as the bytes of its file."""
    work = tmp_path_factory.mktemp("ws")
    (work / "defs.json").write_text(json.dumps(DEFINITIONS), encoding="utf-8")
    (work / "p.jsonl").write_text(json.dumps({"identity": "u1", "push_tokens": ["t"]}) + "\n")
    argv = ["import", "--db", str(work / "ws.db"), "--definitions", str(work / "defs.json")]
    assert main([*argv, "--profiles", str(work / "p.jsonl")]) == 0
    return (work / "ws.db").read_bytes()


def _prepare(case: Case, directory: Path, workspace: bytes) -> list[str]:
    if (reason := case.skip()) is not None:
        pytest.skip(reason)
    (directory / "ws.db").write_bytes(workspace)
    for name, content in case.files.items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return [arg.replace("{dir}", str(directory)) for arg in case.argv]


def _assert_one_line(err: str, words: tuple[str, ...]) -> None:
    assert "Traceback" not in err
    assert err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert err.startswith("tidings: error: "), err
    for word in words:
        assert word in err, (word, err)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_prints_one_line_and_exits_2(case, tmp_path, workspace_file, capsys):
    argv = _prepare(case, tmp_path, workspace_file)
    code = main(argv)
    out, err = capsys.readouterr()
    _assert_one_line(err, case.words)
    assert code == EXIT_USAGE
    assert out == ""


SUBPROCESS_CASES = ["defs-campaigns-not-a-list", "out-dev-full", "body-deep"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_in_a_real_process(name, tmp_path, workspace_file):
    [case] = [case for case in CASES if case.name == name]
    argv = _prepare(case, tmp_path, workspace_file)
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from tidings.cli import main; sys.exit(main())", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    _assert_one_line(result.stderr, case.words)
    assert result.returncode == EXIT_USAGE
    assert result.stdout == ""


def test_a_bad_definitions_file_writes_nothing(tmp_path, workspace_file):
    """Definitions are applied to a scratch copy first: a bad third one adds no first two."""
    (tmp_path / "ws.db").write_bytes(workspace_file)
    defs = tmp_path / "defs.json"
    good = {"name": "ok", "message": {"channel": "push", "title": "t", "body": "b"}}
    defs.write_text(json.dumps({"campaigns": [good, good, {"name": "bad"}]}), encoding="utf-8")
    profiles = tmp_path / "p.jsonl"
    profiles.write_text(json.dumps({"identity": "new"}) + "\n", encoding="utf-8")
    db = str(tmp_path / "ws.db")
    argv = ["import", "--db", db, "--definitions", str(defs), "--profiles", str(profiles)]
    assert main(argv) == EXIT_USAGE
    with tidings.Workspace.sqlite(db) as ws:
        assert set(ws.registry.definitions("campaign")) == {"1"}
        assert ws.store.get_profile("new") is None


def _tables(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}


@pytest.mark.parametrize("command", ["stats", "report", "import", "dispatch"])
def test_a_database_of_another_application_is_refused_and_left_alone(command, tmp_path, capsys):
    db = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    body = tmp_path / "body.json"
    body.write_text(TRIGGER, encoding="utf-8")
    extra = {"dispatch": ["--trigger", str(body)], "report": ["--out", str(tmp_path / "r.html")]}
    assert main([command, "--db", str(db), *extra.get(command, [])]) == EXIT_USAGE
    _assert_one_line(capsys.readouterr().err, ("other.db", "not a tidings workspace", "invoices"))
    assert _tables(db) == {"invoices"}


def test_an_empty_file_is_a_new_workspace_for_import_only(tmp_path, capsys):
    db = tmp_path / "empty.db"
    db.write_bytes(b"")
    assert main(["stats", "--db", str(db)]) == EXIT_USAGE
    _assert_one_line(capsys.readouterr().err, ("empty.db", "is empty"))
    assert main(["import", "--db", str(db)]) == 0
    assert "definitions" in _tables(db)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"a": {"line\\nbreak": "\\ud800"}}', ("a.line\\nbreak", "lone surrogate")),
        ('{"tab\\tkey\\ud800": 1}', ("lone surrogate",)),
    ],
)
def test_a_message_naming_a_key_with_control_characters_stays_one_line(
    tmp_path, capsys, content, words
):
    (tmp_path / "t.liquid").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "tr.json").write_text(content, encoding="utf-8")
    argv = ["preview", str(tmp_path / "t.liquid"), "--trigger", str(tmp_path / "tr.json")]
    assert main(argv) == EXIT_USAGE
    _assert_one_line(capsys.readouterr().err, words)


def test_bad_import_lines_naming_keys_with_line_breaks_stay_one_line_each(tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    path.write_text('{"identity": "x", "bad\\nkey": 1}\n{"identity": ""}\n', encoding="utf-8")
    assert main(["import", "--db", str(tmp_path / "ws.db"), "--profiles", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3  # two bad lines and the count
    assert "bad\\nkey" in lines[0]
