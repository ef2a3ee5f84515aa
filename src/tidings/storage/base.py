"""The store protocol: profiles and events, queried without loading whole tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, runtime_checkable

from ..models.filters import AudienceQuery, Filter
from ..models.users import UserEvent, UserProfile

__all__ = ["Store", "Transactional"]


@runtime_checkable
class Store(Protocol):
    """Where profiles and events live. In-memory and SQLite implementations exist.

    Every query streams: an audience of millions is never materialised as one
    Python list. Results come ordered by identity, so dispatches are deterministic.
    ``now`` is passed in (from the workspace clock) wherever time windows apply.
    """

    def upsert_profiles(self, profiles: Iterable[UserProfile]) -> int:
        """Insert or replace profiles by identity; return how many were written."""
        ...

    def append_events(self, events: Iterable[UserEvent]) -> int:
        """Append events; return how many were written."""
        ...

    def get_profile(self, identity: str) -> UserProfile | None:
        """One profile, or None."""
        ...

    def get_profiles(self, identities: Sequence[str]) -> dict[str, UserProfile]:
        """The profiles that exist among ``identities`` (missing ones are absent)."""
        ...

    def count_profiles(self) -> int:
        """How many profiles the store holds."""
        ...

    def identities_for_emails(self, emails: Sequence[str]) -> dict[str, list[str]]:
        """The identities of the profiles holding each of ``emails``, sorted.

        ``emails`` are compared as stored (normalized: see
        :func:`tidings.models.addresses.normalize_email`); an address no profile
        holds is absent from the result.
        """
        ...

    def matching_identities(
        self, identities: Sequence[str], filters: Sequence[Filter], *, now: datetime
    ) -> set[str]:
        """The subset of ``identities`` whose profile satisfies every filter."""
        ...

    def iter_audience(
        self, query: AudienceQuery, *, now: datetime, properties: bool = True
    ) -> Iterator[UserProfile]:
        """Stream the profiles in ``query``'s audience, ordered by identity.

        With ``properties=False`` the profiles come with empty ``properties`` (the
        same users in the same order, every other field the same): cheaper when
        only identity, addresses and time zone matter.
        """
        ...

    def events_for(
        self, identity: str, *, name: str | None = None, since: datetime | None = None
    ) -> list[UserEvent]:
        """One user's events (optionally of one name, since a time), oldest first."""
        ...

    def close(self) -> None:
        """Release resources (connections). Idempotent."""
        ...


@runtime_checkable
class Transactional(Protocol):
    """A store whose writes can be grouped into one all-or-nothing transaction.

    The memory, SQLite and PostgreSQL stores implement it; imports use it when the
    store does (:func:`tidings.storage.jsonl.import_jsonl`, ``tidings import``).
    """

    def transaction(self) -> AbstractContextManager[None]:
        """Group this thread's writes inside the block into one transaction.

        Every write made through the store by this thread inside the block is
        committed when the block ends, or none is if it raises. Blocks nest (an
        inner block that raises undoes only its own writes, then the exception
        goes on). Other threads' writes wait until the block ends.
        """
        ...
