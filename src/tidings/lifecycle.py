"""Versions and lifecycle of campaigns and bulletins: publish again, pause, resume, stop.

Publishing an id that exists makes a new version when the definition changed (the
same definition again keeps its version): nothing is overwritten silently, and every
version stays readable (:meth:`Lifecycle.versions`). Each outcome the ledger records
carries the version of the definition that produced it.

A campaign or bulletin is ``active``, ``paused`` or ``stopped``:

* ``paused``: triggers are refused with the vendor's fail body (``{"status": "fail",
  "error": "Campaign Paused", "code": 400}``) and a raised business event passes the
  bulletin over; :meth:`Lifecycle.resume` makes it active again;
* ``stopped``: for good. Triggers get ``"Campaign Stopped"``; it cannot be resumed
  (publish it under a new id to send it again).

States are read from the registry at every trigger, so a ``tidings stop`` in another
process takes effect at once on a running service sharing the workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

from .campaigns import Bulletin
from .errors import ArgumentError
from .storage.registry import Registry

__all__ = [
    "CAMPAIGN_PAUSED",
    "CAMPAIGN_STOPPED",
    "DefinitionKind",
    "DefinitionVersion",
    "Lifecycle",
    "LifecycleState",
    "PassedOver",
    "refusal_of",
    "why_passed_over",
]

logger = logging.getLogger(__name__)

DefinitionKind = Literal["campaign", "bulletin"]
"""What has versions and a lifecycle."""

LifecycleState = Literal["active", "paused", "stopped"]
"""Where a campaign or bulletin is in its life."""

CAMPAIGN_PAUSED: Final = "Campaign Paused"
"""The vendor-style ``error`` of a trigger of a paused campaign."""
CAMPAIGN_STOPPED: Final = "Campaign Stopped"
"""The vendor-style ``error`` of a trigger of a stopped campaign."""

PassedOver = Literal["unpublished", "paused", "stopped"]
"""Why a raised business event did not dispatch one of its bulletins."""

_KINDS: Final = frozenset(get_args(DefinitionKind))


@dataclass(frozen=True, slots=True)
class DefinitionVersion:
    """One published version of a campaign or bulletin.

    Attributes:
        kind: ``campaign`` or ``bulletin``.
        id: The campaign or bulletin id.
        version: 1, 2, ... in publishing order.
        published_at: When this version was published.
        definition: The definition as published (its JSON form).
        current: Whether this is the version that sends now.
    """

    kind: DefinitionKind
    id: str
    version: int
    published_at: datetime
    definition: dict[str, Any]
    current: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "kind": self.kind,
            "id": self.id,
            "version": self.version,
            "published_at": self.published_at.isoformat(),
            "current": self.current,
            "definition": self.definition,
        }


def _checked_kind(kind: str) -> DefinitionKind:
    if kind not in _KINDS:
        raise ArgumentError(f"kind must be 'campaign' or 'bulletin', not {kind!r}", field="kind")
    return "campaign" if kind == "campaign" else "bulletin"


class Lifecycle:
    """Versions and states of a workspace's campaigns and bulletins, kept in its registry.

    Args:
        registry: Where versions and states are saved (beside the definitions).
        clock: The workspace's clock (publishing and state-change times).
        exists: Whether a campaign or bulletin of that kind and id is published.
    """

    def __init__(
        self,
        registry: Registry,
        clock: Callable[[], datetime],
        exists: Callable[[DefinitionKind, str], bool],
    ) -> None:
        self._registry = registry
        self._clock = clock
        self._exists = exists

    # -- versions ------------------------------------------------------------------

    def current_version(self, kind: DefinitionKind, id: str) -> int | None:
        """The version that sends now (None: never published through versions)."""
        entry = self._registry.definitions(f"current_version:{kind}").get(id)
        return int(entry["version"]) if entry is not None else None

    def current_versions(self, kind: DefinitionKind) -> dict[str, int]:
        """The current version of every campaign or bulletin of ``kind``, by id."""
        stored = self._registry.definitions(f"current_version:{kind}")
        return {key: int(entry["version"]) for key, entry in stored.items()}

    def record_publish(
        self,
        kind: DefinitionKind,
        id: str,
        definition: dict[str, Any],
        previous: dict[str, Any] | None,
    ) -> int:
        """Record a publication of ``definition`` (JSON form); return its version.

        ``previous`` is the definition published before under this id, if any. The
        same definition again keeps its version; another one gets the next number.
        A definition published before versions existed becomes version 1 first.
        """
        current = self.current_version(kind, id)
        if previous is not None and current is None:
            current = self._save_version(kind, id, previous, 0)
        if previous == definition and current is not None:
            return current
        version = self._save_version(kind, id, definition, current or 0)
        if current is not None:
            logger.info("%s %r: published version %d (was %d)", kind, id, version, current)
        return version

    def _save_version(
        self, kind: DefinitionKind, id: str, definition: dict[str, Any], after: int
    ) -> int:
        sequence = f"version:{kind}:{id}"
        version = self._registry.next_sequence(sequence)
        while version <= after:  # a workspace from before versions: skip the numbers in use
            version = self._registry.next_sequence(sequence)
        self._registry.save_definition(
            f"version:{kind}",
            f"{id}#{version}",
            {
                "id": id,
                "version": version,
                "published_at": self._clock().isoformat(),
                "definition": definition,
            },
        )
        self._registry.save_definition(f"current_version:{kind}", id, {"version": version})
        return version

    def versions(self, kind: str, id: str) -> list[DefinitionVersion]:
        """Every published version of a campaign or bulletin, oldest first.

        Raises:
            ArgumentError: ``kind`` is not ``campaign``/``bulletin``, or no such id
                is published (``field`` is ``kind`` or ``id``).
        """
        checked = self._known(kind, id)
        current = self.current_version(checked, id)
        found = [
            entry
            for entry in self._registry.definitions(f"version:{checked}").values()
            if entry.get("id") == id
        ]
        found.sort(key=lambda entry: int(entry["version"]))
        return [
            DefinitionVersion(
                kind=checked,
                id=id,
                version=int(entry["version"]),
                published_at=datetime.fromisoformat(entry["published_at"]),
                definition=entry["definition"],
                current=int(entry["version"]) == current,
            )
            for entry in found
        ]

    # -- states --------------------------------------------------------------------

    def states(self, kind: DefinitionKind) -> dict[str, LifecycleState]:
        """The state of every campaign or bulletin of ``kind`` that is not active, by id."""
        stored = self._registry.definitions(f"state:{kind}")
        return {key: _state(entry) for key, entry in stored.items() if _state(entry) != "active"}

    def state(self, kind: str, id: str) -> LifecycleState:
        """The state of a campaign or bulletin (read from the registry now).

        Raises:
            ArgumentError: unknown kind or id.
        """
        checked = self._known(kind, id)
        entry = self._registry.definitions(f"state:{checked}").get(id)
        return _state(entry) if entry is not None else "active"

    def pause(self, kind: str, id: str) -> LifecycleState:
        """Pause: triggers are refused and business events pass it over until resumed.

        Pausing a paused one does nothing. Returns the new state.

        Raises:
            ArgumentError: unknown kind or id, or it is stopped (stopping is final).
        """
        return self._move(kind, id, "paused")

    def resume(self, kind: str, id: str) -> LifecycleState:
        """Make a paused campaign or bulletin active again (an active one stays so).

        Raises:
            ArgumentError: unknown kind or id, or it is stopped (stopping is final).
        """
        return self._move(kind, id, "active")

    def stop(self, kind: str, id: str) -> LifecycleState:
        """Stop for good: it never sends again (publish it under a new id to send it).

        Raises:
            ArgumentError: unknown kind or id.
        """
        return self._move(kind, id, "stopped")

    def _move(self, kind: str, id: str, target: LifecycleState) -> LifecycleState:
        checked = self._known(kind, id)
        now = self.state(checked, id)
        if now == "stopped" and target != "stopped":
            verb = "resumed" if target == "active" else "paused"
            raise ArgumentError(
                f"{checked} {id!r} is stopped and cannot be {verb}: stopping is final; "
                f"publish it under a new id to send it again",
                field="id",
            )
        if now != target:
            self._registry.save_definition(
                f"state:{checked}", id, {"state": target, "at": self._clock().isoformat()}
            )
            logger.info("%s %r: %s -> %s", checked, id, now, target)
        return target

    def _known(self, kind: str, id: object) -> DefinitionKind:
        checked = _checked_kind(kind)
        if not isinstance(id, str) or not self._exists(checked, id):
            raise ArgumentError(f"no {checked} with id {id!r} is published", field="id")
        return checked


def _state(entry: Mapping[str, Any]) -> LifecycleState:
    value = entry.get("state")
    if value == "paused":
        return "paused"
    if value == "stopped":
        return "stopped"
    return "active"


def refusal_of(state: LifecycleState) -> str | None:
    """The vendor-style ``error`` of a trigger of a campaign in ``state`` (None: active)."""
    if state == "paused":
        return CAMPAIGN_PAUSED
    if state == "stopped":
        return CAMPAIGN_STOPPED
    return None


def why_passed_over(bulletin: Bulletin, states: Mapping[str, LifecycleState]) -> PassedOver | None:
    """Why a raised business event does not dispatch ``bulletin`` (None: it does).

    ``states``: the non-active bulletins (:meth:`Lifecycle.states`). A stopped or
    paused state wins over an unpublished flag.
    """
    state = states.get(bulletin.id, "active")
    if state != "active":
        return state
    return None if bulletin.published else "unpublished"
