"""A state machine over the public Workspace API: memory and SQLite side by side.

Rules define, publish, upsert, record, raise, trigger, replay (an idempotency key
used again) and reopen (the SQLite workspace closed and opened again). Invariants:
caps are never exceeded, each candidate ends as exactly one record, a replayed
idempotency key adds nothing, and the in-memory and SQLite workspaces agree on every
answer and every record. Only the public API is used.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

import tidings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
USERS = [f"u{i}" for i in range(8)]
GENRES = ["Drama", "Comedy"]
KEYS = ["k1", "k2", "k3"]


def _clock() -> datetime:
    return NOW


def _records(result: tidings.Dispatch) -> tuple[Counter[Any], Counter[Any]]:
    """Deliveries and skips without the per-run dispatch key (random without a request key)."""
    deliveries = Counter(
        (d.source_id, d.identity, d.channel, d.to, repr(sorted(d.payload.items())), d.send_at)
        for d in result.deliveries
    )
    skips = Counter((s.source_id, s.identity, s.reason) for s in result.skips)
    return deliveries, skips


class WorkspaceMachine(RuleBasedStateMachine):
    """The same calls on an in-memory and a SQLite workspace."""

    campaigns = Bundle("campaigns")

    def __init__(self) -> None:
        super().__init__()
        self._folder = tempfile.TemporaryDirectory()
        self.path = Path(self._folder.name) / "ws.db"
        self.memory = tidings.Workspace(clock=_clock)
        self.sqlite = tidings.Workspace.sqlite(self.path, clock=_clock)
        self.bulletin_caps: dict[str, int] = {}
        self.bulletin_reached: dict[str, set[str]] = {}
        self.fresh = 0
        self.campaign_keys: dict[tuple[str, str], dict[str, Any]] = {}
        self.raise_keys: dict[str, dict[str, Any]] = {}

    def _fresh_key(self) -> str:
        self.fresh += 1
        return f"fresh-{self.fresh}"

    def both(self, call: Any) -> tuple[Any, Any]:
        """Call ``call(ws)`` on both workspaces; they must agree on raising or not."""
        outcomes = []
        for ws in (self.memory, self.sqlite):
            try:
                outcomes.append(("ok", call(ws)))
            except tidings.TidingsError as error:
                outcomes.append(("error", type(error).__name__, str(error)))
        assert outcomes[0][0] == outcomes[1][0], outcomes
        if outcomes[0][0] == "error":
            assert outcomes[0] == outcomes[1]
            return None, None
        return outcomes[0][1], outcomes[1][1]

    def agree(self, memory: tidings.Dispatch, sqlite: tidings.Dispatch) -> None:
        assert memory.response == sqlite.response
        assert _records(memory) == _records(sqlite)
        for result in (memory, sqlite):
            deliveries = list(result.deliveries)
            skips = list(result.skips)
            assert result.summary.candidates == len(deliveries) + len(skips)
            sent = [(d.source_id, d.identity) for d in deliveries]
            assert len(sent) == len(set(sent))  # nobody twice from one source

    @initialize()
    def define(self) -> None:
        """The business event, every user, and one watched genre each (so raises match)."""
        self.both(
            lambda ws: ws.define_business_event(
                {"name": "Program Released", "properties": ["genre"]}
            )
        )
        self.both(
            lambda ws: ws.upsert_profiles(
                [
                    {"identity": u, "email": f"{u}@example.com", "push_tokens": [f"t-{u}"]}
                    for u in USERS
                ]
            )
        )
        events = [
            {
                "identity": u,
                "name": "Movie Watched",
                "timestamp": NOW.isoformat(),
                "properties": {"genre": GENRES[i % 2]},
            }
            for i, u in enumerate(USERS)
        ]
        self.both(lambda ws: ws.record_events(events))

    @rule(
        users=st.lists(st.sampled_from(USERS), min_size=1, max_size=4, unique=True),
        email=st.booleans(),
        genre=st.sampled_from(GENRES),
    )
    def upsert(self, users: list[str], email: bool, genre: str) -> None:
        profiles = [
            {
                "identity": user,
                "email": f"{user}@example.com" if email else None,
                "push_tokens": [f"t-{user}"],
                "properties": {"genre": genre},
            }
            for user in users
        ]
        memory, sqlite = self.both(lambda ws: ws.upsert_profiles(profiles))
        assert memory == sqlite == len(users)

    @rule(user=st.sampled_from(USERS), genre=st.sampled_from(GENRES))
    def record(self, user: str, genre: str) -> None:
        event = {
            "identity": user,
            "name": "Movie Watched",
            "timestamp": NOW.isoformat(),
            "properties": {"genre": genre},
        }
        self.both(lambda ws: ws.record_events([event]))

    @rule(
        target=campaigns,
        channel=st.sampled_from(["push", "email"]),
        percent=st.sampled_from([0, 50]),
    )
    def publish_campaign(self, channel: str, percent: int) -> str:
        message = (
            {"channel": "push", "title": "Hi", "body": "{{ ExternalTrigger.v | default: 'x' }}"}
            if channel == "push"
            else {"channel": "email", "subject": "Hi", "html": "<p>{{ Profile.genre }}</p>"}
        )
        memory, sqlite = self.both(
            lambda ws: ws.publish_campaign(
                {
                    "name": "C",
                    "message": message,
                    "control_group": {"kind": "campaign", "percent": percent},
                }
            )
        )
        assert memory == sqlite
        return str(memory)

    @rule(
        bulletin_id=st.sampled_from(["b1", "b2"]),
        cap=st.none() | st.integers(min_value=1, max_value=4),
        percent=st.sampled_from([0, 30]),
    )
    def publish_bulletin(self, bulletin_id: str, cap: int | None, percent: int) -> None:
        if bulletin_id in self.memory.bulletins:
            return  # published once: the cap invariant counts every send against it
        definition = {
            "id": bulletin_id,
            "name": bulletin_id,
            "business_event": "Program Released",
            "match": [
                {"business_property": "genre", "event": "Movie Watched", "event_property": "genre"}
            ],
            "message": {"channel": "push", "title": "New", "body": "{{ BusinessEvent.genre }}"},
            "control_group": {"kind": "campaign", "percent": percent},
            "published": True,
        }
        if cap is not None:
            definition["targeting_cap"] = cap
        self.both(lambda ws: ws.publish_bulletin(definition))
        if cap is not None:
            self.bulletin_caps[bulletin_id] = cap

    @rule(
        genre=st.sampled_from(GENRES),
        key=st.none() | st.sampled_from(KEYS),
    )
    def raise_event(self, genre: str, key: str | None) -> None:
        body: dict[str, Any] = {
            "business_event": "Program Released",
            "name": "Release",
            "c-by": "ops",
            "when": "now",
            "properties": {"genre": genre},
            # Capped slots are ranked per dispatch key, random without a request key:
            # the same fresh key on both sides makes their records comparable.
            "idempotency_key": key if key is not None else self._fresh_key(),
        }
        memory, sqlite = self.both(lambda ws: ws.raise_business_event(body))
        self.agree(memory, sqlite)
        if key is not None and key in self.raise_keys:
            # A replay: the first answer, and nothing sent again.
            assert memory.response == self.raise_keys[key]
            assert not list(memory.deliveries)
            assert not list(memory.skips)
            return
        if key is not None:
            self.raise_keys[key] = memory.response
        for delivery in memory.deliveries:
            self.bulletin_reached.setdefault(delivery.source_id, set()).add(delivery.identity)

    @rule(
        campaign=campaigns,
        recipients=st.lists(st.sampled_from([*USERS, "ghost"]), min_size=1, max_size=6),
        key=st.none() | st.sampled_from(KEYS),
        value=st.text(max_size=5),
    )
    def trigger(self, campaign: str, recipients: list[str], key: str | None, value: str) -> None:
        body: dict[str, Any] = {
            "campaign_id": campaign,
            "to": {"identity": recipients},
            "ExternalTrigger": {"v": value},
            "idempotency_key": key if key is not None else self._fresh_key(),
        }
        memory, sqlite = self.both(lambda ws: ws.trigger_campaign(body))
        self.agree(memory, sqlite)
        assert memory.ok
        if key is not None and (campaign, key) in self.campaign_keys:
            assert memory.response == self.campaign_keys[(campaign, key)]
            assert not list(memory.deliveries)
            assert not list(memory.skips)
            return
        if key is not None:
            self.campaign_keys[(campaign, key)] = memory.response
        # Each listed recipient ends as exactly one record (a repeat as duplicate_recipient).
        ended = sorted([d.identity for d in memory.deliveries] + [s.identity for s in memory.skips])
        assert ended == sorted(recipients)

    @rule()
    def reopen(self) -> None:
        self.sqlite.close()
        self.sqlite = tidings.Workspace.sqlite(self.path, clock=_clock)
        assert set(self.sqlite.campaigns) == set(self.memory.campaigns)
        assert set(self.sqlite.bulletins) == set(self.memory.bulletins)

    @invariant()
    def caps_never_exceeded(self) -> None:
        # A targeting cap counts users: a user holding a slot may be sent again.
        for bulletin_id, cap in self.bulletin_caps.items():
            reached = self.bulletin_reached.get(bulletin_id, set())
            assert len(reached) <= cap, (bulletin_id, sorted(reached))

    def teardown(self) -> None:
        self.memory.close()
        self.sqlite.close()
        self._folder.cleanup()


WorkspaceMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_memory_and_sqlite_workspaces_agree_caps_hold_and_replays_add_nothing = (
    WorkspaceMachine.TestCase
)
