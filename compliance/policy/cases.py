"""Golden cases: evidence in, decision out, kept next to the policies they test."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from compliance.domain import Evidence, ReleaseMetadata
from compliance.errors import PolicyError
from compliance.policy.engine import Policy, load_policy

_EVIDENCE_DEFAULTS = {"detector": "golden", "detector_version": "0", "explanation": "golden case"}


@dataclass(frozen=True)
class CaseResult:
    file: str
    name: str
    ok: bool
    expected: dict[str, Any]
    got: dict[str, Any]


def run_case_file(path: str | os.PathLike) -> list[CaseResult]:
    """Run every case of one case file against the policy it names."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{p}: cannot read cases: {exc}") from None
    if not isinstance(doc, dict) or "policy" not in doc or not isinstance(doc.get("cases"), list):
        raise PolicyError(f"{p}: a case file needs `policy:` and a list `cases:`")
    policy: Policy = load_policy((p.parent / doc["policy"]).resolve())
    results = []
    for i, case in enumerate(doc["cases"]):
        name = str(case.get("name", f"case {i}"))
        try:
            evidence = [Evidence(**{**_EVIDENCE_DEFAULTS, **e}) for e in case.get("evidence", [])]
            meta = ReleaseMetadata.from_mapping(case.get("metadata"))
            expect = dict(case["expect"])
        except (TypeError, ValueError, KeyError) as exc:
            raise PolicyError(f"{p}: case '{name}': {exc}") from None
        d = policy.evaluate(evidence, meta)
        got = {"decision": str(d.verdict), "rules_fired": [r.rule_id for r in d.rules_fired]}
        ok = got["decision"] == expect.get("decision") and (
            "rules_fired" not in expect
            or sorted(expect["rules_fired"]) == sorted(got["rules_fired"])
        )
        results.append(CaseResult(str(p), name, ok, expect, got))
    return results
