"""profile_namespace: the Profile namespace of a template, copied unless handed over."""

from types import MappingProxyType

from tidings.models.users import profile_namespace


def test_namespace_leaves_the_callers_properties_alone():
    properties = {"plan": "gold", "name": "prop"}
    namespace = profile_namespace("u1", "Ann", None, properties)
    assert namespace == {"plan": "gold", "name": "Ann", "identity": "u1"}
    assert properties == {"plan": "gold", "name": "prop"}


def test_fresh_properties_become_the_namespace():
    properties = {"plan": "gold", "identity": "spoof"}
    namespace = profile_namespace("u1", None, "a@x.io", properties, fresh=True)
    assert namespace is properties
    assert namespace == {"plan": "gold", "identity": "u1", "email": "a@x.io"}


def test_fresh_mapping_that_is_no_dict_is_still_copied():
    properties = MappingProxyType({"plan": "gold"})
    namespace = profile_namespace("u1", None, None, properties, fresh=True)
    assert type(namespace) is dict
    assert namespace == {"plan": "gold", "identity": "u1"}
    assert dict(properties) == {"plan": "gold"}
