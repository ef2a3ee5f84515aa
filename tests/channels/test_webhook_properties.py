"""Properties of webhook bodies: always valid JSON, inserted values round-trip exactly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings import HeaderInjectionError, WebhookMessage

SETTINGS = settings(max_examples=150, deadline=None)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
# Data the templates below use without a default must be present (not null).
present_values = json_values.filter(lambda v: v is not None)

BODY = (
    '{"name": "{{ ExternalTrigger.s }}", "items": {{ ExternalTrigger.items | json }}, '
    '"n": {{ ExternalTrigger.n }}}'
)
MESSAGE = WebhookMessage(url="https://hooks.test/{{ ExternalTrigger.s }}", body=BODY)


# A path segment of "." or ".." is refused by design (test_webhook.py covers it).
@SETTINGS
@given(
    s=st.text().filter(lambda v: v not in {".", ".."}),
    items=present_values,
    n=st.integers() | st.floats(allow_nan=False, allow_infinity=False),
    extra=st.dictionaries(st.text(), json_values, max_size=3),
)
def test_body_always_parses_and_strings_round_trip(
    s: str, items: Any, n: float, extra: dict[str, Any]
):
    trigger = {**extra, "s": s, "items": items, "n": n}
    payload = MESSAGE.render({}, trigger)
    assert payload.body == {"name": s, "items": items, "n": n}
    assert payload.url.startswith("https://hooks.test/")


@SETTINGS
@given(
    s=st.text(),
    prefix=st.text(
        alphabet=st.characters(exclude_categories=["Cs", "Cc"], exclude_characters='"\\{}%'),
        max_size=10,
    ),
)
def test_string_inserted_mid_literal_round_trips(s: str, prefix: str):
    # The literal text is the template author's: any JSON-safe text (no quote, backslash,
    # control or Liquid delimiter characters).
    message = WebhookMessage(
        url="https://x.test", body=f'{{"msg": "{prefix}{{{{ ExternalTrigger.s }}}}!"}}'
    )
    assert message.render({}, {"s": s}).body == {"msg": f"{prefix}{s}!"}


@SETTINGS
@given(value=present_values)
def test_value_position_writes_the_value_as_json(value: Any):
    message = WebhookMessage(
        url="https://x.test",
        body='{"v": {{ ExternalTrigger.v }}, "w": [{{ ExternalTrigger.v | json }}]}',
    )
    assert message.render({}, {"v": value}).body == {"v": value, "w": [value]}


@SETTINGS
@given(s=st.text())
def test_headers_never_carry_line_breaks(s: str):
    message = WebhookMessage(url="https://x.test", headers={"X-V": "{{ ExternalTrigger.s }}"})
    if "\r" in s or "\n" in s:
        with pytest.raises(HeaderInjectionError) as info:
            message.render({}, {"s": s})
        assert info.value.field == "webhook.headers.X-V"
    else:
        assert message.render({}, {"s": s}).headers == {"X-V": s}
