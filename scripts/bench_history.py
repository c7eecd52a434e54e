"""Benchmarks of the release history (issue 6).

1. The incremental check of one release against a synthetic history of N releases
   (default 1,000,000 over 100,000 accounts, seeded): median and p95 of
   :func:`compliance.history.incremental.flags_for_release` over 200 new releases, each
   with Chromaprint lookup keys (``--keyed-share`` of the history has keys, as releases
   checked with audio do; random keys at 27 per minute of duration; one new release in
   20 re-uses a keyed release's keys, a copy).
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
from compliance.storage.models import HistoryAudioKeyRow, HistoryReleaseRow  # noqa: E402

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_DAYS = 365


def account_weights(n_accounts: int) -> np.ndarray:
    """Share of the uploads of each account: a heavy tail (the busiest of 100,000
    accounts uploads 2 % of everything, about 1,900 releases a month at 1,000,000 a
    year)."""
    w = 1.0 / np.arange(1, n_accounts + 1) ** 0.8
    return w / w.sum()


def fill(store: Store, n: int, n_accounts: int, seed: int) -> None:
    """n releases: accounts drawn by :func:`account_weights`, times uniform over a year,
    durations 30-400 s, one audio hash each."""
    rng = np.random.default_rng(seed)
    accounts = rng.choice(n_accounts, size=n, p=account_weights(n_accounts))
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


def fill_keys(store: Store, n: int, share: float, seed: int) -> dict[str, np.ndarray]:
    """Lookup keys for a random ``share`` of the ``n`` releases of :func:`fill` (random
    hashes in the kept range, 27 per minute of a duration drawn from fill()'s range). The
    key rows name a placeholder account (``K0``..``K6``: the lookup only compares it with
    the new release's), so every copy is another account's."""
    rng = np.random.default_rng(seed + 2)
    durs = rng.uniform(30, 400, size=n)
    picked = np.flatnonzero(rng.random(n) < share)
    table = HistoryAudioKeyRow.__table__
    keyed: dict[str, np.ndarray] = {}
    rows: list[dict] = []
    with store.engine.begin() as conn:
        for i in picked:
            k = _random_keys(rng, float(durs[i]))
            rid = f"R{i:09d}"
            keyed[rid] = k
            account = f"K{int(i) % 7}"
            rows += [{"key": int(x), "release_id": rid, "account_id": account} for x in k]
            if len(rows) >= 50_000:
                conn.execute(table.insert(), rows)
                rows = []
        if rows:
            conn.execute(table.insert(), rows)
    return keyed


def _random_keys(rng: np.random.Generator, duration_s: float) -> np.ndarray:
    n = max(1, round(27 * duration_s / 60))
    return np.unique(rng.integers(0, 2**64 // 16, size=n, dtype=np.uint64)).view(np.int64)


def incremental(
    store: Store,
    n_accounts: int,
    *,
    trials: int,
    seed: int,
    n_hist: int = 1,
    keyed: dict[str, np.ndarray] | None = None,
) -> list[float]:
    rng = np.random.default_rng(seed + 1)
    # a new release comes from an account in proportion to its upload volume
    picks = rng.choice(n_accounts, size=trials, p=account_weights(n_accounts))
    th = Thresholds()
    protected = ProtectedNames(["Taylor Swift", "Drake", "Billie Eilish", "The Weeknd"])
    keyed_ids = sorted(keyed or {})
    times = []
    for k in range(trials):
        acc = int(picks[k])
        rel = HistoryRelease(
            release_id=f"NEW{k}", account_id=f"A{acc:07d}",
            upload_ts=T0 + timedelta(days=float(rng.uniform(60, SPAN_DAYS))),
            artist_name="Tay1or Swift", title="rain sleep study focus lofi", duration_s=31.0,
            # one upload in 20 re-uses audio already in the history
            audio_key=(f"{int(rng.integers(0, n_hist)):040x}" if rng.random() < 0.05
                       else f"new{k:036d}"),
        )  # fmt: skip
        keys = _random_keys(rng, 31.0)
        if keyed_ids and rng.random() < 0.05:  # a copy of a keyed release
            keys = keyed[keyed_ids[int(rng.integers(len(keyed_ids)))]]
        t = time.perf_counter()
        flags_for_release(store, rel, th, protected=protected, audio_keys=keys)
        times.append(time.perf_counter() - t)
    return times


def incremental_busiest(store: Store, *, trials: int) -> float:
    """Median milliseconds for new releases of the busiest account."""
    th = Thresholds()
    times = []
    for k in range(trials):
        rel = HistoryRelease(
            release_id=f"BUSY{k}", account_id="A0000000",
            upload_ts=T0 + timedelta(days=200 + k), title="Song", duration_s=200.0,
            audio_key=f"busy{k}",
        )  # fmt: skip
        t = time.perf_counter()
        flags_for_release(store, rel, th)
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


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
    ap.add_argument("--keyed-share", type=float, default=0.1)
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
            t = time.perf_counter()
            keyed = fill_keys(store, a.releases, a.keyed_share, a.seed)
            n_keys = sum(len(k) for k in keyed.values())
            print(f"lookup keys: {len(keyed)} releases, {n_keys} keys, "
                  f"filled in {time.perf_counter() - t:.1f} s")  # fmt: skip
            times = incremental(store, a.accounts, trials=a.trials, seed=a.seed,
                                n_hist=a.releases, keyed=keyed)  # fmt: skip
            ms = sorted(1000 * x for x in times)
            print(
                f"incremental check: median {statistics.median(ms):.1f} ms, "
                f"p95 {ms[int(0.95 * len(ms))]:.1f} ms, max {ms[-1]:.1f} ms (n={len(ms)})"
            )
            busiest = incremental_busiest(store, trials=20)
            print(f"incremental check, the busiest account: median {busiest:.1f} ms")
            store.close()
    if a.log:
        cli_log(a.log, a.protected)


if __name__ == "__main__":
    main()
