#!/usr/bin/env python3
"""Fault benchmark of the intake service (issue 3): ``kill -9`` workers mid-scan.

Same set-up as scripts/loadtest.py (``compliance serve`` subprocess, temporary home,
fresh database, synthetic catalogue, API key via the CLI). Submits ``--releases``
releases of distinct audio, starts a ``compliance worker`` with a short lease, waits
until it is in the middle of a scan, kills it with SIGKILL (``--kills`` times, a new
worker each time), then starts a last worker and waits for everything to end. Checks,
through the API and the store, that every scan id ended ``done`` exactly once: one scan
job per distinct audio, all done, the killed jobs taken over (one attempt more).

    python scripts/faulttest.py                     # 12 releases, 2 kills, PostgreSQL
    python scripts/faulttest.py --db sqlite --kills 3

Prints the counts; exits 1 if a check fails or the hard timeout is reached.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from _servicebench import Service, wav_bytes
from sqlalchemy import func, select

from compliance.storage.models import JobRow, ScanRow


def _running_job_of(svc: Service, pid: int) -> JobRow | None:
    st = svc.store()
    try:
        with st.session() as s:
            rows = s.scalars(
                select(JobRow).where(JobRow.kind == "scan", JobRow.state == "running")
            ).all()
            for r in rows:
                if r.lease_owner and f":{pid}:" in r.lease_owner:
                    s.expunge(r)
                    return r
    finally:
        st.close()
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", type=int, default=12)
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60.0, help="audio length per release")
    ap.add_argument("--lease-s", type=float, default=4.0, help="worker lease (takeover delay)")
    ap.add_argument("--db", choices=("pg", "sqlite"), default="pg")
    ap.add_argument("--timeout", type=float, default=600, help="hard timeout, s")
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    svc = Service(db=args.db)
    try:
        svc.start_server()
        scan_ids = []
        for i in range(args.releases):
            status, body = svc.submit(f"f{i}.wav", wav_bytes(70_000 + i, args.seconds))
            assert status == 202, (status, body)
            scan_ids.append(body["scans"][0]["scan_id"])
        killed: list[tuple[str, int]] = []
        for k in range(args.kills):
            w = svc.start_worker("--lease-s", str(args.lease_s))
            job = None
            while job is None and time.monotonic() < deadline:
                job = _running_job_of(svc, w.pid)
                time.sleep(0.05)
            if job is None:
                raise TimeoutError("no worker got a job before the timeout")
            time.sleep(0.3)  # well into the decode / detectors
            still = _running_job_of(svc, w.pid)
            os.kill(w.pid, signal.SIGKILL)  # the worker we started, by its pid
            w.wait(timeout=10)
            mid = still is not None and still.id == job.id
            killed.append((job.id, job.attempts))
            print(f"kill {k + 1}: worker pid {w.pid} killed -9 during job {job.id[:8]} "
                  f"(attempt {job.attempts}; still running at the kill: {mid})")  # fmt: skip
        t_last = time.monotonic()
        svc.start_worker("--lease-s", str(args.lease_s))
        ends: dict[str, str] = {}
        while len(ends) < len(scan_ids) and time.monotonic() < deadline:
            for sid in scan_ids:
                if sid in ends:
                    continue
                status, body = svc.request("GET", f"/v1/scans/{sid}")
                if status == 200 and body["state"] in ("done", "failed"):
                    ends[sid] = body["state"]
            time.sleep(0.5)
        recovery_s = time.monotonic() - t_last
        st = svc.store()
        with st.session() as s:
            jobs = {j.id: j for j in s.scalars(select(JobRow).where(JobRow.kind == "scan"))}
            records = s.scalar(select(func.count()).select_from(ScanRow))
            per_hash = s.execute(
                select(ScanRow.content_hash, func.count()).group_by(ScanRow.content_hash)
            ).all()
        st.close()
        counts = {
            "submitted": len(scan_ids),
            "ended": len(ends),
            "done": sum(1 for v in ends.values() if v == "done"),
            "lost": len(scan_ids) - len(ends),
            "scan_jobs": len(jobs),
            "jobs_done": sum(1 for j in jobs.values() if j.state == "done"),
            "killed_jobs_taken_over": sum(
                1 for jid, att in killed if jobs[jid].state == "done" and jobs[jid].attempts > att
            ),
            "attempts_total": sum(j.attempts for j in jobs.values()),
            "decisions_recorded": records,
            "extra_decision_records": sum(n - 1 for _h, n in per_hash if n > 1),
        }
        print(f"all ended {recovery_s:.1f} s after the last kill "
              f"(lease {args.lease_s:g} s); counts: "
              + ", ".join(f"{k}={v}" for k, v in counts.items()))  # fmt: skip
        ok = (
            counts["lost"] == 0 and counts["done"] == counts["submitted"]
            and counts["scan_jobs"] == counts["submitted"] == counts["jobs_done"]
            and counts["killed_jobs_taken_over"] == len(killed)
            and counts["attempts_total"] == counts["submitted"] + len(killed)
        )  # fmt: skip
        if counts["extra_decision_records"]:
            print("note: a worker was killed after recording a decision but before ending its "
                  "job; the retry recorded another (the job still ended done once)")  # fmt: skip
        print("checks:", "PASS" if ok else "FAIL")
        return 0 if ok else 1
    except Exception:
        print(svc.tail("server"), file=sys.stderr)
        raise
    finally:
        svc.close()


if __name__ == "__main__":
    sys.exit(main())
