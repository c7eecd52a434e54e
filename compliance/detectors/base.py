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


HIGH_RATE_WINDOW_S = 10.0
"""Length of each high-rate analysis window, seconds."""
HIGH_RATE_WINDOWS = 4
"""Most high-rate windows decoded per upload (bounds the cost of long files)."""


@dataclass(frozen=True, slots=True)
class HighRateAudio:
    """Windows of an upload at a high sample rate (see :attr:`ScanContext.high_rate`).

    Attributes
    ----------
    sample_rate : int
        Hz of every window (44100).
    native_rate : int or None
        The sample rate stored in the file, Hz (None if the header could not be read).
    windows : tuple of (start_s, AudioClip)
        Start in the file, seconds, and the decoded mono window.
    """

    sample_rate: int
    native_rate: int | None
    windows: tuple[tuple[float, AudioClip], ...]


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
        ``search(ctx) -> list[CatalogueMatch]``: the catalogue landmark search of this
        context's clip (it may use the shared :attr:`spectrogram`); it takes the context
        as an argument so that the callable holds no reference back to it.
    chromaprint_of : callable
        ``chromaprint_of(catalogue_id) -> ndarray | None``: stored catalogue Chromaprint.
    cover_search : callable, optional
        ``cover_search(ChromaSequence) -> list[CoverMatch]``: the catalogue cover search
        (:meth:`compliance.storage.index_files.CatalogueIndex.cover_search`); none: no
        cover index.
    history : callable, optional
        ``history(ctx) -> list[compliance.history.patterns.Flag]``: the account patterns
        of this upload against the stored release history; none: no history.
    voices : callable, optional
        ``voices() -> compliance.voices.search.VoiceBankSnapshot``: the active
        protected voices; none: no voice bank.
    decoder : str
        Backend of :func:`fingerprints.audio.decode` for the high-rate windows
        (``"soundfile"`` or ``"ffmpeg"``, as the scan's own decode).
    """

    file: str
    clip: AudioClip
    content_hash: str
    metadata: ReleaseMetadata
    search: Callable[[ScanContext], list[CatalogueMatch]]
    chromaprint_of: Callable[[str], np.ndarray | None]
    cover_search: Callable[..., list] | None = None
    history: Callable[..., list] | None = None
    voices: Callable[[], object] | None = None
    decoder: str = "soundfile"

    @cached_property
    def catalogue_matches(self) -> list[CatalogueMatch]:
        """Aligned landmark matches against the active catalogue, best first."""
        return self.search(self)

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
    def high_rate(self) -> HighRateAudio:
        """Windows of the upload decoded again at 44.1 kHz (the clip is 11025 Hz: nothing
        above 5.5 kHz), for detectors that look at the whole band. At most
        ``HIGH_RATE_WINDOWS`` windows of ``HIGH_RATE_WINDOW_S`` seconds spread over the
        file (:func:`fingerprints.ai_traces.plan_windows`), decoded once per scan; a
        window that cannot be decoded is left out."""
        from fingerprints import ai_traces
        from fingerprints.audio import decode, probe_sample_rate
        from fingerprints.errors import AudioError

        rate = ai_traces.SAMPLE_RATE
        windows: list[tuple[float, AudioClip]] = []
        plan = ai_traces.plan_windows(
            self.clip.duration_s, window_s=HIGH_RATE_WINDOW_S, max_windows=HIGH_RATE_WINDOWS
        )
        for start, length in plan:
            try:
                w = decode(
                    self.file, sample_rate=rate, start_s=start, duration_s=length,
                    max_duration_s=max(length, 1.0) + 2.0, backend=self.decoder,
                )  # fmt: skip
            except (AudioError, OSError, ValueError):
                continue
            windows.append((start, w))
        return HighRateAudio(
            sample_rate=rate,
            native_rate=probe_sample_rate(self.file, backend=self.decoder),
            windows=tuple(windows),
        )

    @cached_property
    def speech(self) -> AudioClip | None:
        """The whole upload decoded again at 16 kHz (the speaker encoder's rate; the clip
        stops at 5.5 kHz), once per scan; None if it cannot be decoded."""
        from fingerprints import ge2e
        from fingerprints.audio import decode
        from fingerprints.errors import AudioError

        try:
            return decode(
                self.file, sample_rate=ge2e.SAMPLE_RATE,
                max_duration_s=self.clip.duration_s + 2.0, backend=self.decoder,
            )  # fmt: skip
        except (AudioError, OSError, ValueError):
            return None

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
