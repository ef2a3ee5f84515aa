"""Users and what they did: ``UserProfile`` and ``UserEvent``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

__all__ = ["JsonValue", "UserEvent", "UserProfile"]

JsonValue = Any
"""A JSON-like value: None, bool, int, float, str, list or dict of those."""

MAX_IDENTITY_LENGTH = 256


def _check_identity(value: str) -> str:
    if not value.strip():
        raise ValueError("identity must not be empty")
    return value


class UserProfile(BaseModel):
    """One user: the key we look them up by, how to reach them, and their properties.

    ``properties`` is the ``Profile`` namespace of templates; ``name``, ``email`` and
    ``identity`` are added to it (see :meth:`namespace`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: str = Field(min_length=1, max_length=MAX_IDENTITY_LENGTH)
    name: str | None = None
    email: str | None = None
    push_tokens: tuple[str, ...] = ()
    timezone: str | None = None
    properties: dict[str, JsonValue] = Field(default_factory=dict)

    _check = field_validator("identity")(_check_identity)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    def namespace(self) -> dict[str, JsonValue]:
        """The ``Profile`` namespace: properties plus ``identity``, ``name`` and ``email``."""
        data = dict(self.properties)
        data["identity"] = self.identity
        if self.name is not None:
            data["name"] = self.name
        if self.email is not None:
            data["email"] = self.email
        return data


class UserEvent(BaseModel):
    """Something a user did, with its properties and a timezone-aware timestamp."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: str = Field(min_length=1, max_length=MAX_IDENTITY_LENGTH)
    name: str = Field(min_length=1, max_length=120)
    properties: dict[str, JsonValue] = Field(default_factory=dict)
    timestamp: AwareDatetime

    _check = field_validator("identity")(_check_identity)

    @property
    def when(self) -> datetime:
        """The event time (alias of ``timestamp``)."""
        return self.timestamp
