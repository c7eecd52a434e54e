"""The store against SQLite and PostgreSQL (skipped with a reason when not reachable)."""

from __future__ import annotations

import pytest

from compliance.errors import CatalogueError
from compliance.storage import CatalogueTrackIn, ScanRecord, SegmentIn


def _tracks(*ids):
    return [
        CatalogueTrackIn(id=i, content_hash=f"sha256:{i}", duration_s=12.5, title=f"T {i}")
        for i in ids
    ]


def _seg(name, ids):
    return SegmentIn(name, "landmarks", "1", list(ids), 123)


def test_ingest_round_trip(store):
    store.ingest_catalogue(_tracks("a", "b"), segment=_seg("s1", ["a", "b"]))
    assert store.count_tracks() == 2
    assert store.get_track("a").title == "T a"
    assert store.find_track_by_hash("sha256:b").id == "b"
    assert store.get_track("zzz") is None
    segs = store.list_segments("landmarks", "1")
    assert [s.name for s in segs] == ["s1"] and segs[0].track_ids == ["a", "b"]
    assert store.list_segments("landmarks", "2") == []


def test_duplicate_id_writes_nothing(store):
    store.ingest_catalogue(_tracks("a"), segment=_seg("s1", ["a"]))
    with pytest.raises(CatalogueError) as err:
        store.ingest_catalogue(_tracks("b", "a"), segment=_seg("s2", ["b", "a"]))
    assert err.value.code == "catalogue_duplicate_id"
    assert store.get_track("b") is None
    assert [s.name for s in store.list_segments("landmarks", "1")] == ["s1"]


def test_duplicate_content_hash_is_refused_atomically(store):
    store.ingest_catalogue(_tracks("a"), segment=None)
    clash = CatalogueTrackIn(id="c", content_hash="sha256:a", duration_s=1.0)
    with pytest.raises(CatalogueError) as err:
        store.ingest_catalogue([*_tracks("b"), clash], segment=_seg("s2", ["b", "c"]))
    assert err.value.code == "catalogue_conflict"
    assert store.get_track("b") is None and store.list_segments("landmarks", "1") == []


def test_disable_keeps_the_row_and_unknown_id_is_an_error(store):
    store.ingest_catalogue(_tracks("a", "b"), segment=None)
    store.disable_track("a", reason="rights expired")
    assert store.active_track_ids() == {"b"}
    t = store.get_track("a")
    assert t.disabled and t.disabled_reason == "rights expired"
    assert [x.id for x in store.list_tracks()] == ["b"]
    assert [x.id for x in store.list_tracks(include_disabled=True)] == ["a", "b"]
    with pytest.raises(CatalogueError) as err:
        store.disable_track("nope", reason="x")
    assert err.value.code == "catalogue_unknown_id"


def test_signals_and_scans(store):
    store.put_signal("sha256:x", "chromaprint", "1", b"\x01\x02", {"duration_s": 3.0})
    store.put_signal("sha256:x", "chromaprint", "1", b"\x03", {"duration_s": 3.0})
    assert store.get_signal("sha256:x", "chromaprint", "1") == (b"\x03", {"duration_s": 3.0})
    assert store.get_signal("sha256:x", "chromaprint", "2") is None
    rec = ScanRecord(
        id=None, file="u.mp3", content_hash="sha256:u", decision="block", policy_id="default",
        policy_version="1", policy_hash="f" * 64,
        evidence=[{"kind": "reupload", "strength": 0.9}], rules_fired=[{"rule_id": "r"}],
        detectors={"reupload": "1"}, thresholds={"r.min_strength": {"value": 0.5}},
        release_metadata={"title": "x"},
    )  # fmt: skip
    sid = store.record_scan(rec)
    got = store.get_scan(sid)
    assert got.decision == "block" and got.evidence[0]["kind"] == "reupload"
    assert got.created_at is not None and got.release_metadata == {"title": "x"}
    assert [s.id for s in store.list_scans()] == [sid]
    assert store.get_scan("missing") is None
