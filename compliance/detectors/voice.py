"""Voice clones: how close the voice in an upload is to a protected voice.

The upload is decoded again at 16 kHz (:attr:`ScanContext.speech`), its vocal part
found and embedded (:func:`fingerprints.voice.analyse`: vocal emphasis when music plays
under the voice, voice activity, GE2E windows of about 6 s of voice), and every window
compared with the protected-voice bank (:class:`compliance.voices.search.VoiceBankSnapshot`).

Evidence: one ``voice_clone`` item per protected voice among the closest
:data:`TOP_K` whose calibrated strength reaches :data:`REPORT_MIN_STRENGTH`, with the
voice id, the sections of the upload where that voice is heard (windows at or above
:data:`SECTION_MIN_STRENGTH`), the raw cosine and the impostor statistics it was
normalised with, and whether the uploader's account is authorised for the voice. No
tool can prove a voice is cloned: the evidence says how close it is; the policy decides
(review for close matches from unauthorised uploaders).

Nothing runs when the bank is empty (no decode, no cost). Uploads with less than
:data:`fingerprints.voice.MIN_VOICED_S` of voice, or none that the voice-presence model
(:mod:`fingerprints.voice_presence`) takes for a voice (instrumental, silence), get no
voice evidence. Catalogue recordings found with confidence by the landmark search are skipped
like in the AI detector: their provenance is the distributor's own.
"""

from __future__ import annotations

import numpy as np

from compliance.detectors.base import ScanContext
from compliance.detectors.landmark_evidence import is_catalogue_recording
from compliance.domain import Evidence, EvidenceKind
from fingerprints import ge2e
from fingerprints import voice as fvoice

TOP_K = 10
"""Protected voices reported at most per upload (the closest ones)."""
REPORT_MIN_STRENGTH = 0.5
"""Weaker similarities are not reported: under 0.5 the calibration finds an impostor
likelier than the same voice (compliance/voices/calibration.json). With the voice-
presence model it keeps music without a voice quiet: 1 of the dev corpus's 174
instrumental queries got voice evidence (0.55); with a floor of 0.05, 20 % did
(weakly), and without the presence model 7.5 % (docs/benchmarks.md#voice-clones-issue-7)."""
SECTION_MIN_STRENGTH = 0.5
"""Windows at least this close to the voice are listed as the sections where it is heard
(the best window always is)."""


class VoiceDetector:
    name = "voice"
    version = "1"

    def __init__(self, *, report_min_strength: float = REPORT_MIN_STRENGTH, top_k: int = TOP_K):
        self.report_min_strength = report_min_strength
        self.top_k = top_k

    def run(self, ctx: ScanContext) -> list[Evidence]:
        bank = ctx.voices() if ctx.voices is not None else None
        if bank is None or not len(bank):
            return []
        if is_catalogue_recording(ctx.catalogue_matches, ctx.clip.duration_s):
            return []
        speech = ctx.speech
        if speech is None:
            return []
        a = fvoice.analyse(speech.samples)
        if not a.has_voice:
            return []
        W = np.stack([w.embedding for w in a.windows])
        account = ctx.metadata.account_id
        out = []
        for m in bank.search(W, top_k=self.top_k):
            if m.strength < self.report_min_strength:
                continue
            e = m.entry
            best = int(np.argmax(m.window_strengths))
            keep = [
                i
                for i, s in enumerate(m.window_strengths)
                if s >= SECTION_MIN_STRENGTH or i == best
            ]
            sections = _merge(
                [
                    (a.windows[i].start_s, a.windows[i].end_s, float(m.window_strengths[i]))
                    for i in keep
                ]
            )
            authorised = account is not None and account in e.authorised_accounts
            heard = sum(b - s for s, b, _ in sections)
            out.append(
                Evidence(
                    kind=EvidenceKind.VOICE_CLONE,
                    strength=float(np.clip(m.strength, 0.0, 1.0)),
                    detector=self.name,
                    detector_version=self.version,
                    explanation=(
                        f"voice compared with protected voice {e.voice_id}"
                        + (f" ({e.artist_name})" if e.artist_name else "")
                        + f": similarity {m.strength:.2f} over {heard:.0f} s; uploader "
                        + ("authorised" if authorised else "not authorised")
                    ),
                    voice_id=e.voice_id,
                    query_start_s=sections[0][0],
                    matched_s=round(heard, 2),
                    raw_score=round(m.cosine, 4),
                    raw_unit="cosine of GE2E embeddings (best window)",
                    details={
                        "bank": "protected_voice",
                        "authorised": authorised,
                        "authorised_accounts": list(e.authorised_accounts),
                        "artist_name": e.artist_name,
                        "sections": [
                            {"start_s": round(s, 2), "end_s": round(b, 2), "strength": round(v, 4)}
                            for s, b, v in sections
                        ],
                        "voiced_s": round(a.voiced_s, 2),
                        "vocal_emphasis": a.emphasis,
                        "cohort": {
                            "mean": round(e.cohort_mean, 4),
                            "sd": round(e.cohort_sd, 4),
                            "size": e.cohort_size,
                        },
                        "calibration": bank.calibration.source,
                        "model": {"encoder": ge2e.MODEL_VERSION, "analysis": fvoice.VERSION},
                    },
                )
            )
        return out


def _merge(sections: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """Overlapping (start, end, strength) sections merged, keeping the best strength."""
    out: list[list[float]] = []
    for s, e, v in sorted(sections):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
            out[-1][2] = max(out[-1][2], v)
        else:
            out.append([s, e, v])
    return [(a, b, c) for a, b, c in out]
