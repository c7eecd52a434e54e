"""Benchmarks of the release history (issue 6).

1. The incremental check of one release against a synthetic history of N releases
   (default 1,000,000 over 100,000 accounts, seeded): median and p95 of
   :func:`compliance.history.incremental.flags_for_release` over 200 new releases.
2. With ``--log FILE [--protected FILE]``: ``compliance history import`` and
   ``compliance history flags`` of a release log through the CLI (wall seconds each).

Usage::

    python scripts/bench_history.py [--releases 1000000]
    B=../eval-cache/corpus/dev/bulk
    python scripts/bench_history.py --releases 0 --log $B/releases.jsonl \
        --protected $B/protected_artists.txt
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compliance.history.incremental import flags_for_release  # noqa: E402
from compliance.history.records import HistoryRelease  # noqa: E402
from compliance.history.thresholds import Thresholds  # noqa: E402
from compliance.metadata.names import ProtectedNames  # noqa: E402
from compliance.storage import Store  # noqa: E402
from compliance.storage.models import HistoryReleaseRow  # noqa: E402

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_DAYS = 365


def fill(store: Store, n: int, n_accounts: int, seed: int) -> None:
    """n releases: accounts drawn with a heavy tail (a few upload a lot), times uniform
    over a year, durations 30-400 s, one audio hash each."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_accounts + 1) ** 0.8
    accounts = rng.choice(n_accounts, size=n, p=weights / weights.sum())
    secs = rng.uniform(0, SPAN_DAYS * 86400, size=n)
    durs = rng.uniform(30, 400, size=n)
    now = datetime.now(UTC)
    table = HistoryReleaseRow.__table__
    batch = 20000
    with store.engine.begin() as conn:
        for a in range(0, n, batch):
            rows = [
                {
                    "release_id": f"R{i:09d}",
                    "account_id": f"A{accounts[i]:07d}",
                    "upload_ts": T0 + timedelta(seconds=float(secs[i])),
                    "account_created_ts": T0 - timedelta(days=30),
                    "account_country": "SE",
                    "artist_name": f"Artist {accounts[i] % 5000}",
                    "title": f"Title {i}",
                    "duration_s": float(durs[i]),
                    "genre": "pop",
                    "label_name": None,
                    "audio_key": f"{i:040x}",
                    "explicit": False,
                    "isrc": None,
                    "upc": None,
                    "release_date": None,
                    "contains_ai": None,
                    "source": "import",
                    "recorded_at": now,
                }
                for i in range(a, min(n, a + batch))
            ]
            conn.execute(table.insert(), rows)


def incremental(store: Store, n_accounts: int, *, trials: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed + 1)
    th = Thresholds()
    protected = ProtectedNames(["Taylor Swift", "Drake", "Billie Eilish", "The Weeknd"])
    times = []
    for k in range(trials):
        acc = int(rng.zipf(1.8)) % n_accounts  # busy accounts more often
        rel = HistoryRelease(
            release_id=f"NEW{k}", account_id=f"A{acc:07d}",
            upload_ts=T0 + timedelta(days=float(rng.uniform(60, SPAN_DAYS))),
            artist_name="Tay1or Swift", title="rain sleep study focus lofi", duration_s=31.0,
            audio_key=f"{int(rng.integers(0, 10**6)):040x}",
        )  # fmt: skip
        t = time.perf_counter()
        flags_for_release(store, rel, th, protected=protected)
        times.append(time.perf_counter() - t)
    return times


def cli_log(log: str, protected: str | None) -> None:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "COMPLIANCE_HOME": home}
        exe = [sys.executable, "-m", "compliance"]
        t = time.perf_counter()
        subprocess.run([*exe, "history", "import", log], env=env, check=False)
        t_import = time.perf_counter() - t
        if protected:
            bank = [*exe, "bank", "import", "--kind", "protected_artist", protected]
            subprocess.run(bank, env=env, check=True)
        t = time.perf_counter()
        out = subprocess.run([*exe, "history", "flags", "--format", "jsonl"], env=env,
                             check=True, capture_output=True, text=True)  # fmt: skip
        t_flags = time.perf_counter() - t
        n = out.stdout.count("\n")
        print(f"log: import {t_import:.2f} s, flags {t_flags:.2f} s ({n} flags), "
              f"total {t_import + t_flags:.2f} s wall")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", type=int, default=1_000_000)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--log")
    ap.add_argument("--protected")
    a = ap.parse_args()
    if a.releases:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{tmp}/bench.db")
            store.migrate()
            t = time.perf_counter()
            fill(store, a.releases, a.accounts, a.seed)
            print(f"history: {a.releases} releases, {a.accounts} accounts, "
                  f"filled in {time.perf_counter() - t:.1f} s")  # fmt: skip
            times = incremental(store, a.accounts, trials=a.trials, seed=a.seed)
            ms = sorted(1000 * x for x in times)
            print(
                f"incremental check: median {statistics.median(ms):.1f} ms, "
                f"p95 {ms[int(0.95 * len(ms))]:.1f} ms, max {ms[-1]:.1f} ms (n={len(ms)})"
            )
            store.close()
    if a.log:
        cli_log(a.log, a.protected)


if __name__ == "__main__":
    main()
