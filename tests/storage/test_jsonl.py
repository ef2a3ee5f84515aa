"""JSON Lines imports: every bad line reported; nothing imported unless asked to skip them."""

import json

import pytest

from tidings.errors import TriggerDataError
from tidings.storage import MemoryStore, SQLiteStore
from tidings.storage.jsonl import BadLine, check_jsonl, import_jsonl, lone_surrogate_path

GOOD = json.dumps({"identity": "a", "name": "Ann"})


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    st = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "s.db")
    yield st
    st.close()


def _write(path, lines: list[bytes]):
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


# Each bad line, its field (None: the whole line) and a word of its reason.
BAD_LINES = [
    (b"{not json", None, "not valid JSON"),
    (b'{"identity": "caf\xe9"}', None, "not UTF-8 text (byte 0xe9 at column 18)"),
    (b'{"identity": "x", "properties": {"a": NaN}}', None, "NaN is not a JSON number"),
    (b"[" * 100_000 + b"]" * 100_000, None, "nested too deeply"),
    (b'{"identity": "x", "properties": {"city": "\\ud800"}}', "properties.city", "surrogate"),
    (b'{"identity": "\\udfff"}', "identity", "lone surrogate"),
    (b'{"identity": ""}', "identity", "invalid profile"),
    (b'{"identity": "x", "nickname": "y"}', "nickname", "invalid profile"),
    (b"[1, 2]", None, "invalid profile"),
    (b'{"identity": "x", "properties": {"a": "nul \\u0000 here"}}', "properties", "NUL"),
    (b'{"identity": "x", "properties": {"n": ' + b"9" * 5000 + b"}}", None, "not valid JSON"),
]


@pytest.mark.parametrize(("line", "field", "reason"), BAD_LINES)
def test_every_bad_line_is_named_with_its_line_and_field(tmp_path, line, field, reason):
    path = _write(tmp_path / "p.jsonl", [GOOD.encode(), b"", line, GOOD.encode()])
    [bad] = check_jsonl(path, "profiles")
    assert (bad.path, bad.line, bad.field) == (str(path), 3, field)
    assert reason in bad.reason
    assert str(bad).startswith(f"{path}, line 3: ")


def test_a_file_with_bad_lines_imports_nothing_by_default(store, tmp_path):
    lines = [GOOD.encode(), BAD_LINES[0][0], json.dumps({"identity": "b"}).encode(), b"[1]"]
    path = _write(tmp_path / "p.jsonl", lines)
    with pytest.raises(TriggerDataError, match=r"line 2: not valid JSON .*\(and 1 more bad line\)"):
        import_jsonl(store, path, "profiles")
    assert store.count_profiles() == 0


def test_skip_bad_imports_the_good_lines_and_reports_every_bad_one(store, tmp_path):
    lines = [GOOD.encode(), BAD_LINES[0][0], json.dumps({"identity": "b"}).encode(), b"[1]"]
    path = _write(tmp_path / "p.jsonl", lines)
    result = import_jsonl(store, path, "profiles", skip_bad=True)
    assert result.imported == 2
    assert [bad.line for bad in result.bad] == [2, 4]
    assert all(isinstance(bad, BadLine) for bad in result.bad)
    assert store.get_profile("a") is not None
    assert store.get_profile("b") is not None


def test_events_are_checked_like_profiles(store, tmp_path):
    good = {"identity": "a", "name": "E", "timestamp": "2024-05-30T10:00:00+00:00"}
    lines = [json.dumps(good).encode(), json.dumps({**good, "timestamp": "soon"}).encode()]
    result = import_jsonl(store, _write(tmp_path / "e.jsonl", lines), "events", skip_bad=True)
    assert result.imported == 1
    [bad] = result.bad
    assert (bad.line, bad.field) == (2, "timestamp")
    assert len(store.events_for("a")) == 1


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("ok", None),
        ("\ud800", ""),
        ({"a": [1, {"b": "x\udc00"}]}, "a[1].b"),
        ({"k\ud800": 1}, ""),
        ({"a": {"\ud800": "\ud800"}}, "a.\\ud800"),  # found by the fuzz target
        ({"a": "😀"}, None),
    ],
)
def test_lone_surrogate_path(value, path):
    assert lone_surrogate_path(value) == path
