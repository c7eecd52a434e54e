"""Policy engine semantics: when/unless, most severe wins, default, trace, shadow policies."""

from __future__ import annotations

import pytest

from compliance.domain import Evidence, ReleaseMetadata, Verdict
from compliance.policy import load_policy_text

SRC = '{source: "test", date: 2026-11-22}'

POLICY = f"""\
id: t
version: "1"
default: pass
rules:
  - id: block-strong
    when: {{kind: reupload, min_strength: 0.5, min_matched_s: 10}}
    unless: {{licence_declared: true, uploader_tier: [verified_label]}}
    then: block
    reason: strong re-upload
    sources: {{min_strength: {SRC}, min_matched_s: {SRC}}}
  - id: review-band
    when: {{kind: [reupload, remix], min_strength: 0.2, max_strength: 0.6}}
    then: review
    reason: middling match
    sources: {{min_strength: {SRC}, max_strength: {SRC}}}
  - id: licensed
    when: {{kind: reupload, licence_declared: true}}
    then: pass
    reason: licensed
  - id: disclose
    when:
      kind: ai_generated
      min_strength: 0.7
      declared: {{contains_ai: [null, "None"]}}
    then: require_disclosure
    reason: AI content not declared
    sources: {{min_strength: {SRC}}}
  - id: bank-and-tier
    when:
      kind: voice_clone
      bank: protected_voice
      uploader_tier: [new, null]
      declared: {{extra.label: [indie]}}
    then: review
    reason: protected voice from a new indie uploader
"""


def ev(kind="reupload", strength=0.9, cid="c1", matched=30.0, **details) -> Evidence:
    return Evidence(
        kind=kind,
        strength=strength,
        detector="d",
        detector_version="1",
        explanation="x",
        catalogue_id=cid,
        matched_s=matched,
        details=details,
    )


@pytest.fixture(scope="module")
def policy():
    return load_policy_text(POLICY)


def fired(decision) -> dict[str, tuple[int, ...]]:
    return {r.rule_id: r.evidence_indexes for r in decision.rules_fired}


def test_no_evidence_gives_the_default(policy):
    d = policy.evaluate([], ReleaseMetadata())
    assert d.verdict is Verdict.PASS and d.rules_fired == ()
    strict = load_policy_text(POLICY.replace("default: pass", "default: review"))
    assert strict.evaluate([]).verdict is Verdict.REVIEW


def test_decision_carries_the_policy_reference(policy):
    d = policy.evaluate([ev()])
    assert d.policy_ref() == {"id": "t", "version": "1", "hash": policy.hash}


def test_thresholds_are_inclusive(policy):
    assert fired(policy.evaluate([ev(strength=0.5, matched=10.0)])) == {
        "block-strong": (0,),
        "review-band": (0,),
    }
    assert "block-strong" not in fired(policy.evaluate([ev(strength=0.4999, matched=10.0)]))
    assert "block-strong" not in fired(policy.evaluate([ev(strength=0.5, matched=9.999)]))
    assert "review-band" in fired(policy.evaluate([ev(strength=0.6)]))
    assert "review-band" not in fired(policy.evaluate([ev(strength=0.6001)]))


def test_missing_matched_duration_fails_a_duration_threshold(policy):
    assert fired(policy.evaluate([ev(strength=0.9, matched=None)])) == {}


def test_most_severe_wins_and_every_matching_index_is_listed(policy):
    evidence = [ev("remix", 0.3), ev(strength=0.95, cid="a"), ev(strength=0.1), ev(cid="b")]
    d = policy.evaluate(evidence)
    assert d.verdict is Verdict.BLOCK
    assert fired(d) == {"block-strong": (1, 3), "review-band": (0,)}
    firing = d.rules_fired[0]
    assert firing.then is Verdict.BLOCK and firing.reason == "strong re-upload"
    assert firing.thresholds == {"min_strength": 0.5, "min_matched_s": 10}


def test_rules_fire_in_policy_order(policy):
    d = policy.evaluate([ev("remix", 0.3), ev(strength=0.55)])
    assert [r.rule_id for r in d.rules_fired] == ["block-strong", "review-band"]


def test_unless_licence_for_that_recording_or_any(policy):
    evidence = [ev(cid="c1")]
    assert policy.evaluate(evidence, ReleaseMetadata(licences=("c2",))).verdict is Verdict.BLOCK
    for licences in (("c1",), ("*",)):
        d = policy.evaluate(evidence, ReleaseMetadata(licences=licences))
        assert d.verdict is Verdict.PASS
        assert fired(d) == {"licensed": (0,)}


def test_unless_applies_per_evidence_item(policy):
    meta = ReleaseMetadata(licences=("c1",))
    d = policy.evaluate([ev(cid="c1"), ev(cid="c2")], meta)
    assert d.verdict is Verdict.BLOCK
    assert fired(d) == {"block-strong": (1,), "licensed": (0,)}


def test_unless_uploader_tier(policy):
    d = policy.evaluate([ev()], ReleaseMetadata(uploader_tier="verified_label"))
    assert d.verdict is Verdict.PASS
    d = policy.evaluate([ev()], ReleaseMetadata(uploader_tier="new"))
    assert d.verdict is Verdict.BLOCK


def test_a_pass_rule_never_lowers_the_verdict(policy):
    meta = ReleaseMetadata(licences=("c1",))
    d = policy.evaluate([ev(strength=0.3, cid="c1")], meta)
    assert d.verdict is Verdict.REVIEW
    assert fired(d) == {"review-band": (0,), "licensed": (0,)}


def test_a_pass_rule_overrides_the_default_when_it_alone_fires():
    strict = load_policy_text(POLICY.replace("default: pass", "default: review"))
    d = strict.evaluate([ev()], ReleaseMetadata(licences=("*",)))
    assert d.verdict is Verdict.PASS and fired(d) == {"licensed": (0,)}


def test_require_disclosure_is_review_with_its_own_action(policy):
    ai = ev("ai_generated", 0.8, cid=None, matched=None)
    d = policy.evaluate([ai], ReleaseMetadata(contains_ai=None))
    assert d.verdict is Verdict.REVIEW
    (firing,) = d.rules_fired
    assert (firing.then, firing.action) == (Verdict.REVIEW, "require_disclosure")
    assert firing.to_dict()["action"] == "require_disclosure"
    assert policy.evaluate([ai], ReleaseMetadata(contains_ai="None")).verdict is Verdict.REVIEW
    assert policy.evaluate([ai], ReleaseMetadata(contains_ai="Partly")).rules_fired == ()


def test_bank_tier_and_extra_metadata(policy):
    voice = ev("voice_clone", 0.9, bank="protected_voice")
    indie_new = ReleaseMetadata(uploader_tier="new", extra={"label": "indie"})
    assert fired(policy.evaluate([voice], indie_new)) == {"bank-and-tier": (0,)}
    no_tier = ReleaseMetadata(extra={"label": "indie"})
    assert fired(policy.evaluate([voice], no_tier)) == {"bank-and-tier": (0,)}
    other_bank = ev("voice_clone", 0.9, bank="catalogue")
    assert fired(policy.evaluate([other_bank], indie_new)) == {}
    major = ReleaseMetadata(uploader_tier="new", extra={"label": "major"})
    assert fired(policy.evaluate([voice], major)) == {}
    verified = ReleaseMetadata(uploader_tier="verified", extra={"label": "indie"})
    assert fired(policy.evaluate([voice], verified)) == {}


def test_kinds_not_named_by_any_rule_are_ignored(policy):
    assert policy.evaluate([ev("cover", 1.0)]).verdict is Verdict.PASS


def test_shadow_policies_are_recorded_and_change_nothing(policy):
    lenient_text = POLICY.replace("id: t\n", "id: lenient\n")
    lenient = load_policy_text(lenient_text.replace("min_strength: 0.5", "min_strength: 0.99"))
    blocker = load_policy_text(POLICY.replace("id: t\n", "id: blocker\nmode: shadow\n"))
    assert blocker.mode == "shadow"
    d = policy.evaluate([ev(strength=0.7)], ReleaseMetadata(), shadow=[lenient, blocker])
    assert d.verdict is Verdict.BLOCK
    assert d.shadow == {"lenient": "pass", "blocker": "block"}
    assert fired(d) == {"block-strong": (0,)}
    assert d.policy_id == "t"
    assert policy.evaluate([ev(strength=0.7)]).shadow == {}


def test_evaluate_accepts_any_sequence_and_no_metadata(policy):
    assert policy.evaluate((ev(),)).verdict is Verdict.BLOCK


FINDINGS = f"""\
id: f
version: "3"
findings:
  - id: undisclosed
    kind: undisclosed_ai
    when:
      kind: ai_generated
      min_strength: 0.8
      declared: {{contains_ai: [null, "None"]}}
    explanation: not declared
    sources: {{min_strength: {SRC}}}
rules:
  - id: block-undisclosed
    when: {{kind: undisclosed_ai, min_strength: 0.95}}
    then: block
    reason: strong
    sources: {{min_strength: {SRC}}}
  - id: review-undisclosed
    when: {{kind: undisclosed_ai}}
    then: review
    reason: any
"""


def test_findings_are_derived_per_item_and_appended_after_detector_evidence():
    from compliance.policy.engine import evaluated_evidence

    p = load_policy_text(FINDINGS)
    detected = [
        ev("ai_generated", 0.97, cid=None, matched=10.0),
        ev(strength=0.4),
        ev("ai_generated", 0.85, cid=None, matched=None),
        ev("ai_generated", 0.79, cid=None),
    ]
    d = p.evaluate(detected, ReleaseMetadata(contains_ai="None"))
    assert [(str(e.kind), e.strength) for e in d.findings] == [
        ("undisclosed_ai", 0.97),
        ("undisclosed_ai", 0.85),
    ]
    first = d.findings[0]
    assert first.detector == "policy" and first.detector_version == "f@3"
    assert first.matched_s == 10.0 and first.raw_unit == "ai_generated strength"
    assert first.details["finding"] == "undisclosed"
    assert first.details["from"]["evidence"] == 0 and first.details["from"]["detector"] == "d"
    assert first.details["thresholds"] == {"min_strength": 0.8}
    assert first.details["declared"] == {"contains_ai": "None"}
    assert "ai_generated 0.97 (min_strength 0.8), declared contains_ai 'None'" in first.explanation
    every = evaluated_evidence(detected, d)
    assert every[4:] == list(d.findings)
    # indexes refer to the detector evidence followed by the findings
    assert fired(d) == {"block-undisclosed": (4,), "review-undisclosed": (4, 5)}
    assert d.verdict is Verdict.BLOCK
    assert p.thresholds()["undisclosed.min_strength"]["value"] == 0.8


def test_a_declaration_outside_the_condition_derives_nothing_and_reevaluation_is_idempotent():
    from compliance.policy.engine import evaluated_evidence

    p = load_policy_text(FINDINGS)
    detected = [ev("ai_generated", 0.99, cid=None)]
    first = p.evaluate(detected)
    assert first.verdict is Verdict.BLOCK and len(first.findings) == 1
    stored = evaluated_evidence(detected, first)  # what an output lists
    again = p.evaluate(stored)
    assert again.findings == first.findings and fired(again) == fired(first)
    declared = p.evaluate(stored, ReleaseMetadata(contains_ai="All"))
    assert declared.findings == () and declared.verdict is Verdict.PASS
    assert evaluated_evidence(stored, declared) == detected


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "kind: undisclosed_ai\n    when:\n      kind: ai_generated",
            "kind: undisclosed_ai\n    when:\n      kind: [ai_generated, undisclosed_ai]",
        ),
        (
            "explanation: not declared\n    sources: {min_strength: " + SRC + "}",
            "explanation: not declared",
        ),
        ("id: block-undisclosed", "id: undisclosed"),
    ],
)
def test_bad_findings_are_refused(old, new):
    """A finding of its own kind, a threshold without a source, an id used twice."""
    from compliance.errors import PolicyError

    assert old in FINDINGS
    with pytest.raises(PolicyError) as err:
        load_policy_text(FINDINGS.replace(old, new))
    assert "finding" in str(err.value)
