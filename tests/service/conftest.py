"""A live service on a free loopback port, with two accounts (acme and globex)."""

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


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A running server; its accounts' workspaces hold one bulletin and one campaign."""
    root = tmp_path_factory.mktemp("service")
    (root / "service.toml").write_text(
        "[service]\n"
        'data_dir = "data"\n'
        "max_body_bytes = 65536\n"
        + "".join(
            f'[[accounts]]\nid = "{aid}"\npasscode = "{hash_passcode(code)}"\n'
            for aid, code in (ACME, GLOBEX)
        ),
        encoding="utf-8",
    )
    config = load_config(root / "service.toml")
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
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start in 30 s"
        time.sleep(0.05)
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{port}",
        config=config,
        campaigns=campaigns,
        raise_body=RAISE_BODY,
    )
    server.should_exit = True
    thread.join(timeout=30)
