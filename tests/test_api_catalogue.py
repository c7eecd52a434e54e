# ruff: noqa: F811  (the fixtures app, client, keys, pieces are imported from tests.test_api)
"""Catalogue management over the API: ingest (bulk, manifest, per-file outcomes), list
with cursors, get, disable; a worker of another App sees new and disabled entries."""

from __future__ import annotations

import json

import pytest

from compliance.app import App
from compliance.jobs.scan_worker import ScanWorker
from compliance.storage.models import CatalogueTrackRow, IndexSegmentRow
from compliance.synth import synth_piece
from tests.test_api import SR, _count, _error, _submit, _wav, app, client, keys, pieces  # noqa: F401


def _add(client, headers, files, manifest=None):
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    if manifest is not None:
        raw = manifest if isinstance(manifest, str) else json.dumps(manifest)
        parts.insert(0, ("manifest", (None, raw)))
    return client.post("/v1/catalogue/tracks", headers=headers, files=parts)


def _nothing_ingested(app) -> None:
    assert _count(app, CatalogueTrackRow) == 0 and _count(app, IndexSegmentRow) == 0


@pytest.fixture
def worker_app(app):
    """A second App on the same database and folders: a worker in another process."""
    other = App(app.settings)
    yield other
    other.store.close()


def test_bulk_ingest_list_get_disable(app, client, keys, pieces):
    h = keys["admin"]
    song0, song1 = _wav(pieces["song-0"]), _wav(pieces["song-1"])
    manifest = [{"file": "b.wav", "id": "cat-b", "title": "Bee", "artist": "Ann"}]
    r = _add(client, h, [("a.wav", song0), ("b.wav", song1), ("junk.wav", b"not audio"),
                         ("a-copy.wav", song0)], manifest)  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["added"], body["skipped"], body["failed"]) == (2, 1, 1)
    got = [(x["file"], x["id"], x["outcome"], x["code"]) for x in body["results"]]
    assert got[:2] == [("a.wav", "a", "added", None), ("b.wav", "cat-b", "added", None)]
    assert got[2][2] == "failed" and got[2][3].startswith("audio_")
    assert got[3] == ("a-copy.wav", "a-copy", "skipped", "already_ingested")
    assert str(app.blobs.root) not in json.dumps(body)  # our paths are not the client's
    assert body["catalogue_tracks"] == 2
    ready = client.get("/health/ready").json()
    assert ready["checks"]["catalogue"] == "ok (2 tracks)"
    assert ready["catalogue_generation"] == body["catalogue_generation"] >= 1

    # pages of one, in id order
    p1 = client.get("/v1/catalogue/tracks?limit=1", headers=h).json()
    assert [t["id"] for t in p1["tracks"]] == ["a"] and p1["next_cursor"]
    p2 = client.get(f"/v1/catalogue/tracks?limit=1&cursor={p1['next_cursor']}", headers=h)
    assert [t["id"] for t in p2.json()["tracks"]] == ["cat-b"]
    assert p2.json()["next_cursor"] is None
    _error(client.get("/v1/catalogue/tracks?cursor=a", headers=h), 400, "cursor_invalid")
    _error(client.get("/v1/catalogue/tracks?limit=0", headers=h), 422, "invalid_request")

    one = client.get("/v1/catalogue/tracks/cat-b", headers=h).json()
    assert (one["title"], one["artist"], one["disabled"]) == ("Bee", "Ann", False)
    assert one["added_by"].startswith("api:")
    _error(client.get("/v1/catalogue/tracks/nope", headers=h), 404, "catalogue_not_found")

    url = "/v1/catalogue/tracks/cat-b/disable"
    _error(client.post(url, headers=h, json={}), 400, "reason_missing")
    _error(client.post(url, headers=h, json={"reason": "  "}), 400, "reason_missing")
    _error(client.post(url, headers=h, content=b"{nope"), 400, "request_invalid")
    assert client.get("/v1/catalogue/tracks/cat-b", headers=h).json()["disabled"] is False
    _error(client.post("/v1/catalogue/tracks/nope/disable", headers=h, json={"reason": "x"}),
           404, "catalogue_not_found")  # fmt: skip
    r = client.post(url, headers=h, json={"reason": "licence ended"})
    assert r.status_code == 200 and r.json()["disabled_reason"] == "licence ended"
    listed = client.get("/v1/catalogue/tracks", headers=h).json()["tracks"]
    assert [t["disabled"] for t in listed] == [False, True]


def test_catalogue_needs_admin_and_bad_manifests_ingest_nothing(app, client, keys):
    audio = _wav(synth_piece(3, 5.0, sample_rate=SR))
    for who in ("submitter", "reader"):
        _error(_add(client, keys[who], [("x.wav", audio)]), 403, "auth_scope")
        _error(client.get("/v1/catalogue/tracks", headers=keys[who]), 403, "auth_scope")
    h = keys["admin"]
    for manifest in ("{not json", {"file": "x.wav"}, [{"file": "y.wav", "id": "y"}],
                     [{"file": "x.wav", "id": 5}], [{"id": "x"}],
                     [{"file": "x.wav", "oops": 1}],
                     [{"file": "x.wav"}, {"file": "x.wav"}]):  # fmt: skip
        _error(_add(client, h, [("x.wav", audio)], manifest), 400, "manifest_invalid")
    _error(_add(client, h, []), 415, "multipart_required")
    meta_only = client.post("/v1/catalogue/tracks", headers=h, files=[("manifest", (None, "[]"))])
    _error(meta_only, 400, "files_missing")
    odd = client.post("/v1/catalogue/tracks", headers=h, files=[("metadata", (None, "{}"))])
    _error(odd, 400, "unexpected_part")
    _nothing_ingested(app)


def test_a_worker_in_another_process_sees_added_and_disabled_tracks(
    app, client, keys, pieces, worker_app
):
    worker = ScanWorker(worker_app)
    crop = _wav(pieces["song-1"][5 * SR : 20 * SR])
    r = _submit(client, keys["submitter"], [("early.wav", crop)])
    assert worker.run_once().result["decision"] == "pass"  # empty catalogue
    generation = worker_app.catalogue_generation
    assert generation >= 1

    assert _add(client, keys["admin"], [("song-1.wav", _wav(pieces["song-1"]))]).json()["added"]
    crop2 = _wav(pieces["song-1"][6 * SR : 21 * SR])
    r = _submit(client, keys["submitter"], [("after-add.wav", crop2)])
    job = worker.run_once()
    assert job.result["decision"] == "block", job.result
    assert worker_app.catalogue_generation == generation + 1  # reopened once
    # no change since: the next scan reuses the open index
    worker_app.catalogue()
    assert worker_app.catalogue_generation == generation + 1

    client.post("/v1/catalogue/tracks/song-1/disable", headers=keys["admin"],
                json={"reason": "takedown withdrawn"})  # fmt: skip
    crop3 = _wav(pieces["song-1"][7 * SR : 22 * SR])
    r = _submit(client, keys["submitter"], [("after-disable.wav", crop3)])
    assert r.status_code == 202
    job = worker.run_once()
    assert job.result["decision"] == "pass", job.result
    assert worker_app.catalogue_generation == generation + 2
