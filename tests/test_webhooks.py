"""Signed webhooks end to end: registration through the API, the delivery job queued in
the transaction that ends the scan, a real local HTTP server receiving (and verifying)
the POSTs, retries with backoff, and bounded failure; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from compliance.jobs.scan_worker import ScanWorker
from compliance.storage.models import JobRow, WebhookDeliveryRow
from compliance.synth import synth_piece
from compliance.webhooks import WebhookConfig, WebhookWorker, sign, verify
from tests import test_api as _api
from tests.test_api import SR, _error, _submit, _wav

app, client, keys = _api.app, _api.client, _api.keys  # the API tests' fixtures

FAST = WebhookConfig(timeout_s=2.0, max_attempts=3, backoff_s=0.05)


class Receiver:
    """A local HTTP server answering with the next status of ``statuses`` (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append((dict(self.headers), body))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        r = Receiver(statuses)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    monkeypatch.setenv("COMPLIANCE_WEBHOOK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("COMPLIANCE_WEBHOOK_BACKOFF_S", "0.05")


def _register(client, headers, url, **extra):
    r = client.post("/v1/webhooks", headers=headers, json={"url": url, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def _drain(app, *, until_s: float = 10.0) -> list:
    """Run delivery attempts until no webhook job is queued or running."""
    w = WebhookWorker(app, config=FAST, poll_s=0.01)
    ran, deadline = [], time.monotonic() + until_s
    while time.monotonic() < deadline:
        job = w.run_once()
        if job is not None:
            ran.append(job)
            continue
        with app.store.session() as s:
            pending = s.scalar(
                select(func.count())
                .select_from(JobRow)
                .where(JobRow.kind == "webhook", JobRow.state.in_(["queued", "running"]))
            )
        if not pending:
            return ran
        time.sleep(0.02)
    raise AssertionError("deliveries did not settle")


def test_register_list_delete_and_validation(client, keys):
    sub = keys["submitter"]
    hook = _register(client, sub, "https://example.org/hooks/compliance")
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["scan.completed"]
    listed = client.get("/v1/webhooks", headers=sub).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    mine = _register(client, sub, "http://127.0.0.1:9/x", secret="s" * 20)
    assert mine["secret"] == "s" * 20
    for bad in ("ftp://example.org/x", "not a url", "http:///nohost", "https://u:p@h.org/",
                "https://example.org/" + "a" * 2048, "http://exa mple.org/"):  # fmt: skip
        _error(client.post("/v1/webhooks", headers=sub, json={"url": bad}), 400,
               "webhook_url_invalid")  # fmt: skip
    _error(client.post("/v1/webhooks", headers=sub, json={"url": "https://a.org", "events": ["x"]}),
           400, "webhook_events_invalid")  # fmt: skip
    _error(client.post("/v1/webhooks", headers=sub, json={"url": "https://a.org", "secret": "x"}),
           400, "webhook_secret_invalid")  # fmt: skip
    _error(client.post("/v1/webhooks", headers=sub, json={}), 422, "invalid_request")
    _error(client.get("/v1/webhooks", headers=keys["reader"]), 403, "auth_scope")
    # another key (even admin) neither sees nor deletes it
    assert client.get("/v1/webhooks", headers=keys["admin"]).json() == []
    _error(client.delete(f"/v1/webhooks/{hook['id']}", headers=keys["admin"]), 404,
           "webhook_not_found")  # fmt: skip
    _error(client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=keys["admin"]), 404,
           "webhook_not_found")  # fmt: skip
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=sub).status_code == 204
    assert [h["id"] for h in client.get("/v1/webhooks", headers=sub).json()] == [mine["id"]]
    _error(client.delete(f"/v1/webhooks/{hook['id']}", headers=sub), 404, "webhook_not_found")


def test_a_completed_scan_is_posted_signed_to_the_submitters_webhook(app, client, keys, receiver):
    rx, other = receiver(), receiver()
    hook = _register(client, keys["submitter"], rx.url)
    _register(client, keys["admin"], other.url)  # another client's: not notified
    audio = _wav(synth_piece(4242, 8.0, sample_rate=SR))
    r = _submit(client, keys["submitter"], [("new.wav", audio)], {"title": "T"})
    scan_id = r.json()["scans"][0]["scan_id"]
    assert _drain(app) == []  # nothing to say before the scan ends
    job = ScanWorker(app).run_once()
    assert job.state == "done"
    with app.store.session() as s:  # queued by the transaction that ended the scan
        assert s.scalar(select(func.count()).select_from(WebhookDeliveryRow)) == 1
    ran = _drain(app)
    assert [j.state for j in ran] == ["done"] and len(rx.requests) == 1 and not other.requests
    headers, body = rx.requests[0]
    assert verify(hook["secret"], headers, body)
    ts = int(headers["Webhook-Timestamp"])
    assert abs(ts - time.time()) < 60
    assert headers["Webhook-Signature"] == sign(hook["secret"], ts, body)
    assert not verify("whsec_wrong", headers, body)
    event = json.loads(body)
    assert event["event"] == "scan.completed" and event["scan_id"] == scan_id
    assert event["release_id"] == r.json()["release_id"] and event["state"] == "done"
    assert event["result"] == client.get(f"/v1/scans/{scan_id}", headers=keys["reader"]).json()
    log = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=keys["submitter"]).json()
    assert len(log) == 1 and log[0]["state"] == "delivered" and log[0]["scan_id"] == scan_id
    assert log[0]["delivery_id"] == headers["Webhook-Id"]
    assert [a["status_code"] for a in log[0]["attempts"]] == [200]


def test_500_twice_then_200_is_three_logged_attempts_and_success(app, client, keys, receiver):
    rx = receiver([500, 500])
    hook = _register(client, keys["submitter"], rx.url)
    _submit(client, keys["submitter"], [("bad.wav", b"not audio at all")])
    assert ScanWorker(app).run_once().state == "failed"  # bad content ends the scan too
    ran = _drain(app)
    assert [j.state for j in ran] == ["queued", "queued", "done"]
    assert len(rx.requests) == 3
    assert len({h["Webhook-Id"] for h, _ in rx.requests}) == 1  # one delivery, retried
    assert len({b for _, b in rx.requests}) == 1  # the same bytes every time
    assert all(verify(hook["secret"], h, b) for h, b in rx.requests)
    event = json.loads(rx.requests[0][1])
    assert event["state"] == "failed" and event["result"]["result"]["error"]["code"]
    log = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=keys["submitter"]).json()
    d = log[0]
    assert d["state"] == "delivered" and d["next_attempt_at"] is None
    assert [(a["attempt"], a["status_code"], a["error"]) for a in d["attempts"]] == [
        (1, 500, "HTTP 500"), (2, 500, "HTTP 500"), (3, 200, None)
    ]  # fmt: skip


def test_an_unreachable_url_fails_after_the_bounded_attempts(app, client, keys):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    hook = _register(client, keys["submitter"], f"http://127.0.0.1:{port}/hook")
    _submit(client, keys["submitter"], [("bad.wav", b"garbage")])
    ScanWorker(app).run_once()
    w = WebhookWorker(app, config=FAST)
    first = w.run_once()
    assert first.state == "queued"
    log = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=keys["submitter"]).json()
    assert log[0]["state"] == "pending" and log[0]["next_attempt_at"] is not None
    ran = [first, *_drain(app)]
    assert [j.state for j in ran] == ["queued", "queued", "failed"]
    d = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=keys["submitter"]).json()[0]
    assert d["state"] == "failed" and len(d["attempts"]) == 3 and d["max_attempts"] == 3
    assert all(a["status_code"] is None and a["error"] for a in d["attempts"])
    assert "Refused" in d["last_error"] or "refused" in d["last_error"]


def test_the_notification_commits_with_the_scan_end_or_not_at_all(app, client, keys, monkeypatch):
    import compliance.webhooks as wh

    _register(client, keys["submitter"], "http://127.0.0.1:9/x")
    _submit(client, keys["submitter"], [("bad.wav", b"garbage")])

    def crash(*_a, **_k):
        raise RuntimeError("crash while queuing the notification")

    monkeypatch.setattr(wh, "_enqueue_deliveries", crash)
    with pytest.raises(RuntimeError):
        ScanWorker(app, worker_id="w1").run_once()
    with app.store.session() as s:
        scan = s.scalars(select(JobRow).where(JobRow.kind == "scan")).one()
        assert scan.state == "running"  # not ended without its notification
        assert s.scalar(select(func.count()).select_from(WebhookDeliveryRow)) == 0


def test_a_dedup_onto_an_ended_scan_and_an_expired_last_lease_notify(app, client, keys, receiver):
    rx = receiver()
    _register(client, keys["admin"], rx.url)
    _submit(client, keys["submitter"], [("a.wav", b"same garbage")])
    ScanWorker(app).run_once()  # ended before the admin's submission of the same bytes
    r = _submit(client, keys["admin"], [("b.wav", b"same garbage")])
    assert r.json()["scans"][0]["deduplicated"] is True
    _drain(app)
    assert len(rx.requests) == 1
    assert json.loads(rx.requests[0][1])["scan_id"] == r.json()["scans"][0]["scan_id"]
    # a scan whose workers all die: failed by the lease expiry, notified as well
    r2 = _submit(client, keys["admin"], [("c.wav", b"other garbage")])
    for i in range(3):
        assert app.queue.claim(f"doomed-{i}", lease_s=0.05, kinds=["scan"]) is not None
        time.sleep(0.1)
    assert app.queue.claim("late", kinds=["scan"]) is None  # ends it as failed
    _drain(app)
    assert len(rx.requests) == 2
    event = json.loads(rx.requests[1][1])
    assert event["scan_id"] == r2.json()["scans"][0]["scan_id"] and event["state"] == "failed"


def test_worker_cli_kinds(app):
    from click.testing import CliRunner

    from compliance.cli import main

    env = {"COMPLIANCE_HOME": str(app.settings.home),
           "COMPLIANCE_DATABASE_URL": app.settings.database_url}  # fmt: skip
    r = CliRunner().invoke(main, ["worker", "--once", "--kinds", "webhook"], env=env)
    assert r.exit_code == 0 and "no job" in r.output, r.output
    r = CliRunner().invoke(main, ["worker", "--once", "--kinds", "email"], env=env)
    assert r.exit_code == 2 and "scan,webhook" in r.output
