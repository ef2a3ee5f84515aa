"""Cap claims: what a dispatch asks of the ledger, what the ledger holds, what was decided.

The decision itself is an eligibility rule (:func:`tidings.dispatch.caps.decide_claims`);
the ledger reads a :class:`ClaimState` and stores the :class:`ClaimDecision` in one
transaction (:meth:`Ledger.claim`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ClaimDecider",
    "ClaimDecision",
    "ClaimRequest",
    "ClaimResult",
    "ClaimState",
    "FrequencyClaim",
]


ClaimResult = Literal["ok", "targeting_cap", "frequency_cap"]


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """One user asking for a slot: the delivery key, channel and local period keys.

    ``day``/``week`` are the user's local day and ISO week of the send (see
    :func:`tidings.delivery.rules.period_keys`); ``apply_frequency`` is False for
    campaigns that opt out of the global limits.
    """

    identity: str
    key: str
    channel: str
    day: str
    week: str
    apply_frequency: bool = True


@dataclass(frozen=True, slots=True)
class FrequencyClaim:
    """A counted send of the past: who, on which channel, in which local day and week."""

    identity: str
    channel: str
    day: str
    week: str


@dataclass(frozen=True, slots=True)
class ClaimState:
    """What the ledger holds that a claim decision reads, inside the claim transaction.

    Attributes:
        used: Targeting-cap slots the source has given out so far.
        claimed: Which of the requesters already hold a slot of the source.
        known_keys: Which of the requests' delivery keys were claimed before.
        history: The requesters' counted frequency claims (empty unless asked for).
    """

    used: int
    claimed: frozenset[str]
    known_keys: frozenset[str]
    history: tuple[FrequencyClaim, ...]


@dataclass(frozen=True, slots=True)
class ClaimDecision:
    """A claim decision: a result per identity, the slots and the delivery keys it takes."""

    results: dict[str, ClaimResult]
    new_slots: list[str]
    new_keys: list[ClaimRequest]


ClaimDecider = Callable[[Sequence[ClaimRequest], ClaimState], ClaimDecision]
"""Decides a batch of claims from the ledger's current state (see :meth:`Ledger.claim`)."""
