"""The policy engine: evidence + declared metadata -> Decision with a rule trace.

Semantics
---------
* First the policy's ``findings`` are derived: for every detector evidence item that
  satisfies a finding's ``when``, an evidence item of the finding's kind (detector
  ``policy``) is appended, for example ``undisclosed_ai`` from ``ai_generated`` and
  the declaration. Findings in the input (of an earlier evaluation) are dropped first,
  so evaluating again, for another submission's metadata, derives them afresh. The
  evaluated evidence is therefore the detector evidence followed by
  ``Decision.findings`` (:func:`evaluated_evidence`); ``RuleFiring.evidence_indexes``
  index that list.
* Every rule is evaluated, in order. A rule fires (once) if at least one evidence item
  satisfies its ``when`` and none of its ``unless`` conditions; the firing lists every
  such evidence index.
* The verdict is the most severe ``then`` among the rules that fired (block > review >
  pass; ``require_disclosure`` counts as review). A ``pass`` rule is recorded in the
  trace but cannot lower the verdict. If no rule fires, the verdict is the policy's
  ``default``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compliance.domain import Decision, Evidence, ReleaseMetadata, RuleFiring, Verdict
from compliance.policy.schema import Finding, PolicyDoc, Rule, Unless, When

FINDING_DETECTOR = "policy"
"""The ``detector`` of evidence the policy derived (a finding), not a detector saw."""

ACTION_VERDICT: dict[str, Verdict] = {
    "pass": Verdict.PASS,
    "review": Verdict.REVIEW,
    "require_disclosure": Verdict.REVIEW,
    "block": Verdict.BLOCK,
}


def _declared_value(meta: ReleaseMetadata, name: str) -> Any:
    if name.startswith("extra."):
        return meta.extra.get(name.removeprefix("extra."))
    return getattr(meta, name)


def _within(value: float | None, low: float | None, high: float | None) -> bool:
    """``low <= value <= high`` for the bounds that are set; an unknown value fails any bound."""
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def authorised_for(details: dict, account_id: str | None) -> bool:
    """Whether an uploader account may use the reference behind an evidence item.

    Evidence that names the reference's authorised accounts (``details.
    authorised_accounts``, for example a protected voice) is judged against the
    submitter's own account, so a decision re-evaluated for another submission of the
    same audio uses that submitter; otherwise the detector's ``details.authorised``.
    """
    accounts = details.get("authorised_accounts")
    if isinstance(accounts, list):
        return account_id is not None and account_id in accounts
    return details.get("authorised") is True


def _authorised(ev: Evidence, meta: ReleaseMetadata) -> bool:
    return authorised_for(ev.details, meta.account_id)


def when_holds(when: When, ev: Evidence, meta: ReleaseMetadata) -> bool:
    """Whether one evidence item (with the release metadata) satisfies ``when``."""
    return (
        ev.kind in when.kinds()
        and _within(ev.strength, when.min_strength, when.max_strength)
        and _within(ev.matched_s, when.min_matched_s, when.max_matched_s)
        and (when.bank is None or ev.details.get("bank") == when.bank)
        and (
            when.licence_declared is None
            or meta.has_licence_for(ev.catalogue_id) == when.licence_declared
        )
        and (when.authorised is None or _authorised(ev, meta) == when.authorised)
        and (when.uploader_tier is None or meta.uploader_tier in when.uploader_tier)
        and all(_declared_value(meta, k) in v for k, v in (when.declared or {}).items())
    )


def unless_holds(unless: Unless | None, ev: Evidence, meta: ReleaseMetadata) -> bool:
    """Whether any exemption of ``unless`` holds for this evidence item."""
    if unless is None:
        return False
    return bool(
        (unless.licence_declared and meta.has_licence_for(ev.catalogue_id))
        or (unless.authorised and _authorised(ev, meta))
        or (unless.uploader_tier is not None and meta.uploader_tier in unless.uploader_tier)
    )


def is_finding(ev: Evidence) -> bool:
    """Whether an evidence item is a finding the policy derived."""
    return ev.detector == FINDING_DETECTOR


def evaluated_evidence(evidence: Sequence[Evidence], decision: Decision) -> list[Evidence]:
    """The evidence list a decision's rule indexes refer to: the detector evidence
    (earlier findings dropped) followed by the decision's findings."""
    return [e for e in evidence if not is_finding(e)] + list(decision.findings)


def _shown(value: Any) -> str:
    return "nothing" if value in (None, "") else repr(value)


def derive(
    finding: Finding, evidence: Sequence[Evidence], meta: ReleaseMetadata, *, policy: str
) -> list[Evidence]:
    """The evidence items one finding adds, one per detector evidence item it holds for.

    Parameters
    ----------
    finding : Finding
    evidence : sequence of Evidence
        Detector evidence (findings already dropped).
    meta : ReleaseMetadata
    policy : str
        ``"<policy id>@<version>"``, recorded as the finding's detector version.
    """
    out = []
    thresholds = finding.when.thresholds()
    declared = {k: _declared_value(meta, k) for k in finding.when.declared or {}}
    bounds = "; ".join(f"{k} {v:g}" for k, v in thresholds.items())
    said = ", ".join(f"{k} {_shown(v)}" for k, v in declared.items())
    for i, ev in enumerate(evidence):
        if not when_holds(finding.when, ev, meta):
            continue
        out.append(
            Evidence(
                kind=finding.kind,
                strength=ev.strength,
                detector=FINDING_DETECTOR,
                detector_version=policy,
                explanation=(
                    f"{finding.explanation}: {ev.kind} {ev.strength:.2f}"
                    + (f" ({bounds})" if bounds else "")
                    + (f", declared {said}" if said else "")
                ),
                catalogue_id=ev.catalogue_id,
                voice_id=ev.voice_id,
                query_start_s=ev.query_start_s,
                catalogue_start_s=ev.catalogue_start_s,
                matched_s=ev.matched_s,
                raw_score=ev.strength,
                raw_unit=f"{ev.kind} strength",
                details={
                    "finding": finding.id,
                    "from": {
                        "kind": str(ev.kind),
                        "detector": ev.detector,
                        "detector_version": ev.detector_version,
                        "evidence": i,
                    },
                    "thresholds": thresholds,
                    "declared": declared,
                },
            )
        )
    return out


def fire(rule: Rule, evidence: Sequence[Evidence], meta: ReleaseMetadata) -> RuleFiring | None:
    """The rule's firing on this evidence, or None if it does not fire."""
    hits = tuple(
        i
        for i, ev in enumerate(evidence)
        if when_holds(rule.when, ev, meta) and not unless_holds(rule.unless, ev, meta)
    )
    if not hits:
        return None
    return RuleFiring(
        rule_id=rule.id,
        then=ACTION_VERDICT[rule.then],
        reason=rule.reason,
        evidence_indexes=hits,
        thresholds=dict(rule.when.thresholds()),
        action=rule.then,
    )


class Policy:
    """A validated policy, ready to evaluate.

    Build it with :func:`compliance.policy.load_policy` or
    :func:`compliance.policy.load_policy_text`.

    Attributes
    ----------
    doc : PolicyDoc
        The validated file content.
    hash : str
        SHA-256 hex of the canonical JSON form of the file (comments and layout do not
        change it; any value does).
    source : str
        Where it was read from.
    """

    __slots__ = ("doc", "hash", "source")

    def __init__(self, doc: PolicyDoc, digest: str, *, source: str = "<policy>") -> None:
        self.doc = doc
        self.hash = digest
        self.source = source

    def __repr__(self) -> str:
        return f"Policy(id={self.id!r}, version={self.version!r}, hash={self.hash[:12]!r})"

    @property
    def id(self) -> str:
        return self.doc.id

    @property
    def version(self) -> str:
        return self.doc.version

    @property
    def mode(self) -> str:
        """``"enforce"`` or ``"shadow"``."""
        return self.doc.mode

    def history_thresholds(self):
        """The account-pattern tuning: defaults with the policy's ``history`` values.

        Returns
        -------
        compliance.history.thresholds.Thresholds
        """
        from compliance.history.thresholds import with_overrides

        return with_overrides({k: t.value for k, t in self.doc.history.items()})

    def thresholds(self) -> dict[str, dict[str, Any]]:
        """Every numeric threshold of every rule (and of the ``history`` section, as
        ``history.<knob>``), with its source.

        Returns
        -------
        dict
            ``{"rule_id.field": {"value": float, "source": str, "date": "YYYY-MM-DD"}}``.
        """
        out: dict[str, dict[str, Any]] = {}
        for rule in (*self.doc.findings, *self.doc.rules):
            for name, value in rule.when.thresholds().items():
                src = rule.sources[name]
                out[f"{rule.id}.{name}"] = {
                    "value": value,
                    "source": src.source,
                    "date": src.date.isoformat(),
                }
        for name, t in self.doc.history.items():
            out[f"history.{name}"] = {
                "value": t.value, "source": t.source, "date": t.date.isoformat(),
            }  # fmt: skip
        return out

    def trace(
        self, evidence: Sequence[Evidence], metadata: ReleaseMetadata
    ) -> tuple[Verdict, tuple[RuleFiring, ...], tuple[Evidence, ...]]:
        """The verdict, the rules that fired and the findings, without a Decision."""
        base = [e for e in evidence if not is_finding(e)]
        ref = f"{self.id}@{self.version}"
        found = tuple(e for f in self.doc.findings for e in derive(f, base, metadata, policy=ref))
        every = [*base, *found]
        fired = tuple(f for r in self.doc.rules if (f := fire(r, every, metadata)) is not None)
        if not fired:
            return Verdict(self.doc.default), fired, found
        return max((f.then for f in fired), key=lambda v: v.severity), fired, found

    def evaluate(
        self,
        evidence: Sequence[Evidence],
        metadata: ReleaseMetadata | None = None,
        *,
        shadow: Sequence[Policy] = (),
    ) -> Decision:
        """Decide on one upload.

        Parameters
        ----------
        evidence : sequence of Evidence
            Everything the detectors reported (findings of an earlier evaluation are
            dropped and derived again); ``RuleFiring.evidence_indexes`` index this
            evidence followed by ``Decision.findings`` (:func:`evaluated_evidence`).
        metadata : ReleaseMetadata, optional
            What the uploader declared (licences, tier, AI disclosure); empty if omitted.
        shadow : sequence of Policy
            Policies evaluated on the same input whose verdicts are only recorded, in
            ``Decision.shadow`` as ``{policy.id: verdict}``.

        Returns
        -------
        Decision
        """
        meta = metadata if metadata is not None else ReleaseMetadata()
        verdict, fired, found = self.trace(evidence, meta)
        return Decision(
            verdict=verdict,
            policy_id=self.id,
            policy_version=self.version,
            policy_hash=self.hash,
            rules_fired=fired,
            findings=found,
            shadow={p.id: str(p.trace(evidence, meta)[0]) for p in shadow},
        )
