#!/usr/bin/env python3
"""CPU cost of a submission and of a status read in the API process, no scan worker (issue 3).

Starts the service of :mod:`_servicebench` (``compliance serve``, a fresh PostgreSQL
schema or SQLite, no worker), sends ``--warm`` submissions from ``--clients``
threads (so that the connection pool is open, as in a running service), then
``--releases`` more the same way, back to back (distinct synthetic WAVs of
``--seconds`` audio), then ``--reads`` status reads of those (queued) scans the same
way, and prints for each burst the throughput, the client-side latencies and, per
request, the CPU time of the API process (user and system, its children included
with ``--server-workers`` > 1), of PostgreSQL's processes, of this load generator, and
the context switches of the API's threads (all from ``/proc``; Linux only).

    python scripts/api_cpu.py                        # 290 releases, 20 clients, PostgreSQL
    python scripts/api_cpu.py --server-workers 2 --runs 3
    COMPLIANCE_DB_POOL_SIZE=4 python scripts/api_cpu.py

Not a unit test: nothing here is timed against a threshold.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _servicebench import Service, wav_bytes

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu(pids: list[str]) -> tuple[float, float]:
    """User and system CPU seconds of ``pids`` (threads included)."""
    user = system = 0
    for pid in pids:
        try:
            f = _stat(pid)
        except FileNotFoundError:
            continue
        user, system = user + int(f[11]), system + int(f[12])
    return user / TICK, system / TICK


def _switches(pids: list[str]) -> tuple[int, int]:
    """Voluntary and involuntary context switches of every thread of ``pids``."""
    vol = invol = 0
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches"):
                    vol += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    invol += int(line.split()[1])
    return vol, invol


def _named(comm: str) -> list[str]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                out.append(pid)
        except OSError:
            pass
    return out


def _burst(api: list[str], clients: int, call, items: list) -> dict:
    """``call(item)`` for every item from ``clients`` threads, back to back: throughput,
    client-side latencies, and per call the CPU of the API, PostgreSQL and this load
    generator, and the API threads' context switches."""
    lat: list[float] = []

    def timed(item) -> None:
        t = time.perf_counter()
        call(item)
        lat.append((time.perf_counter() - t) * 1000)

    pg0 = {pid: sum(_cpu([pid])) for pid in _named("postgres")}
    api0, sw0 = _cpu(api), _switches(api)
    me0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(timed, items))
    wall = time.perf_counter() - w0
    me1 = resource.getrusage(resource.RUSAGE_SELF)
    api1, sw1 = _cpu(api), _switches(api)
    # backends the pool opened during the burst count whole
    pg_s = sum(sum(_cpu([pid])) - pg0.get(pid, 0.0) for pid in _named("postgres"))
    n = len(items)
    lat.sort()
    return {
        "per_s": n / wall,
        "p50_ms": lat[n // 2],
        "p99_ms": lat[min(n - 1, int(n * 0.99))],
        "api_user_ms": 1000 * (api1[0] - api0[0]) / n,
        "api_sys_ms": 1000 * (api1[1] - api0[1]) / n,
        "postgres_ms": 1000 * pg_s / n,
        "loadgen_ms": 1000 * (me1.ru_utime + me1.ru_stime - me0.ru_utime - me0.ru_stime) / n,
        "switches_voluntary": (sw1[0] - sw0[0]) / n,
        "switches_involuntary": (sw1[1] - sw0[1]) / n,
    }


def one_run(args) -> dict:
    svc = Service(db=args.db)
    try:
        svc.start_server("--workers", str(args.server_workers))
        children = subprocess.run(
            ["pgrep", "-P", str(svc.server.pid)], capture_output=True, text=True
        ).stdout.split()
        api = [str(svc.server.pid), *children]
        seeds = range(1000, 1000 + args.warm + args.releases)
        audio = [(f"r{s}.wav", wav_bytes(s, args.seconds)) for s in seeds]
        scans: list[str] = []

        def submit(item: tuple[str, bytes]) -> None:
            status, body = svc.submit(item[0], item[1], {"title": item[0], "artist": "bench"})
            if status != 202:
                raise RuntimeError(f"submission answered {status}: {body}")
            scans.append(body["scans"][0]["scan_id"])

        def read(scan_id: str) -> None:
            status, body = svc.request("GET", f"/v1/scans/{scan_id}")
            if status != 200:
                raise RuntimeError(f"status read answered {status}: {body}")

        with ThreadPoolExecutor(args.clients) as pool:  # opens the pool's connections
            list(pool.map(submit, audio[: args.warm]))
        out = _burst(api, args.clients, submit, audio[args.warm :])
        if args.reads:  # queued scans (no worker runs): the polls of an intake pipeline
            order = [scans[i % len(scans)] for i in range(args.reads)]
            reads = _burst(api, args.clients, read, order)
            out.update({f"read_{k}": v for k, v in reads.items()})
    finally:
        svc.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", type=int, default=290)
    ap.add_argument("--warm", type=int, default=60, help="sent first, not measured")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=4.0, help="audio length per release")
    ap.add_argument("--db", choices=("pg", "sqlite"), default="pg")
    ap.add_argument("--reads", type=int, default=2000,
                    help="status reads after the submissions, same clients (0: none)")  # fmt: skip
    ap.add_argument("--server-workers", type=int, default=1,
                    help="API processes (compliance serve --workers)")  # fmt: skip
    ap.add_argument("--runs", type=int, default=1, help="fresh runs; medians are printed")
    args = ap.parse_args()
    if not Path("/proc/self/stat").exists():
        print("api_cpu: needs /proc (Linux)", file=sys.stderr)
        return 2
    runs = []
    for i in range(args.runs):
        r = one_run(args)
        runs.append(r)
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()), flush=True)
    if args.runs > 1:
        print("median: " + ", ".join(
            f"{k} {statistics.median(r[k] for r in runs):.2f}" for k in runs[0]
        ))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
