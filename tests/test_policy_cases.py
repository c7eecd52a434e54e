"""Golden cases: the shipped cases pass, the runner can fail, and ``compliance policy test``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from compliance.errors import PolicyError
from compliance.policy.cases import run_case_file
from compliance.policy.cli import policy as policy_cli

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted((ROOT / "policies" / "cases").glob("*.yaml"))

POLICY = """\
id: t
version: "1"
rules:
  - id: r1
    when: {kind: reupload, min_strength: 0.5}
    then: block
    reason: block it
    sources: {min_strength: {source: "test", date: 2026-11-22}}
"""

RIGHT = """\
policy: p.yaml
cases:
  - name: strong blocks
    evidence: [{kind: reupload, strength: 0.9, matched_s: 20}]
    expect: {decision: block, rules_fired: [r1]}
  - name: nothing passes
    expect: {decision: pass}
"""


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    (tmp_path / "p.yaml").write_text(POLICY)
    return tmp_path


def test_shipped_cases_exist_and_all_pass():
    assert CASES, "policies/cases/ has no case files"
    results = [r for f in CASES for r in run_case_file(f)]
    assert len(results) >= 10
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    decisions = {r.got["decision"] for r in results}
    assert decisions == {"pass", "review", "block"}


def test_runner_reports_each_case(case_dir):
    (case_dir / "c.yaml").write_text(RIGHT)
    results = run_case_file(case_dir / "c.yaml")
    assert [(r.name, r.ok, r.line) for r in results] == [
        ("strong blocks", True, 3),
        ("nothing passes", True, 6),
    ]
    assert results[0].got == {"decision": "block", "rules_fired": ["r1"], "findings": []}


@pytest.mark.parametrize(
    "expect",
    [
        "{decision: pass}",
        "{decision: block, rules_fired: []}",
        "{decision: block, rules_fired: [r2]}",
        "{decision: block, findings: [undisclosed_ai]}",
    ],
)
def test_a_wrong_expectation_fails(case_dir, expect):
    (case_dir / "c.yaml").write_text(RIGHT.replace("{decision: block, rules_fired: [r1]}", expect))
    (first, second) = run_case_file(case_dir / "c.yaml")
    assert not first.ok and second.ok


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("    expect: {decision: pass}", "    expected: {decision: pass}",
         "c.yaml:6: cases[1].expect: Field required"),
        ("{decision: pass}", "{decision: maybe}", "c.yaml:7: cases[1].expect.decision"),
        ("strength: 0.9", "strength: 1.9", "c.yaml:4: cases[0].evidence[0]: evidence strength"),
        ("matched_s: 20", "matched: 20", "c.yaml:4: cases[0].evidence[0]:"),
        ("policy: p.yaml", "policy: nowhere.yaml", "c.yaml:1: policy: no policy file at"),
        ("nothing passes", "strong blocks", "c.yaml:6: cases[1].name: duplicate case name"),
    ],
)  # fmt: skip
def test_bad_case_files_name_line_and_field(case_dir, old, new, expected):
    assert old in RIGHT
    (case_dir / "c.yaml").write_text(RIGHT.replace(old, new))
    with pytest.raises(PolicyError) as info:
        run_case_file(case_dir / "c.yaml")
    assert expected in info.value.message


def test_cli_runs_the_shipped_cases_by_default():
    r = CliRunner().invoke(policy_cli, ["test"])
    assert r.exit_code == 0, r.output
    assert "FAIL" not in r.output and r.output.count("pass ") >= 10
    assert r.output.rstrip().endswith(" passed, 0 failed")


def test_cli_reports_failure_and_exits_1(case_dir):
    (case_dir / "c.yaml").write_text(RIGHT.replace("{decision: pass}", "{decision: review}"))
    r = CliRunner().invoke(policy_cli, ["test", str(case_dir / "c.yaml")])
    assert r.exit_code == 1
    assert "pass " in r.output and "FAIL " in r.output
    assert "nothing passes: expected {'decision': 'review'}, got {'decision': 'pass'" in r.output
    assert r.output.rstrip().endswith("1 passed, 1 failed")


def test_cli_counts_an_invalid_case_file_as_a_failure(case_dir):
    (case_dir / "c.yaml").write_text(RIGHT)
    (case_dir / "broken.yaml").write_text("policy: p.yaml\ncases: [\n")
    r = CliRunner().invoke(
        policy_cli, ["test", str(case_dir / "c.yaml"), str(case_dir / "broken.yaml")]
    )
    assert r.exit_code == 1
    assert "ERROR" in r.output and "broken.yaml:3: invalid YAML" in r.output
    assert r.output.rstrip().endswith("2 passed, 1 failed")
