"""Campaign bodies: the Create Campaign API shape and Message via Identity."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import DefinitionError
from ..models.definitions import MAX_EVENT_KEY_LENGTH
from ._common import MALFORMED, Refusal, incorrect

__all__ = ["campaign_from_api", "identity_message"]


def campaign_from_api(body: Mapping[str, Any]) -> dict[str, Any]:
    """Accept the Create Campaign API shape (``channel`` + ``content``) as well as ours.

    Raises:
        DefinitionError: ``content`` or ``audience`` is not an object.
    """
    data = dict(body)
    if "content" in data and "message" not in data:
        content = data.pop("content")
        if not isinstance(content, Mapping):
            raise DefinitionError('"content" must be an object', field="content")
        channel = data.pop("channel", content.get("channel"))
        data["message"] = {**content, "channel": channel}
    audience = data.pop("audience", None)
    if isinstance(audience, Mapping):
        data.setdefault("filters", audience.get("filters", ()))
    elif audience is not None:
        raise DefinitionError('"audience" must be an object', field="audience")
    return data


def identity_message(body: object, fresh_key: Callable[[], str]) -> dict[str, Any] | Refusal:
    """The campaign definition of a Message via Identity body (validated by the caller).

    Its id is ``identity:`` plus the request's idempotency key, or ``fresh_key()``.
    """
    if not isinstance(body, Mapping):
        return Refusal(MALFORMED)
    content = body.get("content")
    if not isinstance(content, Mapping):
        return incorrect("content", content)
    definition = {
        key: body[key]
        for key in ("filters", "control_group", "targeting_cap", "schedule")
        if key in body
    }
    definition["name"] = str(body.get("name") or "Message via Identity")
    definition["message"] = dict(content)
    key = body.get("idempotency_key")
    definition["id"] = f"identity:{key or fresh_key()}"[:MAX_EVENT_KEY_LENGTH]
    return definition
