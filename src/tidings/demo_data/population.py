"""The demo population: seeded users and their events, generated and bulk-loaded.

Everything about user ``i`` comes from a random generator seeded with ``(seed, i)``,
so the data is the same on every machine and in any chunking.
"""

# ruff: noqa: S311
# S311 (non-cryptographic random): the point is a seeded, reproducible generator of demo
# data; nothing here is a secret.

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import time as _time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from ..errors import TidingsError
from ..models.users import UserEvent, UserProfile
from ..storage.base import Store

__all__ = [
    "DEMO_NOW",
    "GENERATOR_VERSION",
    "DemoConfig",
    "Progress",
    "generate_user",
    "identity_of",
    "iter_users",
    "populate",
    "populate_sqlite",
]

DEMO_NOW: Final = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
"""The demo's "now": histories end here and the demo dispatches at this instant."""

GENERATOR_VERSION: Final = 1
"""Bumped whenever the generated data changes, so a stored demo is rebuilt."""

Progress = Callable[[str], None]
"""Receives one progress line (without newline)."""

# -- the population ----------------------------------------------------------------------

_FIRST_NAMES: Final = (
    "Aarav", "Aisha", "Ana", "Ben", "Chen", "Daniel", "Diya", "Elena", "Emma", "Farah",
    "Hiro", "Ines", "Ishaan", "Jordan", "Kavya", "Leo", "Lucia", "Maya", "Mei", "Noah",
    "Omar", "Priya", "Rahul", "Sofia", "Tariq", "Uma", "Vikram", "Yuki", "Zara", "Lars",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Alvarez", "Chen", "Das", "Eriksson", "Fernandes", "Garcia", "Gupta", "Iyer", "Kim",
    "Lindqvist", "Mehta", "Nair", "Okafor", "Patel", "Rahman", "Reddy", "Rossi", "Sato",
    "Silva", "Singh", "Smith", "Tanaka", "Nguyen", "Walker", "Kowalski", "Haddad",
)  # fmt: skip
_PLACES: Final = (  # (time zone, city, weight)
    ("Asia/Kolkata", "Mumbai", 22), ("Asia/Kolkata", "Chennai", 10),
    ("Asia/Kolkata", "Delhi", 12), ("America/New_York", "New York", 9),
    ("America/Chicago", "Austin", 5), ("America/Denver", "Denver", 4),
    ("America/Los_Angeles", "Seattle", 6), ("Europe/London", "London", 8),
    ("Europe/Stockholm", "Stockholm", 3), ("Europe/Madrid", "Madrid", 5),
    ("America/Sao_Paulo", "São Paulo", 5), ("Asia/Singapore", "Singapore", 4),
    ("Australia/Sydney", "Sydney", 3), ("Asia/Tokyo", "Tokyo", 4),
)  # fmt: skip
_LANGUAGES: Final = (("Hindi", 34), ("English", 38), ("Tamil", 14), ("Spanish", 14))
GENRES: Final = ("Drama", "Comedy", "Thriller", "Documentary", "Action", "Romance")
CATEGORIES: Final = ("Jackets", "Shoes", "Bags", "Outdoor", "Kids", "Accessories")
_CUSTOMER_TYPES: Final = (("Gold", 15), ("Silver", 30), ("Bronze", 55))

_PLACE_WEIGHTS: Final = [w for _, _, w in _PLACES]
_EMPTY: Final[dict[str, Any]] = {}


@dataclass(frozen=True)
class DemoConfig:
    """What to generate: how many users, how many events each on average, the seed.

    Attributes:
        users: Number of users.
        seed: Seed of every random choice.
        events_per_user: Mean number of events per user (a few million for 100,000 users).
        history_days: Events fall in the ``history_days`` before ``now``.
        now: The end of the histories (the demo's clock).
    """

    users: int = 100_000
    seed: int = 7
    events_per_user: float = 22.0
    history_days: int = 60
    now: datetime = DEMO_NOW

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the generated data (a stored demo with another one is rebuilt)."""
        data = asdict(self)
        data["now"] = self.now.isoformat()
        data["generator_version"] = GENERATOR_VERSION
        return data


def identity_of(index: int) -> str:
    """The identity of user ``index`` (``user-000042``)."""
    return f"user-{index:06d}"


def _pick(rng: random.Random, weighted: Sequence[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def generate_user(config: DemoConfig, index: int) -> tuple[UserProfile, list[UserEvent]]:
    """User ``index``'s profile and events (oldest first); the same for the same config."""
    rng = random.Random(config.seed * 1_000_003 + index)
    identity = identity_of(index)
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    timezone, city, _ = rng.choices(_PLACES, weights=_PLACE_WEIGHTS)[0]
    language = _pick(rng, _LANGUAGES)
    genres = rng.sample(GENRES, rng.choice((1, 1, 2, 2, 3)))
    categories = rng.sample(CATEGORIES, rng.choice((1, 2, 2, 3)))
    viewer = rng.random() < 0.78
    shopper = rng.random() < 0.55
    profile = UserProfile.model_construct(
        identity=identity,
        name=f"{first} {last}",
        email=f"{first}.{last}.{index}@example.com".lower() if rng.random() < 0.92 else None,
        push_tokens=(f"tok-{index:06d}-{rng.getrandbits(32):08x}",) if rng.random() < 0.8 else (),
        timezone=timezone,
        properties={
            "language": language,
            "city": city,
            "customerType": _pick(rng, _CUSTOMER_TYPES),
            "plan": "premium" if rng.random() < 0.3 else "free",
            "favouriteGenres": genres,
            "favouriteCategories": categories,
            "signupDays": rng.randrange(1, 900),
        },
    )
    count = int(config.events_per_user * rng.uniform(0.15, 1.85))
    span = config.history_days * 86_400.0
    start = config.now.timestamp() - span
    moments = sorted(start + rng.random() * span for _ in range(count))
    construct = UserEvent.model_construct
    events: list[UserEvent] = []
    for moment in moments:
        ts = datetime.fromtimestamp(moment, UTC)
        roll = rng.random()
        if viewer and roll < 0.42:
            genre = rng.choice(genres) if rng.random() < 0.8 else rng.choice(GENRES)
            events.append(
                construct(
                    identity=identity,
                    name="Movie Watched",
                    properties={"genre": genre, "minutes": round(rng.uniform(5, 140), 1)},
                    timestamp=ts,
                )
            )
        elif shopper and roll < 0.72:
            category = rng.choice(categories) if rng.random() < 0.75 else rng.choice(CATEGORIES)
            step = rng.random()
            name, props = (
                ("Product Viewed", {"category": category, "price": round(rng.uniform(9, 400), 2)})
                if step < 0.75
                else ("Added To Cart", {"category": category})
                if step < 0.92
                else (
                    "Order Placed",
                    {"category": category, "amount": round(rng.uniform(15, 600), 2)},
                )
            )
            events.append(construct(identity=identity, name=name, properties=props, timestamp=ts))
        else:
            events.append(
                construct(identity=identity, name="App Launched", properties=_EMPTY, timestamp=ts)
            )
    return profile, events


def iter_users(
    config: DemoConfig, start: int = 0, stop: int | None = None
) -> Iterator[tuple[UserProfile, list[UserEvent]]]:
    """Users ``start`` to ``stop`` (default: all), each as (profile, events)."""
    for index in range(start, config.users if stop is None else min(stop, config.users)):
        yield generate_user(config, index)


class _Reporter:
    """Turns (users, events) increments into about ten progress lines."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.progress = progress
        self.users = 0
        self.events = 0
        self.started = _time.monotonic()
        self._next = 0.0

    def add(self, users: int, events: int) -> None:
        self.users += users
        self.events += events
        done = self.users / max(self.total, 1)
        if self.progress is not None and (done >= self._next or self.users == self.total):
            self._next = done + 0.1
            elapsed = _time.monotonic() - self.started
            self.progress(
                f"  users {self.users:>9,} / {self.total:,}  events {self.events:>11,}  "
                f"({elapsed:5.1f}s)"
            )


def _generate_chunk(
    config: DemoConfig, first: int, stop: int
) -> tuple[list[UserProfile], list[UserEvent]]:
    profiles: list[UserProfile] = []
    events: list[UserEvent] = []
    for profile, user_events in iter_users(config, first, stop):
        profiles.append(profile)
        events.extend(user_events)
    return profiles, events


def _write_chunk(store: Store, chunk: tuple[list[UserProfile], list[UserEvent]]) -> tuple[int, int]:
    profiles, events = chunk
    return store.upsert_profiles(profiles), store.append_events(events)


def _chunks(config: DemoConfig, size: int) -> list[tuple[int, int]]:
    return [(first, min(first + size, config.users)) for first in range(0, config.users, size)]


def populate(
    store: Store, config: DemoConfig, *, progress: Progress | None = None, chunk: int = 2_500
) -> tuple[int, int]:
    """Write the configured users and events into ``store`` with its bulk APIs.

    Returns:
        (profiles written, events written).
    """
    reporter = _Reporter(config.users, progress)
    for first, stop in _chunks(config, chunk):
        reporter.add(*_write_chunk(store, _generate_chunk(config, first, stop)))
    return reporter.users, reporter.events


def _populate_worker(
    path: str, config: DemoConfig, chunks: list[tuple[int, int]], results: Any, lock: Any
) -> None:
    """One process of :func:`populate_sqlite`: its share of the chunks, through its own store."""
    from ..storage.sqlite import SQLiteStore

    store = SQLiteStore(path)
    try:
        for first, stop in chunks:
            generated = _generate_chunk(config, first, stop)
            # Take turns explicitly: waiting on SQLite's busy handler sleeps in
            # steps of up to 100 ms, which would leave the write lock idle.
            with lock:
                written = _write_chunk(store, generated)
            results.put(written)
    finally:
        store.close()


def populate_sqlite(
    path: str | Path,
    config: DemoConfig,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    chunk: int = 2_500,
) -> tuple[int, int]:
    """Fill a SQLite store file with the configured users, in ``workers`` processes.

    One worker generates its next chunk of users while another writes its own:
    the writes take turns (SQLite has one writer at a time anyway). The data is
    the same whatever the number of workers; only the order of event row ids differs. ``workers``
    defaults to the number of CPUs, at most 2.

    Raises:
        TidingsError: a worker process failed.
    """
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    chunks = _chunks(config, chunk)
    if workers <= 1 or len(chunks) < 2:
        from ..storage.sqlite import SQLiteStore

        store = SQLiteStore(path)
        try:
            return populate(store, config, progress=progress, chunk=chunk)
        finally:
            store.close()
    # "spawn": a fresh interpreter per worker, never a fork of a process holding
    # SQLite connections and threads.
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    lock = context.Lock()
    processes = [
        context.Process(
            target=_populate_worker,
            args=(str(path), config, chunks[w::workers], results, lock),
            daemon=True,
        )
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    reporter = _Reporter(config.users, progress)
    received = 0
    try:
        while received < len(chunks):
            try:
                users, events = results.get(timeout=0.5)
            except queue.Empty:
                failed = [p for p in processes if p.exitcode not in (None, 0)]
                if failed:
                    raise TidingsError(
                        f"demo data generation failed in a worker process "
                        f"(exit code {failed[0].exitcode})"
                    ) from None
                continue
            received += 1
            reporter.add(users, events)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
        results.close()
    return reporter.users, reporter.events
