import tidings


def test_profile_default_falls_back_when_missing():
    template = tidings.compile_template('Hey {{ Profile.name | default: "User" }}')
    assert template.render({}, {}) == "Hey User"
    assert template.render({"name": "Ann"}, {}) == "Hey Ann"
