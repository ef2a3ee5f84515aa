"""`tidings send`: dispatch to a file, queue it, send it to a real receiver; stats show it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tidings.cli import main
from tidings.storage import SQLiteLedger

USERS = 40


def _workspace(tmp_path: Path, url: str, capsys) -> Path:
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text(
        "".join(
            json.dumps({"identity": f"u{i:03d}", "name": f"User {i}", "email": f"u{i}@example.com"})
            + "\n"
            for i in range(USERS)
        ),
        encoding="utf-8",
    )
    definitions = tmp_path / "defs.json"
    definitions.write_text(
        json.dumps(
            {
                "campaigns": [
                    {
                        "name": "Upgrade",
                        "message": {
                            "channel": "webhook",
                            "url": url,
                            "body": '{"user": "{{ Profile.identity }}", "plan": "{{ ExternalTrigger.plan }}"}',
                        },
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    db = tmp_path / "ws.db"
    assert (
        main(
            [
                "import",
                "--db",
                str(db),
                "--profiles",
                str(profiles),
                "--definitions",
                str(definitions),
            ]
        )
        == 0
    )
    body = tmp_path / "trigger.json"
    body.write_text(
        json.dumps(
            {
                "campaign_id": "1",
                "to": {"identity": [f"u{i:03d}" for i in range(USERS)]},
                "ExternalTrigger": {"plan": "Pro"},
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "deliveries.jsonl"
    assert main(["dispatch", "--db", str(db), "--trigger", str(body), "--out", str(out)]) == 0
    capsys.readouterr()
    return db


def test_send_drains_the_outbox_once_and_stats_show_delivered_and_failed(
    tmp_path, receiver, capsys
):
    db = _workspace(tmp_path, receiver.url + "/hook", capsys)
    # every delivery is refused once with 503, and u007's for good with 400
    receiver.script = {"/hook": [(503, {}, "busy")]}
    original = receiver.answer

    def answer(method, path, headers, body):
        if json.loads(body)["user"] == "u007":
            with receiver.lock:
                receiver.arrivals.append(None)
            return 400, {}, '{"error": "unknown account"}'
        return original(method, path, headers, body)

    receiver.answer = answer
    out = tmp_path / "deliveries.jsonl"
    args = ["send", "--db", str(db), "--sender", "webhook", "--in", str(out), "--retries", "2"]
    assert main(args) == 1  # one delivery failed for good
    report = json.loads(capsys.readouterr().out)
    assert report["queued"] == USERS
    assert (report["delivered"], report["failed"], report["retry"]) == (USERS - 1, 1, 0)
    assert report["outbox"] == {"pending": 0, "sent": 0, "delivered": USERS - 1, "failed": 1}
    assert sorted(receiver.accepted.values()) == [1] * (USERS - 1)

    # a second run queues nothing new and sends nothing again
    arrivals = len(receiver.arrivals)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["queued"], again["taken"]) == (0, 0)
    assert len(receiver.arrivals) == arrivals

    ledger = SQLiteLedger(db)
    (failed,) = [r for r in ledger.delivery_states("1") if r["state"] == "failed"]
    ledger.close()
    assert failed["identity"] == "u007"
    assert "unknown account" in failed["last_error"]
    assert failed["code"] == 400

    assert main(["stats", "--db", str(db), "--format", "json"]) == 0
    (source,) = json.loads(capsys.readouterr().out)["sources"]
    assert (source["sent"], source["delivered"], source["failed"]) == (USERS, USERS - 1, 1)
    assert main(["stats", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    header, _, row = (re.split(r"\s{2,}", line.strip()) for line in table.splitlines()[2:5])
    cells = dict(zip(header, row, strict=True))
    assert (cells["sent"], cells["delivered"], cells["failed"]) == (f"{USERS}", f"{USERS - 1}", "1")
    page = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert '<th class="n">Delivered</th><th class="n">Failed</th>' in html
    assert f'<td class="n">{USERS - 1}</td><td class="n">1</td>' in html


def test_send_usage_errors(tmp_path, capsys):
    db = tmp_path / "none.db"
    assert main(["send", "--db", str(db), "--sender", "webhook"]) == 2
    assert "no workspace" in capsys.readouterr().err
    assert main(["send", "--db", str(db), "--sender", "webhook", "--batch", "0"]) == 2
    assert "--batch" in capsys.readouterr().err


def test_send_refuses_a_bad_deliveries_file(tmp_path, receiver, capsys):
    db = _workspace(tmp_path, receiver.url + "/hook", capsys)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "delivery", "identity": "x"}\n', encoding="utf-8")
    assert main(["send", "--db", str(db), "--sender", "webhook", "--in", str(bad)]) == 2
    assert "line 1: not a delivery" in capsys.readouterr().err
    assert main(["send", "--db", str(db), "--sender", "smtp"]) == 2
    assert "--from" in capsys.readouterr().err
    assert receiver.arrivals == []


def test_kill_9_while_sending_then_resume_loses_none_and_resends_no_acknowledged_one(
    tmp_path, receiver, capsys
):
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("needs SIGKILL")
    db = _workspace(tmp_path, receiver.url + "/hook", capsys)
    receiver.delay = 0.05  # each request takes a while: the kill lands mid-drain
    command = [
        sys.executable, "-c", "import sys; from tidings.cli import main; sys.exit(main(sys.argv[1:]))", "send", "--db", str(db), "--sender", "webhook",
        "--in", str(tmp_path / "deliveries.jsonl"), "--batch", "4", "--concurrency", "2",
        "--lease", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while sum(receiver.accepted.values()) < USERS // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    ledger = SQLiteLedger(db)
    before = {r["key"]: r["state"] for r in ledger.delivery_states("1")}
    ledger.close()
    acknowledged = {key for key, state in before.items() if state == "delivered"}
    assert 0 < len(acknowledged) < USERS  # killed mid-way
    in_flight = {key for key, state in before.items() if state == "sent"}
    assert len(in_flight) <= 4  # at most one batch

    time.sleep(1.1)  # the killed sender's lease runs out
    receiver.delay = 0.0
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["queued"] == 0
    assert report["outbox"]["delivered"] == USERS

    # none lost: every delivery reached the receiver
    keys = set(before)
    assert set(receiver.accepted) == keys
    # none acknowledged in the ledger was sent again
    assert all(receiver.accepted[key] == 1 for key in acknowledged)
    # only the batch in flight at the kill may have arrived twice (same webhook-id)
    assert {key for key, count in receiver.accepted.items() if count > 1} <= in_flight


GOOD = {
    "type": "delivery", "source": "campaign", "source_id": "1", "identity": "u1",
    "channel": "webhook", "payload": {"url": "http://127.0.0.1:9/x"},
    "send_at": "2026-01-01T00:00:00+00:00", "idempotency_key": "k1", "to": ["http://127.0.0.1:9/x"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"type": "delivery", "identity": "x"}\n', "source must be"),
        (b"{oops\n", "not a delivery"),
        (b"[1]\n", "not a JSON object"),
        (b'{"a": "caf\xe9"}\n', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply"),
        (json.dumps({**GOOD, "to": "http://x"}).encode() + b"\n", "to must be a list"),
        (json.dumps({**GOOD, "send_at": "2026-01-01T00:00:00"}).encode(), "time zone"),
        (json.dumps({**GOOD, "payload": {"u": "\ud800"}}).encode(), "lone surrogate"),
        (json.dumps({**GOOD, "source": "sms"}).encode(), "source must be"),
    ],
)
def test_send_bad_deliveries_file_is_one_line_exit_2(tmp_path, receiver, capsys, content, words):
    db = _workspace(tmp_path, receiver.url + "/hook", capsys)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(json.dumps(GOOD).encode() + b"\n" + content)
    assert main(["send", "--db", str(db), "--sender", "webhook", "--in", str(bad)]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert f"{bad}, line 2" in line
    assert words in line
    assert captured.out == ""
    ledger = SQLiteLedger(db)
    assert ledger.delivery_counts()["pending"] == 0  # nothing sent: the bad line stopped it
    ledger.close()
