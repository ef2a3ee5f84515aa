"""The workspace: definitions, store, ledger and clock, and the vendor-compatible entry points.

``Workspace()`` keeps everything in memory; ``Workspace.sqlite(path)`` keeps
profiles, events, definitions and the ledger in one SQLite file, so another
process (``tidings dispatch``) can pick them up.

Request-level problems (unknown campaign, malformed body) come back as a
``Dispatch`` whose ``response`` is ``{"status": "fail", "error": ..., "code": 400}``
with the vendor's documented messages; per-user problems are ``Skip`` records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _calls
from ._calls import BulletinRunner as BulletinRunner
from ._calls import CampaignRunner as CampaignRunner
from ._definitions import Definitions
from .campaigns import Bulletin, ExternalTriggerCampaign
from .errors import ArgumentError
from .lifecycle import DefinitionVersion, Lifecycle, LifecycleState
from .models.definitions import (
    BusinessEventDefinition,
    CustomControlGroup,
    WorkspaceSettings,
)
from .models.dispatch_result import Dispatch
from .models.records import Sink
from .models.users import UserEvent, UserProfile, events_from, profiles_from
from .storage.base import Store
from .storage.ledger import Ledger, MemoryLedger
from .storage.registry import MemoryRegistry, Registry, SQLiteRegistry
from .storage.sqlite_ledger import SQLiteLedger

if TYPE_CHECKING:
    from .senders import DrainReport, Sender

__all__ = ["BulletinRunner", "CampaignRunner", "Clock", "Workspace"]

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Workspace:
    """Definitions registry + store + ledger + clock; the library's main entry point.

    Args:
        store: Where profiles and events live (default: in memory).
        ledger: Where decisions and counters live (default: in memory).
        registry: Where definitions, saved responses and the activity log live
            (default: beside an :class:`~tidings.storage.SQLiteLedger`, in the
            same file; otherwise in memory).
        clock: Returns the current time (timezone-aware); inject a fixed one in tests.
        workers: Processes that render a large dispatch (more than one chunk of
            candidates: 1,000, or 2,000 for a bulletin to a
            :class:`~tidings.JsonLinesSink`);
            1 renders in this process. The records are the
            same for any number (see :func:`tidings.dispatch.run_dispatch`).
        sender: Sends deliveries during dispatch (:mod:`tidings.senders`): each
            dispatch queues its deliveries of the sender's channels in the ledger's
            outbox, records still reaching the sink or the result, and calls
            :meth:`send` before returning.

    Raises:
        ArgumentError: ``workers`` is below 1 (a ``ValueError`` too).
    """

    def __init__(
        self,
        store: Store | None = None,
        ledger: Ledger | None = None,
        registry: Registry | None = None,
        *,
        clock: Clock | None = None,
        workers: int = 1,
        sender: Sender | None = None,
    ) -> None:
        given: object = workers  # callers without type checking pass anything
        if not isinstance(given, int) or isinstance(given, bool) or given < 1:
            raise ArgumentError(f"workers must be at least 1, not {workers!r}", field="workers")
        self.workers = workers
        if store is None:
            from .storage.memory import MemoryStore

            store = MemoryStore()
        self.store: Store = store
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger()
        if registry is None:
            registry = (
                SQLiteRegistry(self.ledger.path)
                if isinstance(self.ledger, SQLiteLedger)
                else MemoryRegistry()
            )
        self.registry: Registry = registry
        self.clock: Clock = clock or _utc_now
        self.sender = sender
        self.last_send: DrainReport | None = None
        self.definitions = Definitions(registry, clock=lambda: self.clock())

    @classmethod
    def sqlite(
        cls,
        path: str | Path,
        *,
        clock: Clock | None = None,
        workers: int = 1,
        sender: Sender | None = None,
    ) -> Workspace:
        """A durable workspace in one SQLite file (created if missing); arguments as ``__init__``.

        Raises:
            ArgumentError: ``path`` cannot be opened as a tidings database (a
                directory, a file that is not SQLite, a missing folder).
        """
        import sqlite3

        from .storage.sqlite import SQLiteStore

        store: SQLiteStore | None = None
        try:
            store = SQLiteStore(path)
            return cls(
                store,
                SQLiteLedger(path),
                SQLiteRegistry(path),
                clock=clock,
                workers=workers,
                sender=sender,
            )
        except (sqlite3.DatabaseError, OSError) as exc:
            if store is not None:
                store.close()
            raise ArgumentError(
                f"cannot open {str(path)!r} as a tidings database: {exc}", field="path"
            ) from exc

    @classmethod
    def postgres(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        clock: Clock | None = None,
        workers: int = 1,
    ) -> Workspace:
        """A workspace in a PostgreSQL database, shared by many processes and machines.

        Needs the ``postgres`` extra (``pip install 'tidings[postgres]'``, psycopg 3)
        and a schema created by ``tidings migrate --db <dsn>``: ``schema``, else the
        DSN's ``tidings.schema`` setting (``?options=-c%20tidings.schema%3DNAME``),
        else ``tidings``. Store, ledger and registry share one set of connections.

        Raises:
            ArgumentError: the database cannot be reached, or its schema is missing
                or at another version (the message says to run ``tidings migrate``).
        """
        from .storage.postgres import open_postgres

        store, ledger, registry = open_postgres(dsn, schema=schema)
        try:
            return cls(store, ledger, registry, clock=clock, workers=workers)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Close the store, the ledger and the registry."""
        self.store.close()
        self.ledger.close()
        self.registry.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- definitions ---------------------------------------------------------------

    @property
    def settings(self) -> WorkspaceSettings:
        """The workspace-wide delivery settings (default time zone, frequency caps)."""
        return self.definitions.settings

    def configure(self, settings: WorkspaceSettings | Mapping[str, Any]) -> WorkspaceSettings:
        """Set the workspace-wide delivery settings (default time zone, frequency caps)."""
        return self.definitions.configure(settings)

    def define_business_event(
        self, definition: BusinessEventDefinition | Mapping[str, Any]
    ) -> BusinessEventDefinition:
        """Define a business event. Defining it again with other properties is an error."""
        return self.definitions.define_business_event(definition)

    def define_control_group(
        self, group: CustomControlGroup | Mapping[str, Any]
    ) -> CustomControlGroup:
        """Define (or replace) a workspace-wide custom control group."""
        return self.definitions.define_control_group(group)

    def publish_bulletin(self, bulletin: Bulletin | Mapping[str, Any]) -> Bulletin:
        """Validate and register a bulletin (only ``published=True`` ones fire)."""
        return self.definitions.publish_bulletin(bulletin)

    def publish_campaign(self, campaign: ExternalTriggerCampaign | Mapping[str, Any]) -> str:
        """Validate and register an External Trigger campaign; return its id.

        Accepts the model, its dict form, or a Create Campaign API body
        (``channel`` + ``content`` + ``audience``). Templates must compile, a
        targeting cap below 100 is rejected, the schedule's end must follow its start.
        """
        return self.definitions.publish_campaign(campaign)

    @property
    def campaigns(self) -> Mapping[str, ExternalTriggerCampaign]:
        """Published campaigns by id."""
        return dict(self.definitions.campaigns)

    @property
    def bulletins(self) -> Mapping[str, Bulletin]:
        """Registered bulletins by id."""
        return dict(self.definitions.bulletins)

    @property
    def lifecycle(self) -> Lifecycle:
        """Versions and states of the campaigns and bulletins (:mod:`tidings.lifecycle`)."""
        return self.definitions.lifecycle

    def versions(self, kind: str, id: str) -> list[DefinitionVersion]:
        """Every published version of a ``campaign`` or ``bulletin``, oldest first."""
        return self.lifecycle.versions(kind, id)

    def pause(self, kind: str, id: str) -> LifecycleState:
        """Pause a ``campaign`` or ``bulletin`` until :meth:`resume` (:mod:`tidings.lifecycle`)."""
        return self.lifecycle.pause(kind, id)

    def resume(self, kind: str, id: str) -> LifecycleState:
        """Make a paused ``campaign`` or ``bulletin`` active again."""
        return self.lifecycle.resume(kind, id)

    def stop(self, kind: str, id: str) -> LifecycleState:
        """Stop a ``campaign`` or ``bulletin`` for good (triggers answer ``Campaign Stopped``)."""
        return self.lifecycle.stop(kind, id)

    # -- data ----------------------------------------------------------------------

    def upsert_profiles(self, profiles: Iterable[UserProfile | Mapping[str, Any]]) -> int:
        """Insert or replace profiles (models or dicts); return the count.

        Raises:
            ProfileError: A profile is invalid (``index`` and ``field`` say where).
            ArgumentError: ``profiles`` is not an iterable of profiles.
        """
        return self.store.upsert_profiles(profiles_from(profiles))

    def record_events(self, events: Iterable[UserEvent | Mapping[str, Any]]) -> int:
        """Append user events (models or dicts); return the count.

        Raises:
            EventError: An event is invalid (``index`` and ``field`` say where).
            ArgumentError: ``events`` is not an iterable of events.
        """
        return self.store.append_events(events_from(events))

    def upload(self, body: object) -> dict[str, Any]:
        """Upload profiles and events in the vendor's shape (``{"d": [record, ...]}``).

        Records are ``{"identity", "type": "profile", "profileData": {...}}`` (merged
        into the stored profile: ``Name``, ``Email``, ``Timezone`` set its fields,
        every other key a property) and ``{"identity", "type": "event", "evtName",
        "evtData", "ts"}``; at most 1,000 per call. A bad record does not stop the
        others: the answer is ``{"status": "success" | "partial", "processed": N,
        "unprocessed": [{"status": "fail", "code": 400, "error", "index", "record"}]}``
        ("fail" when none was processed), or the request's own fail body.
        """
        return _calls.upload(self, body)

    def activity_log(self) -> list[dict[str, Any]]:
        """Dispatched bulletins, newest first: business event, bulletin, time, sent, creator."""
        return self.registry.activity()

    # -- sending -------------------------------------------------------------------

    def send(self, sender: Sender | None = None) -> DrainReport:
        """Send the ledger's due deliveries with ``sender`` or the workspace's (``drain``).

        Returns what it did (also on :attr:`last_send`). Raises ``ArgumentError``
        when there is no sender.
        """
        from .senders import drain

        chosen = sender or self.sender
        if chosen is None:
            raise ArgumentError("no sender: pass one, or Workspace(sender=...)", field="sender")
        self.last_send = drain(self.ledger, chosen, clock=self.clock)
        return self.last_send

    # -- the vendor's calls (answered in tidings._calls) ---------------------------

    def raise_business_event(
        self, body: object, *, sink: Sink | None = None, runner: BulletinRunner | None = None
    ) -> Dispatch:
        """Raise a business event (Bulletins API body); dispatch every published bulletin.

        The response is ``{"status": "success", "targets": N}`` (N bulletins
        dispatched) or the vendor's ``fail`` shape. Bulletins of the event that are
        unpublished, paused or stopped are passed over (``targets`` may be 0), each
        listed with why on the result's ``not_dispatched``. Records stream to
        ``sink`` when given, else they are kept on the returned ``Dispatch``; with a
        ``runner`` (:class:`tidings.scale.DaskDispatcher`) they go where the runner
        writes them, and only the summaries come back.
        """
        return _calls.raise_business_event(self, body, sink, runner)

    def trigger_campaign(
        self, body: object, *, sink: Sink | None = None, runner: CampaignRunner | None = None
    ) -> Dispatch:
        """Trigger a published campaign (External Trigger API body).

        Two forms: ``{"to": {"identity": [...], "email": [...]}, "campaign_id": ...,
        "ExternalTrigger": {...}}`` (one data object for all) or ``"to": [{"identity":
        ...} or {"email": ...}, "ExternalTrigger": {...}}, ...]`` (per recipient).
        ``campaign_id`` is the id as text or as an integer. An email names every
        profile whose ``email`` it is (see ``docs/dispatch.md``). An optional
        ``idempotency_key`` makes a replay return the first response without
        sending anything again. A paused or stopped campaign answers ``Campaign
        Paused`` or ``Campaign Stopped`` (:mod:`tidings.lifecycle`). With a
        ``runner`` (:class:`tidings.scale.DaskDispatcher`) the records go where the
        runner writes them, not to ``sink``.
        """
        return _calls.trigger_campaign(self, body, sink, runner)

    def trigger_campaigns(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Trigger up to 5 published campaigns in one call (``/2/send/externaltrigger.json``).

        ``{"to": {...}, "campaign_id_list": [id, ...], "ExternalTrigger": {...}}``
        sends each campaign to the same recipients; ``{"d": [{"to": ..., "campaign_id":
        ..., "ExternalTrigger": ...}, ...]}`` sends each to its own. Every campaign
        body is checked before anything is sent, so a refusal (more than 5
        campaigns, an unknown, paused or stopped campaign, a bad recipient: the
        message names the entry, e.g. ``d[1]: Campaign Not Found``) sends nothing.
        The response adds up the counts and lists each campaign's answer under
        ``campaigns``.
        """
        return _calls.trigger_campaigns(self, body, sink)

    def message_via_identity(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Send a message whose content comes in the call (no published campaign).

        Body: ``{"to": {"identity": [...]}, "content": {"channel": ..., fields...},
        "ExternalTrigger": {...}}`` plus optional ``name``, ``filters``,
        ``control_group``, ``targeting_cap``; validated like a published campaign.
        """
        return _calls.message_via_identity(self, body, sink)
