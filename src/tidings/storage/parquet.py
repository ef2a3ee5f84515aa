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

Filters and bulletin matches are evaluated by :mod:`tidings.models.evaluation`,
the reference semantics the memory store uses, over one partition at a time (a
partition's columns are read into memory while it streams). Files written by
tidings carry a mark in their metadata and are read without validation; other
files are validated row by row, a bad row raising ``ProfileError`` or
``EventError`` that names the file and the row.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._batching import batched
from ..errors import ArgumentError
from ..models.evaluation import profile_matches, require_aware
from ..models.filters import AudienceQuery, Filter
from ..models.users import UserEvent, UserProfile
from . import _parquet_read as _read
from .memory import BATCH_SIZE, encode_json

__all__ = ["EVENT_SCHEMA", "PROFILE_SCHEMA", "ParquetStore", "partition_name", "partition_of"]

_MARK: Final = _read.MARK

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
            for profile in _read.profiles(self.root, name, wanted=wanted):
                found[profile.identity] = profile
        return found

    def identities_held(self, identities: Sequence[str]) -> set[str]:
        """Which of ``identities`` have a profile here (a scan of the identity column only)."""
        wanted = pa.array(sorted(set(identities)), pa.string())
        held: set[str] = set()
        for name in self.partition_names():
            column = _read.read_identities(self.root / "profiles" / name)
            if column is not None:
                found = column.filter(pc.is_in(column, value_set=wanted))
                held.update(pc.unique(found).to_pylist())
        return held

    def identities_for_emails(self, emails: Sequence[str]) -> dict[str, list[str]]:
        """The identities of the profiles holding each of ``emails``, sorted (a full scan)."""
        wanted = set(emails)
        found: dict[str, list[str]] = {}
        if not wanted:
            return found
        for name in self.partition_names():
            for profile in _read.profiles(self.root, name, properties=False):
                if profile.email is not None and profile.email in wanted:
                    found.setdefault(profile.email, []).append(profile.identity)
        return {email: sorted(identities) for email, identities in found.items()}

    def count_profiles(self) -> int:
        """How many distinct identities the profile files hold."""
        total = 0
        for name in self.partition_names():
            column = _read.read_identities(self.root / "profiles" / name)
            if column is not None:
                total += len(pc.unique(column))
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
            for profile, events in _read.people(self.root, name, wanted=wanted, with_events=True):
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
            _read.audience(self.root, name, query, now, properties=properties)
            for name in self.partition_names()
        ]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=_identity)

    def iter_audience_rows(
        self, query: AudienceQuery, *, now: datetime
    ) -> Iterator[list[_read.AudienceRow]]:
        """The rows of :meth:`iter_audience` (see ``Person.from_row``), in batches.

        Each row holds ``identity, name, email, push_tokens, timezone, properties``;
        a partition tidings wrote hands an unconditional audience over straight from
        its columns (properties as JSON text, decoded where the chunk is decided),
        which is what a Dask partition task feeds the encoded dispatch path.
        """
        require_aware(now)
        streams = [
            _read.audience_rows(self.root, name, query, now) for name in self.partition_names()
        ]
        if len(streams) == 1:
            return streams[0]
        merged = heapq.merge(*(chain.from_iterable(s) for s in streams), key=_first)
        return (list(batch) for batch in batched(merged, 1_000))

    def events_for(
        self, identity: str, *, name: str | None = None, since: datetime | None = None
    ) -> list[UserEvent]:
        """One user's events (optionally of one name, since a time), oldest first."""
        start = require_aware(since) if since is not None else None
        found: list[UserEvent] = []
        for part in self.partition_names():
            for _, events in _read.events(self.root, part, wanted={identity}):
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


def _first(row: _read.AudienceRow) -> str:
    return row[0]


def _timestamp(event: UserEvent) -> datetime:
    return event.timestamp
