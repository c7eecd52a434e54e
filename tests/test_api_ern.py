# ruff: noqa: F811  (the fixtures app, client, keys are imported from tests.test_api)
"""DDEX ERN intake on POST /v1/releases with the real DDEX samples in /work/shared/ddex
(paired with synthetic audio named as the messages' delivery files), the real app,
store (SQLite and PostgreSQL), blob store and worker."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from compliance.intake.ern import parse_ern
from compliance.jobs.scan_worker import ScanWorker
from compliance.storage.models import JobRow, ReleaseFileRow, ReleaseRow
from compliance.synth import synth_piece
from tests.test_api import SR, _count, _error, _wav, app, client, keys  # noqa: F401

DDEX = Path("/work/shared/ddex")
SINGLE = "ern43-simple-audio-single.xml"
DJ_MIX = "ern43-dj-mix.xml"
ALBUM = "ern42-audio-album.xml"
SAMPLE_MD5 = "db7dd2f3bb9b322646e3f4d7b65b47ab"
SINGLE_FILE = "190295810726_00001_LL.flac"

pytestmark = pytest.mark.skipif(not (DDEX / SINGLE).is_file(), reason="no DDEX samples")


def _sample(name: str) -> bytes:
    return (DDEX / name).read_bytes()


def _audio(seed: int, seconds: float = 3.0, fmt: str = "WAV") -> bytes:
    return _wav(synth_piece(seed, seconds, sample_rate=SR), fmt)


def _post(client, headers, ern: bytes | str | None, files, *, ern_first=True, metadata=None):
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    texts = []
    if ern is not None:
        texts.append(("ern", ("message.xml", ern, "application/xml")))
    if metadata is not None:
        texts.append(("metadata", (None, metadata)))
    parts = texts + parts if ern_first else parts + texts
    return client.post("/v1/releases", headers=headers, files=parts)


def _nothing_stored(app) -> None:
    assert _count(app, ReleaseRow) == 0
    assert _count(app, ReleaseFileRow) == 0
    assert _count(app, JobRow) == 0


def _blob_count(app) -> int:
    return len([p for p in app.blobs.root.rglob("*") if p.is_file()])


def _single_with_md5(audio: bytes) -> bytes:
    """The single's message with its MD5 rewritten to the MD5 of our synthetic audio."""
    md5 = hashlib.md5(audio).hexdigest()
    return _sample(SINGLE).replace(SAMPLE_MD5.encode(), md5.encode())


# ------------------------------------------------------------------ accepted
@pytest.mark.parametrize("ern_first", [True, False])
def test_single_with_its_md5_is_accepted_and_the_release_carries_the_ern_metadata(
    app, client, keys, ern_first
):
    audio = _audio(7, fmt="FLAC")
    r = _post(client, keys["submitter"], _single_with_md5(audio), [(SINGLE_FILE, audio)],
              ern_first=ern_first)  # fmt: skip
    assert r.status_code == 202, r.text
    body = r.json()
    assert [s["file"] for s in body["scans"]] == [SINGLE_FILE]
    assert [w["code"] for w in body["warnings"]] == ["release_icpn_missing"]
    rel = client.get(f"/v1/releases/{body['release_id']}", headers=keys["submitter"]).json()
    meta = rel["metadata"]
    assert meta["title"] == "RIOPY: I Love You" and meta["artist"] == "RIOPY"
    assert meta["isrcs"] == ["GBAYC1700598"] and meta["label"] == "Warner Classics"
    assert meta["source"] == "ddex_ern" and meta["ern_version"] == "4.3"
    assert meta["upc"] is None and meta["related_icpns"] == ["190295810726"]
    # the job carries the same metadata, and the worker scans the file
    job = ScanWorker(app).run_once()
    assert job is not None and job.state == "done", job
    assert job.payload["metadata"] == meta
    scan = client.get(f"/v1/scans/{body['scans'][0]['scan_id']}", headers=keys["submitter"])
    assert scan.json()["result"]["decision"] == "pass"


def test_album_with_every_file_and_dj_mix_audio_only(app, client, keys):
    msg = parse_ern(_sample(ALBUM))
    names = [f.file_name for sr in msg.sound_recordings for f in sr.files]
    assert len(names) >= 20
    files = [(n, _audio(100 + i, 1.5)) for i, n in enumerate(names)]
    r = _post(client, keys["submitter"], _sample(ALBUM), files)
    assert r.status_code == 202, r.text
    assert [s["file"] for s in r.json()["scans"]] == names
    upc = client.get(f"/v1/releases/{r.json()['release_id']}", headers=keys["reader"]).json()
    assert upc["metadata"]["upc"] == "00094631432057"
    # the DJ mix also delivers an image: only its audio is uploaded and scanned
    r = _post(client, keys["submitter"], _sample(DJ_MIX),
              [("A1UCASE0000000001X_01_01.wav", _audio(5))])  # fmt: skip
    assert r.status_code == 202, r.text
    codes = {w["code"] for w in r.json()["warnings"]}
    assert {"uri_whitespace", "icpn_check_digit", "message_id_missing"} <= codes


# ------------------------------------------------------------------ refused
def test_hash_mismatch_names_the_file_and_stores_nothing(app, client, keys):
    audio = _audio(7, fmt="FLAC")
    for ern_first in (True, False):
        r = _post(client, keys["submitter"], _sample(SINGLE), [(SINGLE_FILE, audio)],
                  ern_first=ern_first)  # fmt: skip
        body = _error(r, 400, "ern_hash_mismatch")
        assert SINGLE_FILE in body["error"]["message"] and SAMPLE_MD5 in body["error"]["message"]
    _nothing_stored(app)


def test_unsupported_hash_algorithm(app, client, keys):
    audio = _audio(7, fmt="FLAC")
    ern = _single_with_md5(audio).replace(
        b"<Algorithm>MD5</Algorithm>", b"<Algorithm>MD2</Algorithm>"
    )
    for ern_first in (True, False):
        r = _post(client, keys["submitter"], ern, [(SINGLE_FILE, audio)], ern_first=ern_first)
        assert "MD2" in _error(r, 400, "ern_hash_algorithm_unsupported")["error"]["message"]
    _nothing_stored(app)
    # a SHA-256 HashSum is checked too
    sha = hashlib.sha256(audio).hexdigest()
    ern = _sample(SINGLE).replace(b"<Algorithm>MD5</Algorithm>", b"<Algorithm>SHA-256</Algorithm>")
    ern = ern.replace(SAMPLE_MD5.encode(), sha.encode())
    assert _post(client, keys["submitter"], ern, [(SINGLE_FILE, audio)]).status_code == 202


def test_unreferenced_file_is_refused_before_it_is_stored(app, client, keys):
    audio = _audio(7, fmt="FLAC")
    ern = _single_with_md5(audio)
    files = [(SINGLE_FILE, audio), ("bonus.wav", _audio(8))]
    body = _error(_post(client, keys["submitter"], ern, files), 400, "ern_file_unreferenced")
    assert "bonus.wav" in body["error"]["message"]
    _nothing_stored(app)
    assert _blob_count(app) == 1  # the referenced file came first; bonus.wav never stored
    # the same when the message comes last (both files stored, no release, no job)
    r = _post(client, keys["submitter"], ern, files, ern_first=False)
    _error(r, 400, "ern_file_unreferenced")
    # the DJ mix's image is a delivery file, but not of a sound recording
    r = _post(
        client,
        keys["submitter"],
        _sample(DJ_MIX),
        [("A1UCASE0000000001X_01_01.wav", _audio(5)), ("QZ38A1600000_T2.jpeg", b"\xff\xd8")],
    )
    assert "Image" in _error(r, 400, "ern_file_unreferenced")["error"]["message"]
    _nothing_stored(app)


def test_missing_file_is_named(app, client, keys):
    msg = parse_ern(_sample(ALBUM))
    names = [f.file_name for sr in msg.sound_recordings for f in sr.files]
    files = [(n, _audio(100 + i, 1.5)) for i, n in enumerate(names) if i != 3]
    body = _error(_post(client, keys["submitter"], _sample(ALBUM), files), 400, "ern_file_missing")
    assert names[3] in body["error"]["message"]
    _nothing_stored(app)


def test_metadata_and_ern_together_conflict(app, client, keys):
    audio = _audio(7, fmt="FLAC")
    ern = _single_with_md5(audio)
    for ern_first in (True, False):
        r = _post(client, keys["submitter"], ern, [(SINGLE_FILE, audio)],
                  ern_first=ern_first, metadata='{"title": "x"}')  # fmt: skip
        _error(r, 400, "metadata_conflict")
    _nothing_stored(app)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43">&x;</ern:NewReleaseMessage>"""


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: XXE, "ern_forbidden_construct"),
        (lambda: _sample(SINGLE).replace(b"ddex.net/xml/ern/43", b"ddex.net/xml/ern/39"),
         "ern_unsupported_version"),
        (lambda: _sample(SINGLE)[:-200], "ern_malformed"),
        (lambda: b"", "ern_malformed"),
        (lambda: b"<a>" + b" " * (10 * 2**20) + b"</a>", "ern_too_large"),
    ],
)  # fmt: skip
def test_messages_the_parser_refuses(app, client, keys, make, code):
    audio = _audio(7, fmt="FLAC")
    for ern_first in (True, False):
        r = _post(client, keys["submitter"], make(), [(SINGLE_FILE, audio)], ern_first=ern_first)
        _error(r, 400, code)
    _nothing_stored(app)


def test_two_ern_parts_and_a_too_deep_message(app, client, keys):
    audio = _audio(7, fmt="FLAC")
    ern = _single_with_md5(audio)
    parts = [("ern", ("a.xml", ern)), ("ern", ("b.xml", ern)), ("files", (SINGLE_FILE, audio))]
    _error(client.post("/v1/releases", headers=keys["submitter"], files=parts), 400, "ern_invalid")
    deep = (
        b'<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43">'
        + b"<a>" * 100 + b"</a>" * 100 + b"</ern:NewReleaseMessage>"
    )  # fmt: skip
    _error(_post(client, keys["submitter"], deep, [(SINGLE_FILE, audio)]), 400, "ern_too_deep")
    _nothing_stored(app)
