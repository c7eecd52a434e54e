"""Shortlist time of the cover-song vector index (goal: median <= 20 ms per upload on
one core).

Usage: python scripts/bench_cover_index.py [--tracks 20000] [--per-track 5] [--dim 192]
       [--query-rows 16] [--queries 200] [--per-query 64] [--top 20] [--seed 0]

The catalogue is synthetic: ``--tracks`` tracks of ``--per-track`` embeddings each
(100,000 by default), every one random normal then L2-normalised; an upload is
``--query-rows`` such rows (16: a whole-track vector and sections of a 4-minute
upload). The flat index scans every vector whatever they hold, so its time does not
depend on the data; random vectors are the hard case for an approximate index (no
clusters to exploit), not for this one's accuracy, which is exact. The shortlist is
timed with faiss's default OpenMP threads and with one thread, and (one thread) with
faiss's own BLAS threshold instead of the index's (see
``fingerprints.index.vector_index.BLAS_THRESHOLD``). A printed figure, not a
test; everything is seeded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fingerprints.index.vector_index import TrackVectors, VectorIndex, VectorSegment


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def _catalogue(rng: np.random.Generator, tracks: int, per_track: int, d: int):
    vectors = _unit(rng, tracks * per_track, d).reshape(tracks, per_track, d)
    starts = np.arange(per_track, dtype=np.float32) * 45.0
    return {
        f"track-{i:06d}": TrackVectors(vectors[i], starts, starts + 45.0) for i in range(tracks)
    }


def _time_ms(fn, queries: list[np.ndarray]) -> tuple[float, float]:
    """Median and p95 of ``fn(q)`` over the queries, ms."""
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), float(np.percentile(times, 95))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tracks", type=int, default=20_000)
    ap.add_argument("--per-track", type=int, default=5)
    ap.add_argument("--dim", type=int, default=192)
    ap.add_argument("--query-rows", type=int, default=16)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--per-query", type=int, default=64)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    items = _catalogue(rng, args.tracks, args.per_track, args.dim)
    t0 = time.perf_counter()
    seg = VectorSegment.build(items, signal="bench", signal_version="1")
    t1 = time.perf_counter()
    index = VectorIndex([seg])
    index.prepare()
    t2 = time.perf_counter()
    queries = [_unit(rng, args.query_rows, args.dim) for _ in range(args.queries)]

    print(
        f"catalogue: {len(index):,} tracks, {index.n_vectors:,} vectors of dimension "
        f"{index.dim}; uploads of {args.query_rows} rows, per_query {args.per_query}, "
        f"top {args.top}, {args.queries} uploads"
    )
    print(
        f"build: segment {(t1 - t0) * 1000:.0f} ms (normalise, concatenate), "
        f"faiss IndexFlatIP {(t2 - t1) * 1000:.0f} ms"
    )
    vec_mb = seg.vectors.nbytes / 2**20
    print(
        f"memory: vectors {vec_mb:.1f} MiB in the segment (memory-mapped once saved) + "
        f"{index.n_vectors * index.dim * 4 / 2**20:.1f} MiB copy in faiss; segment columns "
        f"in all {seg.nbytes() / 2**20:.1f} MiB"
    )

    def shortlist(q: np.ndarray) -> None:
        index.shortlist(q, per_query=args.per_query, top=args.top)

    default_threads = faiss.omp_get_max_threads()
    shortlist(queries[0])  # warm-up
    for threads in (default_threads, 1):
        faiss.omp_set_num_threads(threads)
        med, p95 = _time_ms(shortlist, queries)
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        label += " (faiss default)" if threads == default_threads else ""
        print(f"shortlist, {label}: median {med:.1f} ms, p95 {p95:.1f} ms per upload")
    flat = index._searchable()[0]  # the bare faiss search, for the Python overhead
    med, _ = _time_ms(lambda q: flat.search(q, args.per_query), queries)
    print(f"  of which faiss search alone: median {med:.1f} ms")
    set_by_index = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = 128_000  # faiss 1.15's own default
    med, p95 = _time_ms(shortlist, queries)
    print(
        f"shortlist, 1 thread, faiss's default BLAS threshold (one scan per query row): "
        f"median {med:.1f} ms, p95 {p95:.1f} ms"
    )
    faiss.cvar.distance_compute_blas_threshold = set_by_index
    faiss.omp_set_num_threads(default_threads)


if __name__ == "__main__":
    main()
