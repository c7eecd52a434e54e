"""The catalogue's landmark index on disk, kept consistent with the database.

Segments are written to ``index_dir`` first and become live only when the database
records them together with their catalogue rows (one transaction). Folders that the
database does not know are leftovers of an interrupted ingest and are removed by
:func:`collect_garbage` (run at the start of every ingest).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from compliance.detectors.base import CatalogueMatch
from fingerprints import cover, landmarks
from fingerprints.align import search
from fingerprints.index.landmark_index import LandmarkIndex, Segment


class CatalogueIndex:
    """Read side: the live segments, restricted to catalogue entries that are enabled.

    Parameters
    ----------
    store : compliance.storage.Store
    index_dir : Path
    """

    def __init__(self, store, index_dir: Path) -> None:
        self.store = store
        self.index_dir = Path(index_dir)
        names = [
            s.name for s in store.list_segments(landmarks.SIGNAL_NAME, landmarks.SIGNAL_VERSION)
        ]
        self.index = LandmarkIndex.open(self.index_dir, names)
        self.active = store.active_track_ids()
        self._durations = self.index.durations_s
        cover_segments = store.list_segments(cover.SIGNAL_NAME, cover.SIGNAL_VERSION)
        self._cover_names = [s.name for s in cover_segments]
        self._cover_tracks = {t for s in cover_segments for t in s.track_ids}
        self._cover = None

    def without_covers(self) -> set[str]:
        """Enabled catalogue entries with no cover signal of the current version (ingested
        before the cover detector or under an older cover signal: ``compliance catalogue
        reindex`` builds it); covers of them are not detected."""
        return self.active - self._cover_tracks

    def cover_index_warning(self) -> str | None:
        """For people: how many enabled entries :meth:`without_covers` finds, or None."""
        missing = self.without_covers()
        if not missing:
            return None
        return (
            f"{len(missing)} of {len(self.active)} enabled catalogue tracks have no cover "
            f"index at signal version {cover.SIGNAL_VERSION}: covers of them are not "
            "detected until `compliance catalogue reindex`"
        )

    @property
    def covers(self):
        """The cover index (:class:`~fingerprints.index.cover_index.CoverIndex`) of the
        same live catalogue, opened on first use."""
        if self._cover is None:  # faiss on one thread: OMP_NUM_THREADS (compliance/__init__)
            from fingerprints.index.cover_index import CoverIndex

            self._cover = CoverIndex.open(self.index_dir, self._cover_names)
        return self._cover

    def cover_search(self, seq: cover.ChromaSequence, *, shortlist: int = 100):
        """Cover candidates of an upload among enabled catalogue tracks, best first
        (:meth:`fingerprints.index.cover_index.CoverIndex.search`)."""
        active = self.active
        return self.covers.search(seq, shortlist=shortlist, allowed=lambda cid: cid in active)

    def __len__(self) -> int:
        return len(self.index)

    def search(
        self, samples: np.ndarray, *, top_k: int = 20, spec: np.ndarray | None = None
    ) -> list[CatalogueMatch]:
        """Aligned matches of a clip at 11025 Hz against enabled catalogue tracks
        (``spec``: its :func:`~fingerprints.landmarks.log_spectrogram`, if computed)."""
        return [m for m, active in self.candidates(samples, top_k=top_k, spec=spec) if active]

    def candidates(
        self, samples: np.ndarray, *, top_k: int = 20, spec: np.ndarray | None = None
    ) -> list[tuple[CatalogueMatch, bool]]:
        """The ``top_k`` aligned matches of the landmark search, disabled entries included,
        each with whether its entry is enabled (:meth:`search` keeps the enabled ones)."""
        out = []
        for m in search(self.index, samples, top_k=top_k, spec=spec):
            cid = self.index.track_ids[m.track]
            out.append(
                (CatalogueMatch(cid, float(self._durations[m.track]), m), cid in self.active)
            )
        return out

    def stats(self) -> dict[str, float]:
        hours = float(self._durations.sum()) / 3600.0
        return {
            "tracks": len(self.index),
            "hashes": self.index.n_hashes,
            "bytes": self.index.nbytes(),
            "hours": hours,
            "bytes_per_hour": self.index.nbytes() / hours if hours else 0.0,
        }


def write_cover_segment(index_dir: Path, sequences: Mapping[str, cover.ChromaSequence]):
    """Build and atomically save a cover segment (not live until the store records it)."""
    from fingerprints.index.cover_index import CoverSegment

    seg = CoverSegment.build(sequences)
    seg.save(index_dir)
    return seg


def write_segment(index_dir: Path, fingerprints: Mapping[str, landmarks.Triplets]) -> Segment:
    """Build and atomically save a segment; it is not live until the store records it."""
    seg = Segment.build(fingerprints)
    seg.save(index_dir)
    return seg


def collect_garbage(store, index_dir: Path, *, min_age_s: float = 3600.0) -> list[str]:
    """Remove segment folders unknown to the database (of any signal version) and older
    than ``min_age_s`` (younger ones may belong to an ingest still running).

    Returns the removed folder names.
    """
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        return []
    known = store.segment_names()
    removed = []
    now = time.time()
    for p in index_dir.iterdir():
        if not p.is_dir() or p.name in known:
            continue
        if now - p.stat().st_mtime >= min_age_s:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return removed
