"""Audience: the candidates of a dispatch, read from the store.

A bulletin's audience is a store query (segment, match rules with the raised
event's values, filters); a campaign's is the recipients the request names,
looked up a chunk at a time. Either way candidates stream: one chunk of
profiles is in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from .._batching import CHUNK_SIZE, batched
from ..models.users import UserProfile
from ..storage.base import Store
from .plan import Candidate, DispatchPlan, Recipient

__all__ = ["audience_profiles", "bulletin_candidates", "bulletin_rows", "recipient_candidates"]


def bulletin_candidates(plan: DispatchPlan, store: Store) -> Iterator[Candidate]:
    """Everyone the bulletin's audience query selects, with full profiles."""
    assert plan.audience is not None  # noqa: S101 - bulletin plans carry their audience
    for profile in store.iter_audience(plan.audience, now=plan.now):
        yield Candidate(profile.identity, profile)


def bulletin_rows(plan: DispatchPlan, store: Store) -> Iterator[tuple[Any, ...]]:
    """The bulletin's audience as store rows (see ``Person.from_row``), in identity order.

    From a store that can hand its rows over undecoded (``iter_audience_rows``,
    the SQLite store), their JSON is decoded where each chunk is decided (in a
    worker); from another store, rows are made of its profiles.
    """
    assert plan.audience is not None  # noqa: S101 - bulletin plans carry their audience
    raw = getattr(store, "iter_audience_rows", None)
    if callable(raw):
        return chain.from_iterable(raw(plan.audience, now=plan.now))
    return (
        (p.identity, p.name, p.email, p.push_tokens, p.timezone, p.properties)
        for p in store.iter_audience(plan.audience, now=plan.now)
    )


def audience_profiles(plan: DispatchPlan, store: Store) -> Iterator[UserProfile]:
    """The bulletin's audience without properties (identity, addresses, zone): the cap pass."""
    assert plan.audience is not None  # noqa: S101 - bulletin plans carry their audience
    return iter(store.iter_audience(plan.audience, now=plan.now, properties=False))


def recipient_candidates(store: Store, recipients: Iterable[Recipient]) -> Iterator[Candidate]:
    """The named recipients with their profiles (None for an unknown identity), in order."""
    for chunk in batched(recipients, CHUNK_SIZE):
        profiles = store.get_profiles([r.identity for r in chunk])
        for recipient in chunk:
            yield Candidate(recipient.identity, profiles.get(recipient.identity), recipient.trigger)
