"""The policy engine: evidence + declared metadata -> Decision with a rule trace."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from compliance.domain import Decision, Evidence, ReleaseMetadata, RuleFiring, Verdict
from compliance.policy.loader import parse_policy_text, read_policy_file
from compliance.policy.schema import PolicyDoc, Rule

_ACTION_VERDICT = {
    "pass": Verdict.PASS,
    "review": Verdict.REVIEW,
    "require_disclosure": Verdict.REVIEW,
    "block": Verdict.BLOCK,
}


def _rule_matches(rule: Rule, ev: Evidence, meta: ReleaseMetadata) -> bool:
    w = rule.when
    if ev.kind not in w.kinds():
        return False
    if w.min_strength is not None and ev.strength < w.min_strength:
        return False
    if w.max_strength is not None and ev.strength > w.max_strength:
        return False
    matched = ev.matched_s if ev.matched_s is not None else 0.0
    if w.min_matched_s is not None and matched < w.min_matched_s:
        return False
    if w.max_matched_s is not None and matched > w.max_matched_s:
        return False
    if w.bank is not None and ev.details.get("bank") != w.bank:
        return False
    if w.licence_declared is not None and (
        meta.has_licence_for(ev.catalogue_id) != w.licence_declared
    ):
        return False
    if w.uploader_tier is not None and meta.uploader_tier not in w.uploader_tier:
        return False
    if w.declared:
        for name, allowed in w.declared.items():
            value = getattr(meta, name, None) if hasattr(meta, name) else meta.extra.get(name)
            if value not in allowed:
                return False
    u = rule.unless
    if u is not None:
        if u.licence_declared and meta.has_licence_for(ev.catalogue_id):
            return False
        if u.uploader_tier is not None and meta.uploader_tier in u.uploader_tier:
            return False
    return True


class Policy:
    """A validated policy.

    Attributes
    ----------
    id, version, mode : str
    hash : str
        SHA-256 of the canonical content (comments and layout do not change it).
    source : str
        File it was read from.
    """

    def __init__(self, doc: PolicyDoc, digest: str, *, source: str = "<policy>") -> None:
        self.doc = doc
        self.hash = digest
        self.source = source

    @property
    def id(self) -> str:
        return self.doc.id

    @property
    def version(self) -> str:
        return self.doc.version

    @property
    def mode(self) -> str:
        return self.doc.mode

    def thresholds(self) -> dict[str, dict[str, Any]]:
        """Every numeric threshold with its source: ``{"rule.field": {value, source, date}}``."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.doc.rules:
            for k, v in r.when.thresholds().items():
                src = r.sources[k]
                out[f"{r.id}.{k}"] = {"value": v, "source": src.source, "date": str(src.date)}
        return out

    def _verdict(
        self, evidence: Sequence[Evidence], meta: ReleaseMetadata
    ) -> tuple[Verdict, list[RuleFiring]]:
        fired: list[RuleFiring] = []
        verdict = Verdict(self.doc.default)
        for rule in self.doc.rules:
            idx = tuple(i for i, ev in enumerate(evidence) if _rule_matches(rule, ev, meta))
            if not idx:
                continue
            v = _ACTION_VERDICT[rule.then]
            fired.append(RuleFiring(rule.id, v, rule.reason, idx, dict(rule.when.thresholds())))
            if v.severity > verdict.severity:
                verdict = v
        return verdict, fired

    def evaluate(
        self,
        evidence: Sequence[Evidence],
        metadata: ReleaseMetadata | None = None,
        *,
        shadow: Sequence[Policy] = (),
    ) -> Decision:
        """Decide: every rule is evaluated, the most severe action wins.

        A ``pass`` rule that fires is recorded in the trace but never lowers the verdict.
        ``shadow`` policies are evaluated on the same input; their verdicts are recorded
        in :attr:`Decision.shadow` and change nothing.
        """
        meta = metadata or ReleaseMetadata()
        verdict, fired = self._verdict(evidence, meta)
        return Decision(
            verdict=verdict,
            policy_id=self.id,
            policy_version=self.version,
            policy_hash=self.hash,
            rules_fired=tuple(fired),
            shadow={p.id: str(p._verdict(evidence, meta)[0]) for p in shadow},
        )


def load_policy(path: str | os.PathLike) -> Policy:
    """Read, validate and wrap a policy file (raises PolicyError with file:line: field)."""
    doc, digest = read_policy_file(path)
    return Policy(doc, digest, source=str(path))


def load_policy_text(text: str, *, source: str = "<policy>") -> Policy:
    doc, digest = parse_policy_text(text, source=source)
    return Policy(doc, digest, source=source)
