"""The protected-voice bank in the store (tables ``voice_prints`` and ``voice_references``).

A protected voice is enrolled from reference recordings of the artist's voice. Every
reference is analysed like an upload (:func:`fingerprints.voice.analyse`); one with
too little voice (:data:`MIN_REFERENCE_VOICED_S`), silent, undecodable or a duplicate of
a reference already enrolled for that voice is refused with a reason, and a voice left
with no usable reference is not created. The print is the normalised mean of the
references' embeddings and is recomputed whenever a reference is added.

Each print carries its impostor statistics (Z-norm cohort: the other enrolled voices'
references scored against it, :func:`fingerprints.voice.cohort_stats`); they are
refreshed for the whole bank after every enrolment (a dot product per pair of print and
foreign reference, a few milliseconds for thousands of voices).

A voice is disabled, not deleted (``disable_voice``), so past decisions stay
explainable; who may use it (authorised uploader accounts) and the consent record
travel with the print into the evidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from compliance.errors import ComplianceError
from compliance.storage.models import VoicePrintRow, VoiceReferenceRow, utcnow
from compliance.voices.calibration import DEFAULT_CALIBRATION
from fingerprints import ge2e
from fingerprints import voice as fvoice

MIN_REFERENCE_VOICED_S = 1.0
"""A reference with less voice than this (after voice activity) is refused: a shorter
one fills less than one 1.6 s encoder partial."""
MAX_VOICE_ID = 128
COHORT_MAX = 500
"""Impostor windows per voice at most (a fixed random sample of the rest of the bank):
enough for a mean and a spread, and a refresh of 10,000 voices stays a few BLAS calls."""


class VoiceBankError(ComplianceError):
    code = "voice_bank_error"


@dataclass(frozen=True, slots=True)
class Reference:
    """One reference recording, analysed (see :func:`analyse_reference`)."""

    source_path: str
    content_hash: str
    duration_s: float
    voiced_s: float
    embedding: np.ndarray
    windows: np.ndarray
    """Window embeddings (k, 256), the units uploads are scored in."""


@dataclass
class EnrolResult:
    """What :func:`enrol` did with each reference."""

    voice_id: str
    added: list[str] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    """(path, code, message) per refused reference."""
    n_references: int = 0
    created: bool = False

    @property
    def usable(self) -> bool:
        return self.n_references > 0


def from_blob(blob: bytes) -> np.ndarray:
    """An embedding (or embeddings, flattened) as stored in the bank: little-endian float32.

    Returns
    -------
    ndarray of float32, shape (n,)
    """
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def to_blob(v: np.ndarray) -> bytes:
    """The stored form of an embedding array of any shape (little-endian float32, row
    major; :func:`from_blob` gives it back flattened)."""
    return np.asarray(v, dtype="<f4").tobytes()


def analyse_reference(
    path: str | Path, *, max_duration_s: float = 1800.0, digest: str | None = None
) -> Reference:
    """Decode and embed one reference recording; refuse it with a coded error if unusable.

    ``digest`` is the file's :func:`fingerprints.audio.content_hash` when the caller
    already has it.

    Raises
    ------
    fingerprints.errors.AudioError
        Unreadable, too long or too large (the decoder's own codes).
    VoiceBankError
        ``voice_reference_silent``, ``voice_reference_too_short`` (too little voice) or
        ``voice_reference_no_voice`` (sound, but no window the voice-presence model takes
        for a voice: music, noise).
    """
    from fingerprints.audio import content_hash, decode

    clip = decode(
        path, sample_rate=ge2e.SAMPLE_RATE, max_duration_s=max_duration_s, backend="ffmpeg"
    )
    x = clip.samples
    if x.size == 0 or float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) < 10 ** (
        fvoice.SILENCE_DBFS / 20
    ):
        raise VoiceBankError(f"{path}: the recording is silent", code="voice_reference_silent")
    a = fvoice.analyse(x, min_voiced_s=MIN_REFERENCE_VOICED_S)
    if not a.has_voice and a.voiced_s >= MIN_REFERENCE_VOICED_S:
        raise VoiceBankError(
            f"{path}: no part of it sounds like a voice (voice-presence probability at most "
            f"{a.presence_max:.2f})",
            code="voice_reference_no_voice",
        )
    if not a.has_voice:
        raise VoiceBankError(
            f"{path}: {a.voiced_s:.1f} s of voice found in {clip.duration_s:.1f} s "
            f"(at least {MIN_REFERENCE_VOICED_S:.1f} s needed)",
            code="voice_reference_too_short",
        )
    return Reference(
        source_path=str(path),
        content_hash=digest or content_hash(Path(path)),
        duration_s=clip.duration_s,
        voiced_s=a.voiced_s,
        embedding=a.embedding,
        windows=np.stack([w.embedding for w in a.windows]),
    )


def _enrolled_hashes(s, voice_id: str) -> set[str]:
    """Content hashes of the references stored for ``voice_id``."""
    q = select(VoiceReferenceRow.content_hash).where(VoiceReferenceRow.voice_id == voice_id)
    return set(s.scalars(q))


def enrol(
    store,
    voice_id: str,
    paths: Sequence[str | Path],
    *,
    artist_name: str | None = None,
    authorised_accounts: Sequence[str] = (),
    consent: dict[str, Any] | None = None,
    provenance: str | None = None,
    added_by: str | None = None,
    names: Sequence[str] | None = None,
) -> EnrolResult:
    """Add reference recordings to a protected voice (created on first use).

    Parameters
    ----------
    voice_id : str
        The protected artist's id (1..128 characters).
    paths : sequence of path
        Reference recordings of that voice.
    artist_name, authorised_accounts, consent
        Who the voice is, which uploader accounts may use it, and the consent or
        authorisation record (free-form JSON: who granted it, the document, the date).
        Given values replace the stored ones; omitted ones are kept.
    provenance : str, optional
        Where the references come from (stored with each).
    names : sequence of str, optional
        What to call each recording in messages and in the store (the uploader's file
        names of stored blobs); the paths by default.

    Returns
    -------
    EnrolResult
        ``usable`` is False when the voice has no reference after this call (nothing
        is stored then).
    """
    from fingerprints.audio import content_hash
    from fingerprints.errors import CodedError

    if not voice_id or len(voice_id) > MAX_VOICE_ID or voice_id != voice_id.strip():
        raise VoiceBankError(
            f"voice id must be 1..{MAX_VOICE_ID} characters without surrounding spaces",
            code="voice_id_invalid",
        )
    result = EnrolResult(voice_id=voice_id)
    refs: list[Reference] = []
    labels = list(names) if names is not None else [str(p) for p in paths]
    # A reference already enrolled is refused before it is decoded and embedded (the
    # costly part); the check inside the transaction below still guards concurrent calls.
    with store.reader() as s:
        seen = _enrolled_hashes(s, voice_id)
    for p, label in zip(paths, labels, strict=True):
        try:
            digest = content_hash(p)
            if digest in seen:
                msg = f"{label}: already enrolled for {voice_id}"
                result.refused.append((label, "voice_reference_duplicate", msg))
                continue
            seen.add(digest)
            r = analyse_reference(p, digest=digest)
            refs.append(Reference(label, r.content_hash, r.duration_s, r.voiced_s,
                                  r.embedding, r.windows))  # fmt: skip
        except CodedError as exc:
            result.refused.append((label, exc.code, exc.message.replace(str(p), label)))
        except OSError as exc:
            result.refused.append((label, "audio_unreadable", f"{label}: {exc}"))
    with store.session() as s, s.begin():
        row = s.get(VoicePrintRow, voice_id)
        known = _enrolled_hashes(s, voice_id)
        fresh = []
        for r in refs:
            if r.content_hash in known:
                msg = f"{r.source_path}: already enrolled for {voice_id}"
                result.refused.append((r.source_path, "voice_reference_duplicate", msg))
                continue
            known.add(r.content_hash)
            fresh.append(r)
        if row is None and not fresh:
            return result
        now = utcnow()
        if row is None:
            row = VoicePrintRow(
                voice_id=voice_id,
                artist_name=artist_name,
                authorised_accounts=list(authorised_accounts),
                consent=dict(consent or {}),
                model_version=ge2e.MODEL_VERSION,
                embedding=b"",
                n_references=0,
                added_at=now,
                updated_at=now,
                added_by=added_by,
            )
            s.add(row)
            result.created = True
        else:
            if row.model_version != ge2e.MODEL_VERSION:
                raise VoiceBankError(
                    f"voice {voice_id} was enrolled with {row.model_version}; re-enrol it",
                    code="voice_model_mismatch",
                )
            if artist_name is not None:
                row.artist_name = artist_name
            if authorised_accounts:
                row.authorised_accounts = list(authorised_accounts)
            if consent is not None:
                row.consent = dict(consent)
        for r in fresh:
            s.add(
                VoiceReferenceRow(
                    voice_id=voice_id,
                    content_hash=r.content_hash,
                    source_path=r.source_path,
                    duration_s=r.duration_s,
                    voiced_s=r.voiced_s,
                    embedding=to_blob(r.embedding),
                    windows=to_blob(r.windows),
                    provenance=provenance,
                    added_at=now,
                    added_by=added_by,
                )
            )
            result.added.append(r.source_path)
        s.flush()
        embs = [
            from_blob(b)
            for b in s.scalars(
                select(VoiceReferenceRow.embedding).where(VoiceReferenceRow.voice_id == voice_id)
            )
        ]
        row.embedding = to_blob(fvoice.voice_print(np.stack(embs)))
        row.n_references = len(embs)
        row.updated_at = now
        result.n_references = len(embs)
    refresh_cohorts(store, changed=voice_id)
    return result


def refresh_cohorts(store, calibration=DEFAULT_CALIBRATION, *, changed: str | None = None) -> None:
    """Recompute impostor statistics: the windows of the other voices' references (at
    most :data:`COHORT_MAX`, a fixed sample per voice) scored against a voice's print.

    With ``changed`` (the voice whose references just changed) only that voice and the
    voices whose cohort is not yet full are recomputed: a full cohort is already a
    sample of the rest of the bank, and one more voice in the bank hardly moves it.
    Only the reference windows the samples draw are read, so the cost of an enrolment
    into a large bank is bounded by :data:`COHORT_MAX`, not by the size of the bank.
    """
    R = VoiceReferenceRow
    width = ge2e.EMBEDDING_SIZE * 4  # bytes per window (float32)
    with store.session() as s, s.begin():
        prints = s.scalars(select(VoicePrintRow).order_by(VoicePrintRow.voice_id)).all()
        if not prints:
            return
        if changed is not None:
            prints = [
                p for p in prints if p.voice_id == changed or (p.cohort_size or 0) < COHORT_MAX
            ]
            if not prints:
                return
        meta = s.execute(select(R.id, R.voice_id, func.length(R.windows)).order_by(R.id)).all()
        ref_ids = np.asarray([m[0] for m in meta], dtype=np.int64)
        counts = np.asarray([int(m[2] or 0) // width for m in meta], dtype=np.int64)
        voices = sorted({m[1] for m in meta})
        code = {v: k for k, v in enumerate(voices)}
        owner_of_ref = np.asarray([code[m[1]] for m in meta], dtype=np.int64)
        # every window of the bank as (reference row, window within it, owner), without
        # its bytes
        win_ref = np.repeat(np.arange(len(meta)), counts)
        win_pos = np.arange(win_ref.size) - np.repeat(np.cumsum(counts) - counts, counts)
        win_owner = owner_of_ref[win_ref]
        samples = {}
        for p in prints:
            foreign = np.flatnonzero(win_owner != code.get(p.voice_id, -1))
            if foreign.size > COHORT_MAX:
                seed = int.from_bytes(hashlib.sha256(p.voice_id.encode()).digest()[:8], "little")
                foreign = np.sort(
                    np.random.default_rng(seed).choice(foreign, COHORT_MAX, replace=False)
                )
            samples[p.voice_id] = foreign
        need = np.unique(np.concatenate([win_ref[f] for f in samples.values()]))
        blocks: dict[int, np.ndarray] = {}
        for k in range(0, need.size, 500):  # bounded IN lists
            rows = ref_ids[need[k : k + 500]].tolist()
            for rid, blob in s.execute(select(R.id, R.windows).where(R.id.in_(rows))):
                blocks[int(rid)] = from_blob(blob).reshape(-1, ge2e.EMBEDDING_SIZE)
        for p in prints:
            f = samples[p.voice_id]
            W = (
                np.stack([blocks[int(ref_ids[win_ref[i]])][win_pos[i]] for i in f])
                if f.size
                else np.zeros((0, ge2e.EMBEDDING_SIZE), np.float32)
            )
            scores = W @ from_blob(p.embedding)
            p.cohort_mean, p.cohort_sd = fvoice.cohort_stats(scores, calibration)
            p.cohort_size = int(scores.size)


def disable_voice(store, voice_id: str, *, reason: str) -> bool:
    """Stop matching a voice (kept for explaining past decisions). False if unknown."""
    with store.session() as s, s.begin():
        row = s.get(VoicePrintRow, voice_id)
        if row is None:
            return False
        row.disabled, row.disabled_reason, row.updated_at = True, reason, utcnow()
        return True


@dataclass(frozen=True, slots=True)
class VoiceEntry:
    voice_id: str
    artist_name: str | None
    authorised_accounts: tuple[str, ...]
    consent: dict[str, Any]
    n_references: int
    cohort_mean: float
    cohort_sd: float
    cohort_size: int
    disabled: bool
    disabled_reason: str | None

    def view(self) -> dict[str, Any]:
        """What the CLI (``bank list --format jsonl``) and the API show of a voice."""
        return {
            "voice_id": self.voice_id,
            "artist_name": self.artist_name,
            "references": self.n_references,
            "authorised_accounts": list(self.authorised_accounts),
            "consent": self.consent,
            "disabled": self.disabled,
            "disabled_reason": self.disabled_reason,
        }


def get_voice(store, voice_id: str) -> VoiceEntry | None:
    """One voice of the bank (disabled or not), or None."""
    with store.reader() as s:
        row = s.get(VoicePrintRow, voice_id)
        return _entry(row) if row is not None else None


def list_voices(store, *, include_disabled: bool = True) -> list[VoiceEntry]:
    """The voices of the bank, by id."""
    with store.reader() as s:
        q = select(VoicePrintRow).order_by(VoicePrintRow.voice_id)
        if not include_disabled:
            q = q.where(VoicePrintRow.disabled.is_(False))
        return [_entry(r) for r in s.scalars(q)]


def _entry(r: VoicePrintRow) -> VoiceEntry:
    cal = DEFAULT_CALIBRATION
    return VoiceEntry(
        voice_id=r.voice_id,
        artist_name=r.artist_name,
        authorised_accounts=tuple(r.authorised_accounts or ()),
        consent=dict(r.consent or {}),
        n_references=r.n_references,
        cohort_mean=cal.prior_mean if r.cohort_mean is None else r.cohort_mean,
        cohort_sd=cal.prior_sd if r.cohort_sd is None else r.cohort_sd,
        cohort_size=r.cohort_size,
        disabled=r.disabled,
        disabled_reason=r.disabled_reason,
    )


def bank_version(store) -> tuple[int, Any]:
    """(number of voices, last change) : changes whenever the bank does."""
    with store.reader() as s:
        n, last = s.execute(
            select(func.count(VoicePrintRow.voice_id), func.max(VoicePrintRow.updated_at))
        ).one()
    return int(n), last


def load_snapshot(store):
    """The active voices as a searchable :class:`compliance.voices.search.VoiceBankSnapshot`."""
    from compliance.voices.search import VoiceBankSnapshot

    with store.reader() as s:
        rows = s.scalars(
            select(VoicePrintRow)
            .where(VoicePrintRow.disabled.is_(False))
            .order_by(VoicePrintRow.voice_id)
        ).all()
        entries = [_entry(r) for r in rows]
        prints = (
            np.stack([from_blob(r.embedding) for r in rows])
            if rows
            else np.zeros((0, ge2e.EMBEDDING_SIZE), dtype=np.float32)
        )
    return VoiceBankSnapshot(entries=tuple(entries), prints=prints)
