"""Audiences: filter models and their evaluation against a profile and its events.

The models are :mod:`tidings.models.filters`, their evaluation
:mod:`tidings.models.evaluation` (also importable as ``tidings.audience.evaluate``);
:mod:`tidings.audience.control` holds the control-group hash.
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
from ..models.filters import AudienceQuery as AudienceQuery
from ..models.filters import Condition as Condition
from ..models.filters import EventFilter as EventFilter
from ..models.filters import Filter as Filter
from ..models.filters import MatchCondition as MatchCondition
from ..models.filters import MatchRule as MatchRule
from ..models.filters import Operator as Operator
from ..models.filters import ProfileMatch as ProfileMatch
from ..models.filters import PropertyFilter as PropertyFilter
from ..models.filters import Segment as Segment

__all__ = [
    "AudienceQuery",
    "Condition",
    "EventFilter",
    "Filter",
    "MatchCondition",
    "MatchRule",
    "Operator",
    "ProfileMatch",
    "PropertyFilter",
    "Segment",
]
__all__ += evaluation.__all__
