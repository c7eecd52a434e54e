"""Policy loading: errors name file, line and field; the canonical hash; the JSON Schema;
``compliance policy check``."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from compliance.errors import PolicyError
from compliance.policy import export_json_schema, load_policy, load_policy_text
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
SOURCES_R1 = '    sources:\n      min_strength: {source: "test calibration", date: 2026-11-22}\n'


def _error(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, source="p.yaml")
    return info.value.message


def test_good_policy_loads():
    p = load_policy_text(GOOD)
    assert (p.id, p.version, p.mode) == ("t", "3", "enforce")
    assert [r.id for r in p.doc.rules] == ["r1", "r2"]
    assert p.thresholds() == {
        "r1.min_strength": {"value": 0.5, "source": "test calibration", "date": "2026-11-22"}
    }


# (replace, with, expected "file:line: field" prefix, a word of the message)
MUTATIONS = [
    pytest.param("min_strength: 0.5", "min_strength: high", "p.yaml:7: rules[0].when.min_strength",
                 "valid number", id="wrong-type"),
    pytest.param("min_strength: 0.5", 'min_strength: "0.5"', "p.yaml:7: rules[0].when.min_strength",
                 "valid number", id="number-as-text-is-not-converted"),
    pytest.param("min_strength: 0.5", "min_strength: 1.5", "p.yaml:7: rules[0].when.min_strength",
                 "less than or equal to 1", id="out-of-range"),
    pytest.param("then: block", "then: smite", "p.yaml:8: rules[0].then", "'require_disclosure'",
                 id="unknown-action"),
    pytest.param("    reason: block it\n", "    reason: block it\n    colour: red\n",
                 "p.yaml:10: rules[0].colour", "Extra inputs", id="unknown-key"),
    pytest.param("      kind: remix\n", "      kind: remix\n      min_strenght: 0.5\n",
                 "p.yaml:15: rules[1].when.min_strenght", "Extra inputs", id="misspelt-threshold"),
    pytest.param(SOURCES_R1, "", "p.yaml:7: rules[0].when.min_strength", "sources.min_strength",
                 id="missing-source"),
    pytest.param("      min_strength: {source", "      max_strength: {source",
                 "p.yaml:7: rules[0].when.min_strength", "no source", id="source-for-other-field"),
    pytest.param("      kind: remix\n", "      kind: remix\n      max_matched_s: 4\n",
                 "p.yaml:15: rules[1].when.max_matched_s", "rule 'r2'", id="no-sources-at-all"),
    pytest.param("id: r2", "id: r1", "p.yaml:12: rules[1].id", "duplicate rule id 'r1'",
                 id="duplicate-rule-id"),
    pytest.param("kind: remix", "kind: remixx", "p.yaml:14: rules[1].when.kind", "'reupload'",
                 id="unknown-kind"),
    pytest.param("kind: remix", "kind: [remix, kover]", "p.yaml:14: rules[1].when.kind[1]",
                 "'reupload'", id="unknown-kind-in-list"),
    pytest.param("    reason: review it\n", "", "p.yaml:12: rules[1].reason", "Field required",
                 id="missing-field"),
    pytest.param('version: "3"', "version: 3", "p.yaml:2: version", "quoted string",
                 id="unquoted-version"),
    pytest.param("      kind: reupload\n", "      kind: reupload\n      kind: remix\n",
                 "p.yaml:7: rules[0].when.kind", "duplicate key", id="duplicate-yaml-key"),
    pytest.param("    unless:\n      licence_declared: true\n", "    unless: {}\n",
                 "p.yaml:15: rules[1].unless", "exempts nothing", id="empty-unless"),
    pytest.param("      licence_declared: true", "      licence_declared: false",
                 "p.yaml:16: rules[1].unless.licence_declared", "True", id="unless-licence-false"),
    pytest.param("      kind: reupload\n", "      kind: reupload\n      max_strength: 0.4\n",
                 "p.yaml:7: rules[0].when.max_strength", "never fire", id="min-above-max"),
    pytest.param("      kind: remix\n",
                 "      kind: remix\n      declared: {contains_Ai: [null]}\n",
                 "p.yaml:15: rules[1].when.declared.contains_Ai", "unknown metadata field",
                 id="unknown-declared-field"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "where", "word"), MUTATIONS)
def test_schema_errors_name_line_and_field(old, new, where, word):
    assert old in GOOD
    msg = _error(GOOD.replace(old, new, 1))
    assert msg.startswith(where + ": "), msg
    assert word in msg, msg


def test_several_errors_are_all_reported_one_per_line():
    msg = _error(GOOD.replace("then: block", "then: smite").replace("kind: remix", "kind: x"))
    lines = msg.splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        ["p.yaml:8", "rules[0].then"],
        ["p.yaml:14", "rules[1].when.kind"],
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", "p.yaml:1: (document): the policy file is empty", id="empty"),
        pytest.param("# nothing\n", "p.yaml:1: (document): the policy file is empty", id="comment"),
        pytest.param("- a\n- b\n", "p.yaml:1: (document): a policy must be a mapping", id="list"),
        pytest.param("\n\njust text\n", "p.yaml:3: (document): a policy must be a mapping",
                     id="scalar"),
        pytest.param("id: x\nrules: [\n", "p.yaml:3: invalid YAML", id="unclosed-flow"),
        pytest.param("id: x\n  version: 1\n", "p.yaml:2: invalid YAML", id="bad-indent"),
        pytest.param("id: x\n---\nid: y\n", "p.yaml:2: invalid YAML", id="two-documents"),
        pytest.param("a: &x [1]\nb: *x\n", "p.yaml:2: invalid YAML: YAML aliases", id="alias"),
        pytest.param("id: x\n<<: {version: '1'}\n", "p.yaml:2: (document): merge keys",
                     id="merge-key"),
        pytest.param("id: x\nname: \x07\n", "p.yaml:2: invalid YAML", id="control-char"),
        pytest.param("a: " + "[" * 5000 + "]" * 5000, "p.yaml:1: invalid YAML: nested too deeply",
                     id="deep-nesting"),
    ],
)  # fmt: skip
def test_malformed_documents(text, expected):
    assert _error(text).startswith(expected)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text(GOOD.replace("then: block", "then: smite"))
    with pytest.raises(PolicyError) as info:
        load_policy(bad)
    assert info.value.message.startswith(f"{bad}:8: rules[0].then: ")
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "missing.yaml")
    assert "missing.yaml" in info.value.message and "cannot read" in info.value.message
    assert info.value.code == "policy_invalid"


def test_hash_ignores_comments_layout_and_key_order_but_not_values():
    base = load_policy_text(GOOD).hash
    assert len(base) == 64 and int(base, 16) >= 0
    relaid = "# a comment\n" + GOOD.replace("  - id: r2", "\n  # second\n  - id: r2").replace(
        'id: t\nversion: "3"\n', 'version: "3"   # trailing\nid: t\n'
    )
    assert load_policy_text(relaid).hash == base
    flow = GOOD.replace(
        "    unless:\n      licence_declared: true\n", "    unless: {licence_declared: true}\n"
    )
    assert load_policy_text(flow).hash == base
    assert load_policy_text(GOOD.replace("0.5", "0.6")).hash != base
    assert load_policy_text(GOOD.replace("test calibration", "other")).hash != base


def test_hash_is_sha256_of_canonical_json():
    import hashlib

    import yaml

    data = yaml.safe_load(GOOD)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    assert load_policy_text(GOOD).hash == hashlib.sha256(blob.encode()).hexdigest()


def test_default_policy_loads_and_every_threshold_has_a_dated_source():
    p = load_policy(ROOT / "policies" / "default.yaml")
    assert (p.id, p.mode) == ("default", "enforce")
    ids = {r.id for r in p.doc.rules}
    assert {"reupload-block", "reupload-review", "remix-review", "licensed-reuse-pass"} <= ids
    th = p.thresholds()
    assert th["reupload-block.min_strength"]["value"] == 0.5
    assert th["reupload-block.min_matched_s"]["value"] == 10
    today = datetime.date.today()
    assert all(v["source"] and datetime.date.fromisoformat(v["date"]) <= today for v in th.values())


def test_committed_json_schema_is_current():
    committed = json.loads((ROOT / "policies" / "schema.json").read_text())
    assert committed == json.loads(json.dumps(export_json_schema())), (
        "regenerate with: compliance policy schema > policies/schema.json"
    )


def test_policy_check_cli(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("then: block", "then: smite"))
    good = ROOT / "policies" / "default.yaml"
    r = CliRunner().invoke(policy_cli, ["check", str(good)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"OK {good}: id=default version=2 mode=enforce")
    assert f"hash={load_policy(good).hash}" in r.output
    r = CliRunner().invoke(policy_cli, ["check", str(good), str(bad)])
    assert r.exit_code == 1
    assert "OK " in r.output and f"INVALID {bad}" in r.output
    assert f"{bad}:8: rules[0].then: " in r.output


def test_policy_schema_cli_prints_the_committed_schema():
    r = CliRunner().invoke(policy_cli, ["schema"])
    assert r.exit_code == 0
    assert json.loads(r.output) == json.loads((ROOT / "policies" / "schema.json").read_text())
