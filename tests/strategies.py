"""Shared hypothesis strategies: data, profiles, events, trigger payloads, definitions.

Two families: *valid* strategies (``profiles``, ``events``, ``campaigns``, ...)
draw inputs every entry point must accept, and *hostile* ones (``hostile_values``,
``hostile_profiles``, ``template_sources``, ...) draw the inputs a careless or
hostile user sends, which must end in a result or a ``TidingsError``, never
another exception. Property tests and the fuzz targets (``tests/fuzz``) share them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

# -- data -------------------------------------------------------------------------------

text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30)
"""Any text JSON can carry (no lone surrogates)."""

keys = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)

json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
"""Plain JSON-like data: what every entry point must accept."""

json_objects = st.dictionaries(keys, json_values, max_size=5)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"n": value}
    return value


def _cyclic(kind: int) -> Any:
    if kind == 0:
        data: dict[str, Any] = {}
        data["self"] = data
        return data
    items: list[Any] = [1]
    items.append({"back": items})
    return items


hostile_scalars = (
    scalars
    | st.text(max_size=10)  # may hold lone surrogates
    | st.sampled_from(["\ud800", "a\udfffb", "\x00", "\r\nBcc: x@evil.test", "{{", "{%"])
    | st.integers(min_value=2**255, max_value=2**400)
    | st.builds(pow, st.just(10), st.just(5000))  # st.just would print it: too many digits
    | st.sampled_from([math.nan, math.inf, -math.inf])
    | st.binary(max_size=4)
    | st.builds(object)
    | st.sampled_from([datetime(2026, 1, 1), {1, 2}, ("t", "u")])
)

hostile_keys = keys | st.integers() | st.tuples(st.integers()) | st.just("\ud800") | st.none()

hostile_values = (
    st.recursive(
        hostile_scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(hostile_keys, inner, max_size=3)
            | st.tuples(inner, inner)
        ),
        max_leaves=8,
    )
    | st.builds(_nested, st.integers(min_value=60, max_value=1500))
    | st.builds(_cyclic, st.integers(min_value=0, max_value=1))
)
"""What a hostile caller passes as data: surrogates, huge ints, NaN, cycles, deep nesting,
tuple keys, objects JSON cannot hold."""

hostile_objects = st.dictionaries(hostile_keys, hostile_values, max_size=4) | hostile_values

# -- profiles and events ----------------------------------------------------------------

identities = st.text(alphabet="abcdefghij0123456789-", min_size=1, max_size=12)
emails = st.from_regex(
    r"[a-z]{1,8}(\.[a-z]{1,5})?@[a-z]{2,8}\.(com|org|example\.com)", fullmatch=True
)
zones = st.sampled_from(["UTC", "Europe/Paris", "Asia/Kolkata", "America/New_York"])


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    """A valid profile dict."""
    profile: dict[str, Any] = {"identity": draw(identities)}
    if draw(st.booleans()):
        profile["email"] = draw(emails)
    if draw(st.booleans()):
        profile["name"] = draw(text)
    if draw(st.booleans()):
        profile["timezone"] = draw(zones)
    if draw(st.booleans()):
        profile["push_tokens"] = draw(
            st.lists(st.from_regex(r"tok-[a-z0-9]{1,8}", fullmatch=True), max_size=2)
        )
    profile["properties"] = draw(json_objects)
    return profile


timestamps = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid user event dict."""
    return {
        "identity": draw(identities),
        "name": draw(st.sampled_from(["Movie Watched", "Order Placed", "Signed Up"])),
        "properties": draw(json_objects),
        "timestamp": draw(timestamps).isoformat(),
    }


hostile_profiles = (
    st.builds(dict, profiles())
    | st.dictionaries(
        st.sampled_from(
            ["identity", "email", "name", "timezone", "push_tokens", "properties", "x"]
        ),
        hostile_values,
        max_size=5,
    )
    | st.builds(
        lambda p, k, v: {**p, k: v},
        profiles(),
        st.sampled_from(["identity", "email", "name", "timezone", "push_tokens", "properties"]),
        hostile_values
        | st.sampled_from(
            [
                "Europe",
                "Mars/Olympus",
                "../etc/passwd",
                "a@x.test, b@evil.test",
                "v@x.test\r\nBcc: all@evil.test",
                "",
            ]
        ),
    )
)
"""Profiles with any field replaced by something hostile."""

hostile_events = st.builds(
    lambda e, k, v: {**e, k: v},
    events(),
    st.sampled_from(["identity", "name", "properties", "timestamp", "extra"]),
    hostile_values
    | st.sampled_from(["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "yesterday"]),
) | st.dictionaries(st.sampled_from(["identity", "name", "timestamp"]), hostile_values, max_size=3)

# -- templates --------------------------------------------------------------------------

_FRAGMENTS = [
    "Hi ",
    "{{ Profile.name }}",
    "{{ Profile.name | default: 'there' }}",
    "{{ ExternalTrigger.v }}",
    "{{ ExternalTrigger.items | size }}",
    "{{ ExternalTrigger.v | upcase }}",
    "{{ ExternalTrigger.v | json }}",
    "{% if ExternalTrigger.v %}yes{% else %}no{% endif %}",
    "{% for i in ExternalTrigger.items %}{{ i }},{% endfor %}",
    "{% for i in (1..ExternalTrigger.n) %}{{ i }}{% endfor %}",
    "{% cycle ExternalTrigger.v, 'b' %}",
    "{% assign x = ExternalTrigger.v %}{{ x }}",
    "{% capture c %}{{ ExternalTrigger.v }}{% endcapture %}{{ c }}",
    "{% increment k %}",
    "{{ 100 | divided_by: ExternalTrigger.n }}",
    "{{ ExternalTrigger.v | truncate: ExternalTrigger.n }}",
    "{{ BusinessEvent.name }}",
    "{{ Campaign.name }}",
    "{%",
    "}}",
    "{{ Profle.name }}",
    "{{ x | nofilter }}",
    "{% include 'x' %}",
    '"',
    '<a href="{{ ExternalTrigger.v }}">',
    "\ud800",
    "\x00",
]

template_sources = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=8), max_size=6).map(
    "".join
)
"""Liquid-ish sources: valid pieces, broken pieces and raw text, concatenated."""

json_body_sources = st.lists(
    st.sampled_from(
        [
            '"a": "{{ ExternalTrigger.v }}"',
            '"n": {{ ExternalTrigger.n }}',
            '"l": {{ ExternalTrigger.items | json }}',
            '"c": "{% cycle ExternalTrigger.v, 1 %}"',
        ]
    ),
    max_size=3,
).map(lambda parts: "{" + ", ".join(parts) + "}")

trigger_data = st.fixed_dictionaries(
    {},
    optional={
        "v": json_values | hostile_scalars,
        "n": st.integers(min_value=-5, max_value=50) | hostile_scalars,
        "items": st.lists(json_values, max_size=4) | hostile_values,
    },
)

# -- definitions ------------------------------------------------------------------------

messages = st.one_of(
    st.fixed_dictionaries(
        {"channel": st.just("push"), "title": template_sources, "body": template_sources}
    ),
    st.fixed_dictionaries(
        {"channel": st.just("email"), "subject": template_sources, "html": template_sources}
    ),
    st.fixed_dictionaries(
        {
            "channel": st.just("webhook"),
            "url": st.sampled_from(
                ["https://hooks.example.com/{{ ExternalTrigger.v }}", "https://x.example/a"]
            ),
            "body": json_body_sources,
        }
    ),
)

numbers = (
    st.integers(min_value=-10, max_value=10**7) | st.just(10**30) | st.floats() | hostile_scalars
)

filters = st.one_of(
    st.fixed_dictionaries(
        {
            "kind": st.just("property"),
            "property": keys,
            "op": st.sampled_from(["eq", "gt", "in", "contains", "exists"]),
            "value": json_values,
        }
    ),
    st.fixed_dictionaries(
        {"kind": st.just("event"), "event": st.sampled_from(["Order Placed", "x"])},
        optional={"within_days": numbers, "min_count": numbers, "did": st.booleans()},
    ),
)


@st.composite
def campaigns(draw: st.DrawFn) -> dict[str, Any]:
    """A campaign definition: usually well-formed, with any numeric field drawn wide."""
    campaign: dict[str, Any] = {
        "name": draw(st.text(min_size=1, max_size=10)),
        "message": draw(messages),
    }
    if draw(st.booleans()):
        campaign["filters"] = draw(st.lists(filters, max_size=2))
    if draw(st.booleans()):
        campaign["targeting_cap"] = draw(numbers | st.integers(min_value=100, max_value=10**6))
    if draw(st.booleans()):
        campaign["control_group"] = {
            "kind": "campaign",
            "percent": draw(numbers | st.floats(0, 100)),
        }
    if draw(st.booleans()):
        campaign["max_trigger_bytes"] = draw(numbers)
    if draw(st.booleans()):
        campaign["delivery"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "local_send_time": st.sampled_from(["09:00", "25:00", "02:30"]),
                    "dnd": st.fixed_dictionaries(
                        {"start": st.sampled_from(["21:00", "09:00"]), "end": st.just("09:00")}
                    ),
                },
            )
        )
    if draw(st.booleans()):
        start = draw(st.datetimes(min_value=datetime(1, 1, 2), timezones=st.just(UTC)))
        campaign["schedule"] = {
            "start": start.isoformat(),
            "end": (start + timedelta(days=1) if start.year < 9999 else start).isoformat(),
        }
    return campaign


match_conditions = st.fixed_dictionaries(
    {"property": st.sampled_from(["genre", "language", "rating"])},
    optional={
        "op": st.sampled_from(["eq", "ne", "contains", "gt", "lte"]),
        "business_property": st.just("genre"),
    },
)
match_rows = st.one_of(
    st.fixed_dictionaries(
        {
            "event": st.sampled_from(["Movie Watched", "Order Placed"]),
            "where": st.lists(match_conditions, min_size=1, max_size=3),
        },
        optional={"within_days": numbers},
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("profile"),
            "property": st.sampled_from(["language", "genre"]),
            "business_property": st.just("genre"),
        },
        optional={"op": st.sampled_from(["eq", "ne", "contains"])},
    ),
)
"""Issue-11 match rows: conditions on one event, and profile rows (``genre`` operands)."""


@st.composite
def bulletins(draw: st.DrawFn) -> dict[str, Any]:
    """A bulletin for the ``Program Released`` business event (see ``business_event``)."""
    bulletin: dict[str, Any] = {
        "id": draw(st.from_regex(r"b-[a-z0-9]{1,6}", fullmatch=True)),
        "name": "B",
        "business_event": "Program Released",
        "match": [
            {"business_property": "genre", "event": "Movie Watched", "event_property": "genre"}
        ],
        "message": draw(messages),
        "published": True,
    }
    if draw(st.booleans()):
        bulletin["match"] += draw(st.lists(match_rows, max_size=2))
    if draw(st.booleans()):
        bulletin["targeting_cap"] = draw(numbers | st.integers(min_value=1, max_value=50))
    if draw(st.booleans()):
        bulletin["ttl_seconds"] = draw(numbers)
    if draw(st.booleans()):
        bulletin["segment"] = {"kind": "engaged", "engaged_days": draw(numbers)}
    return bulletin


business_event = {"name": "Program Released", "properties": ["genre"]}

bulletin_bodies = st.fixed_dictionaries(
    {
        "business_event": st.just("Program Released") | hostile_scalars,
        "name": st.just("Release") | hostile_scalars,
        "c-by": st.just("ops"),
        "when": st.just("now")
        | st.sampled_from(["2026-01-01T00:00:00", "9999-12-31T23:59:59-12:00", 1e20, -1])
        | hostile_scalars,
        "properties": st.fixed_dictionaries(
            {"genre": st.sampled_from(["Drama", "Comedy"]) | hostile_scalars}
        )
        | hostile_objects,
    },
    optional={"idempotency_key": st.text(max_size=5) | hostile_scalars},
)


def trigger_bodies(campaign_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """External Trigger API bodies for ``campaign_id``: shared or per-recipient data."""
    ids = st.lists(identities | hostile_scalars, min_size=1, max_size=4)
    return st.one_of(
        st.fixed_dictionaries(
            {"campaign_id": st.just(campaign_id), "to": st.fixed_dictionaries({"identity": ids})},
            optional={
                "ExternalTrigger": trigger_data | hostile_objects,
                "idempotency_key": st.text(max_size=4),
            },
        ),
        st.fixed_dictionaries(
            {
                "campaign_id": st.just(campaign_id),
                "to": st.lists(
                    st.fixed_dictionaries(
                        {"identity": identities},
                        optional={"ExternalTrigger": trigger_data | hostile_objects},
                    ),
                    min_size=1,
                    max_size=4,
                ),
            }
        ),
        hostile_objects,
    )


# -- example budgets ---------------------------------------------------------------------


def examples(default: int) -> int:
    """``max_examples`` for a costly property test, scaled by the hypothesis profile.

    ``default`` under the default profile (``make test`` stays fast); ten times as
    many under ``TIDINGS_HYPOTHESIS_PROFILE=thorough`` (``make test-long``).
    """
    import os

    thorough = os.environ.get("TIDINGS_HYPOTHESIS_PROFILE") == "thorough"
    return default * 10 if thorough else default
