"""Publish-time checks: everything a definition gets wrong that is known before sending.

``Workspace.publish_bulletin`` and ``publish_campaign`` run these after the model has
validated, and raise ONE :class:`~tidings.errors.DefinitionError` whose ``problems``
list every failing field (with the template line and column where there is one):

* every template that does not compile (``_definitions.checked_definition`` adds
  these; the rest of the definition is still checked);
* a bulletin template using ``ExternalTrigger`` (bulletins have no trigger data), or a
  ``BusinessEvent.<p>`` its business event does not define (the defined names and the
  closest one are given); a campaign template using ``BusinessEvent``;
* a match row reading a business property the business event does not define;
* a literal CR or LF in the own text of a one-line field (subject, title, sender
  name, header value);
* a webhook body whose JSON skeleton (the template with every value replaced) is
  invalid however its blocks run; a webhook URL whose literal text cannot start an
  ``http(s)`` URL with a host.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence

from .channels._base import ChannelMessage, CompiledField
from .channels.webhook import WebhookMessage
from .errors import DefinitionProblem
from .models.definitions import BusinessEventDefinition
from .models.filters import MatchRule, ProfileMatch, match_row_business_properties
from .templating import TemplateOutline

__all__ = [
    "BUSINESS_EVENT_FIELDS",
    "bulletin_problems",
    "campaign_problems",
    "match_problems",
    "message_problems",
    "message_shape_problems",
]

BUSINESS_EVENT_FIELDS = ("name", "event")
"""``BusinessEvent`` keys every bulletin template may read besides the defined properties."""

_ONE_LINE_KEYS = ("subject", "title", "from_name")
_URL_START = ("http://", "https://")


def _message_field(entry: CompiledField) -> str:
    return f"message.{entry.key}"


def _at(
    entry: CompiledField, outline: TemplateOutline, index: int, message: str
) -> DefinitionProblem:
    line, column = outline.position(index)
    return DefinitionProblem(_message_field(entry), message, line, column)


def _closest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _namespace_problems(
    entry: CompiledField, outline: TemplateOutline, business: BusinessEventDefinition | None
) -> Iterable[DefinitionProblem]:
    known = [*BUSINESS_EVENT_FIELDS, *business.properties] if business is not None else []
    for use in outline.uses:
        where = _message_field(entry), use.line, use.column
        if use.namespace == "ExternalTrigger" and business is not None:
            yield DefinitionProblem(
                where[0],
                "a bulletin has no ExternalTrigger data (it is sent when a business event "
                "is raised); use BusinessEvent.<property> or Profile.<property>",
                where[1],
                where[2],
            )
        elif use.namespace == "BusinessEvent" and business is None:
            yield DefinitionProblem(
                where[0],
                "a campaign has no BusinessEvent (only bulletins do); "
                "use ExternalTrigger.<key> or Profile.<property>",
                where[1],
                where[2],
            )
        elif (
            use.namespace == "BusinessEvent"
            and business is not None
            and use.key is not None
            and use.key not in known
        ):
            names = ", ".join(known)
            yield DefinitionProblem(
                where[0],
                f"business event {business.name!r} has no property {use.key!r} "
                f"(it has: {names}){_closest(use.key, known)}",
                where[1],
                where[2],
            )


def _one_line_problems(
    entry: CompiledField, outline: TemplateOutline
) -> Iterable[DefinitionProblem]:
    key = entry.key
    if key in _ONE_LINE_KEYS or key.startswith("headers."):
        for index in outline.literal_breaks()[:1]:
            yield _at(
                entry,
                outline,
                index,
                f"{key} is one line: its text contains a line break (CR or LF)",
            )


def _json_problems(entry: CompiledField, outline: TemplateOutline) -> Iterable[DefinitionProblem]:
    failures: list[tuple[json.JSONDecodeError, str, list[int]]] = []
    for blocks in (True, False):
        text, offsets = outline.skeleton("0", blocks=blocks)
        try:
            json.loads(text)
        except json.JSONDecodeError as error:
            failures.append((error, text, offsets))
        else:
            return
    first, text, offsets = failures[0]
    position = first.pos
    index = offsets[position] if position < len(offsets) else (offsets[-1] if offsets else 0)
    reason = first.msg
    yield _at(
        entry,
        outline,
        index,
        f"the body is not JSON whatever the values: {reason} (its skeleton: {text[:60]!r})",
    )


def _url_problems(entry: CompiledField, outline: TemplateOutline) -> Iterable[DefinitionProblem]:
    text, offsets = outline.skeleton("\0", blocks=False)
    literal = text.split("\0", 1)[0]
    if not literal:
        return  # the URL starts with a value: only the rendered URL can tell
    lowered = literal.lower()
    scheme_ok = any(lowered.startswith(start) or start.startswith(lowered) for start in _URL_START)
    if not scheme_ok:
        yield _at(entry, outline, offsets[0], "the URL must start with http:// or https://")
        return
    for i, char in enumerate(literal):
        if char.isspace() or ord(char) < 0x20:
            yield _at(
                entry,
                outline,
                offsets[i],
                "the URL's own text contains a space or control character; percent-encode it",
            )
            return
    if lowered in _URL_START:
        return  # the host comes from a value
    host = literal.split("://", 1)[1] if "://" in literal else ""
    if len(literal) == len(text) and not host.split("/", 1)[0]:
        yield _at(entry, outline, offsets[0], "the URL has no host")


def message_shape_problems(message: ChannelMessage) -> list[DefinitionProblem]:
    """The problems of a message's own text, whatever sends it (line breaks, JSON, URL)."""
    return message_problems(message, None, namespaces=False)


def message_problems(
    message: ChannelMessage,
    business: BusinessEventDefinition | None,
    *,
    namespaces: bool = True,
) -> list[DefinitionProblem]:
    """Every problem of a message's templates (``business``: the bulletin's event, or None).

    ``namespaces=False`` leaves out the namespace checks (what sends it is unknown).
    """
    problems: list[DefinitionProblem] = []
    for entry in message.templates:
        outline = entry.template.outline()
        if namespaces:
            problems += _namespace_problems(entry, outline, business)
        problems += _one_line_problems(entry, outline)
        if isinstance(message, WebhookMessage) and entry.key == "body":
            problems += _json_problems(entry, outline)
        if isinstance(message, WebhookMessage) and entry.key == "url":
            problems += _url_problems(entry, outline)
    return problems


def match_problems(
    match: Sequence[MatchRule | ProfileMatch], business: BusinessEventDefinition
) -> list[DefinitionProblem]:
    """The match rows reading a business property ``business`` does not define."""
    problems: list[DefinitionProblem] = []
    for i, row in enumerate(match):
        for used in match_row_business_properties(row):
            if used not in business.properties:
                problems.append(
                    DefinitionProblem(
                        f"match.{i}.business_property",
                        f"match rule uses {used!r}, which business event {business.name!r} "
                        f"does not carry (it has: {', '.join(business.properties)})"
                        f"{_closest(used, business.properties)}",
                    )
                )
    return problems


def bulletin_problems(
    match: Sequence[MatchRule | ProfileMatch],
    message: ChannelMessage,
    business: BusinessEventDefinition,
) -> list[DefinitionProblem]:
    """Every publish-time problem of a bulletin on ``business``."""
    return match_problems(match, business) + message_problems(message, business)


def campaign_problems(message: ChannelMessage) -> list[DefinitionProblem]:
    """Every publish-time problem of an External Trigger campaign."""
    return message_problems(message, None)
