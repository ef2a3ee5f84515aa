"""Imports point down the layers only: models <- storage <- stages <- workspace <- faces.

Every ``tidings`` import of every module under ``src/tidings`` is read from its
source (module level, inside functions, and under ``TYPE_CHECKING`` alike) and
checked against the layer of the module it names. The layers are the ones
docs/architecture.md draws; a new top-level module or package must be placed in
one here, so it cannot slip in unranked.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final, NamedTuple

import pytest

import tidings

SOURCE: Final = Path(tidings.__file__).parent

LAYER_OF: Final = {
    # the ground floor: plain data and the errors
    "errors": "ground",
    "models": "ground",
    "_json": "ground",
    "_batching": "ground",
    # pure rules over the models, no I/O
    "templating": "rules",
    "channels": "rules",
    "campaigns": "rules",
    "delivery": "rules",
    "audience": "rules",
    # state: stores, ledgers, registries
    "storage": "storage",
    # the stages of a request and what they feed
    "_vendor": "stages",
    "_publish": "stages",
    "dispatch": "stages",
    "scale": "stages",
    "sinks": "stages",
    "senders": "stages",
    # the workspace: registry and entry points
    "workspace": "workspace",
    "_calls": "workspace",
    "_definitions": "workspace",
    "lifecycle": "workspace",
    # what users touch
    "__init__": "faces",
    "cli": "faces",
    "service": "faces",
    "preview": "faces",
    "report": "faces",
    "stats": "faces",
    "demo_data": "faces",
}

MAY_IMPORT: Final = {
    "ground": {"ground"},
    "rules": {"ground", "rules"},
    "storage": {"ground", "storage"},
    "stages": {"ground", "rules", "storage", "stages"},
    "workspace": {"ground", "rules", "storage", "stages", "workspace"},
    "faces": {"ground", "rules", "storage", "stages", "workspace", "faces"},
}

KNOWN: Final[dict[tuple[str, str], str]] = {}
"""Edges that still point up, each with why; nothing else may."""


class Edge(NamedTuple):
    """One import: the importing file (relative to the package) and the unit it names."""

    source: str
    target: str


def _unit(parts: list[str]) -> str:
    """The top-level unit of a module path (``__init__`` for the package itself)."""
    if not parts:
        return "__init__"
    head = parts[0]
    if (SOURCE / head).is_dir() or (SOURCE / f"{head}.py").is_file():
        return head
    return "__init__"  # a name of the package itself, e.g. ``from .. import __version__``


def _edges(path: Path) -> list[Edge]:
    return _edges_of(path.relative_to(SOURCE), path.read_text(encoding="utf-8"))


def _upward(rel: Path, edges: list[Edge]) -> list[str]:
    parts = list(rel.with_suffix("").parts)
    layer = LAYER_OF[_unit(parts if parts[-1] != "__init__" else parts[:-1])]
    return [
        f"{edge.source} imports {edge.target} ({LAYER_OF[edge.target]})"
        for edge in edges
        if LAYER_OF[edge.target] not in MAY_IMPORT[layer]
        and (edge.source, edge.target) not in KNOWN
    ]


def _edges_of(rel: Path, text: str) -> list[Edge]:
    """The imports of the module at ``rel`` (relative to the package) whose source is ``text``."""
    parts = list(rel.with_suffix("").parts)
    package = parts[:-1]
    own = _unit(parts if parts[-1] != "__init__" else parts[:-1])
    found: list[Edge] = []
    for node in ast.walk(ast.parse(text)):
        targets: list[list[str]] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = node.module.split(".") if node.module else []
                targets = (
                    [base + module] if module else [[*base, alias.name] for alias in node.names]
                )
            elif node.module is not None and node.module.split(".")[0] == "tidings":
                targets = [node.module.split(".")[1:]]
        elif isinstance(node, ast.Import):
            targets = [
                alias.name.split(".")[1:]
                for alias in node.names
                if alias.name.split(".")[0] == "tidings"
            ]
        for target in targets:
            unit = _unit(target)
            if unit != own:
                found.append(Edge(rel.as_posix(), unit))
    return found


def _modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_every_unit_has_a_layer() -> None:
    units = {_unit(list(p.relative_to(SOURCE).with_suffix("").parts)) for p in _modules()}
    assert units - LAYER_OF.keys() == set()


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(SOURCE).as_posix())
def test_imports_point_down_only(path: Path) -> None:
    assert _upward(path.relative_to(SOURCE), _edges(path)) == []


@pytest.mark.parametrize(
    "text",
    [
        "from ..workspace import Workspace\n",
        "from tidings.dispatch import run\n",
        "import tidings.cli\n",
        "def f():\n    from ..audience import control\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import stats\n",
    ],
)
def test_an_upward_import_is_seen(text: str) -> None:
    """Relative, absolute, function-level and type-only imports are all read."""
    rel = Path("storage/probe.py")
    assert len(_upward(rel, _edges_of(rel, text))) == 1


def test_a_downward_import_passes() -> None:
    rel = Path("storage/probe.py")
    edges = _edges_of(rel, "from ..models.users import UserProfile\nfrom .base import Store\n")
    assert edges == [Edge("storage/probe.py", "models")]
    assert _upward(rel, edges) == []
