"""Several processes triggering one campaign in one SQLite workspace keep the cap exact."""

import multiprocessing

import tidings

ORDER = {"productDetails": [{"productName": "Tent", "pricingDetails": []}]}


def _trigger_worker(path: str, campaign_id: str, worker: int, queue) -> None:
    ws = tidings.Workspace.sqlite(path)
    sent: list[str] = []
    for batch in range(4):
        ids = [f"user-{(worker * 100 + batch * 25 + i) % 400:04d}" for i in range(25)]
        result = ws.trigger_campaign(
            {"to": {"identity": ids}, "campaign_id": campaign_id, "ExternalTrigger": ORDER}
        )
        sent.extend(d.identity for d in result.deliveries)
    ws.close()
    queue.put(sent)


def test_cap_exact_with_processes_sharing_one_sqlite_workspace(story, tmp_path):
    path = str(tmp_path / "ws.db")
    ws = story.make_workspace("sqlite", tmp_path)
    campaign_id = ws.publish_campaign(
        {
            "name": "Coupons",
            "message": {
                "channel": "webhook",
                "url": "https://x.example/c",
                "body": '{"id": "{{ Profile.identity }}"}',
            },
            "targeting_cap": 100,
        }
    )
    ws.close()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_trigger_worker, args=(path, campaign_id, w, queue)) for w in range(4)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    received = {identity for sent in results for identity in sent}
    assert len(received) == 100  # 400 distinct users asked for, the cap let exactly 100 in


def _frequency_worker(path: str, campaign_id: str, queue) -> None:
    ws = tidings.Workspace.sqlite(path)
    sent = 0
    for _ in range(5):
        result = ws.trigger_campaign(
            {"to": {"identity": [f"user-{i:04d}" for i in range(20)]}, "campaign_id": campaign_id}
        )
        sent += len(list(result.deliveries))
    ws.close()
    queue.put(sent)


def test_frequency_cap_exact_with_processes_sharing_one_sqlite_workspace(story, tmp_path):
    path = str(tmp_path / "ws.db")
    ws = story.make_workspace("sqlite", tmp_path)
    ws.configure({"frequency_caps": [{"limit": 3, "period": "day"}]})
    campaign_id = ws.publish_campaign(
        {
            "name": "Nudge",
            "message": {"channel": "webhook", "url": "https://x.example/n", "body": "{}"},
        }
    )
    ws.close()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_frequency_worker, args=(path, campaign_id, queue)) for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    total = sum(queue.get(timeout=120) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert total == 20 * 3  # 4 processes x 5 triggers x 20 users asked; 3 a day each let through
