"""A seeded, reproducible demo workspace: users, their events, and the whole demo job.

Two stories from the vendor guides share one workspace: a **streaming app**
(``App Launched``, ``Movie Watched`` with a genre and a language) and an
**e-commerce shop** (``Product Viewed``, ``Added To Cart``, ``Order Placed`` with
a category). Each user has a profile (name, email for most, push token for
many, an IANA time zone, language, ``customerType``, favourite genres and
categories) and a few dozen events over the last 60 days.

Everything about user ``i`` comes from a random generator seeded with
``(seed, i)``, so the data is the same on every machine, in any chunking, and a
benchmark can generate user 70,000 without generating the 69,999 before it::

    from tidings.demo_data import DemoConfig, iter_users, populate
    config = DemoConfig(users=10_000, seed=7)
    profile, events = next(iter_users(config))
    populate(store, config)                      # bulk-load any Store

:func:`run_demo` is the job behind ``tidings demo``: it builds the workspace in
SQLite, publishes the definitions of ``templates/demo/demo.json`` (bulletins and
External Trigger campaigns whose messages are the examples in ``templates/``),
raises the business events and a batch of External Trigger calls, simulates
engagement and conversions, and writes the deliveries (JSON Lines) and the
HTML report.
"""

# ruff: noqa: S311
# S311 (non-cryptographic random): the point is a seeded, reproducible generator of demo
# data; nothing here is a secret.

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import random
import time as _time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from .errors import DefinitionError, TidingsError
from .models.definitions import Goal
from .models.records import Delivery, Record, Skip
from .models.users import UserEvent, UserProfile
from .report import sources_table, write_report
from .sinks import JsonLinesSink
from .stats import (
    DEFAULT_CLICKED,
    DEFAULT_VIEWED,
    WorkspaceStats,
    compute_stats,
    engagement_event,
    goal_for,
)
from .storage.base import Store
from .workspace import Workspace

__all__ = [
    "DEMO_NOW",
    "GENERATOR_VERSION",
    "DemoConfig",
    "DemoResult",
    "Progress",
    "generate_user",
    "identity_of",
    "iter_users",
    "populate",
    "populate_sqlite",
    "run_demo",
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
    from .storage.sqlite import SQLiteStore

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
        from .storage.sqlite import SQLiteStore

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


# -- the demo job ------------------------------------------------------------------------


@dataclass
class DemoResult:
    """What ``tidings demo`` made and where it put it."""

    database: Path
    deliveries: Path
    report: Path
    previews: Path | None
    users: int
    events: int
    delivered: int
    engagement_events: int
    reused: bool
    seconds: float
    stats: WorkspaceStats
    responses: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """A short text summary with where the files are."""
        how = "reused" if self.reused else "built"
        lines = [
            f"tidings demo: {how} a workspace of {self.users:,} users and "
            f"{self.events:,} events in {self.seconds:.1f}s",
            "",
            *sources_table(self.stats.sources, compact=True),
        ]
        lines += [
            "",
            "files:",
            f"  workspace   {self.database}",
            f"  deliveries  {self.deliveries} ({self.delivered:,} deliveries, JSON Lines)",
            f"  report      {self.report}   <- open this in a browser",
        ]
        if self.previews is not None:
            lines.append(f"  previews    {self.previews}")
        lines += [
            "",
            f"next: tidings stats --db {self.database}",
            f"      tidings report --db {self.database} --out {self.report}",
        ]
        return "\n".join(lines)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DefinitionError(f"cannot read {path}: {exc}") from None


def _resolve(definition: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """A definition with ``message_file`` replaced by that file's message."""
    data = dict(definition)
    message_file = data.pop("message_file", None)
    if message_file is not None:
        data["message"] = _load_json(base / str(message_file))
    return data


def load_definitions(path: Path) -> dict[str, Any]:
    """Read ``demo.json`` (see ``templates/demo/``), resolving message and sample files."""
    spec = _load_json(path)
    if not isinstance(spec, dict):
        raise DefinitionError(f"{path} must hold a JSON object")
    base = path.parent
    spec["bulletins"] = [_resolve(b, base) for b in spec.get("bulletins", [])]
    spec["campaigns"] = [_resolve(c, base) for c in spec.get("campaigns", [])]
    for trigger in spec.get("triggers", []):
        trigger["sample_data"] = _load_json(base / str(trigger["sample"]))
    return spec


@dataclass
class _Recorder:
    """The demo's sink: deliveries to JSON Lines, and who was sent or held out."""

    file: JsonLinesSink
    sent: list[Delivery] = field(default_factory=list)
    held_out: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, record: Record) -> None:
        if isinstance(record, Skip):
            if record.reason == "control_group":
                self.held_out.append((record.source_id, record.identity))
            return
        self.file(record)
        # Keep the delivery without its payload: the simulation needs the keys only.
        self.sent.append(
            Delivery(
                source=record.source,
                source_id=record.source_id,
                identity=record.identity,
                channel=record.channel,
                payload=_EMPTY,
                send_at=record.send_at,
                idempotency_key=record.idempotency_key,
            )
        )


def _order_trigger(rng: random.Random, sample: Mapping[str, Any], n: int) -> dict[str, Any]:
    products = list(sample.get("productDetails", []))
    chosen = [dict(p) for p in rng.sample(products, rng.randint(1, len(products)))]
    total = sum(rng.uniform(20, 250) for _ in chosen)
    return {
        **sample,
        "orderId": f"NW-200-{n:06d}",
        "productDetails": chosen,
        "orderTotal": f"${total:,.2f}",
    }


def _fitness_trigger(rng: random.Random, sample: Mapping[str, Any], n: int) -> dict[str, Any]:
    steps = rng.randint(15_000, 24_000)
    day = (DEMO_NOW - timedelta(days=1)).date().isoformat()
    return {
        **sample,
        "steps": steps,
        "date": day,
        "milestoneId": f"steps-15k-{day}-{n}",
        "streakDays": rng.randint(1, 60),
    }


def _subscription_trigger(rng: random.Random, sample: Mapping[str, Any], n: int) -> dict[str, Any]:
    return {
        **sample,
        "accountId": f"ACC-{10_000 + n}",
        "subscriptionId": f"sub_demo_{n:06d}_{rng.getrandbits(24):06x}",
        "upgradedAt": DEMO_NOW.isoformat().replace("+00:00", "Z"),
    }


_STORIES: Final[dict[str, Callable[[random.Random, Mapping[str, Any], int], dict[str, Any]]]] = {
    "order": _order_trigger,
    "fitness": _fitness_trigger,
    "subscription": _subscription_trigger,
}


def _trigger_calls(spec: Mapping[str, Any], config: DemoConfig) -> Iterator[dict[str, Any]]:
    """External Trigger bodies (per-recipient data, at most 1,000 recipients per call)."""
    for trigger in spec.get("triggers", []):
        campaign_id = str(trigger["campaign_id"])
        story = _STORIES[str(trigger.get("story", "order"))]
        rng = random.Random(f"{config.seed}:triggers:{campaign_id}")
        sample = trigger["sample_data"]
        share, broken = float(trigger.get("share", 0.01)), float(trigger.get("broken_share", 0))
        recipients: list[dict[str, Any]] = []
        for index in range(config.users):
            if rng.random() >= share:
                continue
            data = story(rng, sample, len(recipients))
            if rng.random() < broken:
                # A service bug: the data lacks a key the template needs (a technical error).
                data.pop(str(trigger.get("broken_key", "")), None)
            recipients.append({"identity": identity_of(index), "ExternalTrigger": data})
        for n, first in enumerate(range(0, len(recipients), 1000)):
            yield {
                "campaign_id": campaign_id,
                "idempotency_key": f"demo-{campaign_id}-{n}",
                "to": recipients[first : first + 1000],
            }


# Engagement: P(viewed) by channel, P(clicked | viewed); conversion by what the user did.
_VIEW: Final = {"push": 0.55, "email": 0.4, "webhook": 0.0}
_CLICK: Final = 0.25
_CONVERT_CLICKED: Final = 0.55
_CONVERT_VIEWED: Final = 0.2
_CONVERT_BASE: Final = 0.12


def _simulate(
    ws: Workspace, recorder: _Recorder, config: DemoConfig
) -> tuple[list[UserEvent], dict[str, int]]:
    """Engagement and goal events for the demo's deliveries and hold-outs (not stored)."""
    rng = random.Random(f"{config.seed}:engagement")
    goals: dict[str, Goal | None] = {}
    events: list[UserEvent] = []
    counts = {"viewed": 0, "clicked": 0, "converted": 0}

    def goal(source_id: str) -> Goal | None:
        if source_id not in goals:
            goals[source_id] = goal_for(ws, source_id)
        return goals[source_id]

    def convert(identity: str, source_id: str, at: datetime, chance: float) -> None:
        target = goal(source_id)
        if target is None or rng.random() >= chance:
            return
        # Some conversions come after the window closes: they must not count.
        delay = timedelta(hours=rng.uniform(0.05, target.window_hours * 1.2))
        events.append(
            UserEvent.model_construct(
                identity=identity,
                name=target.event,
                properties={"source": "demo"},
                timestamp=at + delay,
            )
        )
        counts["converted"] += 1

    for delivery in recorder.sent:
        chance = _CONVERT_BASE
        if rng.random() < _VIEW.get(delivery.channel, 0.0):
            seen = delivery.send_at + timedelta(minutes=rng.uniform(1, 600))
            events.append(engagement_event(delivery, DEFAULT_VIEWED, seen))
            counts["viewed"] += 1
            chance = _CONVERT_VIEWED
            if rng.random() < _CLICK:
                clicked = seen + timedelta(seconds=rng.uniform(2, 120))
                events.append(engagement_event(delivery, DEFAULT_CLICKED, clicked))
                counts["clicked"] += 1
                chance = _CONVERT_CLICKED
        convert(delivery.identity, delivery.source_id, delivery.send_at, chance)
    for source_id, identity in recorder.held_out:
        convert(identity, source_id, config.now, _CONVERT_BASE)
    return events, counts


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _stored_fingerprint(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with Workspace.sqlite(path) as ws:
        return ws.registry.definitions("demo").get("fingerprint")


def run_demo(
    out_dir: Path,
    definitions: Path,
    config: DemoConfig | None = None,
    *,
    fresh: bool = False,
    progress: Progress | None = None,
    previews: Callable[[Path], Path | None] | None = None,
    workers: int | None = None,
) -> DemoResult:
    """Build (or reuse) the demo workspace, dispatch, simulate, and write the report.

    Writes ``workspace.db``, ``deliveries.jsonl`` and ``report.html`` into
    ``out_dir``. A workspace built by an earlier run with the same
    :meth:`DemoConfig.fingerprint` is reused (only the report is redrawn)
    unless ``fresh``.

    Args:
        out_dir: Where to write.
        definitions: ``templates/demo/demo.json``.
        config: What to generate (default: 100,000 users).
        fresh: Rebuild even when a matching workspace exists.
        progress: Receives progress lines.
        previews: Called with ``out_dir / "preview"`` to write template previews;
            returns the index page (shown in the summary).
        workers: Processes generating the data (see :func:`populate_sqlite`).

    Raises:
        DefinitionError: the definitions file is missing or invalid.
    """
    config = config or DemoConfig()
    say = progress or (lambda _line: None)
    started = _time.monotonic()
    spec = load_definitions(definitions)
    out_dir.mkdir(parents=True, exist_ok=True)
    database = out_dir / "workspace.db"
    deliveries_path = out_dir / "deliveries.jsonl"
    report_path = out_dir / "report.html"
    fingerprint = config.fingerprint()

    def clock() -> datetime:
        return config.now

    reuse = (
        not fresh
        and deliveries_path.exists()
        and _stored_fingerprint(database) == {**fingerprint, "complete": True}
    )
    responses: list[dict[str, Any]] = []
    engaged = delivered = 0
    if reuse:
        say(f"reusing {database} (same seed and size; pass --fresh to rebuild)")
        with Workspace.sqlite(database, clock=clock) as ws:
            counts = ws.registry.definitions("demo").get("counts", {})
            users, events_count = int(counts.get("users", 0)), int(counts.get("events", 0))
            delivered = int(counts.get("delivered", 0))
            engaged = int(counts.get("engagement_events", 0))
            say("computing stats")
            stats = compute_stats(ws)
    else:
        _remove_database(database)
        deliveries_path.unlink(missing_ok=True)
        with Workspace.sqlite(database, clock=clock) as ws:
            ws.registry.save_definition("demo", "fingerprint", {**fingerprint, "complete": False})
            say(
                f"[1/5] generating {config.users:,} users and about "
                f"{int(config.users * config.events_per_user):,} events (seed {config.seed})"
            )
            users, events_count = populate_sqlite(database, config, workers=workers, progress=say)
            say("[2/5] publishing business events, bulletins and campaigns")
            for event in spec.get("business_events", []):
                ws.define_business_event(event)
            for group in spec.get("control_groups", []):
                ws.define_control_group(group)
            for bulletin in spec.get("bulletins", []):
                ws.publish_bulletin(bulletin)
            for campaign in spec.get("campaigns", []):
                ws.publish_campaign(campaign)
            say("[3/5] raising business events and External Trigger calls")
            with JsonLinesSink(deliveries_path, include_skips=False) as sink:
                recorder = _Recorder(sink)
                for body in spec.get("raise", []):
                    result = ws.raise_business_event(body, sink=recorder)
                    responses.append(result.response)
                    say(
                        f"  {body.get('business_event')} {body.get('name')!r}: "
                        f"{result.summary.sent:,} sent to {result.summary.qualified:,} qualified"
                    )
                calls = sent = 0
                for body in _trigger_calls(spec, config):
                    result = ws.trigger_campaign(body, sink=recorder)
                    responses.append(result.response)
                    calls += 1
                    sent += result.summary.sent
                say(f"  {calls:,} External Trigger calls: {sent:,} sent")
                delivered = sink.written
            say("[4/5] simulating engagement and conversions")
            simulated, tally = _simulate(ws, recorder, config)
            ws.store.append_events(simulated)
            engaged = len(simulated)
            say(
                f"  {tally['viewed']:,} viewed, {tally['clicked']:,} clicked, "
                f"{tally['converted']:,} goal events"
            )
            say("[5/5] computing stats")
            stats = compute_stats(ws)
            ws.registry.save_definition(
                "demo",
                "counts",
                {
                    "users": users,
                    "events": events_count,
                    "delivered": delivered,
                    "engagement_events": engaged,
                },
            )
            ws.registry.save_definition("demo", "fingerprint", {**fingerprint, "complete": True})
    preview_index = previews(out_dir / "preview") if previews is not None else None
    links = [("deliveries.jsonl", deliveries_path.name)]
    if preview_index is not None:
        links.append(("template previews", preview_index.relative_to(out_dir).as_posix()))
    write_report(
        stats,
        report_path,
        title="tidings demo report",
        workspace=str(database),
        links=links,
    )
    say(f"wrote {report_path}")
    return DemoResult(
        database=database,
        deliveries=deliveries_path,
        report=report_path,
        previews=preview_index,
        users=users,
        events=events_count,
        delivered=delivered,
        engagement_events=engaged,
        reused=reuse,
        seconds=_time.monotonic() - started,
        stats=stats,
        responses=responses,
    )
