"""Delivery preferences as plain models: quiet hours, local send time, frequency caps.

The rules that apply them (time zones, daylight saving, windows) live in
:mod:`tidings.delivery.rules` and the dispatch's eligibility stage.
"""

from __future__ import annotations

from datetime import time
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from ..errors import DefinitionError, _InvalidInputError
from ._base import ValidatedModel

__all__ = ["DeliveryPreferences", "DoNotDisturb", "FrequencyCap"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class _Rule(ValidatedModel):
    """A delivery setting: a problem raises :class:`~tidings.errors.DefinitionError`."""

    _error_type: ClassVar[type[_InvalidInputError]] = DefinitionError
    _what: ClassVar[str] = "delivery setting"


class DoNotDisturb(_Rule):
    """Quiet hours in the user's local time, e.g. 21:00 to 09:00 (may cross midnight).

    ``action="discard"`` drops a message that would arrive inside the window;
    ``action="delay"`` sends it when the window ends (local time).
    """

    model_config = _FROZEN

    start: time
    end: time
    action: Literal["discard", "delay"] = "delay"

    @model_validator(mode="after")
    def _not_empty(self) -> DoNotDisturb:
        if self.start == self.end:
            raise ValueError("a Do Not Disturb window needs different start and end times")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("Do Not Disturb times are local wall-clock times, without a zone")
        return self

    def contains(self, local: time) -> bool:
        """Whether the local wall-clock time ``local`` falls inside the window."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class DeliveryPreferences(_Rule):
    """Per campaign (or bulletin) delivery preferences.

    Attributes:
        apply_global_limits: Whether the workspace's frequency caps apply
            (the vendor's "Don't apply global campaign limits" unticked).
        dnd: Quiet hours, or None.
        local_send_time: Send at this wall-clock time in each user's zone (the
            next occurrence at or after the trigger), or None to send at once.
    """

    model_config = _FROZEN

    apply_global_limits: bool = True
    dnd: DoNotDisturb | None = None
    local_send_time: time | None = None


class FrequencyCap(_Rule):
    """At most ``limit`` messages per user per local ``period``, on one channel or all."""

    model_config = _FROZEN

    limit: int = Field(ge=1, le=1_000_000)
    period: Literal["day", "week"] = "day"
    channel: Literal["push", "email", "webhook"] | None = None
