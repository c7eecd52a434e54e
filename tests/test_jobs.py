"""The durable job queue on SQLite and PostgreSQL: leases, expiry, retries, dedup."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from compliance.jobs import DONE, FAILED, QUEUED, RUNNING, JobQueue, LeaseLost
from compliance.storage.models import JobRow
from compliance.storage.types import utcnow


def _expire(store, job_id):
    """Make a lease run out now (instead of sleeping through it)."""
    with store.session() as s, s.begin():
        s.execute(
            update(JobRow)
            .where(JobRow.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def test_claim_complete_and_nothing_left(migrated_store):
    q = JobQueue(migrated_store)
    job, created = q.enqueue("scan", {"file": "a"})
    assert created and job.state == QUEUED
    got = q.claim("w1")
    assert got.id == job.id and got.state == RUNNING and got.attempts == 1
    assert q.claim("w2") is None  # leased: nobody else gets it
    q.complete(job.id, "w1", {"decision": "pass"})
    done = q.get(job.id)
    assert done.state == DONE and done.result == {"decision": "pass"}
    assert q.claim("w1") is None


def test_same_dedup_key_is_one_job(migrated_store):
    q = JobQueue(migrated_store)
    a, created_a = q.enqueue("scan", {"n": 1}, dedup_key="sha256:x|default")
    b, created_b = q.enqueue("scan", {"n": 2}, dedup_key="sha256:x|default")
    assert created_a and not created_b and a.id == b.id and b.payload == {"n": 1}


def test_a_dead_worker_loses_nothing(migrated_store):
    q = JobQueue(migrated_store)
    job, _ = q.enqueue("scan", {})
    q.claim("dies", lease_s=30)
    _expire(migrated_store, job.id)  # the worker was killed: no heartbeat, no completion
    again = q.claim("survivor")
    assert again.id == job.id and again.attempts == 2 and again.lease_owner == "survivor"
    with pytest.raises(LeaseLost):
        q.complete(job.id, "dies", {})  # the dead worker's late write is refused
    q.complete(job.id, "survivor", {"ok": True})
    assert q.get(job.id).state == DONE


def test_failures_retry_with_backoff_then_fail_for_good(migrated_store):
    q = JobQueue(migrated_store)
    job, _ = q.enqueue("scan", {}, max_attempts=2)
    q.claim("w")
    after = q.fail(job.id, "w", "decoder crashed", retry_in_s=0.0)
    assert after.state == QUEUED and after.last_error == "decoder crashed"
    q.claim("w")
    final = q.fail(job.id, "w", "decoder crashed again", retry_in_s=0.0)
    assert final.state == FAILED and final.attempts == 2
    assert q.claim("w") is None


def test_backoff_delays_the_next_claim(migrated_store):
    q = JobQueue(migrated_store)
    job, _ = q.enqueue("scan", {}, max_attempts=3)
    q.claim("w")
    q.fail(job.id, "w", "transient", retry_in_s=60.0)
    assert q.claim("w") is None  # not before its time


def test_expired_last_attempt_ends_failed(migrated_store):
    q = JobQueue(migrated_store)
    job, _ = q.enqueue("scan", {}, max_attempts=1)
    q.claim("w")
    _expire(migrated_store, job.id)
    assert q.claim("other") is None
    j = q.get(job.id)
    assert j.state == FAILED and "lease expired" in j.last_error
    assert q.counts() == {FAILED: 1}


def test_heartbeat_extends_only_for_the_holder(migrated_store):
    q = JobQueue(migrated_store)
    job, _ = q.enqueue("scan", {})
    q.claim("w", lease_s=1)
    before = q.get(job.id).lease_expires_at
    q.heartbeat(job.id, "w", lease_s=120)
    assert q.get(job.id).lease_expires_at > before
    with pytest.raises(LeaseLost):
        q.heartbeat(job.id, "intruder")


def test_concurrent_claimers_never_share_a_job(migrated_store):
    q = JobQueue(migrated_store)
    ids = {q.enqueue("scan", {"i": i})[0].id for i in range(30)}
    got: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            j = q.claim(name)
            if j is None:
                return
            with lock:
                got.append(j.id)
            q.complete(j.id, name, {})
            time.sleep(0)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(got) == sorted(ids)  # every job exactly once
