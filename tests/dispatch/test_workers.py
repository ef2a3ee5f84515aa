"""Fast paths and worker processes of the dispatch pipeline: same records, any worker count."""

import json
import math
import pickle
import shutil
from concurrent.futures import Future

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.dispatch.viewers import NOW, RAISE, drama_bulletin, populate
from tests.strategies import examples

import tidings
import tidings.dispatch.run as run_module
from tidings.channels import EmailMessage, PushMessage, WebhookMessage
from tidings.channels.email import EmailPayload
from tidings.channels.push import PushPayload
from tidings.channels.webhook import WebhookPayload
from tidings.dispatch import DispatchPlan, run_dispatch
from tidings.dispatch.eligibility import Person
from tidings.dispatch.workers import worker_pool
from tidings.errors import PayloadTooLargeError
from tidings.models.users import UserProfile
from tidings.storage._sqlite_rows import profile_from_row
from tidings.storage.sqlite import SQLiteStore

SMALL_CHUNK = 40  # several chunks from a few hundred users, so the worker pool runs

text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
profiles = st.builds(
    dict,
    identity=text.filter(lambda s: s.strip() != ""),
    name=st.none() | text,
    email=st.none()
    | st.sampled_from(["a@example.com", "B.c+d@mail.example.org", "ünï@exämple.com"]),
    push_tokens=st.lists(st.from_regex(r"[A-Za-z0-9:_-]{1,40}", fullmatch=True), max_size=3),
    timezone=st.sampled_from([None, "UTC", "Asia/Kolkata", "America/New_York"]),
    properties=st.dictionaries(text, json_value, max_size=4),
)


# -- trusted constructors behave like validated models ---------------------------------


@settings(max_examples=examples(40), deadline=None)
@given(data=profiles)
def test_profile_read_from_sqlite_equals_the_validated_profile(data):
    validated = UserProfile.model_validate(data)
    with _Store() as store:
        store.upsert_profiles([validated])
        (read,) = store.get_profiles([validated.identity]).values()
    assert read == validated
    assert read.__dict__ == validated.__dict__
    assert read.model_dump() == validated.model_dump()
    assert read.namespace() == validated.namespace()
    assert pickle.loads(pickle.dumps(read))  # noqa: S301 - our own bytes == validated
    assert read == UserProfile.model_construct(**validated.model_dump())
    assert read.model_fields_set == set(UserProfile.model_fields)
    with pytest.raises(Exception, match="frozen"):
        read.name = "changed"  # type: ignore[misc]


class _Store:
    """An in-memory SQLite store closed on exit (hypothesis reruns the test body)."""

    def __enter__(self) -> SQLiteStore:
        self.store = SQLiteStore(":memory:")
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


@pytest.mark.parametrize(
    "tokens",
    ['["tok-1"]', '["a","b"]', '["q\\"uote"]', '["back\\\\slash"]', '["\\u00e9"]', '[""]', "[]"],
)
def test_stored_push_tokens_decode_like_json(tokens):
    row = ("u1", None, None, tokens, None, '{"a": [1, 2.5, null]}')
    profile = profile_from_row(row)
    assert profile.push_tokens == tuple(json.loads(tokens))
    assert profile.properties == {"a": [1, 2.5, None]}


def test_profile_namespace_sent_to_workers_matches_the_model():
    for data in (
        {"identity": "u1", "name": "Ann", "email": "a@x.io", "properties": {"name": "prop"}},
        {"identity": "u2", "properties": {"identity": "spoof", "plan": "gold"}},
        {"identity": "u3", "name": None, "email": "e@x.io"},
    ):
        profile = UserProfile.model_validate(data)
        assert Person.of(profile).profile == profile.namespace()


PAYLOAD_CASES = [
    (
        PushMessage(
            title="Hi {{ Profile.name }}",
            body="{{ ExternalTrigger.note }}",
            deep_link="app://x/{{ ExternalTrigger.id }}",
            extras={"k": "{{ ExternalTrigger.id }}"},
            ttl_seconds=60,
        ),
        PushPayload,
    ),
    (
        EmailMessage(
            subject="Order {{ ExternalTrigger.id }}", html="<p>{{ ExternalTrigger.note }}"
        ),
        EmailPayload,
    ),
    (
        WebhookMessage(
            url="https://hooks.example.com/{{ ExternalTrigger.id }}",
            headers={"X-Id": "{{ ExternalTrigger.id }}"},
            body='{"note": "{{ ExternalTrigger.note }}"}',
        ),
        WebhookPayload,
    ),
]


@pytest.mark.parametrize(("message", "payload_type"), PAYLOAD_CASES)
def test_rendered_payloads_equal_their_validated_models(message, payload_type):
    payload = message.render({"name": "Ann"}, {"id": "7 & 8", "note": 'a "quoted" <b>note</b>'})
    validated = payload_type.model_validate(payload.to_dict())
    assert type(payload) is payload_type
    assert payload == validated
    assert payload.model_dump() == validated.model_dump()
    assert payload.model_fields_set == set(payload_type.model_fields)
    assert pickle.loads(pickle.dumps(payload))  # noqa: S301 - our own bytes == validated
    with pytest.raises(Exception, match="frozen"):
        payload.url = "changed"  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None)
@given(
    title=st.text(max_size=300),
    body=st.text(st.characters(max_codepoint=0x1F), max_size=300),
    extras=st.dictionaries(st.text(max_size=20), st.just("x"), max_size=3),
    ttl=st.none() | st.integers(0, 10**30),
    limit=st.integers(1, 2500),
)
def test_push_payload_is_refused_exactly_when_its_json_is_over_the_limit(
    title, body, extras, ttl, limit
):
    fields = {
        "title": "{{ ExternalTrigger.t }}",
        "body": "{{ ExternalTrigger.b }}",
        "deep_link": "app://{{ ExternalTrigger.t }}",
        "extras": dict.fromkeys(extras, "{{ ExternalTrigger.t }}"),
        "ttl_seconds": ttl,
    }
    trigger = {"t": title, "b": body}
    unlimited = PushMessage(**fields, max_payload_bytes=10**9).render(trigger=trigger)
    size = len(unlimited.to_json().encode())
    message = PushMessage(**fields, max_payload_bytes=limit)
    if size <= limit:
        assert message.render(trigger=trigger) == unlimited
    else:
        with pytest.raises(PayloadTooLargeError) as caught:
            message.render(trigger=trigger)
        assert caught.value.size == size


def test_an_oversized_push_still_reports_its_exact_size():
    message = PushMessage(title="{{ ExternalTrigger.t }}", body="b", max_payload_bytes=100)
    with pytest.raises(PayloadTooLargeError) as caught:
        message.render(trigger={"t": "\x01" * 30})
    payload = PushPayload.model_construct(
        title="\x01" * 30, body="b", deep_link=None, image_url=None, extras={}, ttl_seconds=None
    )
    assert caught.value.size == len(payload.to_json().encode())


# -- worker processes: the same records whatever the worker count ----------------------


BULLETIN = drama_bulletin(creator="ops@example.com")
CAMPAIGN = {
    "id": "orders",
    "name": "Order shipped",
    "message": {
        "channel": "email",
        "subject": "Order {{ ExternalTrigger.order_id }}",
        "html": "<p>Hi {{ Profile.name | default: 'there' }}: {{ ExternalTrigger.order_id }}</p>",
    },
    "filters": [{"kind": "property", "property": "language", "op": "ne", "value": "Tamil"}],
    "control_group": {"kind": "campaign", "percent": 20},
    "targeting_cap": 100,
}


@pytest.fixture(scope="module")
def seed_db(tmp_path_factory):
    return seed_workspace(tmp_path_factory.mktemp("workers") / "seed.db")


def seed_workspace(path):
    """The workspace of these tests: 600 users, the campaign, a day's frequency cap on email."""
    with tidings.Workspace.sqlite(path, clock=lambda: NOW) as ws:
        ws.configure({"frequency_caps": [{"limit": 1, "period": "day", "channel": "email"}]})
        populate(ws, 600, BULLETIN)
        ws.publish_campaign(CAMPAIGN)
        # Some users already got an email today: the frequency cap holds them back.
        ws.message_via_identity(
            {
                "to": {"identity": [f"user-{i:04d}" for i in range(0, 60, 3)]},
                "content": {"channel": "email", "subject": "Earlier", "html": "<p>x</p>"},
            }
        )
    return path


def _campaign_body():
    to = []
    for i in range(0, 520, 2):
        entry = {"identity": f"user-{i:04d}"}
        if i % 11:
            entry["ExternalTrigger"] = {"order_id": f"A-{i}"}  # else: missing key
        to.append(entry)
    to += [{"identity": "ghost-1"}, {"identity": "user-0004", "ExternalTrigger": {"order_id": "x"}}]
    return {"campaign_id": "orders", "to": to, "idempotency_key": "ship-1"}


def _outcome(seed_db, tmp_path, workers, trigger):
    path = tmp_path / f"ws-{workers}.db"
    shutil.copy(seed_db, path)
    with tidings.Workspace.sqlite(path, clock=lambda: NOW, workers=workers) as ws:
        result = trigger(ws)
        activity = ws.activity_log()
    deliveries = [d.to_dict() for d in result.deliveries]
    skips = [s.to_dict() for s in result.skips]
    return result.response, result.summary.to_dict(), deliveries, skips, activity


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(run_module, "CHUNK_SIZE", SMALL_CHUNK)


def _reasons(skips):
    return {s["reason"] for s in skips}


class _CountingPool:
    """A real worker pool, started and warmed up front, counting the chunks it decides."""

    def __init__(self, plan, encode, workers):
        self.pool = worker_pool(plan, encode, workers)
        for future in [self.pool.submit(run_module._worker_ready) for _ in range(workers)]:
            assert future.result()
        self.chunks = 0

    def submit(self, fn, *args):
        if fn is run_module._worker_ready:  # warmed up already: every chunk goes out
            ready = Future()
            ready.set_result(True)
            return ready
        if fn in (run_module._decide_in_worker, run_module._decide_rows_in_worker):
            self.chunks += 1
        return self.pool.submit(fn, *args)

    def shutdown(self, **kwargs):
        self.pool.shutdown(**kwargs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.shutdown()


@pytest.fixture
def pools(monkeypatch):
    started = []

    def counting_pool(plan, encode, workers):
        started.append(_CountingPool(plan, encode, workers))
        return started[-1]

    monkeypatch.setattr(run_module, "_worker_pool", counting_pool)
    return started


def test_capped_bulletin_gives_the_same_records_with_two_workers(
    seed_db, tmp_path, small_chunks, pools
):
    one = _outcome(seed_db, tmp_path, 1, lambda ws: ws.raise_business_event(RAISE))
    assert pools == []
    two = _outcome(seed_db, tmp_path, 2, lambda ws: ws.raise_business_event(RAISE))
    (pool,) = pools
    assert one == two
    assert pool.chunks == math.ceil(one[1]["candidates"] / SMALL_CHUNK)  # every chunk
    response, summary, deliveries, skips, _ = one
    assert response == {"status": "success", "targets": 1}
    assert summary["candidates"] > 3 * SMALL_CHUNK
    assert len(deliveries) == 150  # the cap binds
    assert {"control_group", "targeting_cap", "no_push_token"} <= _reasons(skips)
    assert any(d["send_at"] != NOW.isoformat() for d in deliveries)  # DND delays some


def test_campaign_gives_the_same_records_with_two_workers(seed_db, tmp_path, small_chunks, pools):
    one = _outcome(seed_db, tmp_path, 1, lambda ws: ws.trigger_campaign(_campaign_body()))
    two = _outcome(seed_db, tmp_path, 2, lambda ws: ws.trigger_campaign(_campaign_body()))
    (pool,) = pools
    assert one == two
    unique = len({entry["identity"] for entry in _campaign_body()["to"]})
    assert pool.chunks == math.ceil(unique / SMALL_CHUNK)
    response, summary, deliveries, skips, _ = one
    assert response["status"] == "success"
    assert len(deliveries) == 100  # the targeting cap of 100
    assert {
        "unknown_identity",
        "filtered_out",
        "control_group",
        "missing_trigger_key",
        "frequency_cap",
        "targeting_cap",
        "duplicate_recipient",
        "no_email",
    } <= _reasons(skips)
    assert summary["candidates"] == len(_campaign_body()["to"])


def test_interrupted_dispatch_with_workers_resumes_to_the_uninterrupted_file(
    seed_db, tmp_path, small_chunks, pools
):
    reference = tmp_path / "reference.jsonl"
    path = tmp_path / "ref.db"
    shutil.copy(seed_db, path)
    with (
        tidings.Workspace.sqlite(path, clock=lambda: NOW) as ws,
        tidings.JsonLinesSink(reference) as sink,
    ):
        ws.raise_business_event(RAISE, sink=sink)

    class CrashError(Exception):
        pass

    out = tmp_path / "out.jsonl"
    path = tmp_path / "crashing.db"
    shutil.copy(seed_db, path)
    with tidings.Workspace.sqlite(path, clock=lambda: NOW, workers=2) as ws:
        sink = tidings.JsonLinesSink(out)
        written = []

        def failing(record):
            if len(written) == 2 * SMALL_CHUNK + 7:  # in the middle of the third chunk
                raise CrashError
            written.append(record)
            sink(record)

        with pytest.raises(CrashError):
            ws.raise_business_event(RAISE, sink=failing)
        sink.close()
    with (
        tidings.Workspace.sqlite(path, clock=lambda: NOW, workers=2) as ws,
        tidings.JsonLinesSink(out) as sink,
    ):
        result = ws.raise_business_event(RAISE, sink=sink)
    assert result.summary.sent == 150
    assert len(pools) == 2
    assert pools[0].chunks >= 3  # the crash came in the third chunk emitted
    assert pools[1].chunks >= 1
    # Every delivery exactly once; the skips of the chunk in flight may repeat.
    got = _lines(out)
    expected = _lines(reference)
    assert sorted(d for d in got if '"delivery"' in d) == sorted(
        d for d in expected if '"delivery"' in d
    )
    assert set(got) == set(expected)


def _lines(path):
    return path.read_text().splitlines()


def test_a_single_chunk_never_starts_a_pool(monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was started for one chunk")

    monkeypatch.setattr(run_module, "_worker_pool", no_pool)
    ws = tidings.Workspace(clock=lambda: NOW, workers=4)
    ws.upsert_profiles([{"identity": "u1", "push_tokens": ["t"]}])
    campaign_id = ws.publish_campaign(
        {"name": "c", "message": {"channel": "push", "title": "t", "body": "b"}}
    )
    result = ws.trigger_campaign({"campaign_id": campaign_id, "to": {"identity": ["u1", "u2"]}})
    assert result.response["sent"] == 1


@pytest.mark.parametrize("workers", [0, -1])
def test_workers_must_be_positive(workers):
    with pytest.raises(ValueError, match="at least 1"):
        tidings.Workspace(workers=workers)
    plan = DispatchPlan(
        source="campaign",
        source_id="c",
        message=PushMessage(title="t", body="b"),
        dispatch_key="k",
        now=NOW,
    )
    ws = tidings.Workspace()
    with pytest.raises(ValueError, match="at least 1"):
        run_dispatch(
            plan, [], store=ws.store, ledger=ws.ledger, sink=None, keep=None, workers=workers
        )


def test_cli_dispatch_with_workers_writes_the_same_deliveries(
    seed_db, tmp_path, small_chunks, capsys, monkeypatch
):
    from tidings.cli import main

    monkeypatch.setattr("tidings.workspace._utc_now", lambda: NOW)  # the CLI's clock

    body = tmp_path / "raise.json"
    body.write_text(json.dumps(RAISE))
    outputs = []
    for workers in ("1", "2"):
        db = tmp_path / f"cli-{workers}.db"
        shutil.copy(seed_db, db)
        out = tmp_path / f"cli-{workers}.jsonl"
        args = ["dispatch", "--db", str(db), "--business-event", str(body), "--out", str(out)]
        assert main([*args, "--skips", "--workers", workers]) == 0
        assert json.loads(capsys.readouterr().out)["summary"]["sent"] == 150
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    assert outputs[0].count('"delivery"') == 150


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_cli_refuses_a_worker_count_below_one(seed_db, tmp_path, capsys, value):
    from tidings.cli import main

    body = tmp_path / "raise.json"
    body.write_text(json.dumps(RAISE))
    args = ["dispatch", "--db", str(seed_db), "--business-event", str(body)]
    assert main([*args, "--workers", value]) == 2
    assert "--workers" in capsys.readouterr().err
