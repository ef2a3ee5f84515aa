"""What each endpoint does with a workspace, and how its result becomes an HTTP answer.

An :data:`Operation` takes the workspace, the parsed body and the account's sink
and answers a :class:`Reply` (status, body): a dispatch's response with its fail ``code`` as
the status, or a vendor body whose fail ``code`` is the status.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from ..errors import TidingsError
from ..models.dispatch_result import Dispatch
from ..sinks import JsonLinesSink
from ..stats import activity_log, compute_stats
from ..stats.activity import parse_time
from ..workspace import Workspace
from ._refused import Refused

__all__ = [
    "Entry",
    "MessageChannel",
    "Operation",
    "Reply",
    "activity",
    "answering",
    "dispatching",
    "publish_campaign",
    "stats",
    "time_param",
    "with_channel",
]


class Reply(NamedTuple):
    """An endpoint's answer: the HTTP status and the JSON body."""

    status: int
    body: dict[str, Any]


class Entry(Protocol):
    """A workspace entry point that dispatches (``Workspace.trigger_campaign`` and the like)."""

    def __call__(self, ws: Workspace, body: dict[str, Any], /, *, sink: JsonLinesSink) -> Dispatch:
        """Dispatch ``body`` on ``ws``, records to ``sink``."""
        ...


Operation = Callable[[Workspace, dict[str, Any], JsonLinesSink], Reply]


def _answer(result: Dispatch) -> Reply:
    body = dict(result.response)
    if result.ok:
        return Reply(200, body)
    code = body.get("code")
    return Reply(code if isinstance(code, int) and 400 <= code < 500 else 400, body)


def dispatching(entry: Entry) -> Operation:
    """An operation answering with a dispatch's response (its fail code as the status)."""
    return lambda ws, body, sink: _answer(entry(ws, body, sink=sink))


def answering(work: Callable[[Workspace, dict[str, Any]], dict[str, Any]]) -> Operation:
    """An operation answering with ``work``'s vendor body (a fail body's ``code`` as status)."""

    def run(ws: Workspace, body: dict[str, Any], _: JsonLinesSink) -> Reply:
        answer = work(ws, body)
        code = answer.get("code") if answer.get("status") == "fail" else None
        return Reply(code if isinstance(code, int) else 200, answer)

    return run


class MessageChannel(StrEnum):
    """The channels of the Message via Identity endpoints (``/1/send/<channel>.json``)."""

    PUSH = "push"
    EMAIL = "email"
    WEBHOOK = "webhook"


def with_channel(body: dict[str, Any], channel: MessageChannel) -> dict[str, Any]:
    """The body with ``content.channel`` set from the path (a body that names one keeps it)."""
    content = body.get("content")
    if isinstance(content, dict) and "channel" not in content:
        return {**body, "content": {**content, "channel": channel.value}}
    return body


def publish_campaign(ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    """Publish a Create Campaign body: ``{"status": "success", "id": ...}`` or a fail body."""
    try:
        campaign_id = ws.publish_campaign(body)
    except TidingsError as exc:
        return Dispatch.fail(str(exc)).response
    return {"status": "success", "id": campaign_id}


def stats(ws: Workspace, ids: list[str] | None) -> dict[str, Any]:
    """The numbers per source (``ids``: only those), without the activity log."""
    numbers = compute_stats(ws, sources=ids).to_dict()
    numbers.pop("activity", None)  # served by /1/activity.json
    return {"status": "success", **numbers}


def activity(
    ws: Workspace, business_event: str | None, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """The activity log, newest first, filtered as asked."""
    entries = activity_log(ws, business_event=business_event, since=since, until=until)
    return {"status": "success", "activity": entries}


def time_param(name: str, value: str | None) -> datetime | None:
    """A query parameter's instant (None when absent).

    Raises:
        Refused: The value is not an instant (400).
    """
    if value is None:
        return None
    moment = parse_time(value)
    if moment is None:
        raise Refused(f'"{name}" has an incorrect value - {value[:80]}', 400)
    return moment
