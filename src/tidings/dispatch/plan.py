"""The dispatch plan: everything one request needs, resolved once, never changed after.

The workspace builds one :class:`DispatchPlan` per source (campaign or bulletin)
and request; every stage reads it and none writes it. It holds no store, no
ledger and no callbacks, so it pickles as is to worker processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from ..audience.control import in_control_group
from ..campaigns import Bulletin, ExternalTriggerCampaign
from ..channels import Message
from ..models.definitions import (
    ControlGroup,
    CustomControlGroup,
    WorkspaceSettings,
)
from ..models.filters import AudienceQuery, Filter
from ..models.preferences import DeliveryPreferences, FrequencyCap
from ..models.users import UserProfile

__all__ = ["Candidate", "DispatchPlan", "HoldOut", "Recipient"]


class Recipient(NamedTuple):
    """One recipient named in a request, with their own trigger data (None: the shared data)."""

    identity: str
    trigger: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One user considered for a message: their profile (None if unknown) and own data."""

    identity: str
    profile: UserProfile | None
    trigger: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class HoldOut:
    """A resolved control group: a hash scope and a share, or an explicit member list."""

    scope: str
    percent: float
    members: frozenset[str] = frozenset()

    def holds(self, identity: str) -> bool:
        """Whether ``identity`` is held out."""
        if identity in self.members:
            return True
        return in_control_group(self.scope, identity, self.percent)

    @classmethod
    def resolve(
        cls,
        control: ControlGroup | None,
        *,
        source_scope: str,
        custom_groups: Mapping[str, CustomControlGroup],
    ) -> HoldOut | None:
        """Turn a campaign's control-group choice into a hold-out rule.

        Raises:
            KeyError: The custom group is not defined.
        """
        if control is None:
            return None
        if control.kind == "campaign":
            return cls(scope=source_scope, percent=control.percent) if control.percent else None
        assert control.group is not None  # noqa: S101 - the model validates it
        group = custom_groups[control.group]
        return cls(scope=f"group:{group.name}", percent=group.percent, members=group.identities)


@dataclass(frozen=True, slots=True)
class DispatchPlan:
    """Everything the stages need to turn candidates into records for one source.

    Attributes:
        source: ``campaign`` or ``bulletin``.
        source_id: The campaign or bulletin id (the ledger's key).
        message: The compiled message.
        dispatch_key: The request's idempotency key (or a fresh one): a re-run
            with the same key resumes the dispatch.
        now: When the dispatch was decided (its first start, for a re-run).
        namespaces: Liquid namespaces besides ``Profile`` and ``ExternalTrigger``.
        audience: Who qualifies, for a bulletin (a store query); None for campaigns.
        filters: Audience filters applied to a campaign's named recipients.
        hold_out: The control group, if any.
        cap: The targeting cap (distinct users over the source's life), if any.
        max_trigger_bytes: Limit on one recipient's own trigger data.
        ttl_seconds: The source's time to live, if any.
        shared_trigger: The request's trigger data for recipients without their own.
        send_base: The earliest send time (a future business event's time), if not now.
        preferences: DND, local send time and whether global limits apply.
        cutoff: No send after this time.
        frequency_caps: The workspace's frequency caps.
        default_timezone: The zone of users without one.
        version: The version of the campaign or bulletin (stored with each
            outcome in the ledger); None for an unversioned one (Message via Identity).
    """

    source: Literal["campaign", "bulletin"]
    source_id: str
    message: Message
    dispatch_key: str
    now: datetime
    namespaces: Mapping[str, Any] = field(default_factory=dict)
    audience: AudienceQuery | None = None
    filters: tuple[Filter, ...] = ()
    hold_out: HoldOut | None = None
    cap: int | None = None
    max_trigger_bytes: int | None = None
    ttl_seconds: int | None = None
    shared_trigger: Mapping[str, Any] | None = None
    send_base: datetime | None = None
    preferences: DeliveryPreferences = field(default_factory=DeliveryPreferences)
    cutoff: datetime | None = None
    frequency_caps: tuple[FrequencyCap, ...] = ()
    default_timezone: str = "UTC"
    version: int | None = None

    @property
    def base(self) -> datetime:
        """The earliest send time: the event time for a future business event, else now."""
        return self.send_base if self.send_base is not None else self.now

    @property
    def ttl(self) -> int | None:
        """The time to live that applies: the source's, else a push message's own."""
        if self.ttl_seconds is not None or self.message.channel != "push":
            return self.ttl_seconds
        ttl = getattr(self.message, "ttl_seconds", None)
        return ttl if isinstance(ttl, int) else None

    @property
    def cap_scope(self) -> str:
        """The hash scope that ranks users for the targeting cap.

        One scope per source, the same for every dispatch, so dispatches that
        overlap pick the same users rather than take each other's slots.
        """
        return f"cap:{self.source_id}"

    @property
    def claims(self) -> bool:
        """Whether deliveries claim slots in the ledger (a targeting or frequency cap)."""
        return self.cap is not None or bool(self.frequency_caps)

    @classmethod
    def for_bulletin(
        cls,
        bulletin: Bulletin,
        *,
        event_name: str,
        properties: Mapping[str, str],
        raised_name: str | None = None,
        now: datetime,
        send_at: datetime,
        dispatch_key: str,
        settings: WorkspaceSettings,
        custom_groups: Mapping[str, CustomControlGroup],
        version: int | None = None,
    ) -> DispatchPlan:
        """The plan of one bulletin for a raised business event.

        The ``BusinessEvent`` namespace holds ``name``: the raised bulletin's name (the
        body's ``name``, "Sa Re Ga Ma episode 12"; the event type when None), ``event``:
        the business event type ("Program Released"), and the event's properties (a
        property called ``name`` or ``event`` wins over these).

        Raises:
            KeyError: The bulletin's custom control group is not defined.
        """
        return cls(
            source="bulletin",
            source_id=bulletin.id,
            message=bulletin.message,
            dispatch_key=dispatch_key,
            now=now,
            send_base=send_at,
            namespaces={
                "BusinessEvent": {
                    "name": event_name if raised_name is None else raised_name,
                    "event": event_name,
                    **properties,
                },
                "Campaign": {"id": bulletin.id, "name": bulletin.name},
            },
            audience=AudienceQuery.for_rows(
                bulletin.match, properties, segment=bulletin.segment, filters=bulletin.filters
            ),
            hold_out=HoldOut.resolve(
                bulletin.control_group,
                source_scope=f"bulletin:{bulletin.id}",
                custom_groups=custom_groups,
            ),
            cap=bulletin.targeting_cap,
            ttl_seconds=bulletin.ttl_seconds,
            preferences=bulletin.delivery,
            frequency_caps=settings.frequency_caps,
            default_timezone=settings.default_timezone,
            version=version,
        )

    @classmethod
    def for_campaign(
        cls,
        campaign: ExternalTriggerCampaign,
        *,
        shared_trigger: Mapping[str, Any] | None,
        now: datetime,
        dispatch_key: str,
        settings: WorkspaceSettings,
        custom_groups: Mapping[str, CustomControlGroup],
        version: int | None = None,
    ) -> DispatchPlan:
        """The plan of an External Trigger campaign (or a Message via Identity) call.

        Raises:
            KeyError: The campaign's custom control group is not defined.
        """
        assert campaign.id is not None  # noqa: S101 - published campaigns have ids
        return cls(
            source="campaign",
            source_id=campaign.id,
            message=campaign.message,
            dispatch_key=dispatch_key,
            now=now,
            namespaces={"Campaign": {"id": campaign.id, "name": campaign.name}},
            filters=campaign.filters,
            hold_out=HoldOut.resolve(
                campaign.control_group,
                source_scope=f"campaign:{campaign.id}",
                custom_groups=custom_groups,
            ),
            cap=campaign.targeting_cap,
            max_trigger_bytes=campaign.max_trigger_bytes,
            shared_trigger=shared_trigger,
            preferences=campaign.delivery,
            cutoff=campaign.schedule.cutoff,
            frequency_caps=settings.frequency_caps,
            default_timezone=settings.default_timezone,
            version=version,
        )
