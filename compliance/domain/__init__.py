"""Plain domain models shared by detectors, the policy engine, storage and the interfaces."""

from compliance.domain.decision import Decision, RuleFiring, Verdict
from compliance.domain.evidence import Evidence, EvidenceKind
from compliance.domain.release import ReleaseMetadata

__all__ = [
    "Decision",
    "Evidence",
    "EvidenceKind",
    "ReleaseMetadata",
    "RuleFiring",
    "Verdict",
]
