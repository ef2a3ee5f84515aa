"""Audience: the candidates of a dispatch, read from the store.

A bulletin's audience is a store query (segment, match rules with the raised
event's values, filters); a campaign's is the recipients the request names,
looked up a chunk at a time. Either way candidates stream: one chunk of
profiles is in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .._batching import CHUNK_SIZE, batched
from ..models.users import UserProfile
from ..storage.base import Store
from .plan import Candidate, DispatchPlan, Recipient

__all__ = ["audience_profiles", "bulletin_candidates", "recipient_candidates"]


def bulletin_candidates(plan: DispatchPlan, store: Store) -> Iterator[Candidate]:
    """Everyone the bulletin's audience query selects, with full profiles."""
    assert plan.audience is not None  # noqa: S101 - bulletin plans carry their audience
    for profile in store.iter_audience(plan.audience, now=plan.now):
        yield Candidate(profile.identity, profile)


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
