"""Dask dispatch (a LocalCluster, 2 worker processes) against the one-process dispatch.

The same Parquet audience, definitions and requests, dispatched in one process and
on the cluster, each with its own PostgreSQL ledger, give the same JSON lines
(identities, payloads, keys, send times) and the same summaries; a worker killed
mid-dispatch changes nothing.
"""

import itertools
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

import tidings

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
pytest.importorskip("pyarrow", reason="the dask extra is not installed")

from tidings.scale import DaskDispatcher  # noqa: E402 - after the skip checks
from tidings.storage.parquet import ParquetStore  # noqa: E402

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
USERS = 2_000
CAP = 300
_schemas = itertools.count()


@pytest.fixture(scope="module")
def audience(tmp_path_factory):
    """The Parquet audience: 2,000 users over 6 partitions, with their events."""
    root = tmp_path_factory.mktemp("audience")
    store = ParquetStore(root, partitions=6)
    zones = [None, "Asia/Kolkata", "America/New_York", "Europe/Paris"]
    store.upsert_profiles(
        tidings.UserProfile(
            identity=f"u{i:05d}",
            name=f"User {i}" if i % 7 else None,
            push_tokens=(f"tok-{i}",) if i % 11 else (),
            timezone=zones[i % 4],
            properties={"tier": ["gold", "silver", "bronze"][i % 3], "score": i % 100},
        )
        for i in range(USERS)
    )
    day_before = NOW - timedelta(days=1)
    store.append_events(
        tidings.UserEvent(
            identity=f"u{i:05d}",
            name="Watched",
            properties={"genre": genre},
            timestamp=day_before + timedelta(seconds=i),
        )
        for i in range(USERS)
        for genre in (["Drama"] if i % 2 == 0 else []) + (["Comedy"] if i % 3 == 0 else [])
    )
    return root


def _dsn(postgres_cluster):
    from tidings.storage._pg import migrate

    schema = f"s{os.getpid()}_{next(_schemas)}"
    dsn = postgres_cluster.dsn("tidings") + f"&options=-c%20tidings.schema%3D{schema}"
    migrate(dsn)
    return dsn


def _workspace(root, dsn):
    from tidings.storage.postgres import open_postgres

    _, ledger, registry = open_postgres(dsn)
    ws = tidings.Workspace(ParquetStore(root), ledger, registry, clock=lambda: NOW)
    ws.configure({"frequency_caps": [{"limit": 1, "period": "day"}]})
    for event in ("Teaser", "Released"):
        ws.define_business_event({"name": event, "properties": ["genre", "title"]})
    for bulletin_id, event, cap, control in (
        ("warm", "Teaser", None, None),
        ("capped", "Released", CAP, 10),
    ):
        ws.publish_bulletin(
            {
                "id": bulletin_id,
                "name": bulletin_id,
                "business_event": event,
                "match": [
                    {"business_property": "genre", "event": "Watched", "event_property": "genre"}
                ],
                "message": {
                    "channel": "push",
                    "title": "{{ BusinessEvent.title }} for {{ Profile.name | default: 'you' }}",
                    "body": "{% if Profile.tier == 'gold' %}Gold early access{% else %}"
                    "Now streaming{% endif %}: {{ BusinessEvent.genre }} ({{ Profile.score }})",
                },
                "targeting_cap": cap,
                "control_group": {"kind": "campaign", "percent": control} if control else None,
                "published": True,
            }
        )
    return ws


def _raise(event, genre, key):
    return {
        "business_event": event,
        "name": f"{genre} night",
        "properties": {"genre": genre, "title": f"{genre} <premiere>"},
        "c-by": "tests",
        "when": "now",
        "idempotency_key": key,
    }


RAISES = [("Teaser", "Comedy", "first"), ("Released", "Drama", "second")]
"""The Comedy teaser fills the day's frequency cap of a third of the users; then the
capped Drama bulletin (cap, control group) reaches half of them."""


def _one_process(root, dsn, out):
    ws = _workspace(root, dsn)
    summaries = []
    with tidings.JsonLinesSink(out, include_skips=False) as sink:
        for event, genre, key in RAISES:
            result = ws.raise_business_event(_raise(event, genre, key), sink=sink)
            assert result.ok, result.response
            summaries.append({b: s.to_dict() for b, s in result.summaries.items()})
    ws.close()
    return sorted(out.read_text().splitlines()), summaries


def _lines(folder):
    lines = []
    for path in sorted(folder.rglob("*.jsonl")):
        lines.extend(path.read_text().splitlines())
    return sorted(lines)


@pytest.fixture(scope="module")
def reference(audience, postgres_cluster, tmp_path_factory):
    """The one-process dispatch's lines and summaries."""
    out = tmp_path_factory.mktemp("one-process") / "one.jsonl"
    return _one_process(audience, _dsn(postgres_cluster), out)


def test_dask_dispatch_identical_to_one_process(
    client, audience, reference, postgres_cluster, tmp_path
):
    expected_lines, expected_summaries = reference
    dsn = _dsn(postgres_cluster)
    ws = _workspace(audience, dsn)
    seen = []
    runner = DaskDispatcher(
        client, ledger=dsn, out_dir=tmp_path / "dask", chunk_size=200, progress=seen.append
    )
    summaries = []
    for event, genre, key in RAISES:
        result = ws.raise_business_event(_raise(event, genre, key), runner=runner)
        assert result.ok, result.response
        assert list(result.deliveries) == []  # records stay on the workers' files
        summaries.append({b: s.to_dict() for b, s in result.summaries.items()})
    ws.close()
    lines = _lines(tmp_path / "dask")
    assert lines == expected_lines
    assert summaries == expected_summaries
    capped = expected_summaries[1]["capped"]
    assert 0 < capped["sent"] < CAP  # the frequency cap took some of the chosen users
    assert capped["held_out"] > 0
    assert capped["capped"] > 0
    assert expected_summaries[1]["capped"]["skipped"].get("frequency_cap", 0) > 0
    # Progress came once per partition and dispatch; every summary adds up.
    assert len(seen) == 6 * len(RAISES)
    assert len({(p.partition, p.path) for p in seen}) == len(seen)
    assert not list((tmp_path / "dask").rglob("*.tmp"))


def test_a_worker_killed_mid_dispatch_loses_and_repeats_nothing(
    client, audience, reference, postgres_cluster, tmp_path
):
    expected_lines, expected_summaries = reference
    dsn = _dsn(postgres_cluster)
    ws = _workspace(audience, dsn)
    out = tmp_path / "dask"
    runner = DaskDispatcher(client, ledger=dsn, out_dir=out, chunk_size=10)
    pids = client.run(os.getpid)
    killed = []

    def kill_one_busy_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            busy = [
                addr
                for addr, keys in client.processing().items()
                if any(str(k).startswith("dispatch-") for k in keys)
            ]
            written = [p for p in out.rglob(".*.jsonl.tmp") if p.stat().st_size > 0]
            if busy and written:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.005)

    summaries = []
    for event, genre, key in RAISES:
        if event == "Released":
            killer = threading.Thread(target=kill_one_busy_worker)
            killer.start()
        result = ws.raise_business_event(_raise(event, genre, key), runner=runner)
        assert result.ok, result.response
        summaries.append({b: s.to_dict() for b, s in result.summaries.items()})
    killer.join()
    ws.close()
    assert killed, "no worker was killed: the dispatch ended before the kill"
    lines = _lines(out)
    assert len(lines) == len(set(lines))  # no duplicates
    assert lines == expected_lines  # no losses
    assert summaries == expected_summaries
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


# -- a campaign call: the recipients a request names ----------------------------------------

CAMPAIGN_CAP = 400


def _campaign_workspace(root, dsn):
    ws = _workspace(root, dsn)
    ws.publish_campaign(
        {
            "id": "premiere",
            "name": "premiere",
            "message": {
                "channel": "push",
                "title": "{{ ExternalTrigger.show }} for {{ Profile.name | default: 'you' }}",
                "body": "Seat {{ ExternalTrigger.seat }}, {{ Profile.tier }} ({{ Profile.score }})",
            },
            "filters": [{"kind": "property", "property": "score", "op": "lt", "value": 95}],
            "control_group": {"kind": "campaign", "percent": 10},
            "targeting_cap": CAMPAIGN_CAP,
            "max_recipients_per_call": 5_000,
        }
    )
    return ws


def _campaign_call():
    """1,500 users in a scrambled order (one process claims the cap in that order, chunk by
    chunk), each with their own data, two listed twice, one unknown."""
    order = sorted(range(USERS), key=lambda i: (i * 7919) % USERS)[:1_500]
    to = [
        {"identity": f"u{i:05d}", "ExternalTrigger": {"seat": i % 40, "show": f"Show <{i % 3}>"}}
        for i in order
    ]
    to += [{"identity": f"u{order[3]:05d}"}, {"identity": "nobody"}]
    return {
        "campaign_id": "premiere",
        "to": to,
        "idempotency_key": "call-1",
    }


def _dispatch_campaign(ws, runner=None, sink=None):
    summaries = []
    first = ws.raise_business_event(_raise(*RAISES[0]), sink=sink, runner=runner)
    summaries.append(first.summary.to_dict())
    result = ws.trigger_campaign(_campaign_call(), sink=sink, runner=runner)
    assert result.ok, result.response
    summaries.append(result.summary.to_dict())
    return summaries, result.response


def test_dask_campaign_identical_to_one_process(client, audience, postgres_cluster, tmp_path):
    ws = _campaign_workspace(audience, _dsn(postgres_cluster))
    with tidings.JsonLinesSink(tmp_path / "one.jsonl", include_skips=True) as sink:
        expected, expected_response = _dispatch_campaign(ws, sink=sink)
    ws.close()
    dsn = _dsn(postgres_cluster)
    ws = _campaign_workspace(audience, dsn)
    out = tmp_path / "dask"
    runner = DaskDispatcher(client, ledger=dsn, out_dir=out, include_skips=True, chunk_size=64)
    summaries, response = _dispatch_campaign(ws, runner=runner)
    ws.close()
    assert _lines(out) == sorted((tmp_path / "one.jsonl").read_text().splitlines())
    assert summaries == expected
    assert response == expected_response
    campaign = expected[1]
    assert campaign["sent"] == CAMPAIGN_CAP  # frequency-capped users take no slot
    for reason in ("targeting_cap", "frequency_cap", "duplicate_recipient", "unknown_identity"):
        assert campaign["skipped"].get(reason, 0) > 0, reason
    assert campaign["held_out"] > 0
    assert campaign["filtered"] > 0
