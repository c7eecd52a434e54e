"""Is there a voice in this window? A logistic model on GE2E window embeddings.

Voice activity (:func:`fingerprints.voice.voice_activity`) finds sound in the voice band
that stands out; a melody line does too, and with music under everything REPET-SIM
leaves every non-repeating instrument in the "voice" part. The speaker encoder,
trained on speech, maps music to its own regions of the embedding space, so a linear
model on the window embeddings tells a voice (dry or under music) from music alone.

The model is plain JSON (``models/voice_presence_v1.json``: weights, bias, the encoder
and analysis versions it was fitted for, and its SHA-256 in the card beside it),
fitted by ``scripts/train_voice_presence.py`` on speech and music the project
generates or installs (none of the evaluation corpus).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).resolve().parent / "models" / "voice_presence_v1.json"
THRESHOLD = 0.5
"""Windows whose probability of a voice is under this are not voice."""


@dataclass(frozen=True)
class PresenceModel:
    """``p(voice) = 1 / (1 + exp(-(w . e + b)))`` of a unit window embedding ``e``."""

    weights: np.ndarray
    bias: float
    encoder: str
    analysis: str
    sha256: str
    version: str = "1"

    @classmethod
    def load(cls, path: str | Path = MODEL_FILE) -> PresenceModel:
        blob = Path(path).read_bytes()
        d = json.loads(blob)
        w = np.asarray(d["weights"], dtype=np.float64)
        if w.ndim != 1 or not np.isfinite(w).all():
            raise ValueError(f"{path}: malformed weights")
        return cls(
            weights=w,
            bias=float(d["bias"]),
            encoder=str(d["encoder"]),
            analysis=str(d["analysis"]),
            sha256=hashlib.sha256(blob).hexdigest(),
            version=str(d.get("version", "1")),
        )

    def probability(self, embeddings: np.ndarray) -> np.ndarray:
        """P(voice) of window embeddings, shape (k, 256) -> (k,)."""
        z = np.asarray(embeddings, dtype=np.float64) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def export(weights: np.ndarray, bias: float, *, encoder: str, analysis: str) -> dict:
    """The JSON-ready model."""
    return {
        "version": "1",
        "weights": [round(float(x), 7) for x in np.ravel(weights)],
        "bias": round(float(bias), 7),
        "encoder": encoder,
        "analysis": analysis,
    }


@lru_cache(maxsize=1)
def default_model() -> PresenceModel:
    """The packaged model (loaded once per process)."""
    return PresenceModel.load(MODEL_FILE)
