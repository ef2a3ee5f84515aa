"""The bulletin story (bulletins guide): a business event reaches users who care.

"Program Released" with genre Drama reaches users who watched a Drama in the last
30 days; a language filter narrows it; the "engaged" segment starts from users
active in the last N days.
"""

from datetime import UTC, datetime, timedelta

import pytest

from tidings.audience import AudienceQuery, EventFilter, MatchRule, PropertyFilter, Segment
from tidings.models import UserEvent, UserProfile

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
GENRE = MatchRule(
    business_property="genre", event="Movie Watched", event_property="genre", within_days=30
)
LANGUAGE = MatchRule(business_property="language", event="Movie Watched", event_property="language")


def watched(identity: str, days_ago: float, genre: str, language: str = "Hindi") -> UserEvent:
    return UserEvent(
        identity=identity,
        name="Movie Watched",
        properties={"genre": genre, "language": language, "title": f"{genre} film"},
        timestamp=NOW - timedelta(days=days_ago),
    )


@pytest.fixture
def viewers(store):
    store.upsert_profiles(
        [
            UserProfile(identity="ann", properties={"language": "Hindi"}),
            UserProfile(identity="bob", properties={"language": "English"}),
            UserProfile(identity="cid", properties={"language": "Hindi"}),
            UserProfile(identity="dee", properties={"language": "Hindi"}),
            UserProfile(identity="eve", properties={"language": "Tamil"}),
            UserProfile(identity="fay"),
        ]
    )
    store.append_events(
        [
            watched("ann", 2, "Drama"),
            watched("bob", 5, "Drama", "English"),
            watched("cid", 45, "Drama"),  # too long ago for a 30-day match
            watched("cid", 1, "Comedy"),
            watched("dee", 10, "Comedy"),
            # Appended after a more recent Drama: the latest time must be kept.
            watched("eve", 3, "Drama", "Tamil"),
            watched("eve", 60, "Drama", "Tamil"),
            watched("ghost", 1, "Drama"),  # no profile: never in an audience
            UserEvent(identity="fay", name="App Launched", timestamp=NOW - timedelta(days=1)),
        ]
    )
    return store


def identities(store, query):
    return [p.identity for p in store.iter_audience(query, now=NOW)]


def test_genre_match_reaches_recent_drama_viewers(viewers):
    query = AudienceQuery(matches=((GENRE, "Drama"),))
    assert identities(viewers, query) == ["ann", "bob", "eve"]


def test_genre_match_is_exact(viewers):
    assert identities(viewers, AudienceQuery(matches=((GENRE, "drama"),))) == []
    assert identities(viewers, AudienceQuery(matches=((GENRE, "Comedy"),))) == ["cid", "dee"]
    assert identities(viewers, AudienceQuery(matches=((GENRE, "Thriller"),))) == []


def test_language_filter_on_profile(viewers):
    query = AudienceQuery(
        matches=((GENRE, "Drama"),),
        filters=(PropertyFilter(property="language", value="Hindi"),),
    )
    assert identities(viewers, query) == ["ann"]
    query = AudienceQuery(
        matches=((GENRE, "Drama"),),
        filters=(PropertyFilter(property="language", op="in", value=["Hindi", "Tamil"]),),
    )
    assert identities(viewers, query) == ["ann", "eve"]


def test_two_matches_both_required(viewers):
    query = AudienceQuery(matches=((GENRE, "Drama"), (LANGUAGE, "English")))
    assert identities(viewers, query) == ["bob"]


def test_engaged_segment(viewers):
    engaged = Segment(kind="engaged", engaged_days=4)
    assert identities(viewers, AudienceQuery(segment=engaged)) == ["ann", "cid", "eve", "fay"]
    query = AudienceQuery(segment=engaged, matches=((GENRE, "Drama"),))
    assert identities(viewers, query) == ["ann", "eve"]


def test_all_users_segment_streams_every_profile_in_order(viewers):
    assert identities(viewers, AudienceQuery()) == ["ann", "bob", "cid", "dee", "eve", "fay"]


def test_event_filters_with_the_match(viewers):
    no_comedy = EventFilter(
        event="Movie Watched", did=False, where=({"property": "genre", "value": "Comedy"},)
    )
    query = AudienceQuery(segment=Segment(kind="engaged"), filters=(no_comedy,))
    assert identities(viewers, query) == ["ann", "bob", "eve", "fay"]
    twice = EventFilter(event="Movie Watched", min_count=2)
    assert identities(viewers, AudienceQuery(filters=(twice,))) == ["cid", "eve"]


def test_audience_of_the_guide_example(viewers):
    """The guide's raise call: Program Released, language Hindi, matched on language."""
    query = AudienceQuery(
        matches=((LANGUAGE, "Hindi"),),
        filters=(PropertyFilter(property="language", value="Hindi"),),
    )
    assert identities(viewers, query) == ["ann", "cid", "dee"]
