"""Users and what they did: ``UserProfile`` and ``UserEvent``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

__all__ = ["JsonValue", "UserEvent", "UserProfile", "profile_namespace"]

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
        return profile_namespace(self.identity, self.name, self.email, self.properties)


def profile_namespace(
    identity: str, name: str | None, email: str | None, properties: Mapping[str, JsonValue]
) -> dict[str, JsonValue]:
    """The ``Profile`` namespace of a template: properties plus ``identity``, ``name``, ``email``.

    The built-in fields win over properties of the same name; absent ones are left out.
    """
    data = dict(properties)
    data["identity"] = identity
    if name is not None:
        data["name"] = name
    if email is not None:
        data["email"] = email
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
