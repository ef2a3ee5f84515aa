"""Monitoring: what happened to each campaign and bulletin, and did it work.

Everything is computed from the workspace's ledger (one outcome per candidate
per dispatch) and store (user events), so it works the same for an in-memory
workspace and for a SQLite file another process dispatched from.

Per campaign or bulletin (:class:`SourceStats`):

* **Counts**: candidates, qualified, sent, held out (control group), capped
  (targeting cap), filtered, and skips split into *technical* errors
  (:data:`~tidings.models.records.TECHNICAL_REASONS`: render errors, payloads
  over a size limit, invalid webhook bodies, missing trigger keys) and
  *non-technical* ones (no email, no push token, and any other per-user outcome
  such as an unsubscribed user, a frequency cap or a DND discard).
* **Engagement**: ``Notification Viewed`` / ``Notification Clicked`` user events
  (names configurable per workspace, :func:`configure_engagement`) recorded
  against deliveries with :func:`record_engagement`: their properties carry the
  delivery's ``idempotency_key`` and ``source_id``. ``viewed`` and ``clicked``
  count deliveries with at least one such event.
* **Conversion** (when the campaign, or the bulletin's business event, has a
  :class:`~tidings.models.definitions.Goal`): a user converted when they did the
  goal event within ``window_hours`` after their send time, or, for a held-out
  user, after the time they would have been sent. Rates are shares of distinct
  users: the *target* group is every user sent at least once, the *control*
  group every held-out user never sent. The uplift is the difference of the two
  rates with a 95% Newcombe (hybrid Wilson score) interval; see
  :func:`newcombe_interval`.

The business activity log is a query too: :func:`activity_log`.

Layout: :mod:`~tidings.stats.intervals` (pure statistics: intervals, rates, uplift),
:mod:`~tidings.stats.engagement` (engagement event names, recording engagement),
:mod:`~tidings.stats.activity` (the activity log), :mod:`~tidings.stats.results` (the
numbers as values: :class:`SourceStats`, :class:`WorkspaceStats`) and
:mod:`~tidings.stats.sources` (the per-source queries, through the ledger's,
registry's and store's methods). Counts
use :class:`~tidings.models.records.Summary`, the rule a dispatch's summary uses, so
``tidings stats`` and a dispatch's summary always agree.
"""

from .activity import activity_log as activity_log
from .engagement import DEFAULT_CLICKED as DEFAULT_CLICKED
from .engagement import DEFAULT_VIEWED as DEFAULT_VIEWED
from .engagement import EngagementEvents as EngagementEvents
from .engagement import configure_engagement as configure_engagement
from .engagement import engagement_event as engagement_event
from .engagement import engagement_events as engagement_events
from .engagement import record_engagement as record_engagement
from .intervals import Z_95 as Z_95
from .intervals import Conversion as Conversion
from .intervals import Interval as Interval
from .intervals import Rate as Rate
from .intervals import Uplift as Uplift
from .intervals import newcombe_interval as newcombe_interval
from .intervals import wilson_interval as wilson_interval
from .results import ErrorCount as ErrorCount
from .results import FunnelStage as FunnelStage
from .results import SourceKind as SourceKind
from .results import SourceStats as SourceStats
from .results import WorkspaceStats as WorkspaceStats
from .sources import compute_stats as compute_stats
from .sources import goal_for as goal_for
from .sources import source_stats as source_stats

__all__ = [
    "DEFAULT_CLICKED",
    "DEFAULT_VIEWED",
    "Z_95",
    "Conversion",
    "EngagementEvents",
    "ErrorCount",
    "FunnelStage",
    "Interval",
    "Rate",
    "SourceKind",
    "SourceStats",
    "Uplift",
    "WorkspaceStats",
    "activity_log",
    "compute_stats",
    "configure_engagement",
    "engagement_event",
    "engagement_events",
    "goal_for",
    "newcombe_interval",
    "record_engagement",
    "source_stats",
    "wilson_interval",
]
