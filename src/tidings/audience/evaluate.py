"""Filter evaluation, kept under its old name: it lives in :mod:`tidings.models.evaluation`.

The stores and the dispatch import :mod:`tidings.models.evaluation`; this module
re-exports it for code written against ``tidings.audience.evaluate``.
"""

from ..models import evaluation
from ..models.evaluation import PROFILE_FIELDS as PROFILE_FIELDS
from ..models.evaluation import EventsByName as EventsByName
from ..models.evaluation import audience_matches as audience_matches
from ..models.evaluation import condition_holds as condition_holds
from ..models.evaluation import event_filter_holds as event_filter_holds
from ..models.evaluation import filter_holds as filter_holds
from ..models.evaluation import group_events as group_events
from ..models.evaluation import json_equal as json_equal
from ..models.evaluation import match_rule_holds as match_rule_holds
from ..models.evaluation import match_text as match_text
from ..models.evaluation import profile_matches as profile_matches
from ..models.evaluation import profile_value as profile_value
from ..models.evaluation import property_filter_holds as property_filter_holds
from ..models.evaluation import require_aware as require_aware
from ..models.evaluation import segment_holds as segment_holds
from ..models.evaluation import value_holds as value_holds
from ..models.evaluation import window_start as window_start

__all__: list[str] = []
__all__ += evaluation.__all__
