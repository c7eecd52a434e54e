"""The store against SQLite and PostgreSQL (skipped with a reason when not reachable)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from compliance.errors import CatalogueError
from compliance.storage import CatalogueTrackIn, ScanRecord, SegmentIn, Store


def _tracks(*ids):
    return [
        CatalogueTrackIn(id=i, content_hash=f"sha256:{i}", duration_s=12.5, title=f"T {i}")
        for i in ids
    ]


def _seg(name, ids, version="1"):
    return SegmentIn(name, "landmarks", version, list(ids), 123)


def _scan(**kw):
    base = dict(
        id=None, file="u.mp3", content_hash="sha256:u", decision="block", policy_id="default",
        policy_version="1", policy_hash="f" * 64,
        evidence=[{"kind": "reupload", "strength": 0.9, "matched_s": 12.25}],
        rules_fired=[{"rule_id": "r", "then": "block", "evidence": [0]}],
        detectors={"reupload": "1"}, thresholds={"r.min_strength": {"value": 0.5}},
        release_metadata={"title": "x", "licences": []},
    )  # fmt: skip
    base.update(kw)
    return ScanRecord(**base)


def _is_utc(ts):
    return ts is not None and ts.tzinfo is not None and ts.utcoffset() == timedelta(0)


def test_ingest_round_trip(store):
    before = datetime.now(UTC)
    store.ingest_catalogue(
        [
            CatalogueTrackIn(
                id="a", content_hash="sha256:a", duration_s=12.5, title="Title",
                artist="Artist", source_path="/music/a.flac", added_by="cli:alice",
            ),
            *_tracks("b"),
        ],
        segment=_seg("s1", ["a", "b"]),
    )  # fmt: skip
    assert store.count_tracks() == 2
    a = store.get_track("a")
    assert (a.title, a.artist, a.source_path, a.added_by) == (
        "Title", "Artist", "/music/a.flac", "cli:alice",
    )  # fmt: skip
    assert a.duration_s == 12.5 and a.bank == "catalogue" and not a.disabled
    assert a.disabled_reason is None and a.disabled_at is None
    assert _is_utc(a.added_at) and before - timedelta(seconds=5) <= a.added_at
    assert store.find_track_by_hash("sha256:b").id == "b"
    assert store.find_track_by_hash("sha256:zzz") is None
    assert store.get_track("zzz") is None
    segs = store.list_segments("landmarks", "1")
    assert [s.name for s in segs] == ["s1"] and segs[0].track_ids == ["a", "b"]
    assert segs[0].n_hashes == 123 and _is_utc(segs[0].created_at)
    assert store.list_segments("landmarks", "2") == []
    assert store.list_segments("chromaprint", "1") == []
    assert store.segment_names() == {"s1"}


def test_ingest_without_segment_and_other_bank(store):
    t = CatalogueTrackIn(id="v", content_hash="sha256:v", duration_s=3, bank="protected_voice")
    store.ingest_catalogue([t], segment=None)
    assert store.get_track("v").bank == "protected_voice"
    assert store.segment_names() == set()


def test_returned_values_are_frozen(store):
    store.ingest_catalogue(_tracks("a"), segment=_seg("s1", ["a"]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        store.get_track("a").title = "x"  # type: ignore[misc]


def test_duplicate_id_writes_nothing(store):
    store.ingest_catalogue(_tracks("a"), segment=_seg("s1", ["a"]))
    with pytest.raises(CatalogueError) as err:
        store.ingest_catalogue(_tracks("b", "a"), segment=_seg("s2", ["b", "a"]))
    assert err.value.code == "catalogue_duplicate_id" and "a" in err.value.message
    assert store.get_track("b") is None and store.count_tracks() == 1
    assert [s.name for s in store.list_segments("landmarks", "1")] == ["s1"]
    assert store.segment_names() == {"s1"}


def test_duplicate_id_within_one_batch(store):
    with pytest.raises(CatalogueError) as err:
        store.ingest_catalogue(_tracks("a", "a"), segment=_seg("s1", ["a"]))
    assert err.value.code == "catalogue_duplicate_id"
    assert store.count_tracks() == 0 and store.segment_names() == set()


def test_duplicate_id_found_only_by_the_database_is_still_a_duplicate(store, monkeypatch):
    """A concurrent writer takes the id between our check and our insert."""
    store.ingest_catalogue(_tracks("a"), segment=None)
    real = Store._existing_ids
    calls = []

    def blind_first_time(s, ids):
        calls.append(ids)
        return [] if len(calls) == 1 else real(s, ids)

    monkeypatch.setattr(Store, "_existing_ids", staticmethod(blind_first_time))
    with pytest.raises(CatalogueError) as err:
        store.ingest_catalogue(_tracks("b", "a"), segment=_seg("s2", ["b", "a"]))
    assert err.value.code == "catalogue_duplicate_id"
    assert store.get_track("b") is None and store.segment_names() == set()


def test_duplicate_content_hash_is_refused_atomically(store):
    store.ingest_catalogue(_tracks("a"), segment=None)
    clash = CatalogueTrackIn(id="c", content_hash="sha256:a", duration_s=1.0)
    with pytest.raises(CatalogueError) as err:
        store.ingest_catalogue([*_tracks("b"), clash], segment=_seg("s2", ["b", "c"]))
    assert err.value.code == "catalogue_conflict"
    assert store.get_track("b") is None and store.get_track("c") is None
    assert store.list_segments("landmarks", "1") == []


def test_duplicate_segment_name_rolls_back_the_tracks(store):
    store.ingest_catalogue(_tracks("a"), segment=_seg("s1", ["a"]))
    with pytest.raises(CatalogueError) as err:
        store.ingest_catalogue(_tracks("b"), segment=_seg("s1", ["b"]))
    assert err.value.code == "catalogue_conflict"
    assert store.get_track("b") is None
    assert store.list_segments("landmarks", "1")[0].track_ids == ["a"]


def test_disable_keeps_the_row_and_unknown_id_is_an_error(store):
    store.ingest_catalogue(_tracks("a", "b"), segment=None)
    store.disable_track("a", reason="rights expired")
    assert store.active_track_ids() == {"b"}
    t = store.get_track("a")
    assert t.disabled and t.disabled_reason == "rights expired" and _is_utc(t.disabled_at)
    assert store.find_track_by_hash("sha256:a").id == "a"
    assert store.count_tracks() == 2
    assert [x.id for x in store.list_tracks()] == ["b"]
    assert [x.id for x in store.list_tracks(include_disabled=True)] == ["a", "b"]
    with pytest.raises(CatalogueError) as err:
        store.disable_track("nope", reason="x")
    assert err.value.code == "catalogue_unknown_id"
    # a disabled id stays taken
    with pytest.raises(CatalogueError) as err:
        store.ingest_catalogue(
            [CatalogueTrackIn(id="a", content_hash="sha256:new", duration_s=1)], segment=None
        )
    assert err.value.code == "catalogue_duplicate_id"


def test_replace_segments(store):
    store.ingest_catalogue(_tracks("a"), segment=_seg("s1", ["a"]))
    store.ingest_catalogue(_tracks("b"), segment=_seg("s2", ["b"]))
    store.ingest_catalogue(_tracks("c"), segment=_seg("other", ["c"], version="2"))
    store.replace_segments(["s1", "s2"], _seg("m", ["a", "b"]))
    assert [s.name for s in store.list_segments("landmarks", "1")] == ["m"]
    assert store.segment_names() == {"m", "other"}
    with pytest.raises(CatalogueError) as err:
        store.replace_segments(["s1"], _seg("m2", ["a"]))
    assert err.value.code == "catalogue_conflict"
    assert store.segment_names() == {"m", "other"}


def test_signals(store):
    blob = bytes(range(256)) * 4
    store.put_signal("sha256:x", "chromaprint", "1", b"\x01\x02", {"duration_s": 3.0})
    store.put_signal("sha256:x", "chromaprint", "1", blob, {"duration_s": 3.5, "n": [1, 2]})
    store.put_signal("sha256:x", "chromaprint", "2", b"", {})
    assert store.get_signal("sha256:x", "chromaprint", "1") == (
        blob, {"duration_s": 3.5, "n": [1, 2]},
    )  # fmt: skip
    assert store.get_signal("sha256:x", "chromaprint", "2") == (b"", {})
    assert store.get_signal("sha256:x", "chromaprint", "3") is None
    assert store.get_signal("sha256:y", "chromaprint", "1") is None


def test_scans_round_trip(store):
    rec = _scan()
    sid = store.record_scan(rec)
    got = store.get_scan(sid)
    assert dataclasses.replace(got, created_at=None) == dataclasses.replace(rec, id=sid)
    assert _is_utc(got.created_at)
    assert [s.id for s in store.list_scans()] == [sid]
    assert store.get_scan("missing") is None


def test_list_scans_newest_first_with_limit(store):
    t0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    plus2 = timezone(timedelta(hours=2))
    ids = [
        store.record_scan(_scan(id="old", created_at=t0)),
        # 13:30 at UTC+2 is 11:30 UTC: older than t0 even though its wall clock is later
        store.record_scan(_scan(id="older", created_at=datetime(2024, 3, 1, 13, 30, tzinfo=plus2))),
        store.record_scan(_scan(id="new", created_at=t0 + timedelta(days=1))),
    ]
    assert ids == ["old", "older", "new"]
    assert [s.id for s in store.list_scans()] == ["new", "old", "older"]
    assert [s.id for s in store.list_scans(2)] == ["new", "old"]
    assert [s.id for s in store.list_scans(limit=1)] == ["new"]
    older = store.get_scan("older")
    assert older.created_at == datetime(2024, 3, 1, 11, 30, tzinfo=UTC) and _is_utc(
        older.created_at
    )


def test_naive_timestamps_are_refused(store):
    with pytest.raises(sa.exc.StatementError):
        store.record_scan(_scan(id="n", created_at=datetime(2024, 1, 1)))
    assert store.get_scan("n") is None


def test_postgres_tests_use_their_own_schema(store):
    with store.engine.connect() as c:
        if store.backend == "postgresql":
            assert c.execute(sa.text("select current_schema()")).scalar().startswith("test_")
        else:
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_store_repr_hides_the_password():
    s = Store("postgresql+psycopg://u:secret@localhost/db")
    try:
        assert "secret" not in repr(s) and "localhost" in repr(s)
    finally:
        s.close()
