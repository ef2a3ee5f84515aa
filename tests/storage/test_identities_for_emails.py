"""Store.identities_for_emails: External Trigger recipients named by email, on every store."""

from tidings.models.users import UserProfile


def _profiles():
    return [
        UserProfile(identity="u2", email="shared@example.com"),
        UserProfile(
            identity="u1", email="shared@Example.COM"
        ),  # stored with the domain lower-cased
        UserProfile(identity="u3", email="solo@example.com"),
        UserProfile(identity="u4"),
    ]


def test_each_email_maps_to_the_sorted_identities_holding_it(store):
    store.upsert_profiles(_profiles())
    found = store.identities_for_emails(
        ["shared@example.com", "solo@example.com", "nobody@example.com"]
    )
    assert found == {"shared@example.com": ["u1", "u2"], "solo@example.com": ["u3"]}


def test_no_emails_and_unknown_emails_find_nothing(store):
    store.upsert_profiles(_profiles())
    assert store.identities_for_emails([]) == {}
    assert store.identities_for_emails(["ghost@example.com"]) == {}


def test_a_changed_email_is_found_under_the_new_address_only(store):
    store.upsert_profiles(_profiles())
    store.upsert_profiles([UserProfile(identity="u3", email="moved@example.com")])
    assert store.identities_for_emails(["solo@example.com", "moved@example.com"]) == {
        "moved@example.com": ["u3"]
    }


def test_many_emails_in_one_call_cross_the_query_chunks(store):
    store.upsert_profiles(
        [UserProfile(identity=f"user-{i:04d}", email=f"u{i}@example.com") for i in range(1200)]
    )
    wanted = [f"u{i}@example.com" for i in range(0, 1200, 1)]
    found = store.identities_for_emails(wanted)
    assert len(found) == 1200
    assert found["u1199@example.com"] == ["user-1199"]
