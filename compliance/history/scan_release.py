"""The history row of an upload being checked, and the scanner's hook into the history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from compliance.domain import ReleaseMetadata
from compliance.history.records import HistoryRelease, parse_release


def release_of_upload(
    meta: ReleaseMetadata, content_hash: str, duration_s: float, *, now: datetime | None = None
) -> HistoryRelease | None:
    """The release as the history records it, or None when it cannot be attributed (no
    account id) or its metadata does not validate (the scan goes on without history).

    The release id is ``extra.release_id`` when the uploader gives one, else the account
    and the audio's content hash: checking the same audio for the same account twice
    records it once."""
    if not meta.account_id:
        return None
    extra = meta.extra or {}
    rid = extra.get("release_id") or f"{meta.account_id}:{content_hash.split(':')[-1][:24]}"
    row = {
        "release_id": rid, "account_id": meta.account_id,
        "upload_ts": (now or datetime.now(UTC)).isoformat(),
        "account_created_ts": extra.get("account_created_ts"),
        "account_country": extra.get("account_country"), "artist_name": meta.artist,
        "title": meta.title or extra.get("title") or "(untitled)", "duration_s": duration_s,
        "genre": extra.get("genre"), "label_name": meta.label or extra.get("label_name"),
        "audio_key": content_hash,
        "isrc": meta.isrcs[0] if meta.isrcs else extra.get("isrc"),
        "upc": meta.upc or extra.get("upc"), "release_date": extra.get("release_date"),
        "contains_ai": meta.contains_ai,
    }  # fmt: skip
    got = parse_release(row, line=0)
    return None if isinstance(got, list) else got


class HistoryHook:
    """What the scanner gives detectors (``ctx.history``) and records after a decision.

    Parameters
    ----------
    store : compliance.storage.Store
    thresholds : compliance.history.thresholds.Thresholds
    """

    def __init__(self, store, thresholds) -> None:
        self.store = store
        self.thresholds = thresholds
        self._protected = None

    def protected(self):
        """The protected-artist bank, read once per hook."""
        if self._protected is None:
            from compliance.history import PROTECTED_ARTIST
            from compliance.history.store import list_names
            from compliance.metadata.names import ProtectedNames

            self._protected = ProtectedNames(list_names(self.store, PROTECTED_ARTIST))
        return self._protected

    def flags(self, release: HistoryRelease, *, audio_keys: Sequence[int] | None = None) -> list:
        """The account-pattern flags of ``release``; with ``audio_keys`` (its audio's
        :func:`fingerprints.chromaprint.lookup_keys`) copies delivered by other accounts
        are found by fingerprint too."""
        from compliance.history.incremental import flags_for_release

        return flags_for_release(
            self.store, release, self.thresholds, protected=self.protected(),
            audio_keys=audio_keys,
        )  # fmt: skip

    def record(self, release: HistoryRelease, *, audio_keys: Sequence[int] | None = None) -> None:
        """Record the release (and its audio's lookup keys) in the history."""
        from compliance.history.store import insert_audio_keys, insert_releases

        insert_releases(self.store, [release], source="check")
        if audio_keys is not None and len(audio_keys):
            insert_audio_keys(self.store, release.release_id, release.account_id, audio_keys)


def submission_evidence(
    hook: HistoryHook,
    meta: ReleaseMetadata,
    content_hash: str,
    duration_s: float,
    *,
    audio_keys: Sequence[int] | None = None,
) -> list:
    """Account evidence of one submission of analysed audio, and the submission recorded
    in the history (as ``compliance check`` does); [] without an account id.
    ``audio_keys``: the analysis's Chromaprint lookup keys (copies other accounts
    delivered are found by fingerprint too).

    Returns
    -------
    list of compliance.domain.Evidence
    """
    from compliance.detectors.history import HistoryDetector

    release = release_of_upload(meta, content_hash, duration_s)
    if release is None:
        return []
    flags = hook.flags(release, audio_keys=audio_keys)
    hook.record(release, audio_keys=audio_keys)
    return HistoryDetector().evidence_of(flags)
