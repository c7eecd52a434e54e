"""The detector interface and the per-upload context detectors read from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol, runtime_checkable

import numpy as np

from compliance.domain import Evidence, ReleaseMetadata
from fingerprints.align import LandmarkMatch
from fingerprints.audio import AudioClip


@dataclass(frozen=True, slots=True)
class CatalogueMatch:
    """A landmark match resolved to a catalogue id, with the catalogue track length."""

    catalogue_id: str
    catalogue_duration_s: float
    match: LandmarkMatch


@dataclass
class ScanContext:
    """Everything a detector may read about one upload.

    Signals are computed lazily and once per scan, whichever detector asks first.

    Parameters
    ----------
    file : str
        The upload's path as given by the caller.
    clip : AudioClip
        Decoded mono audio at the landmark analysis rate (11025 Hz).
    content_hash : str
    metadata : ReleaseMetadata
    search : callable
        ``search(samples) -> list[CatalogueMatch]``: the catalogue landmark search.
    chromaprint_of : callable
        ``chromaprint_of(catalogue_id) -> ndarray | None``: stored catalogue Chromaprint.
    cover_search : callable, optional
        ``cover_search(ChromaSequence) -> list[CoverMatch]``: the catalogue cover search
        (:meth:`compliance.storage.index_files.CatalogueIndex.cover_search`); none: no
        cover index.
    history : callable, optional
        ``history(ctx) -> list[compliance.history.patterns.Flag]``: the account patterns
        of this upload against the stored release history; none: no history.
    """

    file: str
    clip: AudioClip
    content_hash: str
    metadata: ReleaseMetadata
    search: Callable[[np.ndarray], list[CatalogueMatch]]
    chromaprint_of: Callable[[str], np.ndarray | None]
    cover_search: Callable[..., list] | None = None
    history: Callable[..., list] | None = None

    @cached_property
    def catalogue_matches(self) -> list[CatalogueMatch]:
        """Aligned landmark matches against the active catalogue, best first."""
        return self.search(self.clip.samples)

    @cached_property
    def _analysis(self):
        from fingerprints import cover

        return cover.analyse(self.clip.samples)

    @property
    def spectrogram(self) -> np.ndarray:
        """:func:`fingerprints.landmarks.log_spectrogram` of the clip, shared by the
        landmark search and the cover features (one STFT pass for both)."""
        return self._analysis[0]

    @property
    def chroma(self):
        """The upload's :class:`fingerprints.cover.ChromaSequence`."""
        return self._analysis[1]

    @cached_property
    def chromaprint(self) -> np.ndarray:
        """The upload's raw Chromaprint."""
        from fingerprints import chromaprint

        return chromaprint.fingerprint(self.clip)


@runtime_checkable
class Detector(Protocol):
    """A detector has a stable ``name``, a ``version`` bumped whenever its output can
    change, and ``run``, which returns evidence (possibly none) and never raises for
    content reasons."""

    name: str
    version: str

    def run(self, ctx: ScanContext) -> list[Evidence]: ...
