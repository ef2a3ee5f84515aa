"""External Trigger bodies: recipients by identity or email, shared or per-recipient data.

One data object for every recipient or one per recipient; up to 5 campaigns in one
``/2`` call. A valid body becomes a :class:`TriggerRequest` the workspace turns into
dispatch plans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ..campaigns import ExternalTriggerCampaign
from ..dispatch import Recipient
from ..errors import MissingTriggerKeyError
from ..models.addresses import normalize_email
from ..models.trigger import trigger_size
from ._common import MALFORMED, Refusal, incorrect, request_key

__all__ = [
    "MAX_CAMPAIGNS_PER_CALL",
    "RECIPIENT_KEYS",
    "Addressee",
    "CampaignCall",
    "TriggerRequest",
    "campaign_id",
    "check_trigger_request",
    "count_recipients",
    "parse_campaign_calls",
    "parse_trigger",
    "resolve_recipients",
]


def campaign_id(body: object) -> str | Refusal:
    """The ``campaign_id`` of an External Trigger body (a number is taken as its text)."""
    if not isinstance(body, Mapping):
        return Refusal(MALFORMED)
    value = body.get("campaign_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) else Refusal("Campaign Not Found")


RECIPIENT_KEYS: Final = ("identity", "email")
"""The keys of ``to`` that name recipients: profile identities and profile email addresses."""

MAX_CAMPAIGNS_PER_CALL: Final = 5
"""The vendor's limit on campaigns in one ``/2/send/externaltrigger.json`` call."""


@dataclass(frozen=True, slots=True)
class Addressee:
    """A recipient as named in a request: by identity or by email, with their own data."""

    identity: str | None = None
    email: str | None = None
    trigger: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TriggerRequest:
    """A valid External Trigger body: the recipients as named, in order, and the shared data."""

    recipients: tuple[Addressee, ...]
    shared: Mapping[str, Any] | None


def _addresses(name: str, value: object) -> list[str] | Refusal:
    """The non-empty strings of ``to.<name>`` (one string or a list of them)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        return incorrect(name, value)
    for item in value:
        if not isinstance(item, str) or not item:
            return incorrect(name, item)
    return value


def _email(name: str, value: str) -> str | Refusal:
    """``value`` in the stored (normalized) form, so it compares with profiles' emails."""
    try:
        return normalize_email(value)
    except ValueError:
        return incorrect(name, value)


# The vendor's Send APIs (Message via Identity) spell the keys with a capital.
_RECIPIENT_SPELLINGS: Final = {"identity": "identity", "email": "email"} | {
    "Identity": "identity",
    "Email": "email",
}


def _to_object(to: Mapping[str, Any]) -> list[Addressee] | Refusal:
    """``{"identity": [...], "email": [...]}``: identities first, then emails.

    ``Identity`` and ``Email`` (the Send APIs' spelling) are read as ``identity``
    and ``email``.
    """
    named = [
        key
        for spelling in RECIPIENT_KEYS
        for key, meaning in _RECIPIENT_SPELLINGS.items()
        if meaning == spelling and to.get(key) is not None
    ]
    if not named:
        unsupported = sorted(str(key) for key in to if key not in _RECIPIENT_SPELLINGS)
        if unsupported:
            return Refusal(
                f'"to.{unsupported[0]}" is not supported: name recipients by "identity" or "email"'
            )
        return incorrect("to.identity", to.get("identity"))
    addressees: list[Addressee] = []
    for key in named:
        values = _addresses(f"to.{key}", to[key])
        if isinstance(values, Refusal):
            return values
        for value in values:
            if _RECIPIENT_SPELLINGS[key] == "identity":
                addressees.append(Addressee(identity=value))
                continue
            email = _email(f"to.{key}", value)
            if isinstance(email, Refusal):
                return email
            addressees.append(Addressee(email=email))
    return addressees


def _to_entry(i: int, entry: object) -> Addressee | Refusal:
    """One entry of the per-recipient form: ``{"identity" | "email": ..., "ExternalTrigger"}``."""
    if not isinstance(entry, Mapping):
        return Refusal(f'"to[{i}]" has an incorrect value - must be an object')
    data = entry.get("ExternalTrigger")
    if data is not None and not isinstance(data, Mapping):
        return Refusal(f'"to[{i}].ExternalTrigger" has an incorrect value - must be an object')
    identity = entry.get("identity")
    if identity is None and entry.get("email") is not None:
        email = entry["email"]
        if not isinstance(email, str) or not email:
            return incorrect(f"to[{i}].email", email)
        normalized = _email(f"to[{i}].email", email)
        if isinstance(normalized, Refusal):
            return normalized
        return Addressee(email=normalized, trigger=data)
    if not isinstance(identity, str) or not identity:
        return incorrect(f"to[{i}].identity", identity)
    return Addressee(identity=identity, trigger=data)


def parse_trigger(body: Mapping[str, Any]) -> TriggerRequest | Refusal:
    """The recipients and data of an External Trigger body, in either form.

    ``{"to": {"identity": [...], "email": [...]}, "ExternalTrigger": {...}}`` (one
    data object for all; ``identity`` and ``email`` each a list or one string, at
    least one of them) or ``{"to": [{"identity": ...} or {"email": ...},
    "ExternalTrigger": {...}}, ...]}`` (per recipient, falling back to a top-level
    ``ExternalTrigger``). Emails are normalized as profiles' emails are.
    """
    to = body.get("to")
    shared = body.get("ExternalTrigger")
    if shared is not None and not isinstance(shared, Mapping):
        return Refusal('"ExternalTrigger" has an incorrect value - must be an object')
    recipients: list[Addressee] = []
    if isinstance(to, Mapping):
        named = _to_object(to)
        if isinstance(named, Refusal):
            return named
        recipients = named
    elif isinstance(to, list) and to:
        for i, entry in enumerate(to):
            addressee = _to_entry(i, entry)
            if isinstance(addressee, Refusal):
                return addressee
            recipients.append(addressee)
    else:
        return incorrect("to", to)
    return TriggerRequest(tuple(recipients), shared)


def resolve_recipients(
    request: TriggerRequest, identities_for_emails: Callable[[Sequence[str]], Mapping[str, Any]]
) -> tuple[Recipient, ...]:
    """The request's recipients by identity, in order.

    An email names every profile holding it (``identities_for_emails`` answers,
    sorted); an email no profile holds stays a recipient under the address itself,
    so it reaches a profile whose identity is that address or is skipped as
    ``unknown_identity``, and ``processed`` still counts it.
    """
    emails = [r.email for r in request.recipients if r.email is not None]
    found = identities_for_emails(emails) if emails else {}
    resolved: list[Recipient] = []
    for addressee in request.recipients:
        if addressee.identity is not None:
            resolved.append(Recipient(addressee.identity, addressee.trigger))
            continue
        assert addressee.email is not None  # noqa: S101 - an addressee names one or the other
        for identity in found.get(addressee.email) or [addressee.email]:
            resolved.append(Recipient(identity, addressee.trigger))
    return tuple(resolved)


def _named(to: object) -> int:
    """How many recipients ``to`` names as written (0 for a shape parsing will refuse)."""
    if isinstance(to, list):
        return len(to)
    if not isinstance(to, Mapping):
        return 0
    count = 0
    for key in _RECIPIENT_SPELLINGS:
        value = to.get(key)
        count += len(value) if isinstance(value, list) else int(isinstance(value, str))
    return count


def count_recipients(body: object) -> int:
    """The recipients an External Trigger or Message via Identity body names, all campaigns.

    A ``/2`` body counts each campaign's recipients (``campaign_id_list``: the
    shared ``to`` once per campaign). Counted before parsing, so a limit on it
    is checked before any work; shapes that parsing refuses count 0.
    """
    if not isinstance(body, Mapping):
        return 0
    entries = body.get("d")
    if isinstance(entries, list):
        return sum(_named(e.get("to")) for e in entries if isinstance(e, Mapping))
    ids = body.get("campaign_id_list")
    times = len(ids) if isinstance(ids, list) else 1
    return times * _named(body.get("to"))


@dataclass(frozen=True, slots=True)
class CampaignCall:
    """One campaign of a ``/2/send/externaltrigger.json`` call: where it is, its body."""

    where: str
    campaign_id: str
    body: dict[str, Any]


def parse_campaign_calls(body: object) -> list[CampaignCall] | Refusal:
    """The campaigns of a multi-campaign External Trigger body (at most 5).

    Two forms: ``{"to": {...}, "campaign_id_list": [id, ...], "ExternalTrigger": {...}}``
    (every campaign to the same recipients) and ``{"d": [{"to": ..., "campaign_id":
    ..., "ExternalTrigger": ...}, ...]}`` (each campaign to its own recipients).
    Each campaign's body is an External Trigger body; a body-level
    ``idempotency_key`` becomes ``<key>:<index>`` for each.
    """
    if not isinstance(body, Mapping):
        return Refusal(MALFORMED)
    key = request_key(body, strict=True)
    if isinstance(key, Refusal):
        return key
    if "d" in body:
        entries = body["d"]
        if not isinstance(entries, list) or not entries:
            return incorrect("d", entries)
        where = "d"
        bodies: list[object] = list(entries)
    elif "campaign_id_list" in body:
        ids = body["campaign_id_list"]
        if not isinstance(ids, list) or not ids:
            return incorrect("campaign_id_list", ids)
        where = "campaign_id_list"
        common = {k: v for k, v in body.items() if k not in ("campaign_id_list", "idempotency_key")}
        bodies = [{**common, "campaign_id": cid} for cid in ids]
    else:
        return Refusal('"d" or "campaign_id_list" is required')
    if len(bodies) > MAX_CAMPAIGNS_PER_CALL:
        return Refusal(
            f"Too many campaigns: {len(bodies)} (at most {MAX_CAMPAIGNS_PER_CALL} per call)"
        )
    calls: list[CampaignCall] = []
    for index, entry in enumerate(bodies):
        place = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            return Refusal(f'"{place}" has an incorrect value - must be an object')
        cid = campaign_id(entry)
        if isinstance(cid, Refusal):
            return Refusal(f"{place}: {cid.error}")
        entry_body = dict(entry)
        if key is not None:
            entry_body["idempotency_key"] = f"{key}:{index}"
        calls.append(CampaignCall(place, cid, entry_body))
    if where == "campaign_id_list":
        seen: set[str] = set()
        for call in calls:
            if call.campaign_id in seen:
                return Refusal(f'"campaign_id_list" names campaign {call.campaign_id} twice')
            seen.add(call.campaign_id)
    return calls


def check_trigger_request(
    campaign: ExternalTriggerCampaign, request: TriggerRequest, now: datetime
) -> Refusal | None:
    """The request-level rules of a campaign: recipients per call, schedule, shared data.

    Shared data over ``max_trigger_bytes`` (measured by
    :func:`~tidings.models.trigger.trigger_size`, as per-recipient data is) is
    refused, and so is shared data lacking a key the templates need when no
    recipient brings their own data.
    """
    count = len(request.recipients)
    if count > campaign.max_recipients_per_call:
        return Refusal(
            f"Too many recipients: {count} (at most {campaign.max_recipients_per_call} per call)"
        )
    refusal = campaign.schedule.refusal(now)
    if refusal is not None:
        return Refusal(refusal)
    shared = request.shared
    if shared is None:
        return None
    size = trigger_size(shared)
    if size > campaign.max_trigger_bytes:
        return Refusal(
            f"ExternalTrigger data is {size} bytes, over the limit of "
            f"{campaign.max_trigger_bytes} bytes"
        )
    if all(r.trigger is None for r in request.recipients):
        try:
            campaign.message.check_trigger(shared)
        except MissingTriggerKeyError as exc:
            return Refusal(exc.message)
    return None
