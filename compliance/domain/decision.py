"""Decision: the policy engine's verdict with the trace that produced it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from compliance.domain.evidence import Evidence


class Verdict(StrEnum):
    """Outcomes, ordered by severity (most severe wins)."""

    PASS = "pass"
    REVIEW = "review"
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Verdict.PASS: 0, Verdict.REVIEW: 1, Verdict.BLOCK: 2}


@dataclass(frozen=True, slots=True)
class RuleFiring:
    """One rule that matched, and on which evidence (indexes into the evidence list).

    ``action`` is the rule's own ``then`` as written in the policy; it differs from the
    verdict ``then`` for ``require_disclosure``, which is decided as review.
    """

    rule_id: str
    then: Verdict
    reason: str
    evidence_indexes: tuple[int, ...] = ()
    thresholds: dict[str, Any] = field(default_factory=dict)
    action: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "then": str(self.then),
            "action": self.action or str(self.then),
            "reason": self.reason,
            "evidence": list(self.evidence_indexes),
            "thresholds": dict(self.thresholds),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one upload under one policy.

    ``policy_hash`` is the SHA-256 of the policy file's canonical content, so a stored
    decision can always be traced to the exact rules and thresholds that produced it.
    ``shadow`` maps the id of each shadow policy to the verdict it would have given.
    ``findings`` are the evidence items the policy derived (for example
    ``undisclosed_ai``), appended to the detector evidence in every output.
    """

    verdict: Verdict
    policy_id: str
    policy_version: str
    policy_hash: str
    rules_fired: tuple[RuleFiring, ...] = ()
    findings: tuple[Evidence, ...] = ()
    shadow: dict[str, str] = field(default_factory=dict)

    def policy_ref(self) -> dict[str, str]:
        return {"id": self.policy_id, "version": self.policy_version, "hash": self.policy_hash}
