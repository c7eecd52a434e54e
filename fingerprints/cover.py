"""Cover songs: key- and tempo-invariant harmonic features, and their alignment.

A cover keeps the composition (melody, harmony, structure) and changes what a
fingerprint sees: instruments, key, tempo, mix. Three steps, after Serra et al. (2009)
and Bertin-Mahieux & Ellis (2012):

1. **Chroma sequence.** The landmark spectrogram (:func:`fingerprints.landmarks.
   log_spectrogram`, 11025 Hz, hop 256) is folded into semitone bands and averaged over
   blocks of :data:`BLOCK_FRAMES` frames (0.37 s); each block's band energies are
   log-compressed, the smooth part of their spectral envelope (timbre) is removed by
   dropping the lowest DCT coefficients, and the rest is folded into 12 pitch classes
   (Müller and Ewert's CRP chroma, 2010; :func:`crp`); each block is scaled to a
   maximum of 1. Fixed-rate blocks, not beats: a beat tracker disagreed with itself
   between a score and its cover (half, double or 3:2 tempo) on a third of the
   development corpus's covers, and cost more than the rest of the analysis. Whether a
   block is loud and tonal is decided on a plain chroma of the magnitudes (Ellis's
   filter bank, :func:`chroma_weights`).
2. **Embeddings for the shortlist.** Magnitudes of the 2-D Fourier transform of chroma
   patches (:func:`ftm`): invariant to a circular shift of the pitch classes (a
   transposition) and to the patch's position in time. One per section of
   :data:`SECTION_BLOCKS` blocks and one for the whole track; the upload's are computed
   at a few time scales (:data:`QUERY_SCALES`), since a tempo change stretches the
   patches. The shortlist compares their slower time frequencies only
   (:data:`SHORTLIST_DIMS`).
3. **Rescoring by alignment** (:func:`align`). The upload's chroma is rotated by the
   optimal transposition index (the rotation that best matches the two global chroma
   profiles), both sequences are embedded in a state space of :data:`EMBED_BLOCKS`
   consecutive blocks, their cross-recurrence plot is binarised (mutual nearest
   neighbours), and Serra's Qmax local alignment gives the score, the aligned sections
   and, with the time scale that scored best, the tempo ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fingerprints.jit import on_first_use
from fingerprints.landmarks import FRAME_S, N_FFT, SAMPLE_RATE

SIGNAL_NAME = "cover"
SIGNAL_VERSION = "3"
"""3: CRP chroma (timbre-reduced) and the plain chroma, both aligned (:func:`align_fused`).
2 was the CRP chroma alone; 1 the plain chroma of the magnitudes alone, which lost covers
played on instruments with other overtones (brass, organ, reed)."""

BLOCK_FRAMES = 16
"""Spectrogram frames per chroma block."""
BLOCK_S = BLOCK_FRAMES * FRAME_S
"""Length of a chroma block, seconds (0.372)."""
PATCH_BLOCKS = 32
"""Blocks per 2-D Fourier patch (12 s)."""
PATCH_HOP = 4
SECTION_BLOCKS = 48
"""Blocks per section embedding (18 s); sections overlap by half."""
EMBED_BLOCKS = 9
"""Consecutive blocks stacked into one state-space vector for the alignment."""
QUERY_SCALES = (0.85, 1.0, 1.18)
"""Time scales of the upload's embeddings (catalogue tempo over upload tempo)."""
QUERY_SECTIONS = 3
"""Section embeddings of the upload per time scale (evenly spread): with the whole-upload
one, 12 shortlist queries whatever the upload's length (the shortlist's cost grows with
them; three sections of a 90 s cover found the same covers as every half-overlapping
section on the development corpus)."""
ALIGN_SCALES = (0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.11, 1.18, 1.25, 1.33)
"""Time scales tried by the alignment: a tempo change of up to a third either way."""
MIN_BLOCKS = 32
"""Shorter uploads (12 s) give no cover features."""
MIN_TONAL_SHARE = 0.5
"""Share of blocks that must be tonal (see :func:`chroma_sequence`)."""
DIM = 12 * (PATCH_BLOCKS // 2 + 1)
"""Length of an embedding (:func:`ftm`: 12 pitch-class frequencies x 17 time
frequencies, row-major)."""
SHORTLIST_COLUMNS = 12
"""Time frequencies of the embedding that the shortlist compares (0 to 11 of 17). The
upload is embedded at time scales :data:`QUERY_SCALES` about 17 % apart, so a tempo left
over between them is up to about 8 %, which moves time frequency ``k`` by ``0.08 k``
bins: from ``k`` of 12 up it lands on another bin and compares noise. On the development
corpus's covers (rank of the true track among the 212 catalogue tracks, both halves of
the query split alike) the 12 columns ranked the covers as well as all 17 (in the top
20: 63 against 61 of 68; mean reciprocal rank 0.64 against 0.56), and fewer numbers
make the flat scan of a large catalogue faster (docs/benchmarks.md, "Covers")."""


def _shortlist_dims() -> np.ndarray:
    keep = np.zeros((12, PATCH_BLOCKS // 2 + 1), bool)
    keep[:, :SHORTLIST_COLUMNS] = True
    keep[7:, 0] = False  # |F(k, 0)| = |F(12 - k, 0)| for a real patch: rows 7-11 repeat 5-1
    keep[0, 0] = False  # the constant term, zeroed by ftm
    return np.flatnonzero(keep.ravel())


SHORTLIST_DIMS = _shortlist_dims()
"""Positions in an embedding of the numbers the shortlist compares (ascending)."""
SHORTLIST_DIM = len(SHORTLIST_DIMS)
"""Length of a shortlist vector (138)."""

CRP_PITCHES = (36, 108)
"""MIDI pitches of the semitone bands (C2 to B7), upper bound exclusive."""
CRP_DROPPED = 15
"""Lowest DCT coefficients of the 72 log band energies set to zero (the envelope).
Development corpus, cover top-1 with 10, 15 or 20 dropped: 59, 60, 59 of 68 against
57 for the plain chroma; 5 dropped: 54 (docs/benchmarks.md, "Covers")."""
CRP_GAMMA = 100.0
"""Log compression ``log1p(gamma * e)`` of band energies scaled to a block maximum of
1: energies more than 20 dB under the block's strongest band count little."""

_HZ_PER_BIN = SAMPLE_RATE / N_FFT


def chroma_weights(
    sr: int = SAMPLE_RATE, n_fft: int = N_FFT, *, ctroct: float = 5.0, octwidth: float = 2.0
) -> np.ndarray:
    """Pitch-class weights of the STFT bins (Ellis's chroma filter bank, as
    ``librosa.filters.chroma(sr=sr, n_fft=n_fft, ctroct=ctroct, octwidth=octwidth)``,
    which the tests compare it with): a Gaussian bump per pitch class on every bin,
    weighted by a Gaussian over octaves centred on octave ``ctroct``. Computed here so
    that a scan does not import librosa (two seconds per process).

    Returns
    -------
    ndarray of float32, shape (12, n_fft // 2 + 1)
        Row 0 is C.
    """
    n_chroma = 12
    freqs = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * np.log2(freqs / (440.0 / 16.0))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidth = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1.0]))
    d = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype=np.float64)).T
    half = np.round(n_chroma / 2.0)
    d = np.remainder(d + half + 10 * n_chroma, n_chroma) - half
    w = np.exp(-0.5 * (2 * d / np.tile(binwidth, (n_chroma, 1))) ** 2)
    w = w / np.maximum(np.sqrt((w**2).sum(axis=0, keepdims=True)), np.finfo(np.float64).tiny)
    w *= np.tile(np.exp(-0.5 * (((frqbins / n_chroma - ctroct) / octwidth) ** 2)), (n_chroma, 1))
    w = np.roll(w, -3, axis=0)  # start at C, not A
    return np.ascontiguousarray(w[:, : n_fft // 2 + 1], dtype=np.float32)


def _chroma_filter() -> np.ndarray:
    f = chroma_weights()
    f[:, : int(np.ceil(60.0 / _HZ_PER_BIN))] = 0.0  # below 60 Hz: rumble, not pitch
    return np.ascontiguousarray(f.T)  # (n_bins, 12)


def semitone_weights(sr: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """Triangular semitone bands over the STFT bins (1 semitone wide at the base, centred
    on the equal-tempered pitches of :data:`CRP_PITCHES`, A4 = 440 Hz; nothing below
    60 Hz). Low bands see one or two bins: at 10.8 Hz per bin the semitones under about
    180 Hz are not resolved, which the pitch-class fold tolerates.

    Returns
    -------
    ndarray of float32, shape (n_fft // 2 + 1, CRP_PITCHES[1] - CRP_PITCHES[0])
        Row ``i`` is bin ``i`` (``i * sr / n_fft`` Hz); column ``j`` is MIDI pitch
        ``CRP_PITCHES[0] + j``.
    """
    f = np.arange(n_fft // 2 + 1) * (sr / n_fft)
    midi = 69.0 + 12.0 * np.log2(np.maximum(f, 1e-6) / 440.0)
    pitches = np.arange(*CRP_PITCHES)
    w = np.maximum(0.0, 1.0 - np.abs(midi[:, None] - pitches[None, :]))
    w[f < 60.0] = 0.0
    return np.ascontiguousarray(w, dtype=np.float32)


def crp(band_energy: np.ndarray) -> np.ndarray:
    """Timbre-reduced chroma of blocks of semitone band energies (CRP, Müller & Ewert
    2010): per block, the energies scaled to a maximum of 1, ``log1p`` compressed
    (:data:`CRP_GAMMA`), their DCT-II with the lowest :data:`CRP_DROPPED` coefficients
    zeroed and transformed back, summed per pitch class, negative values clipped to 0.

    Parameters
    ----------
    band_energy : ndarray, shape (n, CRP_PITCHES[1] - CRP_PITCHES[0])
        Power per block and semitone band (linear).

    Returns
    -------
    ndarray of float32, shape (12, n)
        Row 0 is C; not scaled.
    """
    from scipy.fft import dct, idct

    e = np.asarray(band_energy, np.float64)
    e = e / np.maximum(e.max(axis=1, keepdims=True), 1e-30)
    d = dct(np.log1p(CRP_GAMMA * e), axis=1, norm="ortho")
    d[:, :CRP_DROPPED] = 0.0
    lifted = idct(d, axis=1, norm="ortho")
    n_pitch = lifted.shape[1]
    classes = np.arange(CRP_PITCHES[0], CRP_PITCHES[0] + n_pitch) % 12
    out = np.zeros((12, lifted.shape[0]), np.float64)
    np.add.at(out, classes, lifted.T)
    return np.maximum(out, 0.0).astype(np.float32)


_FILTER: np.ndarray | None = None
_BANDS: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class ChromaSequence:
    """Blocks of pitch-class energy of one recording.

    Attributes
    ----------
    chroma : ndarray of float32, shape (12, n)
        The CRP chroma (:func:`crp`). Block ``k`` covers ``k * BLOCK_S`` to ``(k + 1) *
        BLOCK_S`` seconds; each column scaled to a maximum of 1 (all zeros for a silent
        block). Row 0 is C.
    tonal_share : float
        Share of blocks that are loud enough and whose energy is concentrated on a few
        pitch classes (noise and unpitched percussion spread it over all twelve).
    """

    chroma: np.ndarray
    tonal_share: float
    plain: np.ndarray | None = None
    """The plain chroma of the magnitudes, same shape and scaling (None: not kept)."""

    @property
    def n_blocks(self) -> int:
        return int(self.chroma.shape[1])

    @property
    def usable(self) -> bool:
        """Long and tonal enough for cover evidence."""
        return self.n_blocks >= MIN_BLOCKS and self.tonal_share >= MIN_TONAL_SHARE


def chroma_sequence(log_spec: np.ndarray) -> ChromaSequence:
    """Block chroma of a recording.

    Parameters
    ----------
    log_spec : ndarray, shape (n_frames, N_FFT // 2 + 1)
        :func:`fingerprints.landmarks.log_spectrogram` of mono audio at 11025 Hz (dB).

    Returns
    -------
    ChromaSequence
    """
    n = log_spec.shape[0] // BLOCK_FRAMES
    mag = np.power(np.float32(10.0), log_spec[: n * BLOCK_FRAMES] / np.float32(20.0))
    mag = mag.astype(np.float32, copy=False)
    power = (mag * mag).reshape(n, BLOCK_FRAMES, mag.shape[1]).sum(axis=1)
    return _from_frames(mag @ _weights(), power @ _bands())


def analyse(samples: np.ndarray) -> tuple[np.ndarray, ChromaSequence]:
    """The landmark spectrogram of a clip and its chroma sequence, in one STFT pass (the
    pitch-class fold is taken from the linear magnitudes while they are in cache;
    :func:`chroma_sequence` of the spectrogram gives the same sequence).

    Parameters
    ----------
    samples : ndarray, shape (n,)
        Mono audio at 11025 Hz.

    Returns
    -------
    log_spec : ndarray of float32, shape (n_frames, N_FFT // 2 + 1)
    sequence : ChromaSequence
    """
    from fingerprints.landmarks import log_spectrogram_folded

    log_spec, frames, bands = log_spectrogram_folded(
        samples, _weights(), _bands(), block=BLOCK_FRAMES
    )
    return log_spec, _from_frames(frames, bands)


def _weights() -> np.ndarray:
    global _FILTER
    if _FILTER is None:
        _FILTER = _chroma_filter()
    return _FILTER


def _bands() -> np.ndarray:
    global _BANDS
    if _BANDS is None:
        _BANDS = semitone_weights()
    return _BANDS


def _from_frames(frames: np.ndarray, bands: np.ndarray) -> ChromaSequence:
    """Blocks of per-frame pitch-class magnitudes (shape (n_frames, 12)) and of the
    semitone band powers summed per block (shape (n_frames // BLOCK_FRAMES, n_bands))."""
    n = frames.shape[0] // BLOCK_FRAMES
    if n == 0:
        empty = np.zeros((12, 0), np.float32)
        return ChromaSequence(empty, 0.0, empty)
    blocks = frames[: n * BLOCK_FRAMES].reshape(n, BLOCK_FRAMES, 12).mean(axis=1).T  # (12, n)
    peak = blocks.max(axis=0)
    loud = peak > np.float32(10 ** (-70 / 20))
    plain = _columns_to_max_one(blocks, loud)
    # tonal: the three strongest pitch classes against the mean of all twelve (noise and
    # unpitched drums: 1.13-1.17 at the median block; rendered scores and game music:
    # 1.2-1.6)
    top3 = np.sort(plain, axis=0)[-3:].mean(axis=0)
    tonal = loud & (top3 > 1.2 * plain.mean(axis=0))
    return ChromaSequence(_columns_to_max_one(crp(bands[:n]), loud), float(tonal.mean()), plain)


def _columns_to_max_one(c: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Each column of ``c`` (shape (12, n)) over its maximum; zeros where ``keep`` is
    False or the column is all zeros."""
    peak = c.max(axis=0)
    keep = peak > 0 if keep is None else keep & (peak > 0)
    return np.where(keep, c / np.maximum(peak, 1e-12), 0.0).astype(np.float32)


def ftm(chroma: np.ndarray) -> np.ndarray:
    """Median 2-D Fourier transform magnitude of the chroma patches of a sequence.

    Parameters
    ----------
    chroma : ndarray, shape (12, n)

    Returns
    -------
    ndarray of float32, shape (DIM,)
        ``log1p`` of the median magnitude over patches of :data:`PATCH_BLOCKS` blocks
        (hop :data:`PATCH_HOP`), half the time frequencies, the constant term zeroed.
        Shorter sequences are repeated to one patch.
    """
    b = np.asarray(chroma, np.float32)
    if b.shape[1] == 0:
        return np.zeros(DIM, np.float32)
    if b.shape[1] < PATCH_BLOCKS:
        b = np.tile(b, (1, int(np.ceil(PATCH_BLOCKS / b.shape[1]))))
    starts = range(0, b.shape[1] - PATCH_BLOCKS + 1, PATCH_HOP)
    patches = np.stack([b[:, s : s + PATCH_BLOCKS] for s in starts])
    mag = np.abs(np.fft.fft2(patches, axes=(1, 2)))[:, :, : PATCH_BLOCKS // 2 + 1]
    mag = mag.reshape(mag.shape[0], -1)
    mag[:, 0] = 0.0
    return np.log1p(np.median(mag, axis=0)).astype(np.float32)


def rescaled(chroma: np.ndarray, scale: float) -> np.ndarray:
    """``chroma`` resampled in time by ``scale`` (block ``k`` of the result is block
    ``round(k * scale)``): a recording ``scale`` times slower becomes as fast as one at
    the reference tempo."""
    n = chroma.shape[1]
    idx = np.clip(np.round(np.arange(0.0, n, scale)).astype(np.int64), 0, max(0, n - 1))
    return chroma[:, idx]


def coarsened(seq: ChromaSequence, factor: int = 2) -> ChromaSequence:
    """``seq`` with every ``factor`` blocks averaged into one (and scaled to a maximum
    of 1 again): a cheaper sequence for a first ranking of candidates."""
    n = seq.chroma.shape[1] // factor
    if n == 0:
        return seq

    def coarse(b: np.ndarray) -> np.ndarray:
        return _columns_to_max_one(b[:, : n * factor].reshape(12, n, factor).mean(axis=2))

    plain = None if seq.plain is None else coarse(seq.plain)
    return ChromaSequence(coarse(seq.chroma), seq.tonal_share, plain)


@dataclass(frozen=True, slots=True)
class Sections:
    """Embeddings of one recording (not normalised; see :mod:`fingerprints.index.
    cover_index` for the centring)."""

    vectors: np.ndarray  # (k, DIM) float32
    starts_s: np.ndarray  # (k,) float32
    ends_s: np.ndarray  # (k,) float32


def sections(
    seq: ChromaSequence, *, scale: float = 1.0, max_sections: int | None = None
) -> Sections:
    """The whole-recording embedding, then one per half-overlapping section of
    :data:`SECTION_BLOCKS` blocks (at most ``max_sections`` of them, evenly spread), of
    the sequence rescaled by ``scale``; times in seconds of the recording."""
    b = rescaled(seq.chroma, scale) if scale != 1.0 else seq.chroma
    n = b.shape[1]
    vecs, starts, ends = [ftm(b)], [0.0], [n * scale * BLOCK_S]
    if n > SECTION_BLOCKS:
        grid = list(range(0, n - SECTION_BLOCKS + 1, SECTION_BLOCKS // 2))
        if max_sections is not None and len(grid) > max_sections:
            pick = np.linspace(0, len(grid) - 1, max_sections).round().astype(int)
            grid = [grid[i] for i in pick]
        for s in grid:
            vecs.append(ftm(b[:, s : s + SECTION_BLOCKS]))
            starts.append(s * scale * BLOCK_S)
            ends.append((s + SECTION_BLOCKS) * scale * BLOCK_S)
    return Sections(
        np.stack(vecs).astype(np.float32),
        np.asarray(starts, np.float32),
        np.asarray(ends, np.float32),
    )


@dataclass(frozen=True, slots=True)
class CoverAlignment:
    """The best local alignment of an upload with one catalogue recording.

    Attributes
    ----------
    score : float
        Qmax (length of the best aligned path, in blocks, minus gap penalties) over the
        square root of the shorter sequence's length: the raw score.
    key_shift_semitones : int
        Upload key minus catalogue key, -5..6.
    tempo_ratio : float
        Upload tempo over catalogue tempo (catalogue section length over upload section
        length).
    query_start_s, query_end_s, catalogue_start_s, catalogue_end_s : float
        The aligned sections, seconds.
    """

    score: float
    key_shift_semitones: int
    tempo_ratio: float
    query_start_s: float
    query_end_s: float
    catalogue_start_s: float
    catalogue_end_s: float


_ROTATIONS = (np.arange(12)[None, :] - np.arange(12)[:, None]) % 12
"""Row ``k``: the indexes of ``np.roll(x, k)`` for a 12-vector ``x``."""


def transposition(query: np.ndarray, catalogue: np.ndarray) -> int:
    """Optimal transposition index: the rotation ``k`` of the upload's pitch classes
    (``np.roll(query, k, axis=0)``) whose global profile best matches the catalogue's."""
    gq, gc = query.mean(axis=1), catalogue.mean(axis=1)
    return int(np.argmax([float(np.dot(gc, gq[_ROTATIONS[k]])) for k in range(12)]))


def _state_space(b: np.ndarray, m: int = EMBED_BLOCKS) -> np.ndarray:
    n = b.shape[1] - m + 1
    e = b.T.copy() if n < 1 else np.concatenate([b[:, k : k + n] for k in range(m)], axis=0).T
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-9)


def _recurrence(eq: np.ndarray, ec: np.ndarray, kappa: float = 0.1) -> np.ndarray:
    """Binary cross-recurrence: mutual ``kappa`` nearest neighbours."""
    s = eq @ ec.T
    kq = max(1, int(kappa * s.shape[1]))
    kc = max(1, int(kappa * s.shape[0]))
    tq = np.partition(s, -kq, axis=1)[:, -kq][:, None]
    tc = np.partition(s, -kc, axis=0)[-kc, :][None, :]
    return (s >= tq) & (s >= tc)


def _qmax_py(r: np.ndarray, gap_open: float, gap_extend: float):  # pragma: no cover (jit)
    """Serra's Qmax over a binary cross-recurrence ``r``: (best, i0, j0, i1, j1), the
    best path's value and its first and last cells (compiled by numba on first use)."""
    n, m = r.shape
    q = np.zeros((n + 2, m + 2), np.float32)
    si = np.zeros((n + 2, m + 2), np.int32)
    sj = np.zeros((n + 2, m + 2), np.int32)
    best, bi, bj, b0i, b0j = 0.0, 0, 0, 0, 0
    for i in range(2, n + 2):
        for j in range(2, m + 2):
            cand = (q[i - 1, j - 1], q[i - 2, j - 1], q[i - 1, j - 2])
            prev = ((i - 1, j - 1), (i - 2, j - 1), (i - 1, j - 2))
            if r[i - 2, j - 2]:
                k = 0
                if cand[1] > cand[k]:
                    k = 1
                if cand[2] > cand[k]:
                    k = 2
                v = cand[k] + 1.0
            else:
                v, k = 0.0, -1
                for c in range(3):
                    pi, pj = prev[c]
                    hit = pi >= 2 and pj >= 2 and r[pi - 2, pj - 2]
                    w = cand[c] - (gap_open if hit else gap_extend)
                    if w > v:
                        v, k = w, c
            q[i, j] = v
            if k >= 0 and cand[k] > 0.0:
                pi, pj = prev[k]
                si[i, j], sj[i, j] = si[pi, pj], sj[pi, pj]
            else:
                si[i, j], sj[i, j] = i - 2, j - 2
            if v > best:
                best, bi, bj, b0i, b0j = v, i - 2, j - 2, si[i, j], sj[i, j]
    return best, b0i, b0j, bi, bj


_qmax = on_first_use(_qmax_py)


def align(
    query: ChromaSequence,
    catalogue: ChromaSequence,
    *,
    scales: tuple[float, ...] = ALIGN_SCALES,
    gap_open: float = 5.0,
    gap_extend: float = 0.5,
) -> CoverAlignment:
    """Rescore one candidate: transposition, cross-recurrence and Qmax at each time
    scale of the upload; the best scale's alignment.

    Parameters
    ----------
    query, catalogue : ChromaSequence
    scales : tuple of float
        Time scales of the upload tried (catalogue tempo over upload tempo).
    gap_open, gap_extend : float
        Qmax penalties for leaving and for staying off the recurrent path (Serra et al.
        2009: 5 and 0.5).
    """
    k = transposition(query.chroma, catalogue.chroma)
    q_rot = np.roll(query.chroma, k, axis=0)
    ec = _state_space(catalogue.chroma)
    best: tuple[float, float, tuple[int, int, int, int]] | None = None
    for s in scales:
        r = _recurrence(_state_space(rescaled(q_rot, s)), ec)
        raw, i0, j0, i1, j1 = _qmax(r, gap_open, gap_extend)
        score = float(raw) / float(np.sqrt(min(r.shape)))
        if best is None or score > best[0]:
            best = (score, s, (i0, j0, i1, j1))
    assert best is not None
    score, s, (i0, j0, i1, j1) = best
    # rescaled block i is upload block i * s; a state-space row spans EMBED_BLOCKS blocks
    q0, q1 = i0 * s * BLOCK_S, (i1 + EMBED_BLOCKS) * s * BLOCK_S
    c0, c1 = j0 * BLOCK_S, (j1 + EMBED_BLOCKS) * BLOCK_S
    q1 = min(q1, query.n_blocks * BLOCK_S)
    c1 = min(c1, catalogue.n_blocks * BLOCK_S)
    shift = (-k) % 12
    return CoverAlignment(
        score=score,
        key_shift_semitones=shift - 12 if shift > 6 else shift,
        tempo_ratio=float((c1 - c0) / (q1 - q0)) if q1 > q0 else 1.0,
        query_start_s=float(q0),
        query_end_s=float(q1),
        catalogue_start_s=float(c0),
        catalogue_end_s=float(c1),
    )


def align_fused(
    query: ChromaSequence,
    catalogue: ChromaSequence,
    *,
    scales: tuple[float, ...] = ALIGN_SCALES,
) -> CoverAlignment:
    """:func:`align` on the CRP chromas and on the plain chromas, at the same scales: the
    score is the mean of the two scores, the key, tempo and sections those of the one
    that scored higher. On the development corpus the two chromas fail on different
    covers (docs/benchmarks.md, "Covers"). Sequences without a plain chroma: :func:`align`.
    """
    a = align(query, catalogue, scales=scales)
    if query.plain is None or catalogue.plain is None:
        return a
    b = align(
        ChromaSequence(query.plain, query.tonal_share),
        ChromaSequence(catalogue.plain, catalogue.tonal_share),
        scales=scales,
    )
    best = a if a.score >= b.score else b
    return replace(best, score=(a.score + b.score) / 2.0)
