"""AI-generated audio: generator traces in the upload's full-band audio.

Decodes up to four 10 s windows of the upload at 44.1 kHz
(:attr:`compliance.detectors.base.ScanContext.high_rate`: the scan's own clip is 11025 Hz
and has nothing above 5.5 kHz), computes the trace features of each
(:func:`fingerprints.ai_traces.trace_features`: band limit, periodic spectral peaks,
phase coherence, spectral statistics, with the file's own sample rate, and the share of
the magnitude outside the span of Riffusion's mel filters at its own resolution) and applies the
packaged calibrated classifier (:mod:`fingerprints.ai_model`, trained by
``scripts/train_ai.py``; its card records the data and the held-out metrics).

The evidence is ``ai_generated`` with strength = the mean of the windows' calibrated
probabilities, and the windows, their probabilities, the median features and the model
file's version and hash in the details. Uploads shorter than 5 s and uploads whose
windows are all silent or undecodable get no evidence, nor do uploads whose probability
is under :data:`REPORT_MIN_STRENGTH`. Whether the release declared AI
(ContainsAI) is compared by the policy (``declared: {contains_ai: ...}``), which alone
decides; the detector reports what it heard whatever the declaration.

Not run when the landmark search found the upload to be a catalogue recording with
confidence (as for covers): the audio is then the distributor's own recording, whose
provenance is known, and the window analysis (about 0.4 CPU-s per upload) is the
largest cost of a check.
"""

from __future__ import annotations

import numpy as np

from compliance.detectors.base import ScanContext
from compliance.detectors.landmark_evidence import is_catalogue_recording
from compliance.domain import Evidence, EvidenceKind
from fingerprints import ai_model, ai_traces

MIN_DURATION_S = 5.0
"""Shorter uploads, and shorter windows, get no AI verdict."""
REPORT_MIN_STRENGTH = 0.02
"""Weaker AI evidence is not reported (as for covers): on the dev corpus 56 of 90 real
controls are below it, and no AI query (the weakest: 0.067; docs/benchmarks.md)."""
SUMMARY_FEATURES = (
    "edge_khz",
    "drop_10k_db",
    "native_nyquist_khz",
    "mirror_corr",
    "if_spread_low",
    "if_spread_mid",
    "level_flutter_db",
    "flatness_high",
)
"""Features reported in the evidence (median over the windows)."""


class AIDetector:
    name = "ai"
    version = "2"

    def __init__(
        self,
        model: ai_model.AIModel | None = None,
        *,
        report_min_strength: float = REPORT_MIN_STRENGTH,
    ) -> None:
        self._model = model
        self.report_min_strength = report_min_strength

    @property
    def model(self) -> ai_model.AIModel:
        if self._model is None:
            self._model = ai_model.default_model()
        return self._model

    def run(self, ctx: ScanContext) -> list[Evidence]:
        if ctx.clip.duration_s < MIN_DURATION_S:
            return []
        if is_catalogue_recording(ctx.catalogue_matches, ctx.clip.duration_s):
            return []  # a catalogue recording: not an upload of unknown provenance
        hr = ctx.high_rate
        rows, spans = [], []
        for start, w in hr.windows:
            if w.duration_s < MIN_DURATION_S:
                continue
            f = ai_traces.trace_features(w.samples, native_rate=hr.native_rate)
            if f is None:
                continue  # silent window
            rows.append(f)
            spans.append((start, start + w.duration_s))
        if not rows:
            return []
        model = self.model
        X = np.asarray(rows)
        p = model.predict_proba_features(X)
        raw = model.raw_logit(X)
        strength = float(np.clip(np.mean(p), 0.0, 1.0))
        if strength < self.report_min_strength:
            return []
        med = np.median(X, axis=0)
        names = list(ai_traces.FEATURE_NAMES)
        windows = [
            {"start_s": round(a, 2), "end_s": round(b, 2), "probability": round(float(q), 4)}
            for (a, b), q in zip(spans, p, strict=True)
        ]
        analysed = sum(b - a for a, b in spans)
        return [
            Evidence(
                kind=EvidenceKind.AI_GENERATED,
                strength=strength,
                detector=self.name,
                detector_version=self.version,
                explanation=(
                    f"generator traces (band limit, phase coherence, spectral images): "
                    f"calibrated probability {strength:.2f} over {len(windows)} window(s), "
                    f"{analysed:.0f} s analysed"
                ),
                query_start_s=spans[0][0],
                raw_score=round(float(np.mean(raw)), 4),
                raw_unit="mean classifier logit (uncalibrated)",
                details={
                    "windows": windows,
                    "probability_max": round(float(np.max(p)), 4),
                    "analysed_s": round(analysed, 2),
                    "native_sample_rate": hr.native_rate,
                    "features": {n: round(float(med[names.index(n)]), 3) for n in SUMMARY_FEATURES},
                    "model": {
                        "version": model.version,
                        "feature_version": ai_traces.FEATURE_VERSION,
                        "sha256": model.sha256,
                    },
                },
            )
        ]
