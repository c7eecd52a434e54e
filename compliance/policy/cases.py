"""Golden cases: evidence in, decision out, kept next to the policies they test.

A case file::

    policy: ../default.yaml          # relative to the case file
    cases:
      - name: strong re-upload blocks
        metadata: {licences: [cat-2]}             # optional, ReleaseMetadata fields
        evidence:                                 # Evidence fields; detector,
          - {kind: reupload, strength: 0.9,       # detector_version and explanation
             catalogue_id: cat-1, matched_s: 60}  # may be left out
        expect: {decision: block, rules_fired: [reupload-block]}   # rules_fired optional

``expect.findings`` (optional) lists the kinds of the evidence the policy derives (its
``findings`` section, for example ``[undisclosed_ai]``), in order.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from compliance.domain import Evidence, ReleaseMetadata
from compliance.errors import PolicyError
from compliance.policy.loader import load_policy, locate, parse_yaml, validation_error
from compliance.policy.schema import VerdictName

EVIDENCE_DEFAULTS: dict[str, str] = {
    "detector": "golden",
    "detector_version": "0",
    "explanation": "golden case",
}


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Closed):
    decision: VerdictName
    rules_fired: list[str] | None = None
    findings: list[str] | None = None


class Case(_Closed):
    name: str = Field(min_length=1)
    metadata: dict[str, Any] | None = None
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    expect: Expect


class CaseFile(_Closed):
    policy: str = Field(min_length=1)
    cases: list[Case] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one golden case."""

    file: str
    line: int
    name: str
    ok: bool
    expected: dict[str, Any]
    got: dict[str, Any]


def _read_case_file(path: Path) -> tuple[CaseFile, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read cases: {exc}") from None
    root, data = parse_yaml(text, source=str(path))
    if root is None or not isinstance(data, dict):
        raise PolicyError(f"{path}:1: (document): a case file is a mapping with policy and cases")
    try:
        return CaseFile.model_validate(data), root
    except ValidationError as exc:
        raise validation_error(exc, root, str(path)) from None


def run_case_file(path: str | os.PathLike[str]) -> list[CaseResult]:
    """Run every case of one case file against the policy it names.

    Parameters
    ----------
    path : str or path-like
        A YAML case file; its ``policy`` is resolved relative to the file.

    Returns
    -------
    list of CaseResult
        One per case, in file order.

    Raises
    ------
    PolicyError
        If the case file or its policy is invalid (message names file, line and field).
    """
    p = Path(path)
    doc, root = _read_case_file(p)
    names = [c.name for c in doc.cases]
    for j, name in enumerate(names):
        if name in names[:j]:
            line, _ = locate(root, ("cases", j, "name"))
            raise PolicyError(f"{p}:{line}: cases[{j}].name: duplicate case name '{name}'")
    policy_path = p.parent / doc.policy
    if not policy_path.is_file():
        line, _ = locate(root, ("policy",))
        raise PolicyError(f"{p}:{line}: policy: no policy file at {policy_path}")
    policy = load_policy(policy_path)
    results = []
    for i, case in enumerate(doc.cases):
        line, _ = locate(root, ("cases", i))
        evidence = []
        for j, item in enumerate(case.evidence):
            try:
                evidence.append(Evidence(**{**EVIDENCE_DEFAULTS, **item}))
            except (TypeError, ValueError) as exc:
                at, _ = locate(root, ("cases", i, "evidence", j))
                raise PolicyError(f"{p}:{at}: cases[{i}].evidence[{j}]: {exc}") from None
        try:
            meta = ReleaseMetadata.from_mapping(case.metadata)
        except ValueError as exc:
            at, _ = locate(root, ("cases", i, "metadata"))
            raise PolicyError(f"{p}:{at}: cases[{i}].metadata: {exc}") from None
        decision = policy.evaluate(evidence, meta)
        got = {
            "decision": str(decision.verdict),
            "rules_fired": [r.rule_id for r in decision.rules_fired],
            "findings": [str(e.kind) for e in decision.findings],
        }
        expected = case.expect.model_dump(exclude_none=True)
        ok = (
            got["decision"] == expected["decision"]
            and (
                case.expect.rules_fired is None
                or Counter(case.expect.rules_fired) == Counter(got["rules_fired"])
            )
            and (case.expect.findings is None or case.expect.findings == got["findings"])
        )
        results.append(CaseResult(str(p), line, case.name, ok, expected, got))
    return results
