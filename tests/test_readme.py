"""The README's examples run as written, and print what their comments say."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(source):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, str(README), "exec"), {})  # noqa: S102 - our own README
    printed = out.getvalue()
    for expected in re.findall(r"#\s*(.+)$", source, re.M):
        if expected.startswith(("{", "frozenset", "Order", "<p>", "ghost")):
            assert expected.strip() in printed, expected


def test_readme_names_the_two_first_commands():
    text = README.read_text(encoding="utf-8")
    assert text.index("make demo") < text.index("make test")
