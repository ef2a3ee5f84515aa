"""The numbers of each campaign and bulletin, as values: what the queries answer.

:func:`~tidings.stats.sources.compute_stats` and
:func:`~tidings.stats.sources.source_stats` build them; the report and the CLI
show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from ..models.records import TECHNICAL_REASONS, Summary, is_error
from .engagement import EngagementEvents
from .intervals import Conversion

__all__ = ["ErrorCount", "FunnelStage", "SourceKind", "SourceStats", "WorkspaceStats"]

_COUNTS = ("candidates", "qualified", "sent", "held_out", "capped", "filtered")
"""The counts shown as they are in :meth:`SourceStats.to_dict`, in order."""

SourceKind = Literal["campaign", "bulletin", "other"]
"""What a source id names: a campaign, a bulletin, or neither (a message via identity)."""


@dataclass(frozen=True, slots=True)
class ErrorCount:
    """How many candidates one skip reason left without a message."""

    reason: str
    count: int
    technical: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"reason": self.reason, "count": self.count, "technical": self.technical}


class FunnelStage(NamedTuple):
    """One bar of a source's funnel: the stage and how many ``reached`` it (None: unknown)."""

    stage: str
    reached: int | None


@dataclass(frozen=True)
class SourceStats:
    """The numbers of one campaign or bulletin, over every dispatch the ledger holds.

    ``counts`` are outcome records (one per candidate per dispatch) counted by
    :class:`~tidings.models.records.Summary`, the rule a dispatch's own summary
    uses; the count attributes (``candidates``, ``sent``, ...) read it. ``viewed``
    and ``clicked`` count deliveries; conversion counts distinct users.
    ``pending`` counts deliveries decided but not confirmed as handed to the sink
    (a crashed dispatch not yet resumed); they are qualified but not sent.
    ``delivered`` and ``failed`` count the source's deliveries a sender got
    through, or gave up on (technical errors: refused by the provider, or out of
    attempts), from the ledger's outbox (:mod:`tidings.senders`); both stay 0
    when nothing was sent through a sender.
    """

    kind: SourceKind
    source_id: str
    name: str
    dispatches: int = 0
    counts: Summary = field(default_factory=Summary)
    viewed: int = 0
    clicked: int = 0
    conversion: Conversion | None = None
    delivered: int = 0
    failed: int = 0

    @property
    def candidates(self) -> int:
        """Outcome records: one per candidate per dispatch."""
        return self.counts.candidates

    @property
    def qualified(self) -> int:
        """Candidates in the audience (after filters)."""
        return self.counts.qualified

    @property
    def sent(self) -> int:
        """Deliveries handed to the sink."""
        return self.counts.sent

    @property
    def held_out(self) -> int:
        """Qualified users held out by the control group."""
        return self.counts.held_out

    @property
    def capped(self) -> int:
        """Qualified users over the targeting cap."""
        return self.counts.capped

    @property
    def filtered(self) -> int:
        """Candidates the audience filters left out."""
        return self.counts.filtered

    @property
    def pending(self) -> int:
        """Deliveries decided but not confirmed as handed to the sink."""
        return self.counts.pending

    @property
    def technical_errors(self) -> int:
        """Skips caused by technical errors (:data:`~tidings.models.records.TECHNICAL_REASONS`)."""
        return self.counts.errors

    @property
    def non_technical_errors(self) -> int:
        """Skips that are other errors (no address, frequency cap, DND discard, ...)."""
        return self.counts.non_technical_errors

    @property
    def skipped(self) -> dict[str, int]:
        """Skips by reason, sorted by reason."""
        return dict(sorted(self.counts.skipped.items()))

    @property
    def errors(self) -> list[ErrorCount]:
        """Skips of qualified users that are errors (not hold-outs or caps), most first."""
        rows = [
            ErrorCount(reason, count, reason in TECHNICAL_REASONS)
            for reason, count in self.skipped.items()
            if is_error(reason)
        ]
        return sorted(rows, key=lambda e: (not e.technical, -e.count, e.reason))

    @property
    def converted(self) -> int | None:
        """Target users who converted (None without a goal)."""
        return None if self.conversion is None else self.conversion.target.converted

    @property
    def funnel(self) -> list[FunnelStage]:
        """The stages from qualified to converted; converted is None without a goal."""
        return [
            FunnelStage("qualified", self.qualified),
            FunnelStage("sent", self.sent),
            FunnelStage("viewed", self.viewed),
            FunnelStage("clicked", self.clicked),
            FunnelStage("converted", self.converted),
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the counts as :meth:`~tidings.models.records.Summary.to_dict`)."""
        counts = self.counts.to_dict()
        return {
            "kind": self.kind,
            "source_id": self.source_id,
            "name": self.name,
            "dispatches": self.dispatches,
            **{key: counts[key] for key in _COUNTS},
            "pending": self.pending,
            "delivered": self.delivered,
            "failed": self.failed,
            "errors": self.counts.error_counts(),
            "skipped": counts["skipped"],
            "viewed": self.viewed,
            "clicked": self.clicked,
            "conversion": self.conversion.to_dict() if self.conversion else None,
        }


@dataclass(frozen=True)
class WorkspaceStats:
    """Every source's numbers and the business activity log, as of ``generated_at``."""

    sources: tuple[SourceStats, ...]
    activity: tuple[dict[str, Any], ...]
    engagement: EngagementEvents
    generated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``tidings stats --format json`` prints)."""
        return {
            "generated_at": self.generated_at.isoformat(),
            "engagement_events": self.engagement.to_dict(),
            "sources": [s.to_dict() for s in self.sources],
            "activity": [dict(a) for a in self.activity],
        }
