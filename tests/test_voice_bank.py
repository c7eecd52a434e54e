"""The protected-voice bank: enrolment, refusal, search against brute force, the detector
through ``compliance check``, and the policy's authorisation rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from compliance.cli import main
from fingerprints.audio import write_wav
from tests.audio_fixtures import tune, voice

SR = 16000
SPEAKER_A = {"f0": 105.0, "tract": 1.0}
SPEAKER_B = {"f0": 235.0, "tract": 1.22}


def _wav(path, samples, sr=SR):
    write_wav(path, samples, sr)
    return path


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    d = tmp_path_factory.mktemp("voices")
    out = {
        "A": [_wav(d / f"a{i}.wav", voice(10 + i, 4.0, **SPEAKER_A)) for i in range(3)],
        "B": [_wav(d / f"b{i}.wav", voice(20 + i, 4.0, **SPEAKER_B)) for i in range(3)],
        "silent": _wav(d / "silent.wav", np.zeros(3 * SR, dtype=np.float32)),
        "short": _wav(d / "short.wav", np.pad(voice(30, 0.4, **SPEAKER_A), (0, SR))),
        "probe_a": _wav(d / "probe_a.wav", voice(99, 10.0, **SPEAKER_A)),
        "probe_a2": _wav(d / "probe_a2.wav", voice(98, 10.0, **SPEAKER_A)),
        "music": _wav(d / "music.wav", tune(5, 12.0), 22050),
        "broken": d / "broken.wav",
    }
    out["broken"].write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return out


def test_enrol_refuses_unusable_references_and_keeps_provenance(store, refs):
    from compliance.voices import bank

    res = bank.enrol(
        store, "A", [*refs["A"], refs["silent"], refs["short"], refs["broken"]],
        artist_name="Artist A", authorised_accounts=["acc-a"],
        consent={"granted_by": "Artist A", "document": "contract-17"}, provenance="test",
    )  # fmt: skip
    assert res.usable and res.created and len(res.added) == 3
    codes = {code for _, code, _ in res.refused}
    assert codes == {"voice_reference_silent", "voice_reference_too_short", "audio_decode_failed"}
    # the same recording again is refused as a duplicate; the print keeps 3 references
    again = bank.enrol(store, "A", [refs["A"][0]])
    assert [c for _, c, _ in again.refused] == ["voice_reference_duplicate"]
    assert again.n_references == 3
    (v,) = bank.list_voices(store)
    assert v.authorised_accounts == ("acc-a",) and v.consent["document"] == "contract-17"
    assert v.cohort_size == 0  # alone in the bank: the prior only


def _cohorts(store):
    from compliance.voices import bank

    return {
        v.voice_id: (v.cohort_mean, v.cohort_sd, v.cohort_size) for v in bank.list_voices(store)
    }


def test_an_enrolment_refreshes_the_cohorts_a_full_refresh_would_change(store, refs):
    from compliance.voices import bank

    bank.enrol(store, "A", refs["A"])
    bank.enrol(store, "B", refs["B"])
    bank.enrol(store, "C", refs["A"][:2])  # cohorts not full: every voice is refreshed
    after = _cohorts(store)
    assert after["A"][2] == 5 and after["B"][2] == 5 and after["C"][2] == 6
    bank.refresh_cohorts(store)  # the reference: everything recomputed from the whole bank
    assert _cohorts(store) == after


def test_full_cohorts_are_kept_and_the_changed_voice_is_sampled_like_a_full_refresh(
    store, refs, monkeypatch
):
    from compliance.voices import bank

    bank.enrol(store, "A", refs["A"])
    bank.enrol(store, "B", refs["B"])
    before = _cohorts(store)
    monkeypatch.setattr(bank, "COHORT_MAX", 2)  # A's and B's cohorts (3 windows) are full
    bank.enrol(store, "C", refs["B"][:2])
    partial = _cohorts(store)
    assert partial["A"] == before["A"] and partial["B"] == before["B"]
    assert partial["C"][2] == 2  # a sample of the 6 foreign windows
    bank.refresh_cohorts(store, changed="nobody")  # every cohort full: nothing to do
    assert _cohorts(store) == partial
    bank.refresh_cohorts(store)
    full = _cohorts(store)
    assert full["C"] == partial["C"]  # the same seeded sample, read window by window
    assert full["A"][2] == 2 and full["A"] != before["A"]  # a full refresh resamples A


def test_duplicates_are_refused_before_they_are_analysed(store, refs, monkeypatch):
    from compliance.voices import bank

    analysed = []
    real = bank.analyse_reference

    def counting(path, **kw):
        analysed.append(str(path))
        return real(path, **kw)

    monkeypatch.setattr(bank, "analyse_reference", counting)
    a0, a1 = refs["A"][0], refs["A"][1]
    first = bank.enrol(store, "A", [a0, a0])  # the same file twice in one call
    assert first.added == [str(a0)] and first.n_references == 1
    assert [c for _, c, _ in first.refused] == ["voice_reference_duplicate"]
    assert analysed == [str(a0)]
    again = bank.enrol(store, "A", [a0, a1])
    assert again.added == [str(a1)] and again.n_references == 2
    assert analysed == [str(a0), str(a1)]  # the enrolled one was not decoded again


def test_noise_and_recordings_without_a_voice_are_refused_with_their_codes(
    tmp_path, refs, monkeypatch
):
    from compliance.voices import bank
    from fingerprints import voice_presence

    noise = np.random.default_rng(4).standard_normal(5 * SR).astype(np.float32) * 0.2
    with pytest.raises(bank.VoiceBankError) as exc:
        bank.analyse_reference(_wav(tmp_path / "noise.wav", noise))
    assert exc.value.code == "voice_reference_too_short"  # nothing in it passes activity
    # sound in the voice band that the presence model does not take for a voice
    reject = voice_presence.PresenceModel(np.zeros(256), -5.0, "ge2e-v1", "1", "test")
    monkeypatch.setattr(voice_presence, "default_model", lambda: reject)
    with pytest.raises(bank.VoiceBankError) as exc:
        bank.analyse_reference(refs["A"][0])
    assert exc.value.code == "voice_reference_no_voice" and "0.01" in exc.value.message


def test_a_voice_with_no_usable_reference_is_not_created(store, refs):
    from compliance.voices import bank

    res = bank.enrol(store, "Z", [refs["silent"], refs["short"]])
    assert not res.usable and not res.created and len(res.refused) == 2
    assert bank.list_voices(store) == []
    with pytest.raises(bank.VoiceBankError) as exc:
        bank.enrol(store, " bad id", refs["A"])
    assert exc.value.code == "voice_id_invalid"


def test_cohorts_come_from_the_other_voices_and_disabled_voices_are_not_searched(store, refs):
    from compliance.voices import bank

    bank.enrol(store, "A", refs["A"])
    bank.enrol(store, "B", refs["B"])
    entries = {v.voice_id: v for v in bank.list_voices(store)}
    assert entries["A"].cohort_size == 3 and entries["B"].cohort_size == 3
    assert {e.voice_id for e in bank.load_snapshot(store).entries} == {"A", "B"}
    assert bank.disable_voice(store, "B", reason="consent withdrawn")
    assert not bank.disable_voice(store, "nobody", reason="x")
    assert [e.voice_id for e in bank.load_snapshot(store).entries] == ["A"]
    assert bank.list_voices(store)[1].disabled_reason == "consent withdrawn"


def test_snapshot_search_matches_brute_force():
    from compliance.voices.bank import VoiceEntry
    from compliance.voices.search import VoiceBankSnapshot

    rng = np.random.default_rng(3)
    n = 2000
    prints = rng.standard_normal((n, 256)).astype(np.float32)
    prints /= np.linalg.norm(prints, axis=1, keepdims=True)
    mu = rng.uniform(0.0, 0.1, n)
    entries = tuple(
        VoiceEntry(f"v{i}", None, (), {}, 1, float(mu[i]), 0.05, 10, False, None) for i in range(n)
    )
    snap = VoiceBankSnapshot(entries=entries, prints=prints)
    q = prints[[5, 77]] + 0.03 * rng.standard_normal((2, 256)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    got = snap.search(q, top_k=5)
    from fingerprints.voice import calibrated_strength

    brute = []
    for i in range(n):
        s = calibrated_strength(q @ prints[i], mu[i], 0.05, snap.calibration).max()
        brute.append((-s, f"v{i}"))
    want = [v for _, v in sorted(brute)[:5]]
    assert [m.entry.voice_id for m in got] == want
    assert {"v5", "v77"} <= set(want[:2])


def _check(env, *paths, metadata=None):
    args = ["check", *map(str, paths), "--json"]
    if metadata is not None:
        args += ["--metadata", str(metadata)]
    r = CliRunner().invoke(main, args, env=env)
    assert r.exit_code == 0, r.output
    return {o["file"]: o for o in _jsonl(r.output)}


def _jsonl(output: str) -> list[dict]:
    return [json.loads(x) for x in output.splitlines() if x.startswith("{")]


def _bank(env, *args):
    return CliRunner().invoke(main, ["bank", *map(str, args)], env=env)


def test_check_reports_the_protected_voice_and_the_policy_reviews_unauthorised(tmp_path, refs):
    env = {"COMPLIANCE_HOME": str(tmp_path / "home")}
    voice_import = ("import", "--kind", "protected_voice")
    consent = ("--authorised-account", "acc-a", "--consent", "signed 2026-11-30")
    r = _bank(env, *voice_import, "--id", "A", "--artist", "Artist A", *consent, *refs["A"])
    assert r.exit_code == 0, r.output
    r = _bank(env, *voice_import, "--id", "B", *refs["B"])
    assert r.exit_code == 0, r.output
    r = _bank(env, *voice_import, "--id", "Z", refs["silent"])
    assert r.exit_code == 1 and "voice_no_usable_reference" in r.output
    listed = _jsonl(_bank(env, "list", "--kind", "protected_voice", "--format", "jsonl").output)
    assert [v["voice_id"] for v in listed] == ["A", "B"]
    assert listed[0]["consent"] == {"record": "signed 2026-11-30"}

    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"account_id": "someone-else"}))
    out = _check(env, refs["probe_a"], refs["music"], metadata=meta)
    probe = out[str(refs["probe_a"])]
    ev = [e for e in probe["evidence"] if e["kind"] == "voice_clone"]
    assert ev and ev[0]["voice_id"] == "A" and ev[0]["strength"] > 0.5
    assert ev[0]["details"]["authorised"] is False and ev[0]["details"]["sections"]
    assert ev[0]["details"]["sections"][0]["start_s"] < ev[0]["details"]["sections"][0]["end_s"]
    assert probe["decision"] == "review"
    assert "voice-clone-review" in {f["rule_id"] for f in probe["rules_fired"]}
    assert not [e for e in out[str(refs["music"])]["evidence"] if e["kind"] == "voice_clone"]

    # another recording (the same audio from a second account is duplicate_across_accounts)
    meta.write_text(json.dumps({"account_id": "acc-a"}))
    probe = _check(env, refs["probe_a2"], metadata=meta)[str(refs["probe_a2"])]
    ev = [e for e in probe["evidence"] if e["kind"] == "voice_clone" and e["voice_id"] == "A"]
    assert ev[0]["details"]["authorised"] is True
    assert probe["decision"] == "pass", probe

    # disabled: no longer matched
    r = _bank(env, "remove", "--kind", "protected_voice", "A", "--reason", "test")
    assert r.exit_code == 0, r.output
    probe = _check(env, refs["probe_a2"], metadata=meta)[str(refs["probe_a2"])]
    assert not [e for e in probe["evidence"] if e.get("voice_id") == "A"]


def test_bank_import_argument_errors(tmp_path, refs):
    env = {"COMPLIANCE_HOME": str(tmp_path / "home")}
    r = _bank(env, "import", "--kind", "protected_voice", refs["A"][0])
    assert r.exit_code == 2 and "--id" in r.output
    r = _bank(env, "import", "--kind", "protected_artist", "a", "b")
    assert r.exit_code == 2
    bad = tmp_path / "m.csv"
    bad.write_text("who,where\nx,y\n")
    r = _bank(env, "import", "--kind", "protected_voice", "--manifest", bad)
    assert r.exit_code == 2 and "voice_id,path" in r.output
    good = tmp_path / "voices.csv"
    good.write_text("voice_id,path,authorised_accounts\n"
                    + "".join(f"A,{p},acc-1;acc-2\n" for p in refs["A"]))  # fmt: skip
    r = _bank(env, "import", "--kind", "protected_voice", "--manifest", good)
    assert r.exit_code == 0, r.output
    r = _bank(env, "list", "--kind", "protected_voice")
    assert "acc-1,acc-2" in r.output and "3 ref" in r.output
