"""The calibration of voice similarity, read from ``calibration.json`` (data, not code).

``scripts/calibrate_voice.py`` writes the file from enrolment material only (never
probes): see its docstring and docs/benchmarks.md#voice-clones-issue-7. The file also
records what it was fitted for (encoder and analysis versions); a mismatch is refused,
since the constants of one embedding mean nothing for another.
"""

from __future__ import annotations

import json
from pathlib import Path

from fingerprints import ge2e
from fingerprints import voice as fvoice
from fingerprints.voice import Calibration

CALIBRATION_FILE = Path(__file__).resolve().parent / "calibration.json"


def load_calibration(path: str | Path = CALIBRATION_FILE) -> Calibration:
    """The constants of :func:`fingerprints.voice.calibrated_strength`."""
    d = json.loads(Path(path).read_text())
    if d.get("encoder") != ge2e.MODEL_VERSION or d.get("analysis") != fvoice.VERSION:
        raise ValueError(
            f"{path}: fitted for encoder {d.get('encoder')} / analysis {d.get('analysis')}, "
            f"not {ge2e.MODEL_VERSION} / {fvoice.VERSION}: run scripts/calibrate_voice.py"
        )
    return Calibration(
        prior_mean=float(d["prior_mean"]),
        prior_sd=float(d["prior_sd"]),
        prior_weight=float(d["prior_weight"]),
        slope=float(d["slope"]),
        offset=float(d["offset"]),
        source=str(d["source"]),
    )


DEFAULT_CALIBRATION = load_calibration()
