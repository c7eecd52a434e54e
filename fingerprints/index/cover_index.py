"""The catalogue's cover index: chroma sequences for the alignment, section embeddings
for the shortlist.

A :class:`CoverSegment` is one immutable batch of tracks saved like the landmark
segments (temporary folder, fsync, rename): every track's chroma sequence (float16) and
the raw (uncentred) section embeddings of the tracks that are tonal enough. Adding
tracks writes a new segment; nothing already written is rebuilt.

:class:`CoverIndex` opens the live segments, takes the part of every embedding that the
shortlist compares (:data:`~fingerprints.cover.SHORTLIST_DIMS`: the stored embeddings
keep all of it, so that part can change without re-ingesting), centres it on the mean of
the catalogue's (measured on the development corpus, centring on the catalogue mean kept
88 % of the covers in a 50-track shortlist against 79 % without) and searches them with
:class:`~fingerprints.index.vector_index.VectorIndex`; the shortlist is rescored by
:func:`fingerprints.cover.align_fused` (both chromas).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fingerprints import cover
from fingerprints.index.segment_files import read_meta, write_segment_folder
from fingerprints.index.vector_index import TrackVectors, VectorIndex, VectorSegment

FORMAT_VERSION = 2
_ARRAYS = ("chroma", "plain", "offsets", "tonal", "vectors", "owners", "starts_s", "ends_s")


class CoverSegment:
    """One batch of catalogue tracks' cover signals.

    Parameters
    ----------
    chroma : ndarray of float16, shape (n_blocks_total, 12)
        Every track's blocks, track ``k``'s at ``offsets[k]:offsets[k + 1]``.
    plain : ndarray of float16, shape (n_blocks_total, 12)
        The plain chroma of the same blocks (:attr:`~fingerprints.cover.ChromaSequence.
        plain`).
    offsets : ndarray of int64, shape (n_tracks + 1,)
    tonal : ndarray of float32, shape (n_tracks,)
        :attr:`~fingerprints.cover.ChromaSequence.tonal_share` of each track.
    vectors : ndarray of float32, shape (n_vectors, DIM)
        Raw section embeddings (:func:`fingerprints.cover.sections`) of usable tracks.
    owners : ndarray of int32, shape (n_vectors,)
        Local track number of each vector.
    starts_s, ends_s : ndarray of float32, shape (n_vectors,)
    track_ids : list of str
    name : str
    """

    def __init__(
        self, chroma, plain, offsets, tonal, vectors, owners, starts_s, ends_s, track_ids, name
    ):
        self.chroma, self.plain, self.offsets, self.tonal = chroma, plain, offsets, tonal
        self.vectors, self.owners = vectors, owners
        self.starts_s, self.ends_s = starts_s, ends_s
        self.track_ids: list[str] = list(track_ids)
        self.name = name

    @classmethod
    def build(
        cls, sequences: Mapping[str, cover.ChromaSequence], *, name: str | None = None
    ) -> CoverSegment:
        ids = list(sequences)
        parts = [np.asarray(sequences[t].chroma, np.float32).T for t in ids]
        plains = [_plain_of(sequences[t]).T for t in ids]
        offsets = np.zeros(len(ids) + 1, np.int64)
        offsets[1:] = np.cumsum([p.shape[0] for p in parts])
        vecs, owners, starts, ends = [], [], [], []
        for k, t in enumerate(ids):
            seq = sequences[t]
            if not seq.usable:
                continue
            sec = cover.sections(seq)
            vecs.append(sec.vectors)
            owners.append(np.full(sec.vectors.shape[0], k, np.int32))
            starts.append(sec.starts_s)
            ends.append(sec.ends_s)
        dim = cover.DIM
        return cls(
            np.concatenate(parts).astype(np.float16) if parts else np.zeros((0, 12), np.float16),
            np.concatenate(plains).astype(np.float16) if plains else np.zeros((0, 12), np.float16),
            offsets,
            np.asarray([sequences[t].tonal_share for t in ids], np.float32),
            np.concatenate(vecs) if vecs else np.zeros((0, dim), np.float32),
            np.concatenate(owners) if owners else np.zeros(0, np.int32),
            np.concatenate(starts) if starts else np.zeros(0, np.float32),
            np.concatenate(ends) if ends else np.zeros(0, np.float32),
            ids,
            name or f"cover-{uuid.uuid4().hex[:12]}",
        )

    def sequence(self, local: int) -> cover.ChromaSequence:
        a, b = int(self.offsets[local]), int(self.offsets[local + 1])
        chroma = np.ascontiguousarray(np.asarray(self.chroma[a:b], np.float32).T)
        plain = np.ascontiguousarray(np.asarray(self.plain[a:b], np.float32).T)
        return cover.ChromaSequence(chroma, float(self.tonal[local]), plain)

    def save(self, root: str | os.PathLike) -> Path:
        """Write to ``root/name`` atomically (temporary folder, fsync, rename)."""
        meta = {
            "format": FORMAT_VERSION,
            "signal": cover.SIGNAL_NAME,
            "signal_version": cover.SIGNAL_VERSION,
            "track_ids": self.track_ids,
        }
        columns = {k: getattr(self, k) for k in _ARRAYS}
        return write_segment_folder(root, self.name, columns, meta)

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True) -> CoverSegment:
        path = Path(path)
        meta = read_meta(path)
        if (
            meta.get("format") != FORMAT_VERSION
            or meta.get("signal") != cover.SIGNAL_NAME
            or meta.get("signal_version") != cover.SIGNAL_VERSION
        ):
            raise ValueError(
                f"cover segment {path.name} has format {meta.get('format')} / signal "
                f"{meta.get('signal')} {meta.get('signal_version')}; this build reads "
                f"{FORMAT_VERSION} / {cover.SIGNAL_NAME} {cover.SIGNAL_VERSION}: re-ingest "
                "the catalogue"
            )
        mode = "r" if mmap else None
        arrays = [np.load(path / f"{k}.npy", mmap_mode=mode) for k in _ARRAYS]
        return cls(*arrays, list(meta["track_ids"]), path.name)


def _plain_of(seq: cover.ChromaSequence) -> np.ndarray:
    if seq.plain is None or seq.plain.shape != seq.chroma.shape:
        raise ValueError("a catalogue cover sequence needs its plain chroma")
    return np.asarray(seq.plain, np.float32)


@dataclass(frozen=True, slots=True)
class CoverMatch:
    """A rescored candidate: the catalogue id, the embedding similarity that put it on
    the shortlist, and the alignment."""

    catalogue_id: str
    similarity: float
    alignment: cover.CoverAlignment


COARSE_CACHE = 4096
"""Coarsened catalogue sequences a :class:`CoverIndex` keeps (about 25 kB for 4 minutes)."""


class CoverIndex:
    """Shortlist by section embeddings, rescore by alignment (module docstring)."""

    def __init__(self, segments: Iterable[CoverSegment] = ()) -> None:
        self.segments = list(segments)
        self._where: dict[str, tuple[CoverSegment, int]] = {}
        self._coarse_cache: dict[tuple[str, int], cover.ChromaSequence] = {}
        self._coarse_lock = threading.Lock()
        dims = cover.SHORTLIST_DIMS
        raw = [s.vectors[:, dims] for s in self.segments if len(s.vectors)]
        self.centre = (
            np.concatenate(raw).astype(np.float64).mean(axis=0).astype(np.float32)
            if raw
            else np.zeros(cover.SHORTLIST_DIM, np.float32)
        )
        vseg = []
        for seg in self.segments:
            items = {}
            owners = np.asarray(seg.owners)
            for k, t in enumerate(seg.track_ids):
                self._where[t] = (seg, k)
                rows = np.flatnonzero(owners == k)
                if rows.size:
                    v = np.asarray(seg.vectors[rows][:, dims], np.float32) - self.centre
                    items[t] = TrackVectors(v, seg.starts_s[rows], seg.ends_s[rows])
            if items:
                vseg.append(
                    VectorSegment.build(
                        items, signal=cover.SIGNAL_NAME, signal_version=cover.SIGNAL_VERSION,
                        name=seg.name,
                    )
                )  # fmt: skip
        self.vectors = VectorIndex(vseg)

    @classmethod
    def open(cls, root: str | os.PathLike, names: Iterable[str]) -> CoverIndex:
        return cls([CoverSegment.load(Path(root) / n) for n in names])

    def __len__(self) -> int:
        return len(self._where)

    def sequence(self, catalogue_id: str) -> cover.ChromaSequence | None:
        got = self._where.get(catalogue_id)
        return None if got is None else got[0].sequence(got[1])

    def _coarse(self, catalogue_id: str, ref: cover.ChromaSequence, factor: int):
        """:func:`~fingerprints.cover.coarsened` of a catalogue sequence, kept for the
        next uploads (the same few hundred tracks are shortlisted again and again; at most
        :data:`COARSE_CACHE` of them, the least recently used dropped first)."""
        key = (catalogue_id, factor)
        with self._coarse_lock:
            got = self._coarse_cache.pop(key, None)
        if got is None:
            got = cover.coarsened(ref, factor)
        with self._coarse_lock:
            while len(self._coarse_cache) >= COARSE_CACHE:
                self._coarse_cache.pop(next(iter(self._coarse_cache)))
            self._coarse_cache[key] = got  # last = most recently used
        return got

    def query_vectors(self, seq: cover.ChromaSequence) -> tuple[np.ndarray, np.ndarray]:
        """The upload's shortlist queries: centred, unit-length section embeddings (their
        :data:`~fingerprints.cover.SHORTLIST_DIMS`) at each of :data:`~fingerprints.cover.
        QUERY_SCALES`, shape (m, SHORTLIST_DIM), and the time scale of each row, shape
        (m,)."""
        rows, scale_of = [], []
        for s in cover.QUERY_SCALES:
            v = cover.sections(seq, scale=s, max_sections=cover.QUERY_SECTIONS).vectors
            v = v[:, cover.SHORTLIST_DIMS] - self.centre
            rows.append(v)
            scale_of.extend([s] * len(v))
        q = np.concatenate(rows)
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        ok = norms[:, 0] > 0
        return (q[ok] / norms[ok]).astype(np.float32), np.asarray(scale_of)[ok]

    def search(
        self,
        seq: cover.ChromaSequence,
        *,
        shortlist: int = 20,
        allowed: Callable[[str], bool] | None = None,
        scale_reach: int = 1,
        refine: int = 4,
        coarse: int = 2,
    ) -> list[CoverMatch]:
        """Cover candidates of an upload, best alignment score first.

        Parameters
        ----------
        seq : ChromaSequence
            The upload's (:func:`fingerprints.cover.chroma_sequence`); none when it is
            not :attr:`~fingerprints.cover.ChromaSequence.usable`.
        shortlist : int
            Catalogue tracks rescored.
        allowed : callable, optional
            ``allowed(catalogue_id)``: False leaves a track out (disabled entries).
        scale_reach, refine, coarse : int
            Every candidate is aligned at the time scale of :data:`~fingerprints.cover.
            ALIGN_SCALES` closest to the query scale whose embedding shortlisted it, on
            sequences ``coarse`` times coarser (:func:`~fingerprints.cover.coarsened`;
            a quarter of the cost at 2); the ``refine`` best of them again at full
            resolution and at the scales within ``scale_reach`` steps of it. With
            ``coarse`` > 1 only those are returned. On the development corpus, 100
            candidates this way ranked the covers better (top-1 0.85 against 0.84) than
            50 aligned at full resolution, at about the same cost. With both chromas
            (cover signal 3) a reach of 1 instead of 2 lost one cover that ranked first at
            a chance-level score (66 against 67 of 68) at 60 % of the refine cost, and
            refining 4 instead of 6 lost none (mAP 0.985 against 0.982).
        """
        if not seq.usable or self.vectors.n_vectors == 0:
            return []
        q, scale_of = self.query_vectors(seq)
        if len(q) == 0:
            return []
        ids = self.vectors.track_ids
        cands = self.vectors.shortlist(
            q, top=shortlist,
            allowed=None if allowed is None else (lambda t: allowed(ids[t])),
        )  # fmt: skip
        grid = np.asarray(cover.ALIGN_SCALES)
        first = []
        small = cover.coarsened(seq, coarse) if coarse > 1 else seq
        for c in cands:  # every candidate at the time scale that shortlisted it
            cid = ids[c.track]
            ref = self.sequence(cid)
            if ref is None:
                continue
            k = int(np.argmin(np.abs(np.log(grid) - np.log(scale_of[c.query_row]))))
            ref_small = self._coarse(cid, ref, coarse) if coarse > 1 else ref
            a = cover.align_fused(small, ref_small, scales=(float(grid[k]),))
            first.append((a, cid, ref, k, c))
        first.sort(key=lambda f: -f[0].score)
        out = []
        if coarse > 1:  # coarse scores rank; only the best few are aligned in full
            first = first[:refine]
        for rank, (a, cid, ref, k, c) in enumerate(first):
            if rank < refine:  # the best few at the neighbouring scales too
                lo, hi = max(0, k - scale_reach), k + scale_reach + 1
                a = cover.align_fused(seq, ref, scales=tuple(float(x) for x in grid[lo:hi]))
            out.append(CoverMatch(cid, float(c.score), a))
        out.sort(key=lambda m: -m.alignment.score)
        return out
