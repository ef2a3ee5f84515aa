"""Filter definitions are validated when they are built."""

import pydantic
import pytest

from tidings.errors import DefinitionError
from tidings.models.filters import Condition, EventFilter, PropertyFilter


@pytest.mark.parametrize(
    ("op", "value"),
    [("in", "Gold"), ("not_in", 3), ("lte", None), ("gte", [1]), ("lt", {"a": 1})],
)
def test_operator_value_mismatch_is_rejected(op, value):
    with pytest.raises(DefinitionError, match=op) as info:
        Condition(property="tier", op=op, value=value)
    assert isinstance(info.value.__cause__, pydantic.ValidationError)


@pytest.mark.parametrize(
    ("op", "value"), [("in", ["Gold"]), ("gt", 3), ("lt", 2.5), ("gte", "b"), ("exists", None)]
)
def test_valid_conditions(op, value):
    assert Condition(property="tier", op=op, value=value).op == op


def test_filters_are_chosen_by_kind():
    adapter = pydantic.TypeAdapter(PropertyFilter | EventFilter)
    assert isinstance(
        adapter.validate_python({"kind": "event", "event": "Order Placed"}), EventFilter
    )
    with pytest.raises(DefinitionError) as info:
        EventFilter(event="Order Placed", min_count=0)
    assert info.value.field == "min_count"
