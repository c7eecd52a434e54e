"""Catalogue ingest: batches are atomic, an interruption keeps what was complete, a rerun
finishes the job, manifests are validated."""

from __future__ import annotations

import pytest

from compliance.errors import CatalogueError
from compliance.pipeline.ingest import IngestItem, expand_paths, ingest, read_manifest
from compliance.storage import Store
from compliance.storage.index_files import CatalogueIndex
from compliance.synth import synth_piece
from fingerprints import cover
from fingerprints import landmarks as L
from fingerprints.audio import write_wav

SR = 11025


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "music"
    d.mkdir()
    for i in range(5):
        write_wav(d / f"t{i}.wav", synth_piece(300 + i, 6.0, sample_rate=SR), SR)
    return d


def _run(store, index_dir, items, **kw):
    return ingest(items, store=store, index_dir=index_dir, max_duration_s=600,
                  max_bytes=1 << 30, batch_size=2, **kw)  # fmt: skip


def test_interrupted_ingest_keeps_complete_batches_and_rerun_finishes(tmp_path, files):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.create_all()
    index_dir = tmp_path / "index"
    items = expand_paths([files])
    real = store.ingest_catalogue
    calls = {"n": 0}

    def flaky(tracks, *, segment, extra_segments=()):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process is stopped mid-ingest
        return real(tracks, segment=segment, extra_segments=extra_segments)

    store.ingest_catalogue = flaky
    with pytest.raises(KeyboardInterrupt):
        _run(store, index_dir, items)
    store.ingest_catalogue = real
    assert sorted(t.id for t in store.list_tracks()) == ["t0", "t1"]
    # the segment of the failed batch was removed; only live segments remain on disk
    live = {s.name for s in store.list_segments(L.SIGNAL_NAME, L.SIGNAL_VERSION)}
    covers = {s.name for s in store.list_segments(cover.SIGNAL_NAME, cover.SIGNAL_VERSION)}
    assert len(covers) == 1  # the cover segment of the batch that committed
    assert {p.name for p in index_dir.iterdir()} == live | covers
    assert len(CatalogueIndex(store, index_dir)) == 2

    report = _run(store, index_dir, items)
    assert sorted(report.added) == ["t2", "t3", "t4"]
    assert [s[1] for s in report.skipped] == ["already_ingested"] * 2
    assert len(CatalogueIndex(store, index_dir)) == 5
    # the batches were compacted into one live segment; no other folder is left
    live = [s.name for s in store.list_segments(L.SIGNAL_NAME, L.SIGNAL_VERSION)]
    covers = {s.name for s in store.list_segments(cover.SIGNAL_NAME, cover.SIGNAL_VERSION)}
    assert len(live) == 1 and len(covers) == 3  # one per batch: not compacted
    assert {p.name for p in index_dir.iterdir()} == set(live) | covers
    assert len(CatalogueIndex(store, index_dir).covers) == 5


def test_unreadable_and_duplicate_ids_are_reported_and_the_rest_goes_on(tmp_path, files):
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.create_all()
    (files / "bad.wav").write_bytes(b"RIFF nonsense")
    other = tmp_path / "other.wav"
    write_wav(other, synth_piece(999, 6.0, sample_rate=SR), SR)
    items = [
        *expand_paths([files]),
        IngestItem(other, "t0"),  # an id already taken by other audio
        IngestItem(files / "t1.wav", "t1-again"),  # the same audio under another id
        IngestItem(tmp_path / "nope.flac", "nope"),
    ]
    report = _run(store, tmp_path / "index", items)
    assert sorted(report.added) == ["t0", "t1", "t2", "t3", "t4"]
    assert [s[1] for s in report.skipped] == ["already_ingested"]
    codes = {f[0].split("/")[-1]: f[1] for f in report.failed}
    assert codes == {
        "bad.wav": "audio_decode_failed",
        "other.wav": "catalogue_duplicate_id",
        "nope.flac": "audio_not_found",
    }


def test_manifest(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("path,id,title\na.wav,A,Song A\n/abs/b.flac,B,\n")
    items = read_manifest(m)
    assert [(i.catalogue_id, i.title) for i in items] == [("A", "Song A"), ("B", None)]
    assert items[0].path == tmp_path / "a.wav"
    m.write_text("file,name\nx,y\n")
    with pytest.raises(CatalogueError) as err:
        read_manifest(m)
    assert err.value.code == "manifest_invalid"
    m.write_text("path,id\n,y\n")
    with pytest.raises(CatalogueError, match=r"m.csv:2"):
        read_manifest(m)
    with pytest.raises(CatalogueError) as err:
        read_manifest(tmp_path / "missing.csv")
    assert err.value.code == "manifest_unreadable"


def test_orphan_segment_folders_are_collected(tmp_path, files):
    import os
    import time

    from compliance.storage.index_files import collect_garbage

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.create_all()
    index_dir = tmp_path / "index"
    _run(store, index_dir, expand_paths([files]))
    live = {p.name for p in index_dir.iterdir()}
    orphan = index_dir / "seg-orphan"
    orphan.mkdir()
    young = index_dir / "seg-young"
    young.mkdir()
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    assert collect_garbage(store, index_dir) == ["seg-orphan"]
    assert {p.name for p in index_dir.iterdir()} == live | {"seg-young"}
