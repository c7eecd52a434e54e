"""Policy loading (errors name file, line and field), hashing, engine semantics, golden
cases and the `policy` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from compliance.domain import Evidence, ReleaseMetadata
from compliance.errors import PolicyError
from compliance.policy import export_json_schema, load_policy, load_policy_text
from compliance.policy.cases import run_case_file
from compliance.policy.cli import policy as policy_cli

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
id: t
version: "3"
rules:
  - id: r1
    when:
      kind: reupload
      min_strength: 0.5
    then: block
    reason: block it
    sources:
      min_strength: {source: "test calibration", date: 2026-11-22}
  - id: r2
    when:
      kind: remix
    unless:
      licence_declared: true
    then: review
    reason: review it
"""


def ev(kind="reupload", strength=0.9, cid="c1", matched=30.0):
    return Evidence(kind=kind, strength=strength, detector="d", detector_version="1",
                    explanation="x", catalogue_id=cid, matched_s=matched)  # fmt: skip


def _err(text: str) -> str:
    with pytest.raises(PolicyError) as e:
        load_policy_text(text, source="p.yaml")
    return e.value.message


def test_good_policy_and_hash_ignores_comments_but_not_values():
    p = load_policy_text(GOOD)
    assert (p.id, p.version, p.mode) == ("t", "3", "enforce")
    assert (
        load_policy_text("# a comment\n" + GOOD.replace("  - id: r2", "\n  - id: r2")).hash
        == p.hash
    )
    assert load_policy_text(GOOD.replace("0.5", "0.6")).hash != p.hash
    assert p.thresholds() == {
        "r1.min_strength": {"value": 0.5, "source": "test calibration", "date": "2026-11-22"}
    }


MUTATIONS = [
    ("min_strength: 0.5", "min_strength: high", 7, "rules[0].when.min_strength"),
    ("then: block", "then: smite", 8, "rules[0].then"),
    ("    reason: block it", "    reason: block it\n    colour: red", 10, "rules[0].colour"),
    ("      min_strength: {source", "      other: {source", 4, "rules[0]"),
    ("id: r2", "id: r1", 1, "(document)"),
    ("kind: remix", "kind: remixx", 14, "rules[1].when.kind"),
]


@pytest.mark.parametrize(("old", "new", "line", "field"), MUTATIONS)
def test_schema_errors_name_line_and_field(old, new, line, field):
    msg = _err(GOOD.replace(old, new))
    assert f"p.yaml:{line}: {field}" in msg, msg


def test_missing_source_is_explained():
    msg = _err(
        GOOD.replace(
            '    sources:\n      min_strength: {source: "test calibration", date: 2026-11-22}\n', ""
        )
    )
    assert "min_strength" in msg and "sources" in msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "p.yaml:1: the policy file is empty"),
        ("- a\n- b\n", "p.yaml:1: a policy must be a mapping"),
        ("id: x\nrules: [\n", "p.yaml:3: invalid YAML"),
        ("a: &x [1]\nb: *x\n", "p.yaml:2: YAML aliases are not allowed"),
    ],
)
def test_malformed_documents(text, expected):
    assert expected in _err(text)


def test_engine_most_severe_wins_unless_and_shadow():
    p = load_policy_text(GOOD)
    d = p.evaluate([ev("remix", cid="c2"), ev("reupload", 0.7)], ReleaseMetadata())
    assert str(d.verdict) == "block"
    assert [(r.rule_id, r.evidence_indexes) for r in d.rules_fired] == [("r1", (1,)), ("r2", (0,))]
    d = p.evaluate([ev("remix", cid="c2")], ReleaseMetadata(licences=("c2",)))
    assert str(d.verdict) == "pass" and d.rules_fired == ()
    shadow = load_policy_text(GOOD.replace("id: t", "id: strict").replace("0.5", "0.95"))
    d = p.evaluate([ev("reupload", 0.7)], shadow=[shadow])
    assert str(d.verdict) == "block" and d.shadow == {"strict": "pass"}


def test_default_policy_golden_cases_pass():
    results = run_case_file(ROOT / "policies" / "cases" / "default.yaml")
    assert len(results) >= 10
    assert all(r.ok for r in results), [r for r in results if not r.ok]


def test_case_runner_reports_a_wrong_expectation(tmp_path):
    (tmp_path / "p.yaml").write_text(GOOD)
    (tmp_path / "cases.yaml").write_text(
        "policy: p.yaml\ncases:\n"
        "  - name: wrong on purpose\n"
        "    evidence: [{kind: reupload, strength: 0.9, matched_s: 20}]\n"
        "    expect: {decision: pass}\n"
    )
    r = CliRunner().invoke(policy_cli, ["test", str(tmp_path / "cases.yaml")])
    assert r.exit_code == 1 and "FAIL" in r.output and "0 passed, 1 failed" in r.output


def test_policy_check_cli(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("then: block", "then: smite"))
    r = CliRunner().invoke(policy_cli, ["check", str(ROOT / "policies" / "default.yaml"), str(bad)])
    assert r.exit_code == 1
    assert "OK " in r.output and f"{bad}:8: rules[0].then" in r.output


def test_committed_json_schema_is_current():
    committed = json.loads((ROOT / "policies" / "schema.json").read_text())
    assert committed == json.loads(json.dumps(export_json_schema()))


def test_default_policy_loads():
    p = load_policy(ROOT / "policies" / "default.yaml")
    assert p.id == "default" and all(v["source"] for v in p.thresholds().values())
