"""Search of an upload's voice windows against the protected-voice bank (faiss)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from compliance.voices.calibration import DEFAULT_CALIBRATION
from fingerprints.voice import Calibration, calibrated_strength


@dataclass(frozen=True, slots=True)
class VoiceMatch:
    """One protected voice against one upload.

    Attributes
    ----------
    entry : compliance.voices.bank.VoiceEntry
    cosine : float
        Best raw cosine of an upload window against the voice print.
    strength : float
        Its calibrated strength in 0..1.
    window_strengths : ndarray of float64, shape (n_windows,)
        Calibrated strength of every upload window against this voice.
    """

    entry: object
    cosine: float
    strength: float
    window_strengths: np.ndarray


@dataclass
class VoiceBankSnapshot:
    """The active voices at one moment: prints (n, 256) in ``entries`` order (by voice id).

    Search is exact inner product (faiss ``IndexFlatIP``) over unit prints: at 10,000
    voices a query of a few windows is a fraction of a millisecond
    (docs/benchmarks.md).
    """

    entries: tuple
    prints: np.ndarray
    calibration: Calibration = field(default=DEFAULT_CALIBRATION)

    def __len__(self) -> int:
        return len(self.entries)

    @cached_property
    def _means(self) -> np.ndarray:
        return np.array([e.cohort_mean for e in self.entries], dtype=np.float64)

    @cached_property
    def _sds(self) -> np.ndarray:
        return np.array([e.cohort_sd for e in self.entries], dtype=np.float64)

    @cached_property
    def _index(self):
        import faiss

        from fingerprints.index.vector_index import BLAS_THRESHOLD

        # one blocked product for all windows, not one scan per window (see BLAS_THRESHOLD)
        faiss.cvar.distance_compute_blas_threshold = BLAS_THRESHOLD
        index = faiss.IndexFlatIP(self.prints.shape[1])
        if len(self.prints):
            index.add(np.ascontiguousarray(self.prints, dtype=np.float32))
        return index

    def search(self, windows: np.ndarray, *, top_k: int = 10) -> list[VoiceMatch]:
        """The ``top_k`` voices closest to any of the upload's windows, best first.

        Parameters
        ----------
        windows : ndarray of float32, shape (n_windows, 256)
            Unit embeddings of the upload's voice windows.
        """
        if not len(self.entries) or not len(windows):
            return []
        q = np.ascontiguousarray(windows, dtype=np.float32)
        # Raw cosine shortlists, calibrated strength ranks: shortlist wider than top_k
        # since a voice with a low impostor mean can rank higher after calibration.
        k = min(4 * top_k, len(self.entries))
        _, ids = self._index.search(q, k)
        cand = np.unique(ids[ids >= 0])
        cos = q @ self.prints[cand].T  # (n_windows, n_candidates)
        ws = calibrated_strength(cos, self._means[cand], self._sds[cand], self.calibration)
        best = ws.max(axis=0)
        order = np.argsort(-best, kind="stable")  # ties: entry order (by voice id)
        return [
            VoiceMatch(self.entries[cand[j]], float(cos[:, j].max()), float(best[j]), ws[:, j])
            for j in order[:top_k]
        ]


class BankCache:
    """The bank snapshot of one process, reloaded when the bank changed.

    Checks the bank's version (count and last change, one small query) at most every
    ``ttl_s`` seconds, so a voice enrolled or disabled elsewhere is seen by running
    workers within that time.
    """

    def __init__(self, store, *, ttl_s: float = 5.0) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._snap: VoiceBankSnapshot | None = None
        self._version = None
        self._checked = -1e18

    def snapshot(self) -> VoiceBankSnapshot:
        import time

        from compliance.voices.bank import bank_version, load_snapshot

        now = time.monotonic()
        if self._snap is None or now - self._checked >= self.ttl_s:
            self._checked = now
            v = bank_version(self.store)
            if self._snap is None or v != self._version:
                self._snap, self._version = load_snapshot(self.store), v
        return self._snap
