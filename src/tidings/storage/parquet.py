"""A store over partitioned Parquet files: the audiences users already keep in a warehouse.

Layout (one directory per partition, the same partition names on both sides)::

    ROOT/profiles/PART/*.parquet   identity, name, email, push_tokens, timezone, properties
    ROOT/events/PART/*.parquet     identity, name, timestamp (UTC), properties

``properties`` is JSON text; ``push_tokens`` a list of strings. A user's profile
and events live in partitions of the same name (:func:`partition_of` places them
by a stable hash of the identity when tidings writes them), so a partition is a
self-contained slice of the audience: the unit of work of a Dask dispatch
(:mod:`tidings.scale`). Within a partition, files are read in name order; a later
row for an identity replaces an earlier one (an upsert), and events keep their
order. Each write of :meth:`ParquetStore.upsert_profiles` or
:meth:`~ParquetStore.append_events` adds one file per partition touched; the
writes inside :meth:`~ParquetStore.transaction` (an import) appear together.

Filters and bulletin matches are evaluated by :mod:`tidings.audience.evaluate`,
the reference semantics the memory store uses, over one partition at a time (a
partition's columns are read into memory while it streams). Files written by
tidings carry a mark in their metadata and are read without validation; other
files are validated row by row, a bad row raising ``ProfileError`` or
``EventError`` that names the file and the row.
"""

from __future__ import annotations

import heapq
import json
import os
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._batching import batched
from ..audience.evaluate import audience_matches, profile_matches, require_aware
from ..errors import ArgumentError, EventError, ProfileError, RecordError
from ..models.filters import AudienceQuery, Filter
from ..models.users import UserEvent, UserProfile
from .memory import BATCH_SIZE, encode_json

__all__ = ["EVENT_SCHEMA", "PROFILE_SCHEMA", "ParquetStore", "partition_name", "partition_of"]

_MARK: Final = b"tidings.parquet"
"""Metadata key of files tidings wrote (their rows were validated on the way in)."""

PROFILE_SCHEMA: Final = pa.schema(
    [
        ("identity", pa.string()),
        ("name", pa.string()),
        ("email", pa.string()),
        ("push_tokens", pa.list_(pa.string())),
        ("timezone", pa.string()),
        ("properties", pa.string()),
    ],
    metadata={_MARK: b"profiles/1"},
)
"""The columns of a profile file (``properties``: JSON text of an object)."""

EVENT_SCHEMA: Final = pa.schema(
    [
        ("identity", pa.string()),
        ("name", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("properties", pa.string()),
    ],
    metadata={_MARK: b"events/1"},
)
"""The columns of an event file."""

_BATCH_ROWS: Final = 5_000
_EventsByName = dict[str, list[UserEvent]]


def partition_of(identity: str, partitions: int) -> int:
    """The partition (0 to ``partitions - 1``) of ``identity``: a stable hash, any process."""
    return zlib.crc32(identity.encode("utf-8", "surrogatepass")) % partitions


def partition_name(index: int) -> str:
    """The directory name of partition ``index`` (``part-00003``)."""
    return f"part-{index:05d}"


class ParquetStore:
    """Profiles and events in partitioned Parquet files under ``root``.

    Args:
        root: The dataset's directory (created on the first write).
        partitions: How many partitions writes spread identities over. Reading
            takes whatever partition directories exist.
        only: Restrict the store to these partitions (see :meth:`partition`).

    Raises:
        ArgumentError: ``partitions`` is below 1.
    """

    def __init__(
        self, root: str | Path, *, partitions: int = 8, only: Sequence[str] | None = None
    ) -> None:
        if partitions < 1:
            raise ArgumentError(
                f"partitions must be at least 1, not {partitions}", field="partitions"
            )
        self.root = Path(root)
        self.partitions = partitions
        self._only = tuple(only) if only is not None else None
        self._lock = threading.RLock()
        self._local = threading.local()

    def __reduce__(self) -> tuple[Any, ...]:
        # Only the address travels to Dask workers: they read the files themselves.
        return (_rebuild, (str(self.root), self.partitions, self._only))

    # -- partitions ----------------------------------------------------------------------

    def partition_names(self) -> list[str]:
        """The partitions, sorted: the directories under ``profiles/`` or ``events/``."""
        if self._only is not None:
            return list(self._only)
        names: set[str] = set()
        for kind in ("profiles", "events"):
            base = self.root / kind
            if base.is_dir():
                names.update(p.name for p in base.iterdir() if p.is_dir())
        return sorted(names)

    def partition(self, name: str) -> ParquetStore:
        """The store restricted to one partition: what a Dask task reads."""
        return ParquetStore(self.root, partitions=self.partitions, only=(name,))

    # -- writes --------------------------------------------------------------------------

    def _staged(self) -> list[list[tuple[Path, Path]]]:
        """This thread's open transactions: the files each one wrote, not yet renamed."""
        stack: list[list[tuple[Path, Path]]] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group this thread's writes inside the block: all of them appear, or none.

        Files written inside the block keep temporary names (readers ignore them)
        and are renamed when the outermost block ends; a block that raises deletes
        its own. Other threads' writes wait until the block ends. (A crash during
        the final renames may leave some of them done: renames are atomic one by one.)
        """
        with self._lock:
            stack = self._staged()
            stack.append([])
            try:
                yield
            except BaseException:
                for temporary, _ in stack.pop():
                    temporary.unlink(missing_ok=True)
                raise
            staged = stack.pop()
            if stack:
                stack[-1].extend(staged)
            else:
                for temporary, final in staged:
                    os.replace(temporary, final)

    def upsert_profiles(self, profiles: Iterable[UserProfile]) -> int:
        """Insert or replace profiles by identity; one new file per partition and batch.

        Raises:
            TriggerDataError: a profile's properties cannot be stored as JSON.
        """
        written = 0
        for batch in batched(profiles, BATCH_SIZE * 20):
            rows: dict[int, list[UserProfile]] = {}
            texts: dict[str, str] = {}
            for profile in batch:
                texts[profile.identity] = encode_json(
                    profile.properties, what=f"profile {profile.identity!r}"
                )
                rows.setdefault(partition_of(profile.identity, self.partitions), []).append(profile)
            for index, members in sorted(rows.items()):
                columns = {
                    "identity": [p.identity for p in members],
                    "name": [p.name for p in members],
                    "email": [p.email for p in members],
                    "push_tokens": [list(p.push_tokens) for p in members],
                    "timezone": [p.timezone for p in members],
                    "properties": [texts[p.identity] for p in members],
                }
                self._write("profiles", index, pa.table(columns, schema=PROFILE_SCHEMA))
            written += len(batch)
        return written

    def append_events(self, events: Iterable[UserEvent]) -> int:
        """Append events; one new file per partition and batch.

        Raises:
            TriggerDataError: an event's properties cannot be stored as JSON.
        """
        written = 0
        for batch in batched(events, BATCH_SIZE * 20):
            rows: dict[int, list[tuple[UserEvent, str]]] = {}
            for event in batch:
                text = encode_json(
                    event.properties, what=f"event {event.name!r} of {event.identity!r}"
                )
                index = partition_of(event.identity, self.partitions)
                rows.setdefault(index, []).append((event, text))
            for index, members in sorted(rows.items()):
                columns = {
                    "identity": [e.identity for e, _ in members],
                    "name": [e.name for e, _ in members],
                    "timestamp": [e.timestamp.astimezone(UTC) for e, _ in members],
                    "properties": [t for _, t in members],
                }
                self._write("events", index, pa.table(columns, schema=EVENT_SCHEMA))
            written += len(batch)
        return written

    def _write(self, kind: str, index: int, table: pa.Table) -> None:
        folder = self.root / kind / partition_name(index)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            # Names sort in write order; the final name appears only once the file is whole.
            name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
            temporary = folder / f".{name}.tmp"
            pq.write_table(table, temporary)
            stack = self._staged()
            if stack:
                stack[-1].append((temporary, folder / name))
            else:
                os.replace(temporary, folder / name)

    # -- reads ---------------------------------------------------------------------------

    def get_profile(self, identity: str) -> UserProfile | None:
        """One profile, or None."""
        return self.get_profiles([identity]).get(identity)

    def get_profiles(self, identities: Sequence[str]) -> dict[str, UserProfile]:
        """The profiles that exist among ``identities`` (missing ones are absent)."""
        wanted = set(identities)
        if not wanted:
            return {}
        found: dict[str, UserProfile] = {}
        for name in self.partition_names():
            for profile in _profiles(self.root, name, wanted=wanted):
                found[profile.identity] = profile
        return found

    def identities_for_emails(self, emails: Sequence[str]) -> dict[str, list[str]]:
        """The identities of the profiles holding each of ``emails``, sorted (a full scan)."""
        wanted = set(emails)
        found: dict[str, list[str]] = {}
        if not wanted:
            return found
        for name in self.partition_names():
            for profile in _profiles(self.root, name, properties=False):
                if profile.email is not None and profile.email in wanted:
                    found.setdefault(profile.email, []).append(profile.identity)
        return {email: sorted(identities) for email, identities in found.items()}

    def count_profiles(self) -> int:
        """How many distinct identities the profile files hold."""
        total = 0
        for name in self.partition_names():
            table = _read(self.root / "profiles" / name, ["identity"])
            if table is not None:
                total += len(set(table.column("identity").to_pylist()))
        return total

    def matching_identities(
        self, identities: Sequence[str], filters: Sequence[Filter], *, now: datetime
    ) -> set[str]:
        """The subset of ``identities`` whose profile satisfies every filter."""
        require_aware(now)
        wanted = set(identities)
        matched: set[str] = set()
        if not wanted:
            return matched
        for name in self.partition_names():
            for profile, events in _people(self.root, name, wanted=wanted, events=True):
                if profile_matches(profile, events, filters, now=now):
                    matched.add(profile.identity)
        return matched

    def iter_audience(
        self, query: AudienceQuery, *, now: datetime, properties: bool = True
    ) -> Iterator[UserProfile]:
        """Stream the profiles in ``query``'s audience, ordered by identity.

        One partition alone streams from its own columns; several are merged by
        identity (each partition's columns are then in memory at once).
        """
        require_aware(now)
        streams = [
            _audience(self.root, name, query, now, properties=properties)
            for name in self.partition_names()
        ]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=_identity)

    def events_for(
        self, identity: str, *, name: str | None = None, since: datetime | None = None
    ) -> list[UserEvent]:
        """One user's events (optionally of one name, since a time), oldest first."""
        start = require_aware(since) if since is not None else None
        found: list[UserEvent] = []
        for part in self.partition_names():
            for _, events in _events(self.root, part, wanted={identity}):
                for event in events:
                    if (name is None or event.name == name) and (
                        start is None or event.timestamp >= start
                    ):
                        found.append(event)
        found.sort(key=_timestamp)
        return found

    def close(self) -> None:
        """Nothing to release (files are opened per read); present for ``Store``. Idempotent."""


def _rebuild(root: str, partitions: int, only: tuple[str, ...] | None) -> ParquetStore:
    return ParquetStore(root, partitions=partitions, only=only)


def _identity(profile: UserProfile) -> str:
    return profile.identity


def _timestamp(event: UserEvent) -> datetime:
    return event.timestamp


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".parquet" and p.is_file())


class _Part:
    """The rows of one partition's files, concatenated in file order, with their origin."""

    def __init__(self, tables: list[tuple[Path, pa.Table]]) -> None:
        self.tables = tables
        self.table = pa.concat_tables([t for _, t in tables], promote_options="default")
        self.trusted = all(_trusted(t) for _, t in tables)

    def origin(self, row: int) -> tuple[Path, int]:
        """The file and row number (1-based) of concatenated row ``row``."""
        for path, table in self.tables:
            if row < table.num_rows:
                return path, row + 1
            row -= table.num_rows
        return self.tables[-1][0], row + 1


def _trusted(table: pa.Table) -> bool:
    metadata = table.schema.metadata or {}
    return _MARK in metadata


def _read_part(folder: Path, columns: list[str] | None) -> _Part | None:
    tables: list[tuple[Path, pa.Table]] = []
    for path in _files(folder):
        table = pq.read_table(path, columns=columns)
        if table.num_rows:
            tables.append((path, table))
    return _Part(tables) if tables else None


def _read(folder: Path, columns: list[str]) -> pa.Table | None:
    part = _read_part(folder, columns)
    return part.table if part is not None else None


_PROFILE_COLUMNS: Final = ["identity", "name", "email", "push_tokens", "timezone", "properties"]


def _profiles(
    root: Path, name: str, *, wanted: set[str] | None = None, properties: bool = True
) -> Iterator[UserProfile]:
    """One partition's profiles in identity order, the last row of an identity winning."""
    columns = _PROFILE_COLUMNS if properties else _PROFILE_COLUMNS[:-1]
    part = _read_part(root / "profiles" / name, columns)
    if part is None:
        return
    table = part.table.append_column("_row", pa.array(range(part.table.num_rows), pa.int64()))
    if wanted is not None:
        mask = pc.is_in(table.column("identity"), value_set=pa.array(sorted(wanted)))
        table = table.filter(mask)
    # A stable sort: rows of one identity stay in file order, so the last one wins.
    table = table.sort_by([("identity", "ascending"), ("_row", "ascending")])
    held: dict[str, Any] | None = None
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        for row in batch.to_pylist():
            if held is not None and held["identity"] != row["identity"]:
                yield _profile(held, part, properties)
            held = row
    if held is not None:
        yield _profile(held, part, properties)


def _profile(row: dict[str, Any], part: _Part, properties: bool) -> UserProfile:
    text = row.get("properties")
    try:
        props = json.loads(text) if properties and text else {}
        fields = {
            "identity": row["identity"],
            "name": row["name"],
            "email": row["email"],
            "push_tokens": tuple(row["push_tokens"] or ()),
            "timezone": row["timezone"],
            "properties": props,
        }
        if part.trusted:
            return UserProfile.model_construct(**fields)
        if not isinstance(props, dict):
            raise ProfileError("properties must be a JSON object", field="properties")
        return UserProfile.model_validate(fields)
    except (RecordError, ValueError) as exc:
        path, number = part.origin(row["_row"])
        field = getattr(exc, "field", None) or "properties"
        raise ProfileError(
            f"{path}: row {number}: invalid profile: {exc}", field=field, index=number - 1
        ) from exc


def _events(
    root: Path, name: str, *, wanted: set[str] | None = None
) -> Iterator[tuple[str, list[UserEvent]]]:
    """One partition's events grouped by identity (identity order; time order within)."""
    part = _read_part(root / "events" / name, None)
    if part is None:
        return
    table = part.table.append_column("_row", pa.array(range(part.table.num_rows), pa.int64()))
    if wanted is not None:
        mask = pc.is_in(table.column("identity"), value_set=pa.array(sorted(wanted)))
        table = table.filter(mask)
    table = table.sort_by(
        [("identity", "ascending"), ("timestamp", "ascending"), ("_row", "ascending")]
    )
    current: str | None = None
    group: list[UserEvent] = []
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        for row in batch.to_pylist():
            if row["identity"] != current:
                if current is not None:
                    yield current, group
                current, group = row["identity"], []
            group.append(_event(row, part))
    if current is not None:
        yield current, group


def _event(row: dict[str, Any], part: _Part) -> UserEvent:
    try:
        props = json.loads(row["properties"]) if row["properties"] else {}
        fields = {
            "identity": row["identity"],
            "name": row["name"],
            "timestamp": row["timestamp"],
            "properties": props,
        }
        if part.trusted:
            return UserEvent.model_construct(**fields)
        if not isinstance(props, dict):
            raise EventError("properties must be a JSON object", field="properties")
        return UserEvent.model_validate(fields)
    except (RecordError, ValueError) as exc:
        path, number = part.origin(row["_row"])
        field = getattr(exc, "field", None) or "properties"
        raise EventError(
            f"{path}: row {number}: invalid event: {exc}", field=field, index=number - 1
        ) from exc


def _people(
    root: Path,
    name: str,
    *,
    wanted: set[str] | None = None,
    properties: bool = True,
    events: bool,
) -> Iterator[tuple[UserProfile, _EventsByName]]:
    """One partition's profiles with their events by name: a merge join on identity."""
    grouped = _events(root, name, wanted=wanted) if events else iter(())
    pending = next(grouped, None)
    for profile in _profiles(root, name, wanted=wanted, properties=properties):
        while pending is not None and pending[0] < profile.identity:
            pending = next(grouped, None)  # events of an identity with no profile
        by_name: _EventsByName = {}
        if pending is not None and pending[0] == profile.identity:
            for event in pending[1]:
                by_name.setdefault(event.name, []).append(event)
            pending = next(grouped, None)
        yield profile, by_name


def _audience(
    root: Path,
    name: str,
    query: AudienceQuery,
    now: datetime,
    *,
    properties: bool,
) -> Iterator[UserProfile]:
    if query == _EVERYONE:  # no condition: neither events nor properties are needed to decide
        for profile in _profiles(root, name, properties=properties):
            yield profile
        return
    for profile, by_name in _people(root, name, events=True):
        if audience_matches(profile, by_name, query, now=now):
            yield profile if properties else profile.model_copy(update={"properties": {}})


_EVERYONE: Final = AudienceQuery()
