"""JSON Lines imports: profiles and events read, checked line by line, and written to a store.

One reader for every store. Each line is decoded as UTF-8, parsed as JSON (``NaN``
and ``Infinity`` refused), validated as a :class:`~tidings.models.users.UserProfile`
or :class:`~tidings.models.users.UserEvent`, and checked for what a store would
refuse later (lone surrogates, NUL characters in properties, nesting too deep to
store). A bad line becomes a :class:`BadLine` naming the file, the 1-based line
number, the field and the reason; blank lines are skipped.

:func:`import_jsonl` reads the whole file before writing anything, so by default
a file with a bad line imports nothing; with ``skip_bad=True`` the good lines are
imported and the bad ones reported. The writes are one store transaction (on a
:class:`~tidings.storage.base.Transactional` store: memory, SQLite, PostgreSQL), so
a store error on any row leaves the store as it was.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from pydantic import ValidationError

from ..errors import RecordError, TidingsError, TriggerDataError
from ..models.users import UserEvent, UserProfile
from .base import Store, Transactional
from .memory import BATCH_SIZE, encode_json

__all__ = [
    "BadLine",
    "ImportKind",
    "JsonlImport",
    "atomically",
    "check_jsonl",
    "import_jsonl",
    "lone_surrogate_path",
    "read_jsonl",
]

ImportKind = Literal["profiles", "events"]
"""What a JSON Lines file holds: one profile or one event per line."""

# A \uD800-\uDFFF escape: the only way JSON text can carry a lone surrogate.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@dataclass(frozen=True, slots=True)
class BadLine:
    """One line of a JSON Lines file that cannot be imported.

    Attributes:
        path: The file, as given.
        line: The 1-based line number.
        field: The offending field (``properties.city``), or None for the whole line.
        reason: What is wrong, naming the field, in words a marketer understands.
    """

    path: str
    line: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        return f"{self.path}, line {self.line}: {self.reason}"


@dataclass(slots=True)
class JsonlImport:
    """What :func:`import_jsonl` did with one file.

    Attributes:
        kind: ``profiles`` or ``events``.
        imported: How many lines were written to the store.
        bad: Every bad line, in file order (not imported).
    """

    kind: ImportKind
    imported: int = 0
    bad: list[BadLine] = field(default_factory=list)


def _kind(kind: str) -> ImportKind:
    if kind == "profiles":
        return "profiles"
    if kind == "events":
        return "events"
    raise TriggerDataError(
        f"unknown import kind {kind!r}: use 'profiles' or 'events'", field="kind"
    )


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def lone_surrogate_path(value: object) -> str | None:
    """Where ``value`` (decoded JSON) holds text with a lone surrogate, or None.

    JSON text may carry ``"\ud800"``, which no UTF-8 file or SQLite column can
    hold. The answer is a dotted path (``properties.city``, ``items[2]``; ``""``
    for ``value`` itself); keys are checked as well as values.
    """
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, path))
                # A key may hold the surrogate itself: the path shows it escaped,
                # so the message naming it can be printed.
                shown = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
                stack.append((child, f"{path}.{shown}" if path else shown))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


def _parse(
    raw: bytes, kind: ImportKind, path: str, number: int
) -> UserProfile | UserEvent | BadLine:
    """One line as a model, or why it is bad."""

    def bad(reason: str, where: str | None = None) -> BadLine:
        return BadLine(path, number, where, reason)

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return bad(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        return bad(f"not valid JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return bad("nested too deeply")
    except ValueError as exc:  # NaN/Infinity, integers past Python's digit limit
        return bad(f"not valid JSON ({exc})")
    if _SURROGATE_ESCAPE.search(text):
        found = lone_surrogate_path(data)
        if found is not None:
            at = f" at {found}" if found else ""
            return bad(f"text{at} holds a lone surrogate (not valid Unicode)", found or None)
    noun = kind[:-1]
    try:
        model: UserProfile | UserEvent = (
            UserProfile.model_validate(data)
            if kind == "profiles"
            else UserEvent.model_validate(data)
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or None
        return bad(f"invalid {noun} ({where or noun}: {first['msg']})", where)
    except RecursionError:
        return bad(f"invalid {noun} (nested too deeply)")
    except RecordError as exc:  # the models' own error: pydantic's, wrapped
        return bad(f"invalid {noun} ({exc.field or noun}: {exc.reason})", exc.field)
    except TidingsError as exc:  # library-level checks of the models
        return bad(f"invalid {noun} ({exc})", getattr(exc, "field", None))
    try:
        # What a store refuses at write time (NUL, nesting past the encoder's depth).
        encode_json(model.properties, what=noun)
    except TidingsError as exc:
        return bad(str(exc).removeprefix(f"{noun}: "), "properties")
    except RecursionError:
        return bad("nested too deeply", "properties")
    return model


def read_jsonl(path: str | Path, kind: str) -> Iterator[UserProfile | UserEvent | BadLine]:
    """Each non-blank line of a JSON Lines file: a validated model or a :class:`BadLine`.

    Streams the file (one line in memory at a time).

    Raises:
        TriggerDataError: ``kind`` is not ``profiles`` or ``events``.
        OSError: the file cannot be opened or read.
    """
    target = _kind(kind)
    shown = str(path)
    with Path(path).open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                yield _parse(raw, target, shown, number)


def check_jsonl(path: str | Path, kind: str) -> list[BadLine]:
    """Every bad line of a JSON Lines file (empty when the whole file can be imported).

    Raises:
        TriggerDataError: ``kind`` is not ``profiles`` or ``events``.
        OSError: the file cannot be opened or read.
    """
    return [item for item in read_jsonl(path, kind) if isinstance(item, BadLine)]


def import_jsonl(
    store: Store, path: str | Path, kind: str, *, skip_bad: bool = False
) -> JsonlImport:
    """Load a JSON Lines file of profiles or events into ``store``.

    The file is checked in full before anything is written: by default a file with
    any bad line imports nothing and raises; with ``skip_bad`` the good lines are
    imported (in batches of 5,000, one store write each) and the bad ones reported.
    All the writes are one transaction of a :class:`~tidings.storage.base.Transactional`
    store: if the store fails on any row, nothing of the file is imported.

    Args:
        store: Where to write.
        path: The JSON Lines file.
        kind: ``profiles`` or ``events``.
        skip_bad: Import the good lines of a file that has bad ones.

    Returns:
        The count imported and every bad line.

    Raises:
        TriggerDataError: ``kind`` is unknown, or (without ``skip_bad``) the file has
            a bad line: the message names the file, line and field of the first one
            and how many there are.
        OSError: the file cannot be opened or read.
    """
    target = _kind(kind)
    result = JsonlImport(target)
    if not skip_bad:
        result.bad = check_jsonl(path, target)
        if result.bad:
            first = result.bad[0]
            more = len(result.bad) - 1
            tail = f" (and {more} more bad line{'s' if more != 1 else ''})" if more else ""
            raise TriggerDataError(f"{first}{tail}")
    with atomically(store):
        batch: list[UserProfile | UserEvent] = []
        for item in read_jsonl(path, target):
            if isinstance(item, BadLine):
                result.bad.append(item)
                continue
            batch.append(item)
            if len(batch) >= BATCH_SIZE:
                result.imported += _write(store, target, batch)
                batch = []
        if batch:
            result.imported += _write(store, target, batch)
    return result


def atomically(store: Store) -> AbstractContextManager[None]:
    """One transaction for the writes inside the block, if ``store`` can group them."""
    return store.transaction() if isinstance(store, Transactional) else nullcontext()


def _write(store: Store, kind: ImportKind, batch: list[UserProfile | UserEvent]) -> int:
    if kind == "profiles":
        return store.upsert_profiles(p for p in batch if isinstance(p, UserProfile))
    return store.append_events(e for e in batch if isinstance(e, UserEvent))
