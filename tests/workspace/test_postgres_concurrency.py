"""Eight processes sharing one PostgreSQL workspace: caps exact, one record per candidate.

Every process triggers the same capped campaign and raises the same capped
bulletin over overlapping audiences at the same time; a second test crosses two
campaigns under one frequency cap (claims of different sources for the same
users). No serialisation failure or deadlock may reach the caller.
"""

import multiprocessing
from datetime import UTC, datetime, timedelta

import tidings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PROCESSES = 8
GENRES = ["Drama", "Comedy", "Thriller", "Documentary"]


def _clock() -> datetime:
    return NOW


def _populate(ws: tidings.Workspace, users: int = 400) -> None:
    ws.upsert_profiles(
        {"identity": f"user-{i:04d}", "name": f"U{i}", "push_tokens": [f"t{i}"]}
        for i in range(users)
    )
    # Two genres each (i % 4 and (i + 1) % 4): the audiences of two genres overlap.
    ws.record_events(
        {
            "identity": f"user-{i:04d}",
            "name": "Movie Watched",
            "properties": {"genre": GENRES[(i + k) % 4]},
            "timestamp": (NOW - timedelta(days=1 + k)).isoformat(),
        }
        for i in range(users)
        for k in range(2)
    )


def _worker(dsn: str, campaign_id: str, worker: int, queue) -> None:
    try:
        ws = tidings.Workspace.postgres(dsn, clock=_clock)
        asked = 0
        for batch in range(4):
            ids = [f"user-{(worker * 50 + batch * 25 + i) % 400:04d}" for i in range(40)]
            result = ws.trigger_campaign(
                {"to": {"identity": ids}, "campaign_id": campaign_id, "ExternalTrigger": {}}
            )
            assert result.ok, result.response
            asked += len(ids)
        for genre in (GENRES[worker % 4], GENRES[(worker + 1) % 4]):
            result = ws.raise_business_event(
                {
                    "business_event": "Program Released",
                    "name": f"{genre} {worker}",
                    "properties": {"genre": genre},
                    "c-by": "test",
                    "when": "now",
                }
            )
            assert result.ok, result.response
        ws.close()
        queue.put(("ok", asked))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def _start(target, args_of):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_of(w), queue)) for w in range(PROCESSES)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    errors = [detail for status, detail in results if status != "ok"]
    assert errors == []
    return [detail for _, detail in results]


def test_caps_exact_and_one_record_per_candidate_across_8_processes(postgres_dsn):
    ws = tidings.Workspace.postgres(postgres_dsn, clock=_clock)
    _populate(ws)
    campaign_id = ws.publish_campaign(
        {
            "name": "Coupons",
            "message": {"channel": "push", "title": "Coupon", "body": "{{ Profile.name }}"},
            "targeting_cap": 100,
        }
    )
    ws.define_business_event({"name": "Program Released", "properties": ["genre"]})
    ws.publish_bulletin(
        {
            "id": "genre",
            "name": "New in your genre",
            "business_event": "Program Released",
            "match": [
                {"business_property": "genre", "event": "Movie Watched", "event_property": "genre"}
            ],
            "message": {"channel": "push", "title": "New", "body": "{{ BusinessEvent.genre }}"},
            "targeting_cap": 50,
            "published": True,
        }
    )
    ws.close()

    asked = _start(_worker, lambda w: (postgres_dsn, campaign_id, w))

    ws = tidings.Workspace.postgres(postgres_dsn, clock=_clock)
    try:
        campaign = ws.ledger.outcomes(campaign_id)
        bulletin = ws.ledger.outcomes("genre")
        assert ws.ledger.cap_used(campaign_id) == 100
        assert ws.ledger.cap_used("genre") == 50
    finally:
        ws.close()
    # Each candidate of each dispatch has exactly one record.
    assert len(campaign) == sum(asked)
    assert len({(r["dispatch_key"], r["identity"]) for r in campaign}) == len(campaign)
    assert len({(r["dispatch_key"], r["identity"]) for r in bulletin}) == len(bulletin)
    raises = {r["dispatch_key"] for r in bulletin}
    assert len(raises) == 2 * PROCESSES
    # Each raise's candidates: the users who watched its genre (200 of the 400).
    assert all(sum(r["dispatch_key"] == key for r in bulletin) == 200 for key in raises)
    # The caps are exact: as many distinct users were sent to as there are slots.
    delivered = {r["identity"] for r in campaign if r["state"] != "skipped"}
    assert len(delivered) == 100
    assert len({r["identity"] for r in bulletin if r["state"] != "skipped"}) == 50
    assert {r["reason"] for r in campaign if r["state"] == "skipped"} == {"targeting_cap"}


def _frequency_worker(dsn: str, campaigns: tuple[str, str], worker: int, queue) -> None:
    try:
        ws = tidings.Workspace.postgres(dsn, clock=_clock)
        sent = 0
        for round_ in range(3):
            campaign_id = campaigns[(worker + round_) % 2]
            result = ws.trigger_campaign(
                {
                    "to": {"identity": [f"user-{i:04d}" for i in range(20)]},
                    "campaign_id": campaign_id,
                }
            )
            assert result.ok, result.response
            sent += len(list(result.deliveries))
        ws.close()
        queue.put(("ok", sent))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def test_frequency_cap_exact_across_two_campaigns_and_8_processes(postgres_dsn):
    ws = tidings.Workspace.postgres(postgres_dsn, clock=_clock)
    _populate(ws, users=20)
    ws.configure({"frequency_caps": [{"limit": 3, "period": "day"}]})
    campaigns = tuple(
        ws.publish_campaign(
            {"name": name, "message": {"channel": "push", "title": name, "body": "x"}}
        )
        for name in ("A", "B")
    )
    ws.close()
    sent = _start(_frequency_worker, lambda w: (postgres_dsn, campaigns, w))
    assert sum(sent) == 20 * 3  # 8 processes x 3 triggers x 20 users asked; 3 a day each
