"""The numpy GE2E encoder against embeddings computed by Resemblyzer itself (PyTorch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fingerprints import ge2e
from tests.audio_fixtures import voice

REFERENCE = json.loads((Path(__file__).parent / "data" / "ge2e_reference.json").read_text())


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: f"seed{c['case']['seed']}")
def test_matches_resemblyzer(case: dict) -> None:
    c = case["case"]
    wav = voice(c["seed"], c["seconds"], f0=c["f0"], tract=c["tract"])
    frames = ge2e.mel_frames(wav)
    mels = np.stack([frames[s : s + ge2e.PARTIAL_FRAMES] for s in case["starts"]])
    got = ge2e.default_encoder().embed_partials(mels)
    want = np.asarray(case["partials"], dtype=np.float32)
    cos = np.sum(got * want, axis=1)
    assert cos.min() > 0.999, cos  # float16 weights: 1e-3 agreement, not bit-exact
    assert np.abs(got - want).max() < 0.01


def test_embeddings_are_unit_and_non_negative() -> None:
    rng = np.random.default_rng(0)
    mels = rng.random((3, ge2e.PARTIAL_FRAMES, ge2e.N_MELS), dtype=np.float32)
    e = ge2e.default_encoder().embed_partials(mels)
    assert e.shape == (3, ge2e.EMBEDDING_SIZE)
    assert np.all(e >= 0)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_rejects_wrong_frame_shape() -> None:
    with pytest.raises(ValueError, match="frames"):
        ge2e.default_encoder().embed_partials(np.zeros((2, 160, 13), dtype=np.float32))


STARTS = [(10, [0]), (160, [0]), (200, [0, 80]), (279, [0, 80]), (280, [0, 80, 160]),
          (400, [0, 80, 160, 240])]  # fmt: skip


@pytest.mark.parametrize(("n", "want"), STARTS)
def test_partial_starts(n: int, want: list[int]) -> None:
    assert ge2e.partial_starts(n).tolist() == want


def test_same_synthetic_speaker_is_closer_than_another() -> None:
    enc = ge2e.default_encoder()

    def emb(seed: int, f0: float, tract: float) -> np.ndarray:
        fr = ge2e.mel_frames(voice(seed, 6.0, f0=f0, tract=tract))
        return ge2e.mean_embedding(
            enc.embed_partials(ge2e.stack_partials(fr, ge2e.partial_starts(len(fr))))
        )

    a1, a2, b = emb(1, 110.0, 1.0), emb(2, 110.0, 1.0), emb(3, 230.0, 1.25)
    assert float(a1 @ a2) > float(a1 @ b)
