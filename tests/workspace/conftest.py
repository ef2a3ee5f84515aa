"""The two stories of the seeds as fixtures: a streaming app and an e-commerce shop."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

import tidings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
GENRES = ["Drama", "Comedy", "Thriller", "Documentary"]
LANGUAGES = ["Hindi", "English", "Tamil"]


def fixed_clock() -> datetime:
    return NOW


def streaming_users(n: int = 400):
    profiles, events = [], []
    for i in range(n):
        identity = f"user-{i:04d}"
        profiles.append(
            {
                "identity": identity,
                "name": f"Viewer {i}",
                "email": f"viewer{i}@example.com" if i % 7 else None,
                "push_tokens": [f"tok-{i}"] if i % 5 else [],
                "timezone": "Asia/Kolkata",
                "properties": {
                    "language": LANGUAGES[i % 3],
                    "plan": "gold" if i % 4 == 0 else "free",
                },
            }
        )
        # every user watched one genre recently, some also one long ago
        events.append(
            {
                "identity": identity,
                "name": "Movie Watched",
                "properties": {"genre": GENRES[i % 4], "title": f"Film {i}"},
                "timestamp": (NOW - timedelta(days=1 + i % 20)).isoformat(),
            }
        )
        if i % 6 == 0:
            events.append(
                {
                    "identity": identity,
                    "name": "Movie Watched",
                    "properties": {"genre": "Thriller"},
                    "timestamp": (NOW - timedelta(days=90)).isoformat(),
                }
            )
    return profiles, events


PROGRAM_RELEASED = {"name": "Program Released", "properties": ["program_id", "genre", "language"]}

GENRE_BULLETIN = {
    "id": "new-in-genre",
    "name": "New in your genre",
    "business_event": "Program Released",
    "segment": {"kind": "all"},
    "match": [
        {
            "business_property": "genre",
            "event": "Movie Watched",
            "event_property": "genre",
            "within_days": 30,
        }
    ],
    "filters": [
        {"kind": "property", "property": "language", "op": "in", "value": ["Hindi", "English"]}
    ],
    "message": {
        "channel": "push",
        "title": "New {{ BusinessEvent.genre }} for you",
        "body": "Hi {{ Profile.name | default: 'there' }}, {{ BusinessEvent.program_id }} is out.",
    },
    "control_group": {"kind": "campaign", "percent": 10},
    "ttl_seconds": 3600,
    "creator": "jdoe@example.com",
    "published": True,
}

RAISE_BODY = {
    "business_event": "Program Released",
    "name": "Sa Re Ga Ma episode 12",
    "properties": {"program_id": "234567", "genre": "Drama", "language": "Hindi"},
    "c-by": "jdoe@example.com",
    "when": "now",
}

ORDER_TEMPLATE = """Hey {{ Profile.name | default: "User" }}
Thank you for shopping with us!
{% for product in ExternalTrigger.productDetails %}
Name: {{ product.productName | default: "defaultProductName"}}
{% for pricingDetail in product.pricingDetails %}
{{ pricingDetail.name | default : "defaultPriceName"}} : {{ pricingDetail.value | default : "defaultPriceValue"}}
{% endfor %}
{% endfor %}"""

ORDER_CAMPAIGN = {
    "name": "Order summary",
    "message": {"channel": "email", "subject": "Your order", "html": ORDER_TEMPLATE},
    "targeting_cap": 100,
}


def make_workspace(kind: str, tmp_path, users: int = 400, dsn: str = "") -> tidings.Workspace:
    if kind == "memory":
        ws = tidings.Workspace(clock=fixed_clock)
    elif kind == "postgres":
        ws = tidings.Workspace.postgres(dsn, clock=fixed_clock)
    else:
        ws = tidings.Workspace.sqlite(tmp_path / "ws.db", clock=fixed_clock)
    profiles, events = streaming_users(users)
    ws.upsert_profiles(profiles)
    ws.record_events(events)
    return ws


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def workspace(request, tmp_path):
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgres" else ""
    ws = make_workspace(request.param, tmp_path, dsn=dsn)
    yield ws
    ws.close()


@pytest.fixture
def story():
    """The constants and builders above, for tests (importlib mode can't import conftest)."""
    return SimpleNamespace(
        NOW=NOW,
        GENRES=GENRES,
        PROGRAM_RELEASED=PROGRAM_RELEASED,
        GENRE_BULLETIN=GENRE_BULLETIN,
        RAISE_BODY=RAISE_BODY,
        ORDER_TEMPLATE=ORDER_TEMPLATE,
        ORDER_CAMPAIGN=ORDER_CAMPAIGN,
        streaming_users=streaming_users,
        make_workspace=make_workspace,
        fixed_clock=fixed_clock,
    )
