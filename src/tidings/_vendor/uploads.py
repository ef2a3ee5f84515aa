"""Upload Profiles / Upload Events bodies: 1 to 1000 records, each a profile or an event."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from ._common import MALFORMED, Refusal, incorrect, parse_when

__all__ = ["MAX_UPLOAD_RECORDS", "upload_profile_or_event", "upload_records"]

MAX_UPLOAD_RECORDS: Final = 1000
"""The vendor's limit on records in one Upload Profiles / Upload Events call."""

# profileData keys that are the profile's own fields, not properties (the vendor's names).
_PROFILE_FIELDS: Final = {"Name": "name", "Email": "email", "Timezone": "timezone"}


def upload_records(body: object) -> list[Any] | Refusal:
    """The records (``d``) of an Upload Profiles / Upload Events body: 1 to 1000 of them."""
    if not isinstance(body, Mapping):
        return Refusal(MALFORMED)
    records = body.get("d")
    if not isinstance(records, list) or not records:
        return incorrect("d", records)
    if len(records) > MAX_UPLOAD_RECORDS:
        return Refusal(f"Too many records: {len(records)} (at most {MAX_UPLOAD_RECORDS} per call)")
    return records


def _upload_time(record: Mapping[str, Any], now: datetime) -> datetime | Refusal:
    ts = record.get("ts")
    if ts is None:
        return now
    if isinstance(ts, bool) or not isinstance(ts, int | float | str):
        return incorrect("ts", ts)
    if isinstance(ts, str) and ts.isdigit():
        ts = int(ts)
    when = parse_when(ts, now)
    return when if when is not None else incorrect("ts", ts)


def upload_profile_or_event(
    record: object, existing: Callable[[str], Any], now: datetime
) -> dict[str, Any] | Refusal:
    """One upload record as a profile or event dict (``{"profile": ...}`` or ``{"event": ...}``).

    ``{"identity": ..., "type": "profile", "profileData": {...}}``: ``Name``,
    ``Email`` and ``Timezone`` are the profile's fields, every other key a property,
    merged into the stored profile (``existing(identity)``: a profile or None).
    ``{"identity": ..., "type": "event", "evtName": ..., "evtData": {...}, "ts":
    epoch seconds}`` (``ts`` defaults to now). The caller validates the dict.
    """
    if not isinstance(record, Mapping):
        return Refusal("Record must be an object")
    identity = record.get("identity")
    if not isinstance(identity, str) or not identity:
        for other in ("objectId", "FBID", "GPID"):
            if other in record:
                return Refusal(f'"{other}" is not supported: name the user by "identity"')
        return incorrect("identity", identity)
    kind = record.get("type")
    if kind == "event":
        name = record.get("evtName")
        if not isinstance(name, str) or not name:
            return incorrect("evtName", name)
        data = record.get("evtData", {})
        if not isinstance(data, Mapping):
            return incorrect("evtData", data)
        when = _upload_time(record, now)
        if isinstance(when, Refusal):
            return when
        event = {"identity": identity, "name": name, "properties": dict(data), "timestamp": when}
        return {"event": event}
    if kind != "profile":
        return incorrect("type", kind)
    data = record.get("profileData")
    if not isinstance(data, Mapping):
        return incorrect("profileData", data)
    stored = existing(identity)
    profile: dict[str, Any] = (
        stored.model_dump() if stored is not None else {"identity": identity, "properties": {}}
    )
    properties = dict(profile.get("properties") or {})
    for key, value in data.items():
        if key in _PROFILE_FIELDS:
            profile[_PROFILE_FIELDS[key]] = value
        else:
            properties[key] = value
    profile["properties"] = properties
    return {"profile": profile}
