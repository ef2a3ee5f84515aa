"""A live service on a free loopback port, with two accounts (acme and globex)."""

import contextlib
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import uvicorn

import tidings
from tidings.service import create_app, hash_passcode, load_config

ACME = ("acme", "acme-passcode")
GLOBEX = ("globex", "globex-passcode")

PROGRAM_RELEASED = {"name": "Program Released", "properties": ["program_id", "language"]}
BULLETIN = {
    "id": "new-episode",
    "name": "New episode",
    "business_event": "Program Released",
    "segment": {"kind": "all"},
    "match": [
        {
            "business_property": "language",
            "event": "Watched",
            "event_property": "language",
            "within_days": 30,
        }
    ],
    "message": {"channel": "push", "title": "New", "body": "{{ BusinessEvent.program_id }}"},
    "creator": "jdoe@example.com",
    "published": True,
}
CAMPAIGN = {
    "name": "Order summary",
    "message": {
        "channel": "email",
        "subject": "Your order",
        "html": "Hi {{ Profile.name }}, order {{ ExternalTrigger.order_id }}",
    },
    "targeting_cap": 100,
}
RAISE_BODY = {
    "business_event": "Program Released",
    "name": "Sa Re Ga Ma episode 12",
    "properties": {"program_id": "234567", "language": "Hindi"},
    "c-by": "jdoe@example.com",
    "when": "now",
}


def _profiles(n):
    return [
        {
            "identity": f"user-{i}",
            "name": f"User {i}",
            "email": f"user{i}@example.com",
            "push_tokens": [f"tok-{i}"],
        }
        for i in range(n)
    ]


def _events(n):
    when = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return [
        {
            "identity": f"user-{i}",
            "name": "Watched",
            "properties": {"language": "Hindi"},
            "timestamp": when,
        }
        for i in range(n)
    ]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_config(root, extra=""):
    (root / "service.toml").write_text(
        '[service]\ndata_dir = "data"\nmax_body_bytes = 65536\n'
        + extra
        + "".join(
            f'[[accounts]]\nid = "{aid}"\npasscode = "{hash_passcode(code)}"\n'
            for aid, code in (ACME, GLOBEX)
        ),
        encoding="utf-8",
    )
    return load_config(root / "service.toml")


def _seed(config):
    campaigns = {}
    for aid, users in (("acme", 5), ("globex", 3)):
        account = config.accounts[aid]
        account.db.parent.mkdir(parents=True)
        with tidings.Workspace.sqlite(account.db) as ws:
            ws.define_business_event(PROGRAM_RELEASED)
            ws.publish_bulletin(BULLETIN)
            campaigns[aid] = ws.publish_campaign(CAMPAIGN)
            ws.upsert_profiles(_profiles(users))
            ws.record_events(_events(users))
    return campaigns


@contextlib.contextmanager
def serving(app):
    """Run ``app`` with uvicorn on a free loopback port; yield its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start in 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A running server; its accounts' workspaces hold one bulletin and one campaign.

    Its rate limit is high enough that no test meets it (see ``limited``).
    """
    config = _write_config(tmp_path_factory.mktemp("service"), "rate_limit = 100000\n")
    campaigns = _seed(config)
    with serving(create_app(config)) as url:
        yield SimpleNamespace(url=url, config=config, campaigns=campaigns, raise_body=RAISE_BODY)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A server with tight limits: 1 request a second (3 at once), 3 recipients a call."""
    config = _write_config(
        tmp_path_factory.mktemp("limited"),
        "rate_limit = 1\nrate_burst = 3\nmax_recipients_per_call = 3\n",
    )
    campaigns = _seed(config)
    with serving(create_app(config)) as url:
        yield SimpleNamespace(url=url, config=config, campaigns=campaigns, raise_body=RAISE_BODY)
