"""Voice in an upload: vocal emphasis, voice activity, speaker embeddings, calibration.

An upload is decoded at 16 kHz (:data:`fingerprints.ge2e.SAMPLE_RATE`). When music
plays under the voice (the file never falls quiet: :func:`needs_emphasis`; a dry voice
pauses between phrases), the voice is separated from it by REPET-SIM
(:func:`vocal_emphasis`): accompaniment repeats, a voice does not, so the median of the
most similar frames elsewhere in the file estimates the music under each frame. A
two-stage harmonic-percussive separation (Tachibana et al., ICASSP 2010) was tried
first and dropped: with median filters short enough to be cheap it removed about 98 %
of a synthetic talker's energy along with the music.

Voice activity is then read off the emphasised signal: 10 ms frames whose energy in
the voice band (100-4000 Hz: fundamentals of low voices to the upper formants) rises
above the file's own floor and makes most of the frame's energy, smoothed and dilated
like Resemblyzer's (a moving average over 80 ms, short gaps closed), spans under 0.3 s
dropped. Only voiced frames reach the GE2E encoder (:mod:`fingerprints.ge2e`), in
partial utterances of 1.6 s; the partials are grouped into *windows* of up to
:data:`WINDOW_PARTIALS` partials (about 6 s of voice), each window's embedding the
normalised mean of its partials, so a protected voice heard on one verse is not
averaged away by the rest of the song.

Scores: cosine between a window and a voice print (the normalised mean of a voice's
reference embeddings). Cosines of GE2E embeddings differ between voices (some voices sit
in crowded parts of the space), so :func:`calibrated_strength` first normalises a raw
score by the voice's own impostor statistics (Z-norm: mean and spread of the scores of
other voices' recordings against this print; Auckenthaler et al., Digital Signal
Processing 10, 2000), shrunk towards a prior when the cohort is small, then maps the
normalised score through a logistic whose constants are recorded with their source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fingerprints import ge2e, voice_presence

SAMPLE_RATE = ge2e.SAMPLE_RATE
FRAME_S = ge2e.HOP / ge2e.SAMPLE_RATE
"""Voice-activity and encoder frame step, seconds (10 ms)."""
SPEECH_BAND_HZ = (100.0, 4000.0)
MIN_SPAN_S = 0.3
"""Voiced spans shorter than this are dropped."""
MIN_VOICED_S = 1.0
"""Less voice than this in an upload: no voice analysis (no embedding, no evidence)."""
PARTIAL_STEP = ge2e.PARTIAL_FRAMES
"""Encoder frames between partial starts: 160 (partials do not overlap; Resemblyzer's
default overlaps them by half, which doubles the encoder's cost, its largest)."""
MAX_PARTIALS = 75
"""Encoder partials per upload at most (120 s of voice, spread over all of it): the
encoder is the largest cost and a longer voiced part adds windows, not evidence."""
WINDOW_PARTIALS = 4
"""Partials per analysis window (about 6.4 s of voice)."""
WINDOW_STEP = 2
"""Window hop, partials."""
TARGET_DBFS = -30.0
"""Level the voiced audio is brought to before the encoder (Resemblyzer's)."""
SILENCE_DBFS = -60.0
"""Voiced audio quieter than this (RMS) is treated as silence."""
REPET_N_FFT = 1024
"""STFT of the separation: 64 ms windows at 16 kHz."""
REPET_HOP = 512
REPET_COARSE = 2
"""STFT frames per frame of the similarity search (64 ms)."""
REPET_NEIGHBOURS = 10
"""Similar frames whose median is the background of a frame."""
REPET_MIN_GAP_S = 1.0
"""Neighbours at least this far from the frame (its own note or syllable is not music
that repeats)."""
REPET_MAX_LAG_S = 60.0
"""Neighbours at most this far (the cost grows linearly with the file beyond it)."""
REPET_MARGIN = 2.0
"""Soft-mask margin: the voice must exceed twice the background to keep a bin whole."""
PAUSE_DB = 30.0
"""Level range (loudest 10 % of frames over quietest 10 %) under which a file is taken
to have music under its voice (:func:`needs_emphasis`)."""
VERSION = "1"
"""Bumped whenever the emphasis, the activity detector or the windows change."""


@dataclass(frozen=True, slots=True)
class VoiceWindow:
    """One analysis window of an upload's voiced audio.

    Attributes
    ----------
    start_s, end_s : float
        Span of the upload the window's partials cover, seconds (it may hold
        unvoiced gaps that were skipped).
    embedding : ndarray of float32, shape (256,)
        Unit GE2E embedding.
    presence : float
        Probability that the window holds a voice (:mod:`fingerprints.voice_presence`).
    """

    start_s: float
    end_s: float
    embedding: np.ndarray
    presence: float = 1.0


@dataclass(frozen=True, slots=True)
class VoiceAnalysis:
    """What :func:`analyse` found.

    Attributes
    ----------
    spans : tuple of (start_s, end_s)
        Voiced spans of the input, seconds.
    voiced_s : float
        Their total length, seconds.
    emphasis : bool
        Whether the vocal emphasis was applied.
    embedding : ndarray of float32, shape (256,) or None
        Unit embedding of all voiced audio (None when there is too little voice).
    windows : tuple of VoiceWindow
        The windows that hold a voice (empty when ``embedding`` is None).
    presence_max : float
        Highest voice probability of any window (0 when none was embedded).
    """

    spans: tuple[tuple[float, float], ...]
    voiced_s: float
    emphasis: bool
    embedding: np.ndarray | None
    windows: tuple[VoiceWindow, ...]
    presence_max: float = 0.0

    @property
    def has_voice(self) -> bool:
        return self.embedding is not None


def vocal_emphasis(samples: np.ndarray) -> np.ndarray:
    """The voice without the music under it, by REPET-SIM (Rafii & Pardo, "Music/voice
    separation using the similarity matrix", ISMIR 2012).

    Music repeats and a voice does not: the background of each STFT frame is the
    element-wise median of the :data:`REPET_NEIGHBOURS` most similar frames elsewhere
    in the file (cosine of log-mel frames, at least :data:`REPET_MIN_GAP_S` away and
    within :data:`REPET_MAX_LAG_S`, so long files cost linear time), and a soft mask
    gives the rest to the voice. numpy throughout: the similarities are computed in
    blocks of frames (bounded memory), about 0.3 CPU-s per minute of audio (one core).

    Parameters
    ----------
    samples : ndarray of float32, shape (n,)
        Mono audio at :data:`SAMPLE_RATE`.

    Returns
    -------
    ndarray of float32, shape (n,)
        The voice part, same rate and length.
    """
    import librosa

    x = np.asarray(samples, dtype=np.float32)
    n = x.shape[0]
    S = librosa.stft(x, n_fft=REPET_N_FFT, hop_length=REPET_HOP)
    M = np.abs(S)
    frames = M.shape[1]
    # Neighbours are searched between coarse frames (REPET_COARSE frames averaged) and
    # shared by the frames inside: repetition in music is at the beat's scale, and the
    # search costs REPET_COARSE**2 times less.
    c = REPET_COARSE
    n_coarse = -(-frames // c)
    mel = librosa.feature.melspectrogram(S=M**2, sr=SAMPLE_RATE, n_mels=64)
    mel = np.pad(mel, ((0, 0), (0, n_coarse * c - frames)), mode="edge")
    L = np.log1p(1e3 * mel.reshape(64, n_coarse, c).mean(axis=2)).astype(np.float32)
    L /= np.linalg.norm(L, axis=0, keepdims=True) + 1e-9
    step_s = c * REPET_HOP / SAMPLE_RATE
    gap = max(1, round(REPET_MIN_GAP_S / step_s))
    lag = max(gap + REPET_NEIGHBOURS, round(REPET_MAX_LAG_S / step_s))
    nn = np.empty((n_coarse, REPET_NEIGHBOURS), dtype=np.int64)
    block = 256
    for a in range(0, n_coarse, block):
        b = min(n_coarse, a + block)
        lo, hi = max(0, a - lag), min(n_coarse, b + lag)
        G = L[:, a:b].T @ L[:, lo:hi]  # (block, candidates), rows contiguous
        dist = np.abs(np.arange(a, b)[:, None] - np.arange(lo, hi)[None, :])
        G[dist < gap] = -np.inf
        k = min(REPET_NEIGHBOURS, G.shape[1])
        top = np.argpartition(-G, k - 1, axis=1)[:, :k]
        ok = np.isfinite(np.take_along_axis(G, top, axis=1))
        own = np.arange(a, b)[:, None]
        top = np.where(ok, top + lo, own)  # no neighbour far enough: the frame itself
        if k < REPET_NEIGHBOURS:
            top = np.concatenate([top, np.repeat(own, REPET_NEIGHBOURS - k, axis=1)], axis=1)
        nn[a:b] = top
    # fine frame f = c * coarse + j takes frames c * neighbour + j
    offs = np.arange(frames) % c
    fine = np.minimum(nn[np.arange(frames) // c] * c + offs[:, None], frames - 1)  # (frames, k)
    B = np.empty_like(M)
    for a in range(0, frames, 1024):
        b = min(frames, a + 1024)
        B[:, a:b] = np.median(M[:, fine[a:b]], axis=2)
    B = np.minimum(M, B)
    fg2 = np.square(M - B)
    mask = fg2 / (fg2 + np.square(REPET_MARGIN * B) + 1e-12)  # soft mask, power 2
    return librosa.istft(S * mask, hop_length=REPET_HOP, length=n).astype(np.float32)


def voice_activity(
    samples: np.ndarray,
    *,
    floor_db: float = 12.0,
    band_share: float = 0.5,
) -> np.ndarray:
    """Voiced 10 ms frames of 16 kHz audio (usually the output of :func:`vocal_emphasis`).

    Parameters
    ----------
    samples : ndarray of float32, shape (n,)
    floor_db : float
        A frame is loud enough when its speech-band energy is this many dB above the
        file's 10th percentile of frame energies (and no more than 40 dB under its
        loudest frames).
    band_share : float
        Share of the frame's energy that must lie in the speech band.

    Returns
    -------
    ndarray of bool, shape (1 + n // 160,)
        One flag per encoder frame (:func:`fingerprints.ge2e.mel_frames` frames).
    """
    import librosa
    from scipy.ndimage import binary_closing, binary_dilation, uniform_filter1d

    x = np.asarray(samples, dtype=np.float32)
    spec = np.abs(librosa.stft(x, n_fft=ge2e.N_FFT, hop_length=ge2e.HOP)) ** 2
    freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=ge2e.N_FFT)
    band = (freqs >= SPEECH_BAND_HZ[0]) & (freqs <= SPEECH_BAND_HZ[1])
    total = spec.sum(axis=0) + 1e-12
    e_band = spec[band].sum(axis=0) + 1e-12
    db = 10 * np.log10(e_band)
    peak = np.percentile(db, 95)
    floor = np.percentile(db, 10)
    rms = librosa.feature.rms(y=x, frame_length=ge2e.N_FFT, hop_length=ge2e.HOP)[0]
    audible = 20 * np.log10(rms[: db.size] + 1e-12) > SILENCE_DBFS
    level_ok = (db > floor + floor_db) & (db > peak - 40.0) & audible
    voiced = level_ok & (e_band / total >= band_share)
    smooth = uniform_filter1d(voiced.astype(np.float32), size=8) >= 0.5
    smooth = binary_closing(smooth, structure=np.ones(21, dtype=bool))  # close gaps < 0.2 s
    smooth = binary_dilation(smooth, structure=np.ones(5, dtype=bool))
    return _drop_short(smooth, round(MIN_SPAN_S / FRAME_S))


def _drop_short(flags: np.ndarray, min_len: int) -> np.ndarray:
    out = flags.copy()
    for a, b in _runs(flags):
        if b - a < min_len:
            out[a:b] = False
    return out


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) frame ranges of the True runs."""
    f = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    d = np.flatnonzero(np.diff(f.astype(np.int8)))
    return list(zip(d[0::2].tolist(), d[1::2].tolist(), strict=True))


def needs_emphasis(samples: np.ndarray, *, pause_db: float = PAUSE_DB) -> bool:
    """Whether something plays under the voice: the file never falls quiet.

    A dry voice pauses between phrases, and its quietest 10 % of 10 ms frames lie
    ``pause_db`` or more under its loudest 10 %; music under a voice fills the pauses.
    """
    import librosa

    rms = librosa.feature.rms(y=np.asarray(samples, dtype=np.float32), frame_length=ge2e.N_FFT,
                              hop_length=ge2e.HOP)[0]  # fmt: skip
    db = 20 * np.log10(rms + 1e-9)
    return float(np.percentile(db, 90) - np.percentile(db, 10)) < pause_db


def analyse(
    samples: np.ndarray,
    *,
    encoder: ge2e.SpeakerEncoder | None = None,
    emphasis: bool | None = None,
    min_voiced_s: float = MIN_VOICED_S,
    presence: voice_presence.PresenceModel | bool = True,
) -> VoiceAnalysis:
    """Find the voice in 16 kHz audio and embed it.

    Parameters
    ----------
    samples : ndarray of float32, shape (n,)
        Mono audio at :data:`SAMPLE_RATE`.
    encoder : SpeakerEncoder, optional
        Default: the packaged GE2E encoder.
    emphasis : bool or None
        Separate the voice from the music (True), never (False), or when
        :func:`needs_emphasis` says music plays under the voice (None).
    min_voiced_s : float
        Less voiced audio than this gives no embedding.
    presence : PresenceModel, True or False
        Keep only the windows that this model (True: the packaged one) finds to hold a
        voice (:mod:`fingerprints.voice_presence`); False keeps every window (for
        training that model).

    Returns
    -------
    VoiceAnalysis
    """
    enc = encoder or ge2e.default_encoder()
    if presence is True:
        presence = voice_presence.default_model()
    x = np.nan_to_num(np.asarray(samples, dtype=np.float32))
    if x.size < ge2e.N_FFT or not np.any(x):
        return VoiceAnalysis((), 0.0, False, None, ())
    use = needs_emphasis(x) if emphasis is None else emphasis
    y = vocal_emphasis(x) if use else x
    flags = voice_activity(y)
    runs = _runs(flags)
    spans = tuple((a * FRAME_S, b * FRAME_S) for a, b in runs)
    voiced_s = float(flags.sum()) * FRAME_S
    if voiced_s < min_voiced_s:
        return VoiceAnalysis(spans, voiced_s, use, None, ())
    # The voiced samples, brought to the encoder's level; frames keep their file time.
    idx = np.flatnonzero(np.repeat(flags, ge2e.HOP)[: y.shape[0]])
    got = _partials(enc, y[idx])
    if got is None:
        return VoiceAnalysis(spans, voiced_s, use, None, ())
    partials, starts, n_frames = got
    frame_time = idx[np.minimum(np.arange(n_frames) * ge2e.HOP, idx.size - 1)] / SAMPLE_RATE
    p_start = frame_time[starts]
    p_end = frame_time[np.minimum(starts + ge2e.PARTIAL_FRAMES - 1, n_frames - 1)] + FRAME_S
    bounds = [(w0, min(w0 + WINDOW_PARTIALS, len(starts))) for w0 in _window_starts(len(starts))]
    E = np.stack([ge2e.mean_embedding(partials[a:b]) for a, b in bounds])
    pv = presence.probability(E) if presence else np.ones(len(E))
    keep = pv >= voice_presence.THRESHOLD
    windows = tuple(
        VoiceWindow(float(p_start[a]), float(p_end[b - 1]), E[i], float(pv[i]))
        for i, (a, b) in enumerate(bounds)
        if keep[i]
    )
    if not windows:  # sound in the voice band, but no window sounds like a voice
        return VoiceAnalysis(spans, voiced_s, use, None, (), float(pv.max()))
    used = np.zeros(len(starts), dtype=bool)
    for i, (a, b) in enumerate(bounds):
        used[a:b] |= bool(keep[i])
    whole = ge2e.mean_embedding(partials[used])
    return VoiceAnalysis(spans, voiced_s, use, whole, windows, float(pv.max()))


def _partials(enc: ge2e.SpeakerEncoder, samples: np.ndarray):
    """(partial embeddings, partial start frames, frame count) of audio brought to
    :data:`TARGET_DBFS`, at most :data:`MAX_PARTIALS` partials; None if it is silent."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms <= 0 or 20 * np.log10(rms) < SILENCE_DBFS:
        return None
    frames = ge2e.mel_frames(samples * np.float32(10 ** (TARGET_DBFS / 20) / rms))
    starts = ge2e.partial_starts(frames.shape[0], step_frames=PARTIAL_STEP)
    if len(starts) > MAX_PARTIALS:  # spread over the whole voiced part
        pick = np.linspace(0, len(starts) - 1, MAX_PARTIALS).round().astype(int)
        starts = starts[np.unique(pick)]
    return enc.embed_partials(ge2e.stack_partials(frames, starts)), starts, frames.shape[0]


def _window_starts(n_partials: int) -> list[int]:
    if n_partials <= WINDOW_PARTIALS:
        return [0]
    starts = list(range(0, n_partials - WINDOW_PARTIALS + 1, WINDOW_STEP))
    if starts[-1] + WINDOW_PARTIALS < n_partials:
        starts.append(n_partials - WINDOW_PARTIALS)
    return starts


def voice_print(embeddings: np.ndarray) -> np.ndarray:
    """A voice print: the normalised mean of reference embeddings (k, 256) -> (256,)."""
    return ge2e.mean_embedding(np.asarray(embeddings, dtype=np.float32))


@dataclass(frozen=True, slots=True)
class Calibration:
    """Constants of :func:`calibrated_strength`, with where they came from.

    Attributes
    ----------
    prior_mean, prior_sd : float
        Impostor cosine statistics used when a voice's cohort is small.
    prior_weight : float
        Pseudo-count of the prior (cohort scores needed to outweigh it).
    slope, offset : float
        Logistic on the Z-normalised score: ``1 / (1 + exp(-(slope * z + offset)))``.
    source : str
    """

    prior_mean: float
    prior_sd: float
    prior_weight: float
    slope: float
    offset: float
    source: str


def cohort_stats(scores: np.ndarray, calibration: Calibration) -> tuple[float, float]:
    """Impostor mean and spread of one voice from its cohort scores, shrunk to the prior.

    Parameters
    ----------
    scores : ndarray, shape (m,)
        Cosines of other voices' reference recordings against this voice's print.

    Returns
    -------
    (mean, sd) : float
    """
    s = np.asarray(scores, dtype=np.float64)
    k, m = calibration.prior_weight, s.size
    mu = (k * calibration.prior_mean + s.sum()) / (k + m)
    var_obs = float(np.sum((s - mu) ** 2))
    var = (k * calibration.prior_sd**2 + var_obs) / (k + m)
    return float(mu), float(max(np.sqrt(var), 1e-3))


def calibrated_strength(
    cosine: np.ndarray | float,
    mean: np.ndarray | float,
    sd: np.ndarray | float,
    calibration: Calibration,
) -> np.ndarray:
    """Strength in 0..1 of raw cosine scores against one voice.

    Parameters
    ----------
    cosine : float or ndarray
        Raw cosine(s) of upload windows against the voice print.
    mean, sd : float or ndarray
        The voice's impostor statistics (:func:`cohort_stats`); arrays broadcast
        against ``cosine`` (for example one value per voice along its last axis).

    Returns
    -------
    ndarray of float64, the broadcast shape: the logistic of the Z-normalised score.
    """
    z = (np.asarray(cosine, dtype=np.float64) - mean) / sd
    return 1.0 / (1.0 + np.exp(-np.clip(calibration.slope * z + calibration.offset, -50, 50)))
