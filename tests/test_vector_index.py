"""The vector index of the cover detector against its brute-force reference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fingerprints.index.vector_index import (
    BruteForceVectorIndex,
    Candidate,
    TrackVectors,
    VectorIndex,
    VectorSegment,
)

SIGNAL = dict(signal="test-embedding", signal_version="1")
GAP = 1e-5
"""Score gaps the comparisons rely on (float32 faiss against the float64 oracle)."""


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _items(rng: np.random.Generator, n_tracks: int, d: int, prefix: str = "t"):
    items = {}
    for i in range(n_tracks):
        k = int(rng.integers(1, 6))
        starts = np.sort(rng.uniform(0.0, 200.0, k))
        items[f"{prefix}{i}"] = TrackVectors(
            rng.standard_normal((k, d)) * rng.uniform(0.5, 3.0), starts, starts + 45.0
        )
    return items


def _segments(seed: int, d: int = 24, sizes=(40, 25, 35)) -> list[VectorSegment]:
    rng = np.random.default_rng(seed)
    return [
        VectorSegment.build(_items(rng, n, d, prefix=f"s{j}-"), **SIGNAL)
        for j, n in enumerate(sizes)
    ]


def _assert_separated(segments, queries, per_query):
    """The cases where float32 rounding could change the answer are far apart: each
    query's k-th and (k+1)-th scores, the pairs found of one track, and the best scores
    of different tracks."""
    vectors = np.concatenate([np.asarray(s.vectors, np.float64) for s in segments])
    owners = VectorIndex(segments)._searchable()[1]
    scores = np.asarray(queries, np.float64) @ vectors.T
    order = np.argsort(-scores, axis=1)
    ranked = np.take_along_axis(scores, order, axis=1)
    if per_query < scores.shape[1]:
        assert (ranked[:, per_query - 1] - ranked[:, per_query] > GAP).all()
    hits = ranked[:, :per_query].ravel()
    tracks = owners[order[:, :per_query]].ravel()
    for t in np.unique(tracks):
        assert np.all(np.diff(np.sort(hits[tracks == t])) > GAP)
    best = np.sort([hits[tracks == t].max() for t in np.unique(tracks)])
    assert np.all(np.diff(best) > GAP)


def _same(got: list[Candidate], want: list[Candidate]) -> None:
    assert [(c.track, c.query_row, c.catalogue_row) for c in got] == [
        (c.track, c.query_row, c.catalogue_row) for c in want
    ]
    assert [c.score for c in got] == pytest.approx([c.score for c in want], abs=1e-5)
    assert [(c.start_s, c.end_s) for c in got] == [(c.start_s, c.end_s) for c in want]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_faiss_shortlist_equals_brute_force(seed):
    segments = _segments(seed)
    rng = np.random.default_rng(100 + seed)
    queries = _unit(rng, 6, 24)
    _assert_separated(segments, queries, per_query=8)
    fast, slow = VectorIndex(segments), BruteForceVectorIndex(segments)
    for top in (1, 5, 20, 1000):
        _same(fast.shortlist(queries, per_query=8, top=top),
              slow.shortlist(queries, per_query=8, top=top))  # fmt: skip
    got = fast.shortlist(queries, per_query=8, top=1000)
    assert [c.score for c in got] == sorted((c.score for c in got), reverse=True)
    assert len({c.track for c in got}) == len(got)


@pytest.mark.parametrize("seed", [5, 6])
def test_allowed_filter_matches_brute_force(seed):
    segments = _segments(seed)
    queries = _unit(np.random.default_rng(200 + seed), 5, 24)
    _assert_separated(segments, queries, per_query=10)
    fast, slow = VectorIndex(segments), BruteForceVectorIndex(segments)

    def allowed(t: int) -> bool:
        return t % 3 != 0

    want = slow.shortlist(queries, per_query=10, top=7, allowed=allowed)
    got = fast.shortlist(queries, per_query=10, top=7, allowed=allowed)
    _same(got, want)
    assert got and all(c.track % 3 for c in got)
    assert len(set(fast.shortlist(queries, per_query=10, top=7, allowed=lambda t: False))) == 0


def test_per_query_larger_than_the_index_takes_every_vector():
    segments = _segments(7, sizes=(4,))
    queries = _unit(np.random.default_rng(9), 3, 24)
    got = VectorIndex(segments).shortlist(queries, per_query=500, top=50)
    _same(got, BruteForceVectorIndex(segments).shortlist(queries, per_query=500, top=50))
    assert len(got) == 4


def test_index_extends_when_a_segment_is_added():
    segments = _segments(8)
    queries = _unit(np.random.default_rng(10), 4, 24)
    _assert_separated(segments, queries, per_query=6)
    idx = VectorIndex(segments[:1])
    idx.shortlist(queries)
    for seg in segments[1:]:
        idx.add_segment(seg)
    assert len(idx) == sum(len(s.track_ids) for s in segments)
    assert idx.track_ids == [t for s in segments for t in s.track_ids]
    _same(idx.shortlist(queries, per_query=6), VectorIndex(segments).shortlist(
        queries, per_query=6))  # fmt: skip


def test_planted_track_ranks_first_with_score_one():
    segments = _segments(11)
    rng = np.random.default_rng(12)
    queries = _unit(rng, 16, 24)
    # Whole track (a random vector) and a section equal to query row 9, unnormalised.
    tv = TrackVectors(np.stack([_unit(rng, 1, 24)[0], queries[9] * 5.0]), [0, 60], [240, 105])
    planted = VectorSegment.build({"planted": tv}, **SIGNAL)
    idx = VectorIndex([*segments, planted])
    best = idx.shortlist(queries, per_query=4, top=3)[0]
    assert idx.track_ids[best.track] == "planted"
    assert best.score == pytest.approx(1.0, abs=1e-5)
    assert best.query_row == 9
    assert best.catalogue_row == idx.n_vectors - 1
    assert (best.start_s, best.end_s) == (60.0, 105.0)


def test_save_load_round_trip_is_identical(tmp_path):
    segments = _segments(13)
    for seg in segments:
        seg.save(tmp_path)
    assert not list(tmp_path.glob(".tmp-*"))
    loaded = VectorIndex.open(tmp_path, [s.name for s in segments], **SIGNAL)
    assert isinstance(loaded.segments[0].vectors, np.memmap)
    assert loaded.track_ids == VectorIndex(segments).track_ids
    for a, b in zip(loaded.segments, segments, strict=True):
        for key in ("vectors", "owners", "starts_s", "ends_s"):
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
            assert getattr(a, key).dtype == getattr(b, key).dtype
    queries = _unit(np.random.default_rng(14), 8, 24)
    assert loaded.shortlist(queries, top=30) == VectorIndex(segments).shortlist(queries, top=30)
    v, s, e = loaded.vectors_of(30)
    v0, s0, e0 = VectorIndex(segments).vectors_of(30)
    np.testing.assert_array_equal(v, v0)
    np.testing.assert_array_equal(s, s0)
    np.testing.assert_array_equal(e, e0)
    with pytest.raises(FileExistsError):
        segments[0].save(tmp_path)


@pytest.mark.parametrize(
    "field, value", [("signal_version", "0"), ("signal", "another-embedding"), ("format", 99)]
)
def test_load_rejects_another_signal_or_format(tmp_path, field, value):
    path = _segments(15, sizes=(3,))[0].save(tmp_path)
    if field == "format":
        meta = json.loads((path / "meta.json").read_text())
        meta["format"] = value
        (path / "meta.json").write_text(json.dumps(meta))
        expected = SIGNAL
    else:
        expected = {**SIGNAL, field: value}
    with pytest.raises(ValueError, match=rf"{path.name}.*re-ingest the catalogue"):
        VectorSegment.load(path, **expected)


def test_build_normalises_rows_and_keeps_tracks_grouped():
    items = {
        "a": TrackVectors([[3.0, 4.0]], [0.0], [180.0]),
        "b": TrackVectors([[0.0, -2.0], [1.0, 1.0]], [0.0, 30.0], [30.0, 60.0]),
    }
    seg = VectorSegment.build(items, **SIGNAL)
    assert seg.vectors.dtype == np.float32 and seg.vectors.shape == (3, 2)
    np.testing.assert_allclose(seg.vectors, [[0.6, 0.8], [0, -1], [2**-0.5, 2**-0.5]], atol=1e-6)
    assert seg.owners.dtype == np.int32 and seg.owners.tolist() == [0, 1, 1]
    assert seg.starts_s.dtype == np.float32 and seg.ends_s.dtype == np.float32
    assert seg.name.startswith("vseg-") and seg.dim == 2
    v, s, e = VectorIndex([seg]).vectors_of(1)
    assert v.shape == (2, 2) and s.tolist() == [0.0, 30.0] and e.tolist() == [30.0, 60.0]


@pytest.mark.parametrize(
    "bad",
    [
        TrackVectors([[1.0, 0.0], [0.0, 0.0]], [0.0, 1.0], [1.0, 2.0]),  # zero row
        TrackVectors([[np.nan, 1.0]], [0.0], [1.0]),
        TrackVectors(np.empty((0, 2)), [], []),
        TrackVectors([[1.0, 0.0, 0.0]], [0.0], [1.0]),  # dimension differs from "ok"
        TrackVectors([[1.0, 0.0]], [0.0, 1.0], [1.0, 2.0]),  # one section too many
        TrackVectors([[1.0, 0.0]], [5.0], [1.0]),  # ends before it starts
    ],
)
def test_build_rejects_bad_tracks(bad):
    with pytest.raises(ValueError, match="'bad'"):
        VectorSegment.build({"ok": TrackVectors([[0.0, 1.0]], [0.0], [1.0]), "bad": bad},
                            **SIGNAL)  # fmt: skip
    with pytest.raises(ValueError):
        VectorSegment.build({}, **SIGNAL)


def test_segments_of_another_dimension_or_signal_are_rejected():
    a = _segments(16, d=24, sizes=(3,))[0]
    b = _segments(17, d=16, sizes=(3,))[0]
    with pytest.raises(ValueError, match="dimension"):
        VectorIndex([a, b])
    idx = VectorIndex([a])
    with pytest.raises(ValueError, match="dimension"):
        idx.add_segment(b)
    other = VectorSegment.build(_items(np.random.default_rng(18), 2, 24),
                                signal="test-embedding", signal_version="2")  # fmt: skip
    with pytest.raises(ValueError, match="version"):
        idx.add_segment(other)
    assert len(idx) == 3
    with pytest.raises(ValueError, match="shape"):
        idx.shortlist(np.zeros((2, 16), np.float32))
    with pytest.raises(ValueError, match="finite"):
        idx.shortlist(np.full((2, 24), np.nan, np.float32))


def test_empty_index_returns_nothing():
    queries = _unit(np.random.default_rng(19), 4, 24)
    for idx in (VectorIndex(), BruteForceVectorIndex([])):
        assert idx.shortlist(queries) == []
        assert len(idx) == 0 and idx.dim is None and idx.track_ids == []
    seg = _segments(20, sizes=(2,))
    assert VectorIndex(seg).shortlist(np.empty((0, 24), np.float32)) == []
