"""Users and what they did: ``UserProfile`` and ``UserEvent``.

Both validate what comes from outside: a bad record raises
:class:`~tidings.errors.ProfileError` or :class:`~tidings.errors.EventError`
naming the field (pydantic's error kept as ``__cause__``, its list on ``errors``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, ConfigDict, Field, field_validator

from ..errors import ArgumentError, EventError, ProfileError, RecordError, _InvalidInputError
from ._base import ValidatedModel
from .addresses import normalize_email
from .data import check_data
from .instants import check_instant

__all__ = [
    "JsonValue",
    "UserEvent",
    "UserProfile",
    "check_timezone",
    "events_from",
    "profile_namespace",
    "profiles_from",
]

JsonValue = Any
"""A JSON-like value: None, bool, int, float, str, list or dict of those."""

MAX_IDENTITY_LENGTH = 256
MAX_PUSH_TOKEN_LENGTH = 4096
MAX_PUSH_TOKENS = 100
MAX_TIMEZONE_LENGTH = 64


def _check_identity(value: str) -> str:
    if not value.strip():
        raise ValueError("identity must not be empty")
    return value


def check_timezone(value: str) -> str:
    """Return ``value`` when it names an IANA time zone (``Europe/Paris``).

    Raises:
        ValueError: Not a zone: ``"Europe"`` (a folder of the zone database),
            ``"Mars/Olympus"``, a path, a NUL character.
    """
    if not value or len(value) > MAX_TIMEZONE_LENGTH:
        raise ValueError(f"unknown IANA time zone {value[:80]!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # OSError: "Europe" is a directory of the zone database, not a zone.
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


class UserProfile(ValidatedModel):
    """One user: the key we look them up by, how to reach them, and their properties.

    ``properties`` is the ``Profile`` namespace of templates; ``name``, ``email`` and
    ``identity`` are added to it (see :meth:`namespace`). ``email`` must be one
    valid address (email-validator's rules, no DNS check); it is kept in
    normalized form (domain lower-cased). ``properties`` must be plain JSON-like
    data (see :func:`tidings.models.data.check_data`).

    Raises:
        ProfileError: A field is invalid; ``field`` names it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    _error_type: ClassVar[type[_InvalidInputError]] = ProfileError
    _what: ClassVar[str] = "profile"

    identity: str = Field(min_length=1, max_length=MAX_IDENTITY_LENGTH)
    name: str | None = Field(default=None, max_length=1024)
    email: str | None = None
    push_tokens: tuple[str, ...] = Field(default=(), max_length=MAX_PUSH_TOKENS)
    timezone: str | None = None
    properties: dict[str, JsonValue] = Field(default_factory=dict)

    _check = field_validator("identity")(_check_identity)

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str | None) -> str | None:
        return None if value is None else normalize_email(value)

    @field_validator("push_tokens")
    @classmethod
    def _valid_tokens(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for token in value:
            if not token or len(token) > MAX_PUSH_TOKEN_LENGTH:
                raise ValueError(f"a push token must be 1 to {MAX_PUSH_TOKEN_LENGTH} characters")
            if not token.isprintable() or " " in token:
                raise ValueError("a push token must not hold spaces or control characters")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("properties")
    @classmethod
    def _plain_properties(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        check_data(value, "properties")
        return value

    def namespace(self) -> dict[str, JsonValue]:
        """The ``Profile`` namespace: properties plus ``identity``, ``name`` and ``email``."""
        return profile_namespace(self.identity, self.name, self.email, self.properties)


def profile_namespace(
    identity: str,
    name: str | None,
    email: str | None,
    properties: Mapping[str, JsonValue],
    *,
    fresh: bool = False,
) -> dict[str, JsonValue]:
    """The ``Profile`` namespace of a template: properties plus ``identity``, ``name``, ``email``.

    The built-in fields win over properties of the same name; absent ones are left out.
    ``fresh`` says ``properties`` is a dict nobody else holds (just decoded): it
    becomes the namespace itself instead of being copied.
    """
    data = properties if fresh and type(properties) is dict else dict(properties)
    data["identity"] = identity
    if name is not None:
        data["name"] = name
    if email is not None:
        data["email"] = email
    return data


class UserEvent(ValidatedModel):
    """Something a user did, with its properties and a timezone-aware timestamp.

    Raises:
        EventError: A field is invalid; ``field`` names it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    _error_type: ClassVar[type[_InvalidInputError]] = EventError
    _what: ClassVar[str] = "event"

    identity: str = Field(min_length=1, max_length=MAX_IDENTITY_LENGTH)
    name: str = Field(min_length=1, max_length=120)
    properties: dict[str, JsonValue] = Field(default_factory=dict)
    timestamp: AwareDatetime

    _check = field_validator("identity")(_check_identity)

    @field_validator("properties")
    @classmethod
    def _plain_properties(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        check_data(value, "properties")
        return value

    @field_validator("timestamp")
    @classmethod
    def _usable_instant(cls, value: datetime) -> datetime:
        return check_instant(value)

    @property
    def when(self) -> datetime:
        """The event time (alias of ``timestamp``)."""
        return self.timestamp


def _records(
    items: object,
    model: type[UserProfile] | type[UserEvent],
    error_type: type[RecordError],
    what: str,
) -> Iterator[Any]:
    # Checked now, not when the stream is first read.
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise ArgumentError(
            f"{what}s must be a list (or other iterable) of {what}s, not {type(items).__name__}",
            field=f"{what}s",
        )
    return _validated(items, model, error_type, what)


def _validated(
    items: Iterable[object],
    model: type[UserProfile] | type[UserEvent],
    error_type: type[RecordError],
    what: str,
) -> Iterator[Any]:
    for index, item in enumerate(items):
        if isinstance(item, model):
            yield item
            continue
        if not isinstance(item, Mapping):
            raise error_type(
                f"{what} {index} must be an object, not {type(item).__name__}", index=index
            )
        try:
            yield model.model_validate(item)
        except RecordError as exc:
            exc.index = index
            exc.message = f"{what} {index}: {exc.message}"
            exc.args = (exc.message,)
            raise


def profiles_from(items: object) -> Iterator[UserProfile]:
    """Validate profiles (models or dicts) one by one, as a stream.

    Raises:
        ArgumentError: ``items`` is not an iterable of profiles (``None``, a dict, a str).
        ProfileError: A profile is invalid; ``index`` is its position, ``field`` the field.
    """
    return _records(items, UserProfile, ProfileError, "profile")


def events_from(items: object) -> Iterator[UserEvent]:
    """Validate user events (models or dicts) one by one, as a stream.

    Raises:
        ArgumentError: ``items`` is not an iterable of events.
        EventError: An event is invalid; ``index`` is its position, ``field`` the field.
    """
    return _records(items, UserEvent, EventError, "event")
