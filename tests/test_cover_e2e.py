"""Covers end to end through the CLI: catalogue add builds the cover index; check
reports a cover of a catalogue composition for review, a re-upload as a re-upload only."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from compliance.cli import main
from fingerprints.audio import encode, write_wav
from tests.audio_fixtures import song

SR = 11025


def test_cover_evidence_through_the_cli(tmp_path):
    env = {"COMPLIANCE_HOME": str(tmp_path / "home")}
    cat = tmp_path / "cat"
    cat.mkdir()
    for k in range(4):
        write_wav(cat / f"work-{k}.wav", song(20 + k, 45.0), SR)
    run = CliRunner()
    r = run.invoke(main, ["catalogue", "add", "--quiet", str(cat)], env=env)
    assert r.exit_code == 0, r.output
    up = tmp_path / "up"
    up.mkdir()
    # another key, tempo, timbre and accompaniment: the landmarks find at most a weak match
    arrangement = song(22, 40.0, transpose=2, tempo=1.1, harmonics=2, arpeggio=True)
    write_wav(up / "cover.wav", arrangement, SR)
    encode(song(21, 45.0), SR, up / "copy.mp3", codec="mp3", bitrate="64k")
    rng = np.random.default_rng(3)
    write_wav(up / "noise.wav", (0.1 * rng.standard_normal(30 * SR)).astype(np.float32), SR)
    files = [str(up / n) for n in ("cover.wav", "copy.mp3", "noise.wav")]
    r = run.invoke(main, ["check", "--json", *files], env=env)
    out = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    cov, copy, noise = out
    assert cov["decision"] == "review"
    covers = [e for e in cov["evidence"] if e["kind"] == "cover"]
    best = covers[0]
    assert best["catalogue_id"] == "work-2" and best["strength"] > 0.9
    assert best["pitch_shift_semitones"] == 2.0 and best["detector"] == "cover"
    assert abs(best["speed_ratio"] - 1.1) < 0.1
    assert best["details"]["sections"][0]["query_end_s"] > best["query_start_s"]
    assert [r["rule_id"] for r in cov["rules_fired"]] == ["cover-review"]
    assert all(e["strength"] < 0.1 for e in covers[1:])  # the other works: chance
    assert cov["detectors"]["cover"] == "4"
    # every candidate the cover search rescored, and what became of it
    cands = cov["cover_candidates"]
    assert cands[0]["catalogue_id"] == "work-2" and cands[0]["outcome"] == "kept_cover"
    assert cands[0]["key_shift_semitones"] == 2 and cands[0]["score"] > 6.01
    kept = [c["catalogue_id"] for c in cands if c["outcome"] == "kept_cover"]
    assert kept == [e["catalogue_id"] for e in covers]
    for c in cands:
        if c["outcome"] == "dropped_below_report_threshold":
            assert c["strength"] < 0.02 and "chance level" in c["reason"]
    assert "cover_candidates" not in copy  # a catalogue recording: no cover search
    assert copy["decision"] == "block"
    assert {e["kind"] for e in copy["evidence"]} == {"reupload"}  # not also a cover
    assert noise["decision"] == "pass" and noise["evidence"] == []


def test_reindex_builds_the_cover_index_of_an_older_catalogue(tmp_path):
    import sqlalchemy as sa

    from compliance.app import App
    from compliance.settings import Settings

    env = {"COMPLIANCE_HOME": str(tmp_path / "home")}
    cat = tmp_path / "cat"
    cat.mkdir()
    for k in range(3):
        write_wav(cat / f"work-{k}.wav", song(40 + k, 30.0), SR)
    run = CliRunner()
    assert run.invoke(main, ["catalogue", "add", "--quiet", str(cat)], env=env).exit_code == 0
    app = App(Settings.from_env(env))
    with app.store.engine.begin() as c:  # as ingested before the cover detector existed
        c.execute(sa.text("DELETE FROM index_segments WHERE signal = 'cover'"))
    assert len(app.catalogue().covers) == 0
    probe = tmp_path / "probe.wav"
    write_wav(probe, song(40, 30.0), SR)
    checked = run.invoke(main, ["check", "--json", str(probe)], env=env)
    assert "warning: 3 of 3 enabled catalogue tracks have no cover index" in checked.output
    (cat / "work-2.wav").unlink()  # one source file gone since
    r = run.invoke(main, ["catalogue", "reindex"], env=env)
    assert r.exit_code == 1
    assert "2 indexed for covers, 1 failed" in r.output and "[audio_not_found]" in r.output
    assert len(app.catalogue().covers) == 2
    again = run.invoke(main, ["catalogue", "reindex"], env=env)
    assert "0 indexed for covers, 1 failed" in again.output  # nothing indexed twice
    checked = run.invoke(main, ["check", "--json", str(probe)], env=env)
    assert "warning: 1 of 3 enabled catalogue tracks" in checked.output
    app.store.close()
