"""The in-memory store: dictionaries, indexed so audience evaluation is never quadratic.

Layout:

* ``profiles``: identity -> :class:`UserProfile`, plus a sorted identity list that is
  rebuilt lazily when a new identity arrives (audiences stream in identity order).
* ``events``: identity -> events sorted by time, and identity -> name -> events, so a
  filter on one event name looks only at that user's events of that name.
* ``match index``: (event name, property, value text) -> identity -> latest timestamp,
  the in-memory twin of SQLite's ``event_props`` table; a bulletin match starts from
  the users who have the value instead of from every profile.

Filters are evaluated by :mod:`tidings.models.evaluation`, the reference semantics.
This module also holds the JSON encoder both stores share.
"""

from __future__ import annotations

import json
import re
import threading
from bisect import insort_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Final, TypeVar

from .._batching import batched
from ..errors import TriggerDataError
from ..models.evaluation import (
    audience_matches,
    match_text,
    profile_matches,
    require_aware,
    window_start,
)
from ..models.filters import AudienceQuery, Filter
from ..models.users import JsonValue, UserEvent, UserProfile

__all__ = ["BATCH_SIZE", "MATCH_VALUE_MAX", "MemoryStore", "encode_json"]

BATCH_SIZE: Final = 5_000
"""Rows written per transaction by bulk upserts, appends and imports."""

MATCH_VALUE_MAX: Final = 256
"""Longest event property text kept in the match index (longer values are scanned)."""

# An escaped NUL (\u0000 not preceded by an escaping backslash) in JSON text.
_NUL: Final = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# One reusable encoder: json.dumps with options builds a new encoder on every call.
_ENCODE: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_T = TypeVar("_T")


def encode_json(value: JsonValue, *, what: str) -> str:
    r"""Compact JSON text of ``value``, the form both stores accept.

    Raw UTF-8 (not ``\u`` escapes) so SQLite's JSON paths find non-ASCII keys.

    Raises:
        TriggerDataError: ``value`` holds something JSON cannot represent (NaN,
            infinity, an arbitrary object) or a NUL character; ``what`` names the
            owner in the message.
    """
    try:
        text: str = _ENCODE(value)
    except (TypeError, ValueError) as exc:
        raise TriggerDataError(f"{what}: properties are not valid JSON ({exc})") from exc
    if "\\u0000" in text and _NUL.search(text):
        # SQLite's JSON functions cut text at a NUL, so filters could not see past it.
        raise TriggerDataError(f"{what}: properties hold a NUL character")
    return text


class MemoryStore:
    """Profiles and events in dictionaries; for tests, demos and small workspaces.

    Writes take a lock, so several threads may write; reads take no lock, so a
    read running during a write may or may not see that write.
    """

    def __init__(self) -> None:
        self._profiles: dict[str, UserProfile] = {}
        self._sorted: list[str] | None = []
        self._events: dict[str, list[UserEvent]] = {}
        self._by_name: dict[str, dict[str, list[UserEvent]]] = {}
        self._match_index: dict[tuple[str, str, str], dict[str, datetime]] = {}
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group this thread's writes into one all-or-nothing step (see ``Transactional``).

        The store's state is copied when the block starts and put back if it
        raises; other threads' writes wait until it ends.
        """
        with self._lock:
            saved = (
                dict(self._profiles),
                self._sorted,
                {identity: list(events) for identity, events in self._events.items()},
                {
                    identity: {name: list(events) for name, events in named.items()}
                    for identity, named in self._by_name.items()
                },
                {key: dict(latest) for key, latest in self._match_index.items()},
            )
            try:
                yield
            except BaseException:
                (
                    self._profiles,
                    self._sorted,
                    self._events,
                    self._by_name,
                    self._match_index,
                ) = saved
                raise

    def upsert_profiles(self, profiles: Iterable[UserProfile]) -> int:
        """Insert or replace profiles by identity; return how many were written.

        Raises:
            TriggerDataError: a profile's properties cannot be stored as JSON.
        """
        # Same acceptance rule as the SQLite store: properties must be JSON.
        return self._write(
            profiles,
            lambda p: encode_json(p.properties, what=f"profile {p.identity!r}"),
            self._put_profile,
        )

    def append_events(self, events: Iterable[UserEvent]) -> int:
        """Append events; return how many were written.

        Raises:
            TriggerDataError: an event's properties cannot be stored as JSON.
        """
        return self._write(
            events,
            lambda e: encode_json(e.properties, what=f"event {e.name!r} of {e.identity!r}"),
            self._add_event,
        )

    def _write(
        self, items: Iterable[_T], check: Callable[[_T], object], apply: Callable[[_T], None]
    ) -> int:
        """Write ``items`` a batch at a time: a batch is checked whole, then applied locked."""
        written = 0
        for batch in batched(items, BATCH_SIZE):
            for item in batch:
                check(item)
            with self._lock:
                for item in batch:
                    apply(item)
            written += len(batch)
        return written

    def _put_profile(self, profile: UserProfile) -> None:
        if profile.identity not in self._profiles:
            self._sorted = None
        self._profiles[profile.identity] = profile

    def _add_event(self, event: UserEvent) -> None:
        # insort_right keeps events with equal timestamps in arrival order, like
        # SQLite's ORDER BY ts, id.
        insort_right(self._events.setdefault(event.identity, []), event, key=_timestamp)
        named = self._by_name.setdefault(event.identity, {}).setdefault(event.name, [])
        insort_right(named, event, key=_timestamp)
        for prop, value in event.properties.items():
            text = match_text(value)
            if text is None or len(text) > MATCH_VALUE_MAX:
                continue
            latest = self._match_index.setdefault((event.name, prop, text), {})
            previous = latest.get(event.identity)
            if previous is None or event.timestamp > previous:
                latest[event.identity] = event.timestamp

    def get_profile(self, identity: str) -> UserProfile | None:
        """One profile, or None."""
        return self._profiles.get(identity)

    def get_profiles(self, identities: Sequence[str]) -> dict[str, UserProfile]:
        """The profiles that exist among ``identities`` (missing ones are absent)."""
        found: dict[str, UserProfile] = {}
        for identity in identities:
            profile = self._profiles.get(identity)
            if profile is not None:
                found[identity] = profile
        return found

    def count_profiles(self) -> int:
        """How many profiles the store holds."""
        return len(self._profiles)

    def identities_for_emails(self, emails: Sequence[str]) -> dict[str, list[str]]:
        """The identities of the profiles holding each of ``emails``, sorted (a full scan)."""
        wanted = set(emails)
        found: dict[str, list[str]] = {}
        with self._lock:
            profiles = list(self._profiles.values())
        for profile in profiles:
            if profile.email is not None and profile.email in wanted:
                found.setdefault(profile.email, []).append(profile.identity)
        return {email: sorted(identities) for email, identities in found.items()}

    def _grouped_events(self, identity: str) -> dict[str, list[UserEvent]]:
        return self._by_name.get(identity, {})

    def matching_identities(
        self, identities: Sequence[str], filters: Sequence[Filter], *, now: datetime
    ) -> set[str]:
        """The subset of ``identities`` whose profile satisfies every filter."""
        require_aware(now)
        matched: set[str] = set()
        for identity in identities:
            profile = self._profiles.get(identity)
            if profile is not None and profile_matches(
                profile, self._grouped_events(identity), filters, now=now
            ):
                matched.add(identity)
        return matched

    def _sorted_identities(self) -> list[str]:
        with self._lock:
            if self._sorted is None:
                self._sorted = sorted(self._profiles)
            return self._sorted

    def _candidates(self, query: AudienceQuery, now: datetime) -> list[str]:
        """Identities that may be in the audience, sorted; narrowed by an indexed match."""
        for rule, value in query.matches:
            if len(value) > MATCH_VALUE_MAX:
                continue
            start = window_start(now, rule.within_days)
            with self._lock:
                latest = dict(self._match_index.get((rule.event, rule.compared.event, value), {}))
            return sorted(i for i, ts in latest.items() if start is None or ts >= start)
        return self._sorted_identities()

    def iter_audience(
        self, query: AudienceQuery, *, now: datetime, properties: bool = True
    ) -> Iterator[UserProfile]:
        """Stream the profiles in ``query``'s audience, ordered by identity.

        With ``properties=False`` every profile comes with empty ``properties``
        (as from the SQLite store, which then skips reading them).
        """
        require_aware(now)
        for identity in self._candidates(query, now):
            profile = self._profiles.get(identity)
            if profile is not None and audience_matches(
                profile, self._grouped_events(identity), query, now=now
            ):
                yield profile if properties else profile.model_copy(update={"properties": {}})

    def events_for(
        self, identity: str, *, name: str | None = None, since: datetime | None = None
    ) -> list[UserEvent]:
        """One user's events (optionally of one name, since a time), oldest first."""
        if name is None:
            events = self._events.get(identity, [])
        else:
            events = self._by_name.get(identity, {}).get(name, [])
        if since is None:
            return list(events)
        start = require_aware(since)
        return [event for event in events if event.timestamp >= start]

    def close(self) -> None:
        """Nothing to release; present for the ``Store`` protocol. Idempotent."""


def _timestamp(event: UserEvent) -> datetime:
    return event.timestamp
