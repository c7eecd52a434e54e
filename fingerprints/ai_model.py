"""The AI-trace classifier: a small model on :mod:`fingerprints.ai_traces` features.

The model file is plain JSON (no pickle): the feature names and version it was trained
on, the standardisation (mean, scale), the classifier's arrays (a logistic regression
or a one-hidden-layer ReLU network) and the Platt calibration ``p = 1 / (1 + exp(-(a *
s + b)))`` of its raw logit ``s``. ``scripts/train_ai.py`` writes it and a card
(``ai_v2.card.json``: training data, seeds, held-out metrics, reliability table, the
model's SHA-256).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fingerprints import ai_traces

MODEL_VERSION = "2"
MODEL_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODEL_DIR / f"ai_v{MODEL_VERSION}.json"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def raw_logit_of(clf: Any, Z: np.ndarray) -> np.ndarray:
    """The uncalibrated logit of a fitted scikit-learn classifier on standardised rows."""
    if hasattr(clf, "decision_function") and not hasattr(clf, "coefs_"):
        return np.asarray(clf.decision_function(Z), dtype=np.float64)
    p = np.clip(clf.predict_proba(Z)[:, 1], 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def export(
    clf: Any,
    *,
    mean: np.ndarray,
    scale: np.ndarray,
    platt: tuple[float, float],
    feature_names: list[str],
) -> dict[str, Any]:
    """The JSON-ready model of a fitted LogisticRegression or MLPClassifier.

    Parameters
    ----------
    clf : sklearn.linear_model.LogisticRegression or sklearn.neural_network.MLPClassifier
        Fitted on ``(X - mean) / scale``; an MLP must have one hidden ReLU layer.
    mean, scale : ndarray, shape (n_features,)
    platt : (float, float)
        Slope and intercept applied to the raw logit.
    feature_names : list of str
    """
    doc: dict[str, Any] = {
        "format": "compliance-ai-model",
        "model_version": MODEL_VERSION,
        "feature_version": ai_traces.FEATURE_VERSION,
        "feature_names": list(feature_names),
        "mean": [float(v) for v in mean],
        "scale": [float(v) for v in scale],
        "platt": [float(platt[0]), float(platt[1])],
    }
    if hasattr(clf, "coefs_"):
        if len(clf.coefs_) != 2 or clf.activation != "relu":
            raise ValueError("only one-hidden-layer ReLU networks are exported")
        doc["kind"] = "mlp"
        doc["w1"] = np.asarray(clf.coefs_[0]).round(7).tolist()
        doc["b1"] = np.asarray(clf.intercepts_[0]).round(7).tolist()
        doc["w2"] = np.asarray(clf.coefs_[1]).ravel().round(7).tolist()
        doc["b2"] = float(np.asarray(clf.intercepts_[1]).ravel()[0])
    else:
        doc["kind"] = "logistic"
        doc["coef"] = np.asarray(clf.coef_).ravel().round(9).tolist()
        doc["intercept"] = float(np.asarray(clf.intercept_).ravel()[0])
    return doc


@dataclass(frozen=True)
class AIModel:
    """A loaded model: calibrated probability that a feature row is generator-style."""

    doc: dict[str, Any]
    sha256: str
    path: str

    @property
    def version(self) -> str:
        return str(self.doc["model_version"])

    def raw_logit(self, X: np.ndarray) -> np.ndarray:
        """Uncalibrated logit of rows of features, shape (n, n_features) -> (n,)."""
        d = self.doc
        Z = (np.atleast_2d(np.asarray(X, np.float64)) - np.asarray(d["mean"])) / np.asarray(
            d["scale"]
        )
        if d["kind"] == "logistic":
            return Z @ np.asarray(d["coef"]) + d["intercept"]
        h = np.maximum(0.0, Z @ np.asarray(d["w1"]) + np.asarray(d["b1"]))
        p = np.clip(_sigmoid(h @ np.asarray(d["w2"]) + d["b2"]), 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))

    def predict_proba_features(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of rows of features, shape (n, n_features) -> (n,)."""
        a, b = self.doc["platt"]
        return _sigmoid(a * self.raw_logit(X) + b)


def load(path: str | os.PathLike | None = None) -> AIModel:
    """Read and check a model file (default: the packaged ``ai_v2.json``).

    Raises
    ------
    ValueError
        The file is not a model of this feature version and feature list.
    """
    p = Path(path) if path is not None else DEFAULT_MODEL
    raw = p.read_bytes()
    doc = json.loads(raw)
    if doc.get("format") != "compliance-ai-model":
        raise ValueError(f"{p} is not an AI model file")
    if doc.get("feature_version") != ai_traces.FEATURE_VERSION or tuple(
        doc.get("feature_names", ())
    ) != tuple(ai_traces.FEATURE_NAMES):
        raise ValueError(
            f"{p} was trained on features v{doc.get('feature_version')}, "
            f"this library computes v{ai_traces.FEATURE_VERSION}"
        )
    return AIModel(doc=doc, sha256=hashlib.sha256(raw).hexdigest(), path=str(p))


@lru_cache(maxsize=1)
def default_model() -> AIModel:
    """The packaged model, loaded once per process."""
    return load()
