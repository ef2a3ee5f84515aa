"""Reading a partition of a Parquet dataset: its files, the latest row of each identity, records.

One partition's files are read whole (only the columns needed), concatenated in
file order, filtered to the wanted identities, sorted by identity and, for
profiles, cut to the last row of each identity, with pyarrow's vectorized
kernels; Python objects are made only for the rows that remain. Rows of files
tidings wrote are trusted (built without validation); other files' rows are
validated, a bad one raising ``ProfileError`` / ``EventError`` that names the file
and row number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._json import loads
from ..errors import EventError, ProfileError, RecordError
from ..models.evaluation import audience_matches
from ..models.filters import AudienceQuery, EventFilter
from ..models.users import UserEvent, UserProfile

__all__ = ["MARK", "AudienceRow", "audience", "audience_rows", "events", "profiles"]

MARK: Final = b"tidings.parquet"
"""Metadata key of files tidings wrote (their rows were validated on the way in)."""

AudienceRow = tuple[str, str | None, str | None, Any, str | None, Any]
"""``identity, name, email, push_tokens, timezone, properties`` (see ``Person.from_row``)."""

_BATCH_ROWS: Final = 5_000
_ROWS_CHUNK: Final = 1_000
_PROFILE_COLUMNS: Final = ["identity", "name", "email", "push_tokens", "timezone", "properties"]
_EventsByName = dict[str, list[UserEvent]]
_Model = TypeVar("_Model", UserProfile, UserEvent)


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".parquet" and p.is_file())


class _Part:
    """The rows of one partition's files, concatenated in file order, with their origin."""

    def __init__(self, tables: list[tuple[Path, pa.Table]]) -> None:
        self.tables = tables
        self.table = pa.concat_tables([t for _, t in tables], promote_options="default")
        self.trusted = all(MARK in (t.schema.metadata or {}) for _, t in tables)

    def origin(self, row: int) -> tuple[Path, int]:
        """The file and row number (1-based) of concatenated row ``row``."""
        for path, table in self.tables:
            if row < table.num_rows:
                return path, row + 1
            row -= table.num_rows
        return self.tables[-1][0], row + 1

    def sorted(self, keys: list[str], wanted: set[str] | None) -> pa.Table:
        """The rows of ``wanted`` identities (all: None) with their ``_row``, sorted by ``keys``.

        The sort is stable and ends on ``_row``: rows of one identity keep file order.
        """
        table = self.table.append_column("_row", pa.array(range(self.table.num_rows), pa.int64()))
        if wanted is not None:
            mask = pc.is_in(table.column("identity"), value_set=pa.array(sorted(wanted)))
            table = table.filter(mask)
        return table.sort_by([(key, "ascending") for key in (*keys, "_row")])


def _read_part(folder: Path, columns: list[str] | None) -> _Part | None:
    tables: list[tuple[Path, pa.Table]] = []
    for path in _files(folder):
        table = pq.read_table(path, columns=columns)
        if table.num_rows:
            tables.append((path, table))
    return _Part(tables) if tables else None


def read_identities(folder: Path) -> pa.ChunkedArray | None:
    """The identity column of a partition's profile files (duplicates included), or None."""
    part = _read_part(folder, ["identity"])
    return part.table.column("identity") if part is not None else None


def _latest(table: pa.Table) -> pa.Table:
    """The last row of each identity in ``table`` (sorted by identity, then file order)."""
    n = table.num_rows
    if n < 2:
        return table
    ids = table.column("identity")
    # A row is its identity's last when the next row's identity differs; a null
    # identity (an invalid row) is kept, so that validating it reports it.
    changes = pc.fill_null(pc.not_equal(ids.slice(0, n - 1), ids.slice(1)), fill_value=True)
    return table.filter(pa.chunked_array([*changes.chunks, pa.array([True])], pa.bool_()))


def _columns(table: pa.Table, names: list[str]) -> Iterator[tuple[list[Any], ...]]:
    """``table``'s columns ``names`` as Python lists, a batch of rows at a time."""
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        yield tuple(batch.column(name).to_pylist() for name in names)


def _record(
    model: type[_Model],
    error: type[RecordError],
    fields: dict[str, Any],
    text: str | None,
    part: _Part,
    row: int,
) -> _Model:
    """A profile or event from a row's fields and its properties' JSON text.

    Trusted rows are built as they are; others are validated. Any error names the
    file and row it came from.
    """
    try:
        props = loads(text) if text else {}
        fields["properties"] = props
        if part.trusted:
            return model.model_construct(**fields)
        if not isinstance(props, dict):
            raise error("properties must be a JSON object", field="properties")
        return model.model_validate(fields)
    except (RecordError, ValueError) as exc:
        path, number = part.origin(row)
        field = getattr(exc, "field", None) or "properties"
        what = "profile" if error is ProfileError else "event"
        raise error(
            f"{path}: row {number}: invalid {what}: {exc}", field=field, index=number - 1
        ) from exc


def profiles(
    root: Path, name: str, *, wanted: set[str] | None = None, properties: bool = True
) -> Iterator[UserProfile]:
    """One partition's profiles in identity order, the last row of an identity winning."""
    columns = _PROFILE_COLUMNS if properties else _PROFILE_COLUMNS[:-1]
    part = _read_part(root / "profiles" / name, columns)
    if part is None:
        return
    table = _latest(part.sorted(["identity"], wanted))
    names = [*_PROFILE_COLUMNS[:-1], "_row", *(["properties"] if properties else [])]
    for cols in _columns(table, names):
        texts = cols[6] if properties else [None] * len(cols[0])
        for identity, name_, email, tokens, zone, row, text in zip(*cols[:6], texts, strict=True):
            fields = {
                "identity": identity,
                "name": name_,
                "email": email,
                "push_tokens": tuple(tokens or ()),
                "timezone": zone,
            }
            yield _record(UserProfile, ProfileError, fields, text, part, row)


def events(
    root: Path, name: str, *, wanted: set[str] | None = None
) -> Iterator[tuple[str, list[UserEvent]]]:
    """One partition's events grouped by identity (identity order; time order within)."""
    part = _read_part(root / "events" / name, None)
    if part is None:
        return
    table = part.sorted(["identity", "timestamp"], wanted)
    current: str | None = None
    group: list[UserEvent] = []
    names = ["identity", "name", "timestamp", "properties", "_row"]
    for cols in _columns(table, names):
        for identity, event_name, timestamp, text, row in zip(*cols, strict=True):
            if identity != current:
                if current is not None:
                    yield current, group
                current, group = identity, []
            fields = {"identity": identity, "name": event_name, "timestamp": timestamp}
            group.append(_record(UserEvent, EventError, fields, text, part, row))
    if current is not None:
        yield current, group


def needs_events(query: AudienceQuery) -> bool:
    """Whether deciding ``query`` reads events (a segment, a match or an event filter)."""
    return (
        query.segment.kind != "all"
        or bool(query.matches)
        or any(isinstance(rule, EventFilter) for rule in query.filters)
    )


def people(
    root: Path,
    name: str,
    *,
    wanted: set[str] | None = None,
    properties: bool = True,
    with_events: bool,
) -> Iterator[tuple[UserProfile, _EventsByName]]:
    """One partition's profiles with their events by name: a merge join on identity."""
    grouped = events(root, name, wanted=wanted) if with_events else iter(())
    pending = next(grouped, None)
    for profile in profiles(root, name, wanted=wanted, properties=properties):
        while pending is not None and pending[0] < profile.identity:
            pending = next(grouped, None)  # events of an identity with no profile
        by_name: _EventsByName = {}
        if pending is not None and pending[0] == profile.identity:
            for event in pending[1]:
                by_name.setdefault(event.name, []).append(event)
            pending = next(grouped, None)
        yield profile, by_name


def _matching(root: Path, name: str, query: AudienceQuery, now: datetime) -> Iterator[UserProfile]:
    """The partition's profiles in ``query``'s audience (all of them for an empty query)."""
    if query == _EVERYONE:
        yield from profiles(root, name)
        return
    for profile, by_name in people(root, name, with_events=needs_events(query)):
        if audience_matches(profile, by_name, query, now=now):
            yield profile


def audience(
    root: Path, name: str, query: AudienceQuery, now: datetime, *, properties: bool
) -> Iterator[UserProfile]:
    """One partition's profiles in ``query``'s audience, in identity order."""
    if query == _EVERYONE:  # no condition: neither events nor properties are needed to decide
        yield from profiles(root, name, properties=properties)
        return
    for profile in _matching(root, name, query, now):
        yield profile if properties else profile.model_copy(update={"properties": {}})


def audience_rows(
    root: Path, name: str, query: AudienceQuery, now: datetime
) -> Iterator[list[AudienceRow]]:
    """One partition's audience as store rows, in batches of up to 1,000, identity order.

    Everyone in a partition tidings wrote: straight from the columns, the
    properties left as JSON text (decoded where each chunk is decided). Otherwise
    each row is made from the profile the query was decided on.
    """
    if query == _EVERYONE:
        part = _read_part(root / "profiles" / name, _PROFILE_COLUMNS)
        if part is None:
            return
        if part.trusted:
            table = _latest(part.sorted(["identity"], None))
            for cols in _columns(table, _PROFILE_COLUMNS):
                rows = [
                    (identity, name_, email, tokens or (), zone, text or "{}")
                    for identity, name_, email, tokens, zone, text in zip(*cols, strict=True)
                ]
                for start in range(0, len(rows), _ROWS_CHUNK):
                    yield rows[start : start + _ROWS_CHUNK]
            return
    yield from _batches(_matching(root, name, query, now), _profile_row)


def _profile_row(profile: UserProfile) -> AudienceRow:
    return (
        profile.identity,
        profile.name,
        profile.email,
        profile.push_tokens,
        profile.timezone,
        profile.properties,
    )


def _batches(
    profiles_: Iterator[UserProfile], row: Callable[[UserProfile], AudienceRow]
) -> Iterator[list[AudienceRow]]:
    batch: list[AudienceRow] = []
    for profile in profiles_:
        batch.append(row(profile))
        if len(batch) >= _ROWS_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


_EVERYONE: Final = AudienceQuery()
