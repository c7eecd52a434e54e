"""Index of fixed-size track embeddings: shortlist catalogue tracks by inner product.

The cover-song detector describes every catalogue track by a few L2-normalised float32
embeddings (one for the whole track, one per section of 30-60 s). An upload gives
embeddings of the same kind; :meth:`VectorIndex.shortlist` returns the catalogue tracks
whose vectors have the largest inner product with any of them, for the expensive
alignment rescoring to look at.

Storage follows :mod:`fingerprints.index.landmark_index`: the index is a list of
immutable *segments*, each a folder of ``.npy`` files and a ``meta.json`` written to a
temporary folder, fsynced and renamed into place, and memory-mapped on load. Which
segments are live is for the caller to record. A segment names the signal (the
embedding and its version) it was computed with; loading it for another raises
:class:`ValueError`, since vectors of different embeddings are not comparable.

Search is exact (faiss ``IndexFlatIP``): at catalogue sizes where a flat scan gets too
slow, an approximate faiss index can replace it behind the same :meth:`shortlist`.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from fingerprints.index.segment_files import read_meta, write_segment_folder

FORMAT_VERSION = 1
_READABLE_FORMATS = (1,)
_ARRAYS = ("vectors", "owners", "starts_s", "ends_s")
"""Columns saved per segment, one ``.npy`` file each."""
BLAS_THRESHOLD = 0
"""Value given to faiss's process-wide ``distance_compute_blas_threshold`` when a
:class:`VectorIndex` first builds its faiss index. faiss 1.15 searches with BLAS only
when query rows x dimension reach it (default 128,000); below, every query row scans
the whole index on its own, so a 16-row upload reads the vectors 16 times. With 0 the
vectors are read once, in blocks multiplied by all rows: 44 -> 20 ms per 16-row upload
on 100,000 x 192 vectors, one core (scripts/bench_cover_index.py). Same neighbours;
scores differ in the last float32 digit."""


@dataclass(frozen=True, slots=True)
class TrackVectors:
    """The embeddings of one catalogue track.

    Attributes
    ----------
    vectors : array_like of float, shape (k, d)
        One row per embedding (k >= 1); normalised to unit length when a segment is
        built, so they need not be already.
    starts_s, ends_s : array_like of float, shape (k,)
        Section of the track each row describes, seconds (the whole track: 0 and its
        duration).
    """

    vectors: np.ndarray
    starts_s: np.ndarray
    ends_s: np.ndarray


@dataclass(frozen=True, slots=True)
class Candidate:
    """One shortlisted catalogue track.

    Attributes
    ----------
    track : int
        Global track number (see :attr:`VectorIndex.track_ids`).
    score : float
        Best inner product between a query row and a vector of the track.
    query_row : int
        Query row of that best pair.
    catalogue_row : int
        Global vector row of that best pair (rows are numbered across segments in the
        order they were added).
    start_s, end_s : float
        Section of the catalogue track that vector describes, seconds.
    """

    track: int
    score: float
    query_row: int
    catalogue_row: int
    start_s: float
    end_s: float


def _unit_rows(vectors: np.ndarray, track_id: str) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); zero or non-finite rows raise ValueError."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1)
    bad = ~(np.isfinite(norms) & (norms > 0))
    if bad.any():
        raise ValueError(
            f"track {track_id!r}: vector row {int(np.argmax(bad))} is zero or not finite"
        )
    return (v / norms[:, None]).astype(np.float32)


def _sections(tv: TrackVectors, k: int, track_id: str) -> tuple[np.ndarray, np.ndarray]:
    starts = np.asarray(tv.starts_s, dtype=np.float32)
    ends = np.asarray(tv.ends_s, dtype=np.float32)
    if starts.shape != (k,) or ends.shape != (k,):
        raise ValueError(
            f"track {track_id!r}: starts_s {starts.shape} and ends_s {ends.shape} must "
            f"both have shape ({k},), one per vector"
        )
    if not (np.isfinite(starts).all() and np.isfinite(ends).all() and (ends >= starts).all()):
        raise ValueError(f"track {track_id!r}: sections must be finite with end >= start")
    return starts, ends


class VectorSegment:
    """One immutable batch of tracks and their embeddings.

    Parameters
    ----------
    vectors : ndarray of float32, shape (n, d)
        Unit-length rows, grouped by track in ``track_ids`` order.
    owners : ndarray of int32, shape (n,)
        Local track number (into ``track_ids``) of each row; non-decreasing.
    starts_s, ends_s : ndarray of float32, shape (n,)
        Section of its track each row describes, seconds.
    track_ids : list of str
        Catalogue ids of the tracks in this segment.
    signal, signal_version : str
        The embedding the vectors were computed with, and its version.
    name : str
        Folder name of the segment.

    Use :meth:`build` or :meth:`load`; the constructor does not check its arguments.
    """

    def __init__(
        self,
        vectors: np.ndarray,
        owners: np.ndarray,
        starts_s: np.ndarray,
        ends_s: np.ndarray,
        track_ids: list[str],
        *,
        signal: str,
        signal_version: str,
        name: str,
    ) -> None:
        self.vectors = vectors
        self.owners = owners
        self.starts_s = starts_s
        self.ends_s = ends_s
        self.track_ids = track_ids
        self.signal = signal
        self.signal_version = signal_version
        self.name = name
        # Rows of local track t are offsets[t]:offsets[t + 1] (owners are grouped).
        self._offsets = np.searchsorted(
            np.asarray(owners), np.arange(len(track_ids) + 1), side="left"
        )

    @classmethod
    def build(
        cls,
        items: Mapping[str, TrackVectors],
        *,
        signal: str,
        signal_version: str,
        name: str | None = None,
    ) -> VectorSegment:
        """Build a segment from the embeddings of catalogue tracks keyed by catalogue id.

        Rows are normalised to unit length. Raises ValueError for an empty mapping, a
        track without vectors, a zero or non-finite row, rows of differing dimension,
        or sections that do not match the rows.
        """
        ids = list(items)
        if not ids:
            raise ValueError("a vector segment needs at least one track")
        vecs, starts, ends, owners = [], [], [], []
        dim: int | None = None
        for n, tid in enumerate(ids):
            tv = items[tid]
            v = np.asarray(tv.vectors)
            if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
                raise ValueError(f"track {tid!r}: vectors must have shape (k>=1, d>=1), "
                                 f"not {v.shape}")  # fmt: skip
            if dim is None:
                dim = int(v.shape[1])
            elif v.shape[1] != dim:
                raise ValueError(f"track {tid!r}: dimension {v.shape[1]}, expected {dim}")
            s, e = _sections(tv, v.shape[0], tid)
            vecs.append(_unit_rows(v, tid))
            starts.append(s)
            ends.append(e)
            owners.append(np.full(v.shape[0], n, np.int32))
        return cls(
            np.ascontiguousarray(np.concatenate(vecs)),
            np.concatenate(owners),
            np.concatenate(starts),
            np.concatenate(ends),
            ids,
            signal=signal,
            signal_version=signal_version,
            name=name or f"vseg-{uuid.uuid4().hex[:16]}",
        )

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def n_vectors(self) -> int:
        return int(self.vectors.shape[0])

    def track_rows(self, local: int) -> slice:
        """Rows of local track ``local``."""
        return slice(int(self._offsets[local]), int(self._offsets[local + 1]))

    def nbytes(self) -> int:
        """Bytes of the stored columns."""
        return int(sum(np.asarray(getattr(self, k)).nbytes for k in _ARRAYS))

    def save(self, root: str | os.PathLike) -> Path:
        """Write to ``root/name`` atomically (temporary folder, fsync, rename)."""
        meta = {
            "format": FORMAT_VERSION,
            "signal": self.signal,
            "signal_version": self.signal_version,
            "dim": self.dim,
            "n_vectors": self.n_vectors,
            "track_ids": self.track_ids,
        }
        columns = {k: np.asarray(getattr(self, k)) for k in _ARRAYS}
        return write_segment_folder(root, self.name, columns, meta)

    @classmethod
    def load(
        cls, path: str | os.PathLike, *, signal: str, signal_version: str, mmap: bool = True
    ) -> VectorSegment:
        """Open a saved segment (memory-mapped by default).

        Raises ValueError when the segment was written in another format or for another
        signal or signal version than the expected ``signal`` / ``signal_version``.
        """
        path = Path(path)
        meta = read_meta(path)
        found = (meta.get("format"), meta.get("signal"), meta.get("signal_version"))
        if found[0] not in _READABLE_FORMATS or found[1:] != (signal, signal_version):
            raise ValueError(
                f"vector segment {path.name} has format {found[0]} / signal {found[1]!r} "
                f"version {found[2]!r}; this build reads {FORMAT_VERSION} / {signal!r} "
                f"version {signal_version!r}: re-ingest the catalogue"
            )
        mode = "r" if mmap else None
        arrays = {k: np.load(path / f"{k}.npy", mmap_mode=mode) for k in _ARRAYS}
        n, d = int(meta["n_vectors"]), int(meta["dim"])
        if (
            arrays["vectors"].shape != (n, d)
            or arrays["vectors"].dtype != np.float32
            or any(arrays[k].shape != (n,) for k in _ARRAYS[1:])
        ):
            raise ValueError(f"vector segment {path.name}: columns do not match meta.json")
        return cls(
            arrays["vectors"], arrays["owners"], arrays["starts_s"], arrays["ends_s"],
            list(meta["track_ids"]), signal=signal, signal_version=signal_version,
            name=path.name,
        )  # fmt: skip


class _Segments:
    """Segments with global track and row numbers (shared by both indexes)."""

    def __init__(self, segments: Iterable[VectorSegment]) -> None:
        self.segments: list[VectorSegment] = []
        self._track_bases: list[int] = []
        self._row_bases: list[int] = []
        self._track_ids: list[str] = []
        self._n_rows = 0
        for seg in segments:
            self.add_segment(seg)

    def add_segment(self, segment: VectorSegment) -> None:
        """Make a built or loaded segment searchable.

        Raises ValueError when its dimension, signal or signal version differs from the
        segments already in the index.
        """
        if self.segments:
            first = self.segments[0]
            if segment.dim != first.dim:
                raise ValueError(
                    f"vector segment {segment.name} has dimension {segment.dim}, "
                    f"the index {first.dim}"
                )
            if (segment.signal, segment.signal_version) != (first.signal, first.signal_version):
                raise ValueError(
                    f"vector segment {segment.name} is {segment.signal!r} version "
                    f"{segment.signal_version!r}, the index {first.signal!r} version "
                    f"{first.signal_version!r}"
                )
        self._track_bases.append(len(self._track_ids))
        self._row_bases.append(self._n_rows)
        self.segments.append(segment)
        self._track_ids.extend(segment.track_ids)
        self._n_rows += segment.n_vectors

    @property
    def track_ids(self) -> list[str]:
        """Catalogue id of each global track number (the index's own list: read only)."""
        return self._track_ids

    def __len__(self) -> int:
        return len(self._track_ids)

    @property
    def dim(self) -> int | None:
        """Vector dimension, None while the index is empty."""
        return self.segments[0].dim if self.segments else None

    @property
    def n_vectors(self) -> int:
        return self._n_rows

    def nbytes(self) -> int:
        """Bytes of the segments' columns (vectors, owners, sections)."""
        return sum(s.nbytes() for s in self.segments)

    def vectors_of(self, track: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectors (float32, (k, d)), starts_s and ends_s (float32, (k,)) of global
        track ``track``; views into its segment."""
        if not 0 <= track < len(self._track_ids):
            raise IndexError(f"track {track} out of range (index holds {len(self)})")
        k = int(np.searchsorted(self._track_bases, track, side="right")) - 1
        seg = self.segments[k]
        rows = seg.track_rows(track - self._track_bases[k])
        return seg.vectors[rows], seg.starts_s[rows], seg.ends_s[rows]

    def _section(self, row: int) -> tuple[float, float]:
        """Section (start, end seconds) of global vector row ``row``."""
        k = int(np.searchsorted(self._row_bases, row, side="right")) - 1
        local = row - self._row_bases[k]
        seg = self.segments[k]
        return float(seg.starts_s[local]), float(seg.ends_s[local])

    def _check_queries(self, queries: np.ndarray, per_query: int, top: int) -> np.ndarray:
        if per_query < 1 or top < 1:
            raise ValueError("per_query and top must be at least 1")
        q = np.asarray(queries)
        if q.ndim != 2 or (self.dim is not None and q.shape[1] != self.dim):
            raise ValueError(f"queries must have shape (m, {self.dim}), not {q.shape}")
        if not np.isfinite(q).all():
            raise ValueError("queries must be finite")
        return q


class VectorIndex(_Segments):
    """The union of vector segments, with global track numbers, searched exactly.

    Parameters
    ----------
    segments : iterable of VectorSegment
        Segments of one signal and dimension, in the order that numbers the tracks.

    Attributes
    ----------
    segments : list of VectorSegment

    The faiss index is built on the first :meth:`shortlist` and extended by the
    segments added since on the next one; it holds one copy of the vectors (the
    segments' own arrays stay memory-mapped). Concurrent :meth:`shortlist` calls are
    safe; :meth:`add_segment` must not run concurrently with them. Building it sets
    faiss's process-wide BLAS threshold (see :data:`BLAS_THRESHOLD`).
    """

    def __init__(self, segments: Iterable[VectorSegment] = ()) -> None:
        self._faiss: faiss.IndexFlatIP | None = None
        self._n_indexed = 0  # segments already in self._faiss
        self._owners = np.empty(0, np.int64)  # global track of every indexed row
        self._lock = threading.Lock()
        super().__init__(segments)

    @classmethod
    def open(
        cls, root: str | os.PathLike, names: Iterable[str], *, signal: str, signal_version: str
    ) -> VectorIndex:
        """Open the named segments under ``root`` (memory-mapped)."""
        return cls(
            VectorSegment.load(Path(root) / n, signal=signal, signal_version=signal_version)
            for n in names
        )

    def prepare(self) -> None:
        """Build (or extend) the faiss index now rather than on the next shortlist."""
        self._searchable()

    def _searchable(self) -> tuple[faiss.IndexFlatIP, np.ndarray]:
        with self._lock:
            if self._faiss is None:
                faiss.cvar.distance_compute_blas_threshold = BLAS_THRESHOLD
                self._faiss = faiss.IndexFlatIP(self.dim)
            if self._n_indexed < len(self.segments):
                new = self.segments[self._n_indexed :]
                owners = [self._owners]
                for seg, base in zip(new, self._track_bases[self._n_indexed :], strict=True):
                    # Already float32 and C-contiguous: faiss copies it once, no more.
                    self._faiss.add(np.ascontiguousarray(seg.vectors, dtype=np.float32))
                    owners.append(np.asarray(seg.owners, dtype=np.int64) + base)
                self._owners = np.concatenate(owners)
                self._n_indexed = len(self.segments)
            return self._faiss, self._owners

    def shortlist(
        self,
        queries: np.ndarray,
        *,
        per_query: int = 64,
        top: int = 20,
        allowed: Callable[[int], bool] | None = None,
    ) -> list[Candidate]:
        """The catalogue tracks nearest to any query row, best first.

        Parameters
        ----------
        queries : ndarray of float32, shape (m, d)
            Upload embeddings, L2-normalised by the caller (scores are then cosines).
        per_query : int
            Nearest catalogue vectors taken per query row (all of them when the index
            holds fewer).
        top : int
            Most tracks returned.
        allowed : callable, optional
            ``allowed(track)`` False drops a global track. Applied after the search (a
            dropped track still takes its places among the ``per_query`` nearest), and
            called at most once per track, in ranking order, until ``top`` are found.

        Returns
        -------
        list of Candidate
            At most ``top``, by score descending then track number ascending; per track
            the best-scoring (query row, catalogue row) pair.
        """
        q = self._check_queries(queries, per_query, top)
        if not self.segments or q.shape[0] == 0:
            return []
        index, owners = self._searchable()
        k = min(per_query, index.ntotal)
        scores, rows = index.search(np.ascontiguousarray(q, dtype=np.float32), k)
        query_rows = np.repeat(np.arange(q.shape[0]), k)
        scores, rows = scores.ravel(), rows.ravel()
        found = rows >= 0  # faiss pads with -1 when it finds fewer than k
        if not found.all():
            query_rows, scores, rows = query_rows[found], scores[found], rows[found]
        if rows.size == 0:
            return []
        tracks = owners[rows]
        # Per track its best pair: order by track, score descending, query row, row.
        order = np.lexsort((rows, query_rows, -scores, tracks))
        first = order[np.r_[True, tracks[order][1:] != tracks[order][:-1]]]
        ranked = first[np.lexsort((tracks[first], -scores[first]))]
        out: list[Candidate] = []
        for i in ranked.tolist():
            track = int(tracks[i])
            if allowed is not None and not allowed(track):
                continue
            row = int(rows[i])
            out.append(Candidate(track, float(scores[i]), int(query_rows[i]), row,
                                 *self._section(row)))  # fmt: skip
            if len(out) == top:
                break
        return out


class BruteForceVectorIndex(_Segments):
    """The slow, obviously correct reference for :class:`VectorIndex` (tests only).

    Scores are computed in float64, so they may differ from the faiss ones in the last
    float32 digits.
    """

    def shortlist(
        self,
        queries: np.ndarray,
        *,
        per_query: int = 64,
        top: int = 20,
        allowed: Callable[[int], bool] | None = None,
    ) -> list[Candidate]:
        """Same contract as :meth:`VectorIndex.shortlist`."""
        q = self._check_queries(queries, per_query, top)
        if not self.segments:
            return []
        vectors = np.concatenate([np.asarray(s.vectors, np.float64) for s in self.segments])
        owners = np.concatenate(
            [np.asarray(s.owners, np.int64) + b
             for s, b in zip(self.segments, self._track_bases, strict=True)]
        )  # fmt: skip
        best: dict[int, tuple[float, int, int]] = {}
        for qi, qv in enumerate(np.asarray(q, np.float64)):
            scores = vectors @ qv
            nearest = sorted(range(len(scores)), key=lambda r: (-scores[r], r))[:per_query]
            for row in nearest:
                track = int(owners[row])
                pair = (float(scores[row]), qi, row)
                old = best.get(track)
                if old is None or (-pair[0], qi, row) < (-old[0], old[1], old[2]):
                    best[track] = pair
        ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
        out = []
        for track, (score, qi, row) in ranked:
            if allowed is None or allowed(track):
                out.append(Candidate(track, score, qi, row, *self._section(row)))
        return out[:top]
