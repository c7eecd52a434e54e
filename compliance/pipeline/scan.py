"""Scan one upload: decode once, run the detectors, let the policy decide, record it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from compliance.detectors import DEFAULT_DETECTORS, Detector, ScanContext
from compliance.detectors.cover import CoverCandidate
from compliance.detectors.cover import classify as classify_covers
from compliance.detectors.landmark_evidence import Candidate, candidate
from compliance.domain import Decision, Evidence, ReleaseMetadata
from compliance.errors import ComplianceError, error_parts
from compliance.policy.engine import evaluated_evidence
from fingerprints import chromaprint, landmarks
from fingerprints.audio import content_hash, decode
from fingerprints.errors import CodedError

MIN_UPLOAD_S = 1.0
DECODER = "soundfile"
"""The command line decodes in process (libsndfile) what starts like a container it
reads, else by an ffmpeg subprocess: three times faster than ffmpeg for every file. The
service's scan worker decodes untrusted uploads with ``decoder="ffmpeg"`` only: a
subprocess limited in memory and CPU time, killed at a deadline
(:func:`fingerprints.audio.decode`)."""


@dataclass
class ScanResult:
    """The outcome for one file: a decision with its evidence, or an error."""

    file: str
    content_hash: str | None = None
    decision: Decision | None = None
    evidence: list[Evidence] = field(default_factory=list)
    detectors: dict[str, str] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    scan_id: str | None = None
    duration_s: float | None = None
    elapsed_s: float = 0.0
    timings_s: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage: ``decode``, ``catalogue_search``, ``detector.<name>``
    (its own work, the shared search excluded), ``policy``."""
    #: What the landmark search considered and why each was kept or dropped (None when
    #: the scan did not get that far, or the catalogue cannot tell).
    candidates: list[Candidate] | None = None
    #: What the cover search rescored and why each was reported or not (None when the
    #: cover search did not run: no cover index, a catalogue recording, atonal audio).
    cover_candidates: list[CoverCandidate] | None = None
    #: The upload's Chromaprint lookup keys (:func:`fingerprints.chromaprint.lookup_keys`)
    #: when the scan computed them (account history, or ``audio_keys=True``); not part of
    #: the ``--json`` contract.
    audio_keys: list[int] | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None

    def to_json(self) -> dict[str, Any]:
        """The documented ``compliance check --json`` object (docs/cli-json.md)."""
        if not self.ok:
            return {
                "file": self.file,
                "decision": None,
                "error": {"code": self.error_code, "message": self.error_message},
            }
        assert self.decision is not None
        return {
            "file": self.file,
            "decision": str(self.decision.verdict),
            "policy": self.decision.policy_ref(),
            "evidence": [e.to_dict() for e in self.evidence],
            "rules_fired": [r.to_dict() for r in self.decision.rules_fired],
            "detectors": dict(self.detectors),
            "scan_id": self.scan_id,
            "content_hash": self.content_hash,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
            **(
                {"candidates": [c.to_dict() for c in self.candidates]}
                if self.candidates is not None
                else {}
            ),
            **(
                {"cover_candidates": [c.to_dict() for c in self.cover_candidates]}
                if self.cover_candidates is not None
                else {}
            ),
        }


class Scanner:
    """Checks uploads against the catalogue under one policy.

    Parameters
    ----------
    store : compliance.storage.Store
    catalogue : compliance.storage.index_files.CatalogueIndex
    policy : compliance.policy.Policy
    detectors : sequence of Detector, optional
    max_duration_s, max_bytes : float, int
        Upload limits.
    record : bool
        Persist every decision in the store.
    decoder : str
        ``"soundfile"`` (in process for the common containers, else ffmpeg) or
        ``"ffmpeg"`` (always a limited subprocess: for untrusted uploads).
    history : bool
        Account evidence from the release history (:mod:`compliance.history`) for
        uploads with an account id, and the upload recorded in it.
    audio_keys : bool
        Compute every upload's Chromaprint lookup keys (:attr:`ScanResult.audio_keys`)
        even without history (for account evidence settled later: the API).
    voices : compliance.voices.search.BankCache, optional
        The protected-voice bank view to search (a process keeps one, so its faiss
        index is not rebuilt per scanner); default: a new one on ``store``.
    """

    def __init__(
        self,
        *,
        store,
        catalogue,
        policy,
        detectors: list[Detector] | None = None,
        max_duration_s: float = 1800.0,
        max_bytes: int = 1 << 30,
        record: bool = True,
        decoder: str = DECODER,
        history: bool = True,
        audio_keys: bool = False,
        voices=None,
    ) -> None:
        self.store = store
        self.catalogue = catalogue
        self.policy = policy
        self.detectors = detectors if detectors is not None else [d() for d in DEFAULT_DETECTORS]
        self.max_duration_s = max_duration_s
        self.max_bytes = max_bytes
        self.record = record
        self.decoder = decoder
        self.want_audio_keys = audio_keys
        self.history = None
        if history and store is not None and hasattr(policy, "history_thresholds"):
            from compliance.history.scan_release import HistoryHook

            self.history = HistoryHook(store, policy.history_thresholds())
        self._cp_cache: dict[str, np.ndarray | None] = {}
        self._voices = None
        if store is not None and any(getattr(d, "name", None) == "voice" for d in self.detectors):
            from compliance.voices.search import BankCache

            self._voices = voices if voices is not None else BankCache(store)

    def _chromaprint_of(self, catalogue_id: str) -> np.ndarray | None:
        if catalogue_id not in self._cp_cache:
            track = self.store.get_track(catalogue_id)
            got = None
            if track is not None:
                got = self.store.get_signal(
                    track.content_hash, chromaprint.SIGNAL_NAME, chromaprint.SIGNAL_VERSION
                )
            self._cp_cache[catalogue_id] = (
                np.frombuffer(got[0], dtype="<u4").astype(np.uint32) if got else None
            )
        return self._cp_cache[catalogue_id]

    def check(
        self,
        path: str | os.PathLike,
        metadata: ReleaseMetadata | None = None,
        *,
        file_name: str | None = None,
    ) -> ScanResult:
        """Scan one file; content errors come back in the result, never raised.

        ``file_name`` is what the result and the record call the file (the uploader's
        name of a stored blob); the path by default."""
        started = time.perf_counter()
        result = ScanResult(file=str(path) if file_name is None else file_name)
        meta = metadata or ReleaseMetadata()
        timings = result.timings_s
        release = None
        try:
            t0 = time.perf_counter()
            clip = decode(
                path,
                sample_rate=landmarks.SAMPLE_RATE,
                max_duration_s=self.max_duration_s,
                max_bytes=self.max_bytes,
                backend=self.decoder,
            )
            timings["decode"] = time.perf_counter() - t0
            result.content_hash = content_hash(Path(path))
            result.duration_s = clip.duration_s
            if clip.duration_s < MIN_UPLOAD_S:
                raise ComplianceError(
                    f"only {clip.duration_s:.2f} s of audio (at least {MIN_UPLOAD_S} s needed)",
                    code="audio_too_short",
                )
            considered: list[tuple[Any, bool]] | None = None

            def search(c: ScanContext):
                nonlocal considered
                t0 = time.perf_counter()
                try:
                    if hasattr(self.catalogue, "candidates"):
                        considered = self.catalogue.candidates(c.clip.samples, spec=c.spectrogram)
                        return [m for m, active in considered if active]
                    return self.catalogue.search(c.clip.samples)
                finally:
                    timings["catalogue_search"] = time.perf_counter() - t0

            covered: list | None = None
            catalogue_cover_search = getattr(self.catalogue, "cover_search", None)

            def cover_search(seq):
                nonlocal covered
                covered = catalogue_cover_search(seq)
                return covered

            release = None
            if self.history is not None:
                from compliance.history.scan_release import release_of_upload

                release = release_of_upload(meta, result.content_hash, clip.duration_s)
            hook = self.history
            keys: list = []

            def audio_keys(c: ScanContext):
                """The upload's Chromaprint lookup keys, computed once (history, API)."""
                if not keys:
                    keys.append(chromaprint.lookup_keys(c.chromaprint))
                return keys[0]

            ctx = ScanContext(
                file=str(path),
                clip=clip,
                content_hash=result.content_hash,
                metadata=meta,
                search=search,
                chromaprint_of=self._chromaprint_of,
                cover_search=None if catalogue_cover_search is None else cover_search,
                history=(
                    (lambda c: hook.flags(release, audio_keys=audio_keys(c)))
                    if release and hook
                    else None
                ),
                voices=self._voices.snapshot if self._voices is not None else None,
                decoder=self.decoder,
            )
            for det in self.detectors:
                t0, searched = time.perf_counter(), timings.get("catalogue_search", 0.0)
                result.evidence.extend(det.run(ctx))
                result.detectors[det.name] = det.version
                # the shared search runs inside the first detector that asks for it
                own = time.perf_counter() - t0 - (timings.get("catalogue_search", 0.0) - searched)
                timings[f"detector.{det.name}"] = own
            if self.want_audio_keys:
                audio_keys(ctx)
            result.audio_keys = [int(k) for k in keys[0]] if keys else None
            if considered is not None:
                upload_s = clip.duration_s
                result.candidates = [candidate(m, upload_s, active=a) for m, a in considered]
            if covered is not None:
                result.cover_candidates = classify_covers(covered, ctx)
            t0 = time.perf_counter()
            result.decision = self.policy.evaluate(result.evidence, meta)
            result.evidence = evaluated_evidence(result.evidence, result.decision)
            timings["policy"] = time.perf_counter() - t0
        except (CodedError, OSError) as exc:
            result.error_code, result.error_message = error_parts(exc)
            if isinstance(exc, OSError):
                result.error_code = "audio_unreadable"
        result.elapsed_s = time.perf_counter() - started
        if self.record and result.ok:
            result.scan_id = self._record(result, meta)
            if self.history is not None and release is not None:
                self.history.record(release, audio_keys=keys[0] if keys else None)
        return result

    def _record(self, result: ScanResult, meta: ReleaseMetadata) -> str:
        from compliance.storage import ScanRecord

        d = result.decision
        assert d is not None
        return self.store.record_scan(
            ScanRecord(
                id=None,
                file=result.file,
                content_hash=result.content_hash or "",
                decision=str(d.verdict),
                policy_id=d.policy_id,
                policy_version=d.policy_version,
                policy_hash=d.policy_hash,
                evidence=[e.to_dict() for e in result.evidence],
                rules_fired=[r.to_dict() for r in d.rules_fired],
                detectors=dict(result.detectors),
                thresholds=self.policy.thresholds(),
                release_metadata={
                    "title": meta.title,
                    "artist": meta.artist,
                    "account_id": meta.account_id,
                    "licences": list(meta.licences),
                },
                created_at=None,
            )
        )
