"""The HTTP intake service end to end: the real FastAPI app through TestClient, the real
store (SQLite in tmp_path, and PostgreSQL in a schema of its own when reachable), the
real blob store, queue, worker, Scanner and catalogue index, with synthetic audio."""

from __future__ import annotations

import io
import json
import time
import urllib.parse

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from compliance.api import create_app
from compliance.api.keys import KeyStore
from compliance.app import App
from compliance.jobs.scan_worker import ScanWorker
from compliance.pipeline.ingest import expand_paths, ingest
from compliance.settings import DEFAULT_POLICY, Settings
from compliance.storage.models import JobRow, ReleaseFileRow, ReleaseRow
from compliance.synth import synth_piece
from tests.conftest import _PG_SKIP, PG_URL, pg_schema

SR = 22050
MAX_BYTES = 1_500_000  # a 30 s mono 16-bit WAV at 22050 Hz is about 1.3 MB


def _wav(samples: np.ndarray, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, SR, format=fmt, subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def pieces():
    return {f"song-{i}": synth_piece(300 + i, 30.0, sample_rate=SR) for i in range(2)}


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, tmp_path):
    """An App on a fresh database of each backend (schema built by the migrations)."""

    def make(url: str) -> App:
        settings = Settings(
            home=tmp_path / "home", database_url=url, index_dir=tmp_path / "home" / "index",
            policy_path=DEFAULT_POLICY, max_file_bytes=MAX_BYTES,
        )  # fmt: skip
        return App(settings)

    if request.param == "sqlite":
        a = make(f"sqlite:///{tmp_path / 'api.db'}")
        yield a
        a.store.close()
        return
    if _PG_SKIP:
        pytest.skip(_PG_SKIP)
    with pg_schema("api") as schema:
        opts = urllib.parse.quote(f"-csearch_path={schema}")
        sep = "&" if "?" in PG_URL else "?"
        a = make(f"{PG_URL}{sep}options={opts}")
        yield a
        a.store.close()


@pytest.fixture
def client(app):
    with TestClient(create_app(app)) as c:
        yield c


@pytest.fixture
def keys(app):
    ks = KeyStore(app.store)
    out = {}
    for name, scopes in {"submitter": ("submit", "read"), "reader": ("read",),
                         "admin": ("admin",)}.items():  # fmt: skip
        _key, token = ks.create(name, scopes)
        out[name] = {"Authorization": f"Bearer {token}"}
    return out


@pytest.fixture
def catalogue(app, pieces, tmp_path):
    folder = tmp_path / "cat"
    folder.mkdir()
    for cid, y in pieces.items():
        (folder / f"{cid}.wav").write_bytes(_wav(y))
    report = ingest(
        expand_paths([folder]), store=app.store, index_dir=app.settings.index_dir,
        max_duration_s=app.settings.max_duration_s, max_bytes=10 * MAX_BYTES,
    )  # fmt: skip
    assert len(report.added) == 2 and not report.failed
    return pieces


def _submit(client, headers, files, metadata=None):
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    if metadata is not None:
        raw = metadata if isinstance(metadata, str | bytes) else json.dumps(metadata)
        parts.append(("metadata", (None, raw)))
    return client.post("/v1/releases", headers=headers, files=parts)


def _count(app, model) -> int:
    with app.store.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def _error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


# ------------------------------------------------------------------ the main path
def test_submit_scan_and_read_the_decision(app, client, keys, catalogue):
    crop = _wav(catalogue["song-1"][8 * SR : 22 * SR], "FLAC")
    new = _wav(synth_piece(999, 15.0, sample_rate=SR))
    r = _submit(client, keys["submitter"], [("crop.flac", crop), ("new.wav", new)],
                {"title": "Mine", "artist": "Me", "account_id": "acc-1"})  # fmt: skip
    assert r.status_code == 202, r.text
    body = r.json()
    assert [s["file"] for s in body["scans"]] == ["crop.flac", "new.wav"]
    assert all(s["content_hash"].startswith("sha256:") for s in body["scans"])
    assert not any(s["deduplicated"] for s in body["scans"])
    crop_id, new_id = (s["scan_id"] for s in body["scans"])

    queued = client.get(f"/v1/scans/{crop_id}", headers=keys["reader"]).json()
    assert queued["state"] == "queued" and queued["attempts"] == 0
    assert queued["reason"] == "waiting for a worker" and queued["result"] is None

    w = ScanWorker(app, lease_s=30)
    assert w.run_once().state == "done"
    assert w.run_once().state == "done"
    assert w.run_once() is None

    done = client.get(f"/v1/scans/{crop_id}", headers=keys["reader"]).json()
    assert done["state"] == "done" and done["attempts"] == 1 and done["reason"] is None
    res = done["result"]
    assert res["file"] == "crop.flac" and res["scan_id"] == crop_id
    assert res["decision"] == "block"
    top = res["evidence"][0]
    assert (top["catalogue_id"], top["kind"]) == ("song-1", "reupload")
    assert abs(top["catalogue_start_s"] - top["query_start_s"] - 8.0) < 0.3
    assert set(res["policy"]) == {"id", "version", "hash"} and res["rules_fired"]
    assert res["record_id"] and app.store.get_scan(res["record_id"]).decision == "block"

    other = client.get(f"/v1/scans/{new_id}", headers=keys["reader"]).json()
    assert other["result"]["decision"] == "pass"

    rel = client.get(f"/v1/releases/{body['release_id']}", headers=keys["reader"]).json()
    assert rel["metadata"]["title"] == "Mine"
    assert [s["scan_id"] for s in rel["scans"]] == [crop_id, new_id]
    assert [s["result"]["decision"] for s in rel["scans"]] == ["block", "pass"]


def test_same_audio_is_analysed_once_and_licences_apply_per_submission(
    app, client, keys, catalogue
):
    copy = _wav(catalogue["song-0"], "FLAC")
    a = _submit(client, keys["submitter"], [("a.flac", copy)]).json()["scans"][0]
    b = _submit(client, keys["submitter"], [("b.flac", copy)], {"licences": ["song-0"]})
    b = b.json()["scans"][0]
    assert a["analysis_id"] == b["analysis_id"] and a["scan_id"] != b["scan_id"]
    assert (a["deduplicated"], b["deduplicated"]) == (False, True)
    assert _count(app, JobRow) == 1 and _count(app, ReleaseFileRow) == 2
    w = ScanWorker(app)
    assert w.run_once().state == "done"
    assert w.run_once() is None  # analysed once
    ra = client.get(f"/v1/scans/{a['scan_id']}", headers=keys["reader"]).json()["result"]
    rb = client.get(f"/v1/scans/{b['scan_id']}", headers=keys["reader"]).json()["result"]
    assert (ra["file"], rb["file"]) == ("a.flac", "b.flac")
    assert ra["evidence"] == rb["evidence"]
    assert ra["decision"] == "block"
    assert rb["decision"] == "pass"  # its own declared licence, same evidence


def test_status_reads_on_postgresql_are_answered_on_the_event_loop(app, client, keys, catalogue):
    """PostgreSQL: ``GET /v1/scans/{id}`` reads through the event loop's psycopg pool (no
    statement through the SQLAlchemy engine), and answers what the sync path answers,
    queued and done; an unknown id is 404 there too."""
    from compliance.api import intake

    if app.store.backend != "postgresql":
        pytest.skip("SQLite reads in a worker thread")
    data = _wav(catalogue["song-0"], "FLAC")
    scan = _submit(client, keys["submitter"], [("a.flac", data)]).json()["scans"][0]
    url = f"/v1/scans/{scan['scan_id']}"
    client.get(url, headers=keys["reader"])  # the key is verified once, then cached
    for state in ("queued", "done"):
        with _statements(app) as sent:
            r = client.get(url, headers=keys["reader"])
        assert r.status_code == 200 and r.json()["state"] == state
        assert sent == []
        assert r.json() == json.loads(json.dumps(intake.get_scan(app.store, scan["scan_id"],
                                                                 app.policy)))  # fmt: skip
        if state == "queued":
            assert ScanWorker(app).run_once().state == "done"
    assert r.json()["result"]["decision"] == "block"
    _error(client.get("/v1/scans/nope", headers=keys["reader"]), 404, "scan_not_found")


def test_an_api_process_opens_what_requests_use_before_the_first_request(app):
    """The blob store (its 256 fan-out folders), the key cache and, on PostgreSQL, the
    precompiled SQL of a read and of a one-file submission are ready when start-up ends,
    so a fresh process's first upload does not make folders on its event loop."""
    from compliance.api import intake

    app.store  # noqa: B018  (serve opens the database before the app)
    intake.new_release_sql.cache_clear()
    assert "blobs" not in app.__dict__
    with TestClient(create_app(app)):
        assert "blobs" in app.__dict__ and "key_cache" in app.__dict__
        root = app.settings.home / "blobs"
        assert all((root / f"{i:02x}").is_dir() for i in range(256))
        compiled = intake.new_release_sql.cache_info().currsize
        assert compiled == (1 if app.store.backend == "postgresql" else 0)


def test_an_unreachable_database_makes_an_event_loop_read_a_503(monkeypatch):
    import asyncio

    from compliance.api import async_reads
    from compliance.api.errors import ApiError

    monkeypatch.setattr(async_reads, "POOL_TIMEOUT_S", 0.5)
    reader = async_reads.AsyncReader("postgresql://127.0.0.1:1/none?connect_timeout=1",
                                     max_size=1)  # fmt: skip

    async def read():
        await reader.open()
        try:
            await reader.one("select 1", {})
        finally:
            await reader.close()

    with pytest.raises(ApiError) as err:
        asyncio.run(read())
    assert (err.value.status, err.value.code) == (503, "database_unavailable")


def test_the_event_loop_reader_connects_with_the_stores_url():
    from compliance.api.async_reads import libpq_conninfo

    got = libpq_conninfo("postgresql+psycopg://u:p@127.0.0.1:5432/test?options=-csearch_path%3Dx")
    assert got == "postgresql://u:p@127.0.0.1:5432/test?options=-csearch_path%3Dx"


def _two_submissions(app, client, keys, data: bytes, meta_a: dict, meta_b: dict):
    """The same audio submitted as a.wav and b.wav with two metadata: one shared
    analysis, scanned by a worker; the two results as each submission reads them."""
    a = _submit(client, keys["submitter"], [("a.wav", data)], meta_a)
    b = _submit(client, keys["submitter"], [("b.wav", data)], meta_b)
    a, b = a.json()["scans"][0], b.json()["scans"][0]
    assert a["analysis_id"] == b["analysis_id"]
    assert ScanWorker(app).run_once().state == "done"
    return tuple(
        client.get(f"/v1/scans/{x['scan_id']}", headers=keys["reader"]).json()["result"]
        for x in (a, b)
    )


def test_a_protected_voice_is_judged_for_each_submitter_of_the_same_audio(
    app, client, keys, tmp_path
):
    from compliance.voices.bank import enrol
    from fingerprints.audio import write_wav
    from tests.audio_fixtures import voice

    refs = []
    for i in range(3):
        refs.append(tmp_path / f"ref{i}.wav")
        write_wav(refs[-1], voice(40 + i, 4.0, f0=110, tract=1.0), 16000)
    assert enrol(app.store, "artist-v", refs, authorised_accounts=["label-1"]).usable
    upload = io.BytesIO()
    sf.write(upload, voice(77, 10.0, f0=110, tract=1.0), 16000, format="WAV")
    data = upload.getvalue()
    ra, rb = _two_submissions(
        app, client, keys, data, {"account_id": "label-1"}, {"account_id": "stranger"}
    )
    va = [e for e in ra["evidence"] if e["kind"] == "voice_clone"]
    vb = [e for e in rb["evidence"] if e["kind"] == "voice_clone"]
    assert va and vb and va[0]["voice_id"] == vb[0]["voice_id"] == "artist-v"
    assert va[0]["strength"] == vb[0]["strength"] >= 0.81
    assert (va[0]["details"]["authorised"], vb[0]["details"]["authorised"]) == (True, False)
    assert ra["decision"] == "pass" and rb["decision"] == "review"
    assert "voice-clone-review" in {f["rule_id"] for f in rb["rules_fired"]}


def test_undisclosed_ai_is_a_finding_of_each_submissions_own_declaration(app, client, keys):
    from fingerprints import generators

    rate = 44100  # Riffusion's rate; scores about 0.88: see tests/test_ai.py
    x = synth_piece(4243, 5.12, sample_rate=rate)
    buf = io.BytesIO()
    sf.write(buf, generators.riffusion_roundtrip(x, rng=np.random.default_rng(5)), rate,
             format="WAV", subtype="PCM_16")  # fmt: skip
    data = buf.getvalue()
    ra, rb = _two_submissions(
        app, client, keys, data, {"contains_ai": "None"}, {"contains_ai": "All"}
    )
    (undisclosed,) = [e for e in ra["evidence"] if e["kind"] == "undisclosed_ai"]
    assert undisclosed["details"]["declared"] == {"contains_ai": "None"}
    assert ra["decision"] in ("review", "block")
    assert "undisclosed_ai" not in {e["kind"] for e in rb["evidence"]}
    assert rb["decision"] == "pass"
    assert [f["rule_id"] for f in rb["rules_fired"]] == ["ai-declared-label"]
    for r in (ra, rb):  # every rule index points at evidence of a kind the rule tests
        for f in r["rules_fired"]:
            kinds = {r["evidence"][i]["kind"] for i in f["evidence"]}
            assert kinds <= {"undisclosed_ai", "ai_generated"}, f


def test_account_evidence_is_each_submitters_own_and_history_records_them(
    app, client, keys, catalogue, tmp_path
):
    from datetime import UTC, datetime, timedelta

    from compliance.history.importer import import_log
    from compliance.storage.models import HistoryReleaseRow
    from tests.test_history import _account

    now = datetime.now(UTC)
    log_file = tmp_path / "log.jsonl"
    rows = _account("bulk", 110, start=now - timedelta(hours=20), step_s=600)
    log_file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert import_log(app.store, log_file).added == 110
    data = _wav(synth_piece(4242, 20.0, sample_rate=22050))
    a = _submit(client, keys["submitter"], [("a.wav", data)], {"account_id": "bulk"})
    b = _submit(client, keys["submitter"], [("b.wav", data)], {"account_id": "quiet"})
    a, b = a.json()["scans"][0], b.json()["scans"][0]
    assert a["analysis_id"] == b["analysis_id"]
    assert ScanWorker(app).run_once().state == "done"
    with app.store.session() as s:  # the worker settled both submissions
        stored = s.scalars(select(ReleaseFileRow.account_evidence)).all()
    assert all(v is not None for v in stored)
    ra = client.get(f"/v1/scans/{a['scan_id']}", headers=keys["reader"]).json()["result"]
    rb = client.get(f"/v1/scans/{b['scan_id']}", headers=keys["reader"]).json()["result"]
    kinds_a = {e["kind"] for e in ra["evidence"] if e["detector"] == "history"}
    kinds_b = {e["kind"] for e in rb["evidence"] if e["detector"] == "history"}
    assert "bulk_pattern" in kinds_a and "bulk_pattern" not in kinds_b
    assert "duplicate_across_accounts" in kinds_b  # the bulk account delivered it first
    assert ra["decision"] == rb["decision"] == "review"
    assert "account-pattern-review" in {f["rule_id"] for f in ra["rules_fired"]}
    # a later submission of the analysed audio gets its own evidence on first read
    posted = _submit(client, keys["submitter"], [("c.wav", data)], {"account_id": "third"})
    c = posted.json()["scans"][0]
    assert c["deduplicated"]
    rel = client.get(f"/v1/releases/{posted.json()['release_id']}", headers=keys["reader"])
    rc = rel.json()["scans"][0]["result"]  # the release view settles it too
    dup = [e for e in rc["evidence"] if e["kind"] == "duplicate_across_accounts"]
    assert dup and dup[0]["details"]["accounts"] == 3
    again = client.get(f"/v1/scans/{c['scan_id']}", headers=keys["reader"]).json()["result"]
    assert again["evidence"] == rc["evidence"]  # stored once, not recomputed
    with app.store.session() as s:
        accounts = set(s.scalars(select(HistoryReleaseRow.account_id)))
    assert {"bulk", "quiet", "third"} <= accounts
    # a re-encoded copy (another file hash, a new analysis) is found by fingerprint
    from fingerprints.audio import encode

    encode(synth_piece(4242, 20.0, sample_rate=22050), 22050, tmp_path / "d.mp3", codec="mp3",
           bitrate="64k")  # fmt: skip
    d = _submit(client, keys["submitter"], [("d.mp3", (tmp_path / "d.mp3").read_bytes())],
                {"account_id": "fourth"}).json()["scans"][0]  # fmt: skip
    assert not d["deduplicated"] and ScanWorker(app).run_once().state == "done"
    rd = client.get(f"/v1/scans/{d['scan_id']}", headers=keys["reader"]).json()["result"]
    (fp,) = [e for e in rd["evidence"] if e["kind"] == "duplicate_across_accounts"]
    assert fp["details"]["by"] == "fingerprint" and fp["details"]["accounts"] == 4
    assert "audio_keys" not in rd  # the worker's lookup keys stay internal


def test_the_worker_writes_account_evidence_with_the_result_in_one_transaction(
    app, client, keys, monkeypatch
):
    """A read never sees the scan done without its account evidence (and never has to
    compute it for a submission the worker knew): both land in the completing commit."""
    from compliance.api import intake

    data = _wav(synth_piece(4244, 6.0, sample_rate=22050))
    scan = _submit(client, keys["submitter"], [("a.wav", data)], {"account_id": "acc"})
    scan = scan.json()["scans"][0]

    def broken(session, evidence):
        assert evidence, "the evidence was computed before the commit"
        raise RuntimeError("disk full")

    monkeypatch.setattr(intake, "write_account_evidence", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        ScanWorker(app, lease_s=30).run_once()
    with app.store.session() as s:  # rolled back together: not done, no evidence
        job = s.get(JobRow, scan["analysis_id"])
        assert job.state == "running" and job.result is None
        assert s.get(ReleaseFileRow, scan["scan_id"]).account_evidence is None
    monkeypatch.undo()
    with app.store.session() as s, s.begin():  # as if its lease had expired
        s.get(JobRow, scan["analysis_id"]).lease_expires_at = None
        s.get(JobRow, scan["analysis_id"]).state = "queued"
    assert ScanWorker(app).run_once().state == "done"
    with app.store.session() as s:
        assert s.get(ReleaseFileRow, scan["scan_id"]).account_evidence is not None
    settled: list[str] = []
    monkeypatch.setattr(intake, "_settle_quietly", lambda *a: settled.append(a[2]) or {})
    got = client.get(f"/v1/scans/{scan['scan_id']}", headers=keys["reader"])
    assert got.json()["state"] == "done" and settled == []


def test_account_evidence_that_cannot_be_stored_leaves_the_scan_done_and_read_settles(
    app, client, keys, monkeypatch
):
    from compliance.api import intake

    data = _wav(synth_piece(4245, 6.0, sample_rate=22050))
    scan = _submit(client, keys["submitter"], [("a.wav", data)], {"account_id": "acc"})
    scan = scan.json()["scans"][0]
    real = intake.account_evidence_of
    monkeypatch.setattr(intake, "account_evidence_of",
                        lambda *a, **k: {scan["scan_id"]: [{"bad": object()}]})  # fmt: skip
    assert ScanWorker(app).run_once().state == "done"
    with app.store.session() as s:
        assert s.get(ReleaseFileRow, scan["scan_id"]).account_evidence is None
    monkeypatch.setattr(intake, "account_evidence_of", real)
    got = client.get(f"/v1/scans/{scan['scan_id']}", headers=keys["reader"])
    assert got.status_code == 200 and got.json()["state"] == "done"
    with app.store.session() as s:  # the read computed and stored it
        assert s.get(ReleaseFileRow, scan["scan_id"]).account_evidence is not None


def test_non_audio_ends_failed_with_its_code(app, client, keys):
    r = _submit(client, keys["submitter"], [("song.mp3", b"this is not audio at all")])
    assert r.status_code == 202
    scan_id = r.json()["scans"][0]["scan_id"]
    job = ScanWorker(app).run_once()
    assert job.state == "failed" and job.attempts == 1  # not retried: a retry cannot help
    v = client.get(f"/v1/scans/{scan_id}", headers=keys["reader"]).json()
    assert v["state"] == "failed" and v["reason"].startswith("audio_decode_failed")
    assert v["result"]["decision"] is None
    assert v["result"]["error"]["code"] == "audio_decode_failed"
    assert str(app.blobs.root) not in json.dumps(v)  # the storage location stays private
    assert "song.mp3" in v["result"]["error"]["message"]
    assert ScanWorker(app).run_once() is None


def test_a_worker_that_dies_mid_scan_is_replaced(app, client, keys, catalogue):
    r = _submit(client, keys["submitter"], [("c.wav", _wav(catalogue["song-1"][: 12 * SR]))])
    scan_id = r.json()["scans"][0]["scan_id"]
    claimed = app.queue.claim("doomed", lease_s=0.3, kinds=["scan"])  # then it "dies"
    assert claimed is not None
    running = client.get(f"/v1/scans/{scan_id}", headers=keys["reader"]).json()
    assert running["state"] == "running" and running["attempts"] == 1
    assert ScanWorker(app).run_once() is None  # the lease still holds
    time.sleep(0.5)
    job = ScanWorker(app, worker_id="survivor").run_once()
    assert job is not None and job.state == "done" and job.attempts == 2
    v = client.get(f"/v1/scans/{scan_id}", headers=keys["reader"]).json()
    assert v["state"] == "done" and v["result"]["decision"] == "block"


def test_heartbeat_keeps_the_lease_while_scanning(app, client, keys, catalogue):
    _submit(client, keys["submitter"], [("d.wav", _wav(catalogue["song-0"]))])
    w = ScanWorker(app, lease_s=0.6, heartbeat_s=0.1)
    original = w._scan

    def slow(job):
        time.sleep(1.5)  # longer than the lease: only the heartbeat keeps it
        assert app.queue.claim("thief", lease_s=5) is None
        return original(job)

    w._scan = slow
    job = w.run_once()
    assert job.state == "done" and job.attempts == 1


# ------------------------------------------------------------------ auth
def test_auth_missing_invalid_revoked_and_scope(app, client, keys):
    _error(client.get("/v1/scans/x"), 401, "auth_missing")
    _error(client.get("/v1/scans/x", headers={"Authorization": "Basic abc"}), 401, "auth_invalid")
    bad = {"Authorization": "Bearer rcc_0000_nope"}
    _error(client.get("/v1/scans/x", headers=bad), 401, "auth_invalid")
    token = keys["reader"]["Authorization"].split()[1]
    tampered = {"Authorization": f"Bearer {token[:-2]}xx"}
    _error(client.get("/v1/scans/x", headers=tampered), 401, "auth_invalid")
    r = _submit(client, keys["reader"], [("a.wav", b"RIFF")])
    _error(r, 403, "auth_scope")
    _error(client.get("/v1/scans/x", headers=keys["admin"]), 404, "scan_not_found")  # admin: all
    KeyStore(app.store).revoke(token.split("_")[1])
    _error(client.get("/v1/scans/x", headers=keys["reader"]), 401, "auth_invalid")
    assert _count(app, ReleaseRow) == 0


# ------------------------------------------------------------------ bad input
def test_bad_requests_get_4xx_codes_and_leave_nothing(app, client, keys):
    h = keys["submitter"]
    good = _wav(synth_piece(1, 5.0, sample_rate=SR))
    _error(_submit(client, h, [("a.wav", good)], "{not json"), 400, "metadata_invalid")
    _error(_submit(client, h, [("a.wav", good)], "[1, 2]"), 400, "metadata_invalid")
    _error(_submit(client, h, [("a.wav", good)], {"licences": "song-1"}), 400, "metadata_invalid")
    _error(_submit(client, h, [("a.wav", good)], {"title": 5}), 400, "metadata_invalid")
    _error(_submit(client, h, [("empty.wav", b"")]), 400, "file_empty")
    _error(_submit(client, h, []), 415, "multipart_required")  # no parts: not multipart
    only_meta = client.post("/v1/releases", headers=h, files=[("metadata", (None, "{}"))])
    _error(only_meta, 400, "files_missing")
    odd = client.post("/v1/releases", headers=h, files=[("audio", ("a.wav", good))])
    _error(odd, 400, "unexpected_part")
    _error(client.post("/v1/releases", headers=h, json={"files": []}), 415, "multipart_required")
    garbage = client.post(
        "/v1/releases", headers={**h, "Content-Type": "multipart/form-data; boundary=xyz"},
        content=b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\nab',
    )  # fmt: skip
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "request_invalid"
    # the second file is too large: the first was stored, but no release and no job exist
    too_big = np.random.default_rng(0).bytes(MAX_BYTES + 1)
    r = _submit(client, h, [("ok.wav", good), ("big.wav", too_big)])
    _error(r, 413, "file_too_large")
    assert _count(app, ReleaseRow) == 0 and _count(app, JobRow) == 0
    assert _count(app, ReleaseFileRow) == 0
    assert not any((app.blobs.root / ".incoming").iterdir())  # no partial upload left
    _error(client.get("/v1/scans/nope", headers=keys["reader"]), 404, "scan_not_found")
    _error(client.get("/v1/releases/nope", headers=keys["reader"]), 404, "release_not_found")
    _error(client.get("/v1/nothing-here", headers=keys["reader"]), 404, "not_found")
    _error(client.delete("/v1/scans/x", headers=keys["reader"]), 405, "method_not_allowed")


def test_validation_errors_use_the_error_shape(app, keys):
    from fastapi import Query

    api = create_app(app)

    @api.get("/v1/echo")
    def echo(n: int = Query(...)):
        return {"n": n}

    with TestClient(api) as c:
        _error(c.get("/v1/echo?n=abc"), 422, "invalid_request")


# ------------------------------------------------------------------ health
def test_health(app, client, catalogue):
    live = client.get("/health/live")
    assert live.json() == {"status": "live"}
    # every answer says how long the application took (what a client sees beyond it was
    # spent outside: the network, queueing)
    timing = _server_timing(live.headers["server-timing"])
    assert list(timing) == ["app"] and 0.0 <= timing["app"] < 10_000
    r = client.get("/health/ready")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["catalogue"] == "ok (2 tracks)"


def test_ready_is_503_when_the_catalogue_index_is_broken(app, client, catalogue):
    for seg in app.settings.index_dir.iterdir():
        if seg.is_dir():
            for f in seg.iterdir():
                f.unlink()
    r = client.get("/health/ready")
    assert r.status_code == 503 and r.json()["status"] == "not_ready"
    assert r.json()["checks"]["database"] == "ok"
    assert not r.json()["checks"]["catalogue"].startswith("ok")
    assert client.get("/health/live").status_code == 200


def test_metadata_is_checked_before_the_files_that_follow(app, client, keys):
    good = _wav(synth_piece(2, 5.0, sample_rate=SR))
    parts = [("metadata", (None, "{broken")), ("files", ("a.wav", good))]
    _error(client.post("/v1/releases", headers=keys["submitter"], files=parts),
           400, "metadata_invalid")  # fmt: skip
    assert not [p for p in app.blobs.root.rglob("*") if p.is_file()]  # nothing was stored


def test_concurrent_submissions_of_the_same_audio_share_one_job(app, keys):
    from concurrent.futures import ThreadPoolExecutor

    data = _wav(synth_piece(3, 6.0, sample_rate=SR))
    with TestClient(create_app(app)) as c, ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda i: _submit(c, keys["submitter"], [(f"{i}.wav", data)]),
                                range(6)))  # fmt: skip
    assert [r.status_code for r in answers] == [202] * 6
    assert len({r.json()["scans"][0]["analysis_id"] for r in answers}) == 1
    assert _count(app, JobRow) == 1 and _count(app, ReleaseRow) == 6


# ------------------------------------------------------------------ metrics
def test_metrics_count_requests_by_route_and_show_queue_depth(app, client, keys):
    _submit(client, keys["submitter"], [("m.wav", _wav(synth_piece(4, 3.0, sample_rate=SR)))])
    client.get("/v1/scans/abc", headers=keys["reader"])
    client.get("/v1/scans/abc")
    text = client.get("/metrics").text
    assert (
        'compliance_http_requests_total{method="POST",route="/v1/releases",status="202"} 1.0'
        in text
    )
    assert 'route="/v1/scans/{scan_id}",status="404"} 1.0' in text
    assert 'route="/v1/scans/{scan_id}",status="401"} 1.0' in text
    assert 'compliance_jobs{state="queued"} 1.0' in text
    assert "compliance_http_request_duration_seconds_bucket" in text
    # the event loop's lag is sampled from start-up on
    assert "compliance_event_loop_lag_seconds_count" in text


def _server_timing(header: str) -> dict[str, float]:
    out = {}
    for metric in header.split(","):
        name, dur = metric.strip().split(";")
        assert dur.startswith("dur="), header
        out[name] = float(dur[4:])
    return out


def test_a_submission_says_where_its_time_went(app, client, keys):
    """Server-Timing and /metrics split a submission into its phases: what a load test
    needs to tell the wait for an upload thread from the fsyncs or the database."""
    wav = _wav(synth_piece(5, 3.0, sample_rate=SR))
    r = _submit(client, keys["submitter"], [("t.wav", wav)])
    assert r.status_code == 202, r.text
    timing = _server_timing(r.headers["server-timing"])
    phases = ["receive", "wait", "store", "resume"]
    if app.store.backend == "postgresql":  # the insert runs on the event loop
        phases.append("db")
    assert list(timing) == ["app", *phases]
    assert all(v >= 0.0 for v in timing.values()), timing
    # the phases follow each other inside the application's time (2 decimals each)
    assert sum(timing[p] for p in phases) <= timing["app"] + 0.01 * len(phases)
    # the stored upload's fsyncs are in "store", so it is never nothing
    assert timing["store"] > 0.0
    # a read records no phase: its header is the application's time alone
    read = client.get(f"/v1/scans/{r.json()['scans'][0]['scan_id']}", headers=keys["reader"])
    assert list(_server_timing(read.headers["server-timing"])) == ["app"]
    text = client.get("/metrics").text
    for p in phases:
        count = (
            "compliance_http_request_phase_seconds_count"
            f'{{method="POST",phase="{p}",route="/v1/releases"}} 1.0'
        )
        assert count in text, p


def test_the_event_loops_lag_is_what_a_blocking_callback_holds_it():
    import asyncio

    from prometheus_client import CollectorRegistry, Histogram

    from compliance.api.metrics import watch_loop_lag

    lag = Histogram("lag", "lag", registry=CollectorRegistry(), buckets=(0.01, 0.04, 1.0))

    async def main():
        task = asyncio.create_task(watch_loop_lag(lag, tick_s=0.005))
        await asyncio.sleep(0.05)
        time.sleep(0.06)  # holds the loop: the timer due within 5 ms fires 55-60 ms late
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(main())
    le = {s.labels["le"]: s.value for s in lag.collect()[0].samples if s.name == "lag_bucket"}
    assert le["+Inf"] >= 5  # ticks before and after
    assert le["1.0"] - le["0.04"] >= 1  # the held one, late by over 40 ms


def test_the_worker_never_decodes_uploads_in_process(app, client, keys, monkeypatch):
    from fingerprints import audio

    def refuse(*a, **kw):
        raise AssertionError("an upload was decoded in the worker's process")

    monkeypatch.setattr(audio, "_decode_soundfile", refuse)
    _submit(client, keys["submitter"], [("x.wav", _wav(synth_piece(5, 4.0, sample_rate=SR)))])
    job = ScanWorker(app).run_once()
    assert job.state == "done", job.last_error


def test_a_warm_up_scans_in_a_child_and_records_nothing(app, client, keys, catalogue,
                                                       monkeypatch):  # fmt: skip
    from compliance.pipeline import scan
    from compliance.storage.models import ScanRow

    checked = []
    real = scan.Scanner.check

    def spy(self, *a, **kw):
        result = real(self, *a, **kw)
        checked.append((self.decoder, self.record, result.error_code, result.decision))
        return result

    monkeypatch.setattr(scan.Scanner, "check", spy)
    _submit(client, keys["submitter"], [("x.wav", _wav(synth_piece(5, 4.0, sample_rate=SR)))])
    w = ScanWorker(app)
    assert w.warm() > 0.0
    # the whole scan ran (decoded in the ffmpeg child, detectors, policy) ...
    assert len(checked) == 1
    decoder, record, error_code, decision = checked[0]
    assert (decoder, record, error_code) == ("ffmpeg", False, None) and decision is not None
    assert app.catalogue_generation >= 1  # the catalogue view is open
    # ... and left no trace: no scan record, the submitted job still queued
    assert _count(app, ScanRow) == 0
    with app.store.session() as s:
        assert s.scalar(select(JobRow.state)) == "queued"
    assert w.run_once().state == "done"


def test_a_failed_warm_up_does_not_stop_the_worker(app, monkeypatch, caplog):
    import logging
    import threading

    w = ScanWorker(app, poll_s=0.05)

    def broken(**kw):
        raise RuntimeError("no catalogue today")

    monkeypatch.setattr(app, "scanner", broken)
    stop = threading.Event()
    stop.set()
    with caplog.at_level(logging.INFO, logger="compliance.worker"):
        w.run_forever(stop)  # warms (fails, logged), then starts and stops at once
    said = [r.getMessage() for r in caplog.records]
    failed = next(i for i, m in enumerate(said) if "warm-up scan failed" in m)
    started = next(i for i, m in enumerate(said) if m.endswith(" started"))
    assert failed < started and any(m.endswith(" stopped") for m in said)


def test_scan_stage_timings_and_queue_age_reach_the_metrics(app, client, keys, catalogue):
    from compliance.jobs.metrics import SCAN_STAGE_SECONDS

    def decoded() -> float:
        return SCAN_STAGE_SECONDS.labels("decode")._sum.get()

    crop = _wav(catalogue["song-1"][4 * SR : 16 * SR])
    _submit(client, keys["submitter"], [("c.wav", crop)])
    text = client.get("/metrics").text
    age = next(line for line in text.splitlines()
               if line.startswith("compliance_queue_oldest_age_seconds "))  # fmt: skip
    assert float(age.split()[1]) >= 0.0
    before = decoded()
    job = ScanWorker(app).run_once()
    assert job.state == "done"
    timings = job.result["timings_s"]
    assert {"decode", "catalogue_search", "detector.reupload", "detector.remix", "policy"} <= set(
        timings
    )
    assert all(v >= 0.0 for v in timings.values())
    assert decoded() > before
    text = client.get("/metrics").text
    assert 'compliance_scan_stage_seconds_count{stage="catalogue_search"}' in text
    assert 'compliance_scans_total{outcome="decided"}' in text
    assert "compliance_queue_oldest_age_seconds 0.0" in text  # nothing queued any more


# ------------------------------------------------------------------ CLI
def test_keys_cli_create_list_revoke(app, client):
    from click.testing import CliRunner

    from compliance.cli import main

    env = {"COMPLIANCE_HOME": str(app.settings.home),
           "COMPLIANCE_DATABASE_URL": app.settings.database_url}  # fmt: skip
    run = CliRunner()
    r = run.invoke(main, ["keys", "create", "--name", "ops", "--scopes", "read"], env=env)
    assert r.exit_code == 0, r.output
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("rcc_")
    key_id = token.split("_")[1]
    with app.store.session() as s:
        from compliance.storage.models import ApiKeyRow

        row = s.get(ApiKeyRow, key_id)
        assert row.scopes == ["read"] and token.split("_", 2)[2] not in row.secret_sha256
    h = {"Authorization": f"Bearer {token}"}
    _error(client.get("/v1/scans/x", headers=h), 404, "scan_not_found")
    listed = run.invoke(main, ["keys", "list", "--json"], env=env)
    assert json.loads(listed.output.splitlines()[0])["revoked_at"] is None
    assert run.invoke(main, ["keys", "revoke", key_id], env=env).exit_code == 0
    _error(client.get("/v1/scans/x", headers=h), 401, "auth_invalid")
    listed = run.invoke(main, ["keys", "list"], env=env)
    assert "revoked" in listed.output
    bad = run.invoke(main, ["keys", "create", "--name", "x", "--scopes", "root"], env=env)
    assert bad.exit_code == 2 and "key_scope_invalid" in bad.output


def test_worker_cli_once(app, client, keys):
    from click.testing import CliRunner

    from compliance.cli import main

    env = {"COMPLIANCE_HOME": str(app.settings.home),
           "COMPLIANCE_DATABASE_URL": app.settings.database_url}  # fmt: skip
    r = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert r.exit_code == 0 and "no job" in r.output
    _submit(client, keys["submitter"], [("w.wav", b"garbage, not audio")])
    r = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert r.exit_code == 0 and r.output.strip().endswith("failed"), r.output


def test_a_lost_race_on_the_dedup_key_retries_and_reuses_the_winner(app, monkeypatch):
    """Two submissions of new audio at once: both miss the job, one insert wins; the
    loser's transaction rolls back (release included) and is retried onto the winner.
    (On PostgreSQL, the transaction path after a one-statement attempt that met a job.)"""
    from compliance.api import intake
    from compliance.api.upload import StoredFile
    from compliance.jobs import JobQueue
    from compliance.jobs import queue as qmod

    real = JobQueue.enqueue_in
    calls = []

    def racing(s, kind, payload, *, dedup_key=None, max_attempts=3):
        calls.append(dedup_key)
        if len(calls) == 1:
            app.queue.enqueue(kind, payload, dedup_key=dedup_key)  # the other one commits
            s.add(qmod._new_row(kind, payload, dedup_key, max_attempts))
            s.flush()  # what our own insert then meets: the unique dedup key
        return real(s, kind, payload, dedup_key=dedup_key, max_attempts=max_attempts)

    monkeypatch.setattr(JobQueue, "enqueue_in", staticmethod(racing))
    _rid, scans = intake._create_release_in_transaction(
        app.store, [StoredFile("a.wav", "sha256:" + "0" * 64, 10)], {}, "p", None
    )
    assert len(calls) == 2 and scans[0].deduplicated
    assert _count(app, ReleaseRow) == 1 and _count(app, JobRow) == 1
    assert _count(app, ReleaseFileRow) == 1


def _statements(app):
    """The SQL statements ``app``'s engine sends while the context is open (a list)."""
    from contextlib import contextmanager

    from sqlalchemy import event

    @contextmanager
    def recording():
        sent: list[str] = []

        def on(_conn, _cursor, statement, *_a):
            sent.append(statement)

        event.listen(app.store.engine, "before_cursor_execute", on)
        try:
            yield sent
        finally:
            event.remove(app.store.engine, "before_cursor_execute", on)

    return recording()


def _files(addresses: list[str]):
    from compliance.api.upload import StoredFile

    return [StoredFile(f"{i}.wav", a, 10 + i) for i, a in enumerate(addresses)]


def test_a_release_of_new_audio_is_one_statement_on_postgresql(app):
    """PostgreSQL: jobs, release and file rows of new audio in one statement (autocommit,
    no BEGIN/COMMIT round trips), rows as the transaction path writes them."""
    from compliance.api import intake

    if app.store.backend != "postgresql":
        pytest.skip("the one-statement intake is PostgreSQL's (SQLite: one transaction)")
    addresses = ["sha256:" + c * 64 for c in "ab"]
    with _statements(app) as sent:
        rid, scans = intake.create_release(
            app.store, files=_files(addresses), metadata={"title": "T"}, policy_hash="p",
            api_key_id="k1",
        )  # fmt: skip
    assert len(sent) == 1 and sent[0].lstrip().startswith("WITH new_jobs")
    assert [s.deduplicated for s in scans] == [False, False]
    with app.store.session() as s:
        rel = s.get(ReleaseRow, rid)
        assert rel.release_metadata == {"title": "T"} and rel.api_key_id == "k1"
        refs = s.scalars(select(ReleaseFileRow).order_by(ReleaseFileRow.position)).all()
        assert [(r.id, r.position, r.file, r.content_hash, r.size_bytes, r.job_id)
                for r in refs] == [(sc.scan_id, i, f"{i}.wav", addresses[i], 10 + i,
                                    sc.analysis_id) for i, sc in enumerate(scans)]  # fmt: skip
        jobs = {j.id: j for j in s.scalars(select(JobRow)).all()}
        assert set(jobs) == {sc.analysis_id for sc in scans}
        for sc in scans:
            j = jobs[sc.analysis_id]
            assert j.state == "queued" and j.attempts == 0 and j.result is None
            assert j.payload == {"blob": sc.content_hash, "file": sc.file,
                                 "metadata": {"title": "T"}, "policy_hash": "p"}  # fmt: skip
            assert j.dedup_key == intake.scan_dedup_key(sc.content_hash, "p")
            assert j.available_at.tzinfo is not None


def test_a_release_with_known_and_new_audio_reports_each_as_it_is(app):
    """One file already analysed, one new: the release is recorded once, the known file
    deduplicated onto its job, the new one reported new (not deduplicated) although the
    one-statement attempt on PostgreSQL inserted its job before meeting the known one."""
    from compliance.api import intake

    known, new = "sha256:" + "c" * 64, "sha256:" + "d" * 64
    _rid, first = intake.create_release(
        app.store, files=_files([known]), metadata={}, policy_hash="p", api_key_id=None
    )
    rid, scans = intake.create_release(
        app.store, files=_files([known, new]), metadata={}, policy_hash="p", api_key_id=None
    )
    assert [s.deduplicated for s in scans] == [True, False]
    assert scans[0].analysis_id == first[0].analysis_id
    assert _count(app, ReleaseRow) == 2 and _count(app, JobRow) == 2
    assert _count(app, ReleaseFileRow) == 3
    with app.store.session() as s:
        refs = s.scalars(select(ReleaseFileRow).where(ReleaseFileRow.release_id == rid)).all()
        assert {r.job_id for r in refs} == {sc.analysis_id for sc in scans}


def _postgresql_only(app):
    if app.store.backend != "postgresql":
        pytest.skip("the event-loop intake is PostgreSQL's (SQLite: a worker thread)")


def test_a_release_of_new_audio_is_recorded_on_the_event_loop(app, client, keys):
    """PostgreSQL: the API sends the one statement through its event-loop pool, not the
    store's engine; the rows and the answer are those of the thread path."""
    _postgresql_only(app)
    first = _wav(synth_piece(51, 3.0, sample_rate=SR))
    assert _submit(client, keys["submitter"], [("a.wav", first)]).status_code == 202
    two = [(f"{n}.wav", _wav(synth_piece(52 + i, 3.0, sample_rate=SR))) for i, n in
           enumerate("bc")]  # fmt: skip
    with _statements(app) as sent:
        r = _submit(client, keys["submitter"], two, {"title": "T", "artist": "A"})
    assert r.status_code == 202, r.text
    assert not [st for st in sent if "INSERT" in st.upper()], sent
    body = r.json()
    assert [s["deduplicated"] for s in body["scans"]] == [False, False]
    with app.store.session() as s:
        rel = s.get(ReleaseRow, body["release_id"])
        assert rel.release_metadata["title"] == "T"
        refs = s.scalars(
            select(ReleaseFileRow).where(ReleaseFileRow.release_id == rel.id)
            .order_by(ReleaseFileRow.position)
        ).all()  # fmt: skip
        assert [(r.id, r.file, r.job_id) for r in refs] == [
            (sc["scan_id"], sc["file"], sc["analysis_id"]) for sc in body["scans"]
        ]
    assert _count(app, JobRow) == 3 and _count(app, ReleaseRow) == 2


def test_a_release_of_known_and_new_audio_over_http_reports_each_as_it_is(app, client, keys):
    """The event-loop statement meets a known job: the release is recorded once, by the
    transaction path, the known file deduplicated and the new one reported new."""
    known = _wav(synth_piece(61, 3.0, sample_rate=SR))
    new = _wav(synth_piece(62, 3.0, sample_rate=SR))
    a = _submit(client, keys["submitter"], [("k.wav", known)]).json()["scans"][0]
    r = _submit(client, keys["submitter"], [("k.wav", known), ("n.wav", new)])
    assert r.status_code == 202, r.text
    scans = r.json()["scans"]
    assert [s["deduplicated"] for s in scans] == [True, False]
    assert scans[0]["analysis_id"] == a["analysis_id"]
    assert _count(app, ReleaseRow) == 2 and _count(app, JobRow) == 2
    assert _count(app, ReleaseFileRow) == 3


def test_the_database_gone_on_the_event_loop_is_a_503_and_records_nothing(app, keys):
    """PostgreSQL: the event-loop pool cannot reach the database: 503
    ``database_unavailable``, no release half-written (the audio stays in the blob
    store, unreferenced, as for any failed submission)."""
    import contextlib

    import psycopg

    _postgresql_only(app)
    api = create_app(app)
    with TestClient(api) as c:

        @contextlib.asynccontextmanager
        async def unreachable(*_a, **_k):
            raise psycopg.OperationalError("connection refused")
            yield

        c.app.state.reader.pool.connection = unreachable
        r = _submit(c, keys["submitter"], [("a.wav", _wav(synth_piece(71, 3.0, sample_rate=SR)))])
        _error(r, 503, "database_unavailable")
    assert _count(app, ReleaseRow) == 0 and _count(app, JobRow) == 0


def test_a_job_that_failed_for_our_reasons_is_requeued_by_a_new_submission(app, client, keys):
    data = _wav(synth_piece(6, 4.0, sample_rate=SR))
    first = _submit(client, keys["submitter"], [("a.wav", data)]).json()["scans"][0]
    for _ in range(3):  # three workers die holding it
        assert app.queue.claim("dies", lease_s=0.05) is not None
        time.sleep(0.1)
    assert app.queue.claim("w") is None  # attempts used up: failed for good
    v = client.get(f"/v1/scans/{first['scan_id']}", headers=keys["reader"]).json()
    assert v["state"] == "failed" and "lease expired" in v["reason"] and v["result"] is None
    again = _submit(client, keys["submitter"], [("b.wav", data)]).json()["scans"][0]
    assert again["analysis_id"] == first["analysis_id"]
    job = ScanWorker(app).run_once()
    assert job.state == "done" and job.attempts == 1
    v = client.get(f"/v1/scans/{first['scan_id']}", headers=keys["reader"]).json()
    assert v["state"] == "done" and v["result"]["decision"] == "pass"


def test_ready_is_503_without_a_database_and_faults_are_json_500(tmp_path):
    settings = Settings(
        home=tmp_path / "h", database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
        index_dir=tmp_path / "h" / "index", policy_path=DEFAULT_POLICY,
    )  # fmt: skip
    api = create_app(App(settings))

    @api.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    with TestClient(api, raise_server_exceptions=False) as c:
        assert c.get("/health/live").status_code == 200
        r = c.get("/health/ready")
        assert r.status_code == 503 and r.json()["status"] == "not_ready"
        assert r.json()["checks"]["database"].startswith("database_unavailable")
        _error(c.get("/v1/scans/x", headers={"Authorization": "Bearer rcc_a_b"}),
               503, "database_unavailable")  # fmt: skip
        body = _error(c.get("/boom"), 500, "internal_error")
        assert "a bug" not in body["error"]["message"]


def test_ready_warns_when_the_cover_index_is_of_another_signal_version(
    app, client, catalogue, monkeypatch
):
    assert client.get("/health/ready").json()["warnings"] == {}
    from fingerprints import cover

    monkeypatch.setattr(cover, "SIGNAL_VERSION", "99")  # as after an upgrade
    app._catalogue = None  # as in a process started after it
    r = client.get("/health/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"  # re-uploads still work
    assert r.json()["warnings"]["cover_index"].startswith("2 of 2 enabled catalogue tracks")


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_the_openapi_document_describes_the_bodies_the_routes_parse_themselves(client):
    """Clients generated from /openapi.json can send the multipart uploads and the disable
    reasons: the routes parse those bodies themselves, so FastAPI cannot infer them."""
    spec = client.get("/openapi.json").json()

    def body(path: str) -> dict:
        rb = spec["paths"][path]["post"]["requestBody"]
        assert rb["required"] is True
        return rb["content"]

    for path, texts in (
        ("/v1/releases", {"metadata", "ern"}),
        ("/v1/catalogue/tracks", {"manifest"}),
        ("/v1/banks/protected_voice/{voice_id}/references", {"enrolment"}),
    ):
        schema = body(path)["multipart/form-data"]["schema"]
        assert schema["required"] == ["files"] and schema["additionalProperties"] is False
        assert set(schema["properties"]) == {"files"} | texts
        files = schema["properties"]["files"]
        assert files["type"] == "array" and files["minItems"] == 1
        assert files["items"]["format"] == "binary"
    for path in (
        "/v1/catalogue/tracks/{track_id}/disable",
        "/v1/banks/protected_voice/{voice_id}/disable",
    ):
        schema = body(path)["application/json"]["schema"]
        assert schema["required"] == ["reason"]
        assert schema["properties"]["reason"]["type"] == "string"
    hook = spec["components"]["schemas"]["WebhookCreate"]["properties"]
    assert hook["url"]["format"] == "uri" and hook["events"]["minItems"] == 1
