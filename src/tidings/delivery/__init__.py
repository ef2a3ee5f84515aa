"""Delivery rules that depend on time or on what was sent before."""

from .rules import DeliveryPreferences as DeliveryPreferences
from .rules import DoNotDisturb as DoNotDisturb
from .rules import FrequencyCap as FrequencyCap
from .rules import decide_timing as decide_timing
from .rules import local_datetime as local_datetime
from .rules import next_local_time as next_local_time
from .rules import period_keys as period_keys

__all__ = [
    "DeliveryPreferences",
    "DoNotDisturb",
    "FrequencyCap",
    "decide_timing",
    "local_datetime",
    "next_local_time",
    "period_keys",
]
