"""Evidence: what a detector observed, never what to do about it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class EvidenceKind(StrEnum):
    """Closed vocabulary of evidence kinds (new detectors add members here)."""

    REUPLOAD = "reupload"
    REMIX = "remix"
    DUPLICATE_FILE = "duplicate_file"
    COVER = "cover"
    VOICE_CLONE = "voice_clone"
    AI_GENERATED = "ai_generated"
    UNDISCLOSED_AI = "undisclosed_ai"
    BULK_PATTERN = "bulk_pattern"
    IMPERSONATION = "impersonation"
    DUPLICATE_ACROSS_ACCOUNTS = "duplicate_across_accounts"
    METADATA_SPAM = "metadata_spam"
    IDENTIFIER_INVALID = "identifier_invalid"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation by one detector about one upload.

    Parameters
    ----------
    kind : EvidenceKind
        What was observed.
    strength : float
        Normalised confidence in 0..1 (comparable across uploads for one detector version).
    detector, detector_version : str
        Who observed it; a new algorithm is a new version.
    explanation : str
        One line for people.
    catalogue_id : str or None
        The catalogue track involved, if any.
    voice_id : str or None
        The protected voice involved (``voice_clone``), if any.
    query_start_s, catalogue_start_s : float or None
        Start of the matched segment in the upload and in the catalogue track, seconds.
    matched_s : float or None
        Length of the matched segment measured in the upload, seconds.
    speed_ratio : float or None
        Upload tempo over catalogue tempo (1.04 = played 4 % faster).
    pitch_shift_semitones : float or None
        Upload pitch minus catalogue pitch, semitones.
    raw_score, raw_unit : float/str or None
        The detector's native score (for example aligned landmark count) and its unit.
    details : dict
        Anything else a reviewer may need (JSON-serialisable).
    """

    kind: EvidenceKind
    strength: float
    detector: str
    detector_version: str
    explanation: str
    catalogue_id: str | None = None
    voice_id: str | None = None
    query_start_s: float | None = None
    catalogue_start_s: float | None = None
    matched_s: float | None = None
    speed_ratio: float | None = None
    pitch_shift_semitones: float | None = None
    raw_score: float | None = None
    raw_unit: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"evidence strength must be in 0..1, got {self.strength!r}")
        object.__setattr__(self, "kind", EvidenceKind(self.kind))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping in the documented ``check --json`` evidence shape."""
        out = asdict(self)
        out["kind"] = str(self.kind)
        for key in ("query_start_s", "catalogue_start_s", "matched_s", "strength"):
            if out[key] is not None:
                out[key] = round(float(out[key]), 3)
        for key in ("speed_ratio", "pitch_shift_semitones"):
            if out[key] is not None:
                out[key] = round(float(out[key]), 4)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        """Inverse of :meth:`to_dict` (unknown keys are rejected)."""
        return cls(**data)
