"""Pydantic models: users and their events."""

from .users import JsonValue as JsonValue
from .users import UserEvent as UserEvent
from .users import UserProfile as UserProfile

__all__ = ["JsonValue", "UserEvent", "UserProfile"]
