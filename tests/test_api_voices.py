# ruff: noqa: F811  (the fixtures app, client, keys are imported from tests.test_api)
"""The protected-voice bank over the API: enrol with refusals, no usable reference, list,
get, disable, bad enrolment parts; a worker's scan sees the voice."""

from __future__ import annotations

import io
import json

import numpy as np
import soundfile as sf

from compliance.jobs.scan_worker import ScanWorker
from compliance.synth import synth_voice
from tests.test_api import _error, _submit, app, client, keys  # noqa: F401

TALKER = {"f0": 112.0, "tract": 1.0}


def _wav16(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, 16000, format="WAV")
    return buf.getvalue()


def _enrol(client, headers, voice_id, files, enrolment=None):
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    if enrolment is not None:
        raw = enrolment if isinstance(enrolment, str) else json.dumps(enrolment)
        parts.append(("enrolment", (None, raw)))
    return client.post(f"/v1/banks/protected_voice/{voice_id}/references", headers=headers,
                       files=parts)  # fmt: skip


def test_enrol_list_get_disable_and_a_scan_sees_the_voice(app, client, keys):
    refs = [(f"r{i}.wav", _wav16(synth_voice(60 + i, 4.0, **TALKER))) for i in range(3)]
    silent = ("silent.wav", _wav16(np.zeros(32000, dtype=np.float32)))
    r = _enrol(client, keys["admin"], "artist-7", [*refs, silent],
               {"artist_name": "Seven", "authorised_accounts": ["label-7"],
                "consent": {"granted_by": "Seven", "document": "c-7"}})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] and body["added"] == ["r0.wav", "r1.wav", "r2.wav"]
    assert body["refused"] == [{"file": "silent.wav", "code": "voice_reference_silent",
                                "message": "silent.wav: the recording is silent"}]  # fmt: skip
    assert body["voice"]["references"] == 3 and body["voice"]["authorised_accounts"] == ["label-7"]
    listed = client.get("/v1/banks/protected_voice", headers=keys["admin"]).json()["voices"]
    assert [v["voice_id"] for v in listed] == ["artist-7"]
    got = client.get("/v1/banks/protected_voice/artist-7", headers=keys["admin"]).json()
    assert got["consent"]["document"] == "c-7"
    _error(client.get("/v1/banks/protected_voice/nobody", headers=keys["admin"]), 404,
           "voice_not_found")  # fmt: skip
    assert client.get("/v1/banks/protected_voice", headers=keys["reader"]).status_code == 403

    up = _submit(client, keys["submitter"], [("song.wav", _wav16(synth_voice(99, 10.0, **TALKER)))],
                 {"account_id": "someone"})  # fmt: skip
    scan_id = up.json()["scans"][0]["scan_id"]
    assert ScanWorker(app).run_once().state == "done"
    res = client.get(f"/v1/scans/{scan_id}", headers=keys["reader"]).json()["result"]
    voices = [e for e in res["evidence"] if e["kind"] == "voice_clone"]
    assert voices and voices[0]["voice_id"] == "artist-7" and res["decision"] == "review"

    r = client.post("/v1/banks/protected_voice/artist-7/disable", headers=keys["admin"],
                    json={"reason": "consent withdrawn"})  # fmt: skip
    assert r.status_code == 200 and r.json()["disabled_reason"] == "consent withdrawn"
    _error(client.post("/v1/banks/protected_voice/artist-7/disable", headers=keys["admin"],
                       json={}), 400, "reason_missing")  # fmt: skip
    _error(client.post("/v1/banks/protected_voice/nobody/disable", headers=keys["admin"],
                       json={"reason": "x"}), 404, "voice_not_found")  # fmt: skip


def test_bad_enrolments_are_refused_with_codes(client, keys):
    silent = ("silent.wav", _wav16(np.zeros(32000, dtype=np.float32)))
    body = _error(_enrol(client, keys["admin"], "v1", [silent]), 422, "voice_no_usable_reference")
    assert "silent.wav: voice_reference_silent" in body["error"]["message"]
    assert client.get("/v1/banks/protected_voice", headers=keys["admin"]).json()["voices"] == []
    ref = ("r.wav", _wav16(synth_voice(5, 4.0, **TALKER)))
    _error(_enrol(client, keys["admin"], "v1", [ref], "{not json"), 400, "enrolment_invalid")
    _error(_enrol(client, keys["admin"], "v1", [ref], {"authorised_accounts": "a"}), 400,
           "enrolment_invalid")  # fmt: skip
    _error(_enrol(client, keys["admin"], "v1", [ref], {"colour": "red"}), 400,
           "enrolment_invalid")  # fmt: skip
    _error(_enrol(client, keys["admin"], "%20padded", [ref]), 400, "voice_id_invalid")
    r = _enrol(client, keys["submitter"], "v1", [ref])
    assert r.status_code == 403
