# ruff: noqa: F811  (the fixtures are imported from tests.test_api)
"""GET /v1/scans/{id}/explain: the candidates of the landmark and cover searches and their
outcome, recorded by the worker in the stored result (the `candidates` and
`cover_candidates` fields of check --json)."""

from __future__ import annotations

import numpy as np

from compliance.jobs.scan_worker import ScanWorker
from compliance.pipeline.ingest import expand_paths, ingest
from compliance.synth import synth_piece
from tests.audio_fixtures import song
from tests.test_api import (  # noqa: F401
    SR,
    _error,
    _submit,
    _wav,
    app,
    catalogue,
    client,
    keys,
    pieces,
)


def _scan(app, client, keys, name, samples):
    r = _submit(client, keys["submitter"], [(name, _wav(samples))])
    assert r.status_code == 202, r.text
    scan_id = r.json()["scans"][0]["scan_id"]
    return scan_id


def _explain(client, keys, scan_id):
    r = client.get(f"/v1/scans/{scan_id}/explain", headers=keys["reader"])
    assert r.status_code == 200, r.text
    return r.json()


def test_explain_reupload_remix_and_disabled(app, client, keys, catalogue):
    worker = ScanWorker(app)
    reup = _scan(app, client, keys, "reup.wav", catalogue["song-1"][4 * SR : 24 * SR])
    # not done yet: 409
    _error(client.get(f"/v1/scans/{reup}/explain", headers=keys["reader"]), 409, "scan_not_done")
    assert worker.run_once().state == "done"
    ex = _explain(client, keys, reup)
    assert ex["decision"] == "block" and ex["thresholds"]["report_min_strength"] == 0.02
    top = ex["candidates"][0]
    assert (top["catalogue_id"], top["outcome"]) == ("song-1", "kept_reupload")
    assert top["aligned_anchors"] > 15 and top["strength"] > 0.9 and top["coverage"] > 0.9
    assert top["evidence"] == [0] and top["rules_fired"]
    assert "re-upload" in top["reason"]
    assert ex["cover_candidates"] == []  # a catalogue recording: no cover search
    assert ex["thresholds"]["cover_report_min_strength"] == 0.02
    for c in ex["candidates"][1:]:  # any chance alignment with the other track is dropped
        assert c["outcome"] == "dropped_below_report_threshold", c
    # the stored result (and GET /v1/scans) carries the raw list
    res = client.get(f"/v1/scans/{reup}", headers=keys["reader"]).json()["result"]
    assert res["candidates"][0]["catalogue_id"] == "song-1"

    # 8 s of song-0 inside new material: a remix
    new = synth_piece(4242, 30.0, sample_rate=SR)
    mix = np.concatenate(
        [new[: 10 * SR], catalogue["song-0"][5 * SR : 13 * SR], new[10 * SR : 20 * SR]]
    )
    remix = _scan(app, client, keys, "mix.wav", mix)
    worker.run_once()
    got = {c["catalogue_id"]: c for c in _explain(client, keys, remix)["candidates"]}
    assert got["song-0"]["outcome"] == "kept_remix", got
    assert got["song-0"]["coverage"] < 0.67 and 7.0 < got["song-0"]["matched_s"] < 9.0

    # a disabled entry is still found by the search, and dropped
    h = keys["admin"]
    r = client.post("/v1/catalogue/tracks/song-1/disable", headers=h, json={"reason": "test"})
    assert r.status_code == 200
    again = _scan(app, client, keys, "again.wav", catalogue["song-1"][6 * SR : 26 * SR])
    worker.run_once()
    ex = _explain(client, keys, again)
    assert ex["decision"] == "pass"
    got = {c["catalogue_id"]: c for c in ex["candidates"]}
    assert got["song-1"]["outcome"] == "dropped_catalogue_disabled"
    assert got["song-1"]["evidence"] == [] and got["song-1"]["rules_fired"] == []


def test_explain_errors(app, client, keys):
    _error(client.get("/v1/scans/nope/explain", headers=keys["reader"]), 404, "scan_not_found")
    r = _submit(client, keys["submitter"], [("bad.wav", b"not audio at all")])
    scan_id = r.json()["scans"][0]["scan_id"]
    ScanWorker(app).run_once()
    _error(client.get(f"/v1/scans/{scan_id}/explain", headers=keys["reader"]), 409, "scan_failed")
    _error(client.get(f"/v1/scans/{scan_id}/explain"), 401, "auth_missing")


def test_candidate_outcomes_follow_the_detectors_rules():
    from compliance.detectors.base import CatalogueMatch
    from compliance.detectors.landmark_evidence import candidate
    from fingerprints.align import LandmarkMatch

    def match(inliers: int, span_s: float) -> CatalogueMatch:
        lm = LandmarkMatch(0, inliers, 0.0, span_s, 0.0, span_s, 1.0, 0.0)
        return CatalogueMatch("c", 60.0, lm)

    assert candidate(match(4, 30.0), 30.0).outcome == "dropped_below_report_threshold"
    assert "below the report threshold" in candidate(match(4, 30.0), 30.0).reason
    assert candidate(match(200, 25.0), 30.0).outcome == "kept_reupload"
    assert candidate(match(200, 10.0), 30.0).outcome == "kept_remix"
    assert candidate(match(200, 25.0), 30.0, active=False).outcome == "dropped_catalogue_disabled"
    d = candidate(match(40, 12.0), 30.0).to_dict()
    assert set(d) == {"catalogue_id", "aligned_anchors", "strength", "coverage", "matched_s",
                      "outcome", "reason"}  # fmt: skip
    assert d["aligned_anchors"] == 40 and d["coverage"] == 0.4


def test_explain_lists_the_cover_candidates(app, client, keys, tmp_path):
    folder = tmp_path / "works"
    folder.mkdir()
    for k in range(3):
        (folder / f"work-{k}.wav").write_bytes(_wav(song(20 + k, 45.0)))
    ingest(
        expand_paths([folder]), store=app.store, index_dir=app.settings.index_dir,
        max_duration_s=app.settings.max_duration_s, max_bytes=10**8,
    )  # fmt: skip
    arrangement = song(22, 40.0, transpose=2, tempo=1.1, harmonics=2, arpeggio=True)
    scan_id = _scan(app, client, keys, "arrangement.wav", arrangement)
    assert ScanWorker(app).run_once().state == "done"
    ex = _explain(client, keys, scan_id)
    assert ex["decision"] == "review"
    top = ex["cover_candidates"][0]
    assert (top["catalogue_id"], top["outcome"]) == ("work-2", "kept_cover")
    assert top["key_shift_semitones"] == 2 and top["rules_fired"] == ["cover-review"]
    assert ex["thresholds"]["cover_score_midpoint"] == 6.01
    others = ex["cover_candidates"][1:]
    assert others and all(c["strength"] < 0.1 for c in others)  # chance alignments
