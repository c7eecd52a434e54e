"""The patterns for one new release, on the part of the history it needs: its account's
recent window (one range scan of the (account_id, upload_ts) index) and the releases
that share its audio (the audio_key index). Nothing else of the history is read, so the
cost does not grow with the history."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta

import pandas as pd

from compliance.history import patterns
from compliance.history.records import HistoryRelease
from compliance.history.store import (
    KeyMatch,
    count_account_durations,
    key_pairs,
    load_account_window,
    load_by_audio,
    load_duration_window,
    releases_frame,
    releases_sharing_keys,
)
from compliance.history.thresholds import Thresholds


def window_days(th: Thresholds) -> float:
    """How far back the patterns look from a new release, days: the longest window of
    any pattern plus the day around a burst."""
    return max(th.lookback_days, th.burst_dormant_days) + 1.0


def flags_for_release(
    store,
    release: HistoryRelease,
    th: Thresholds,
    *,
    protected=None,
    audio_keys: Sequence[int] | None = None,
) -> list[patterns.Flag]:
    """Every pattern flag of ``release`` given the stored history (which need not hold
    it yet).

    Parameters
    ----------
    store : compliance.storage.Store
    release : HistoryRelease
    th : Thresholds
    protected : compliance.metadata.names.ProtectedNames, optional
    audio_keys : sequence of int, optional
        The Chromaprint lookup keys of the release's audio
        (:func:`fingerprints.chromaprint.lookup_keys`): copies that other accounts
        delivered are found through the stored keys (:func:`same_audio_by_keys`).
    """
    start = release.upload_ts - timedelta(days=window_days(th))
    account = load_account_window(store, release.account_id, start, release.upload_ts)
    parts = [account]
    same_file: set[str] = set()
    if release.audio_key:
        shared = load_by_audio(store, [release.audio_key])
        parts.append(shared)
        same_file = set(shared["release_id"])
    d = release.duration_s
    if d is not None:
        # The same-duration rule weighs every account's durations near this one over its
        # own, longer window; read only when the account repeats the duration enough.
        since = release.upload_ts - timedelta(days=th.same_duration_lookback_days)
        tol = th.same_duration_tolerance_s
        own = count_account_durations(store, release.account_id, d - tol, d + tol, since)
        if own + 1 >= th.same_duration_min_releases:
            lo, hi = d - th.same_duration_window_s, d + th.same_duration_window_s
            parts.append(load_duration_window(store, lo, hi, since, release.upload_ts))
    new = releases_frame([release])
    frames = [p for p in parts if not p.empty]
    df = pd.concat([*frames, new], ignore_index=True) if frames else new
    df = df.drop_duplicates("release_id", keep="last")
    flags = patterns.detect(df, th, protected=protected, only=release.release_id)
    if audio_keys is not None and len(audio_keys):
        flags += same_audio_by_keys(store, release, audio_keys, th, same_file=same_file)
    return flags


def same_audio_by_keys(
    store,
    release: HistoryRelease,
    audio_keys: Sequence[int],
    th: Thresholds,
    *,
    same_file: Collection[str] = (),
) -> list[patterns.Flag]:
    """The ``same_audio`` flag of a release whose audio other accounts already delivered,
    found by Chromaprint lookup keys rather than the file hash, so that a re-encoded copy
    counts: releases of other accounts sharing at least ``fingerprint_min_shared_keys``
    keys and ``fingerprint_min_containment`` of the smaller key set
    (:func:`fingerprints.chromaprint.key_containment`). Releases the file hash already
    links (``same_file``: the ids of the stored releases with the release's audio key)
    are left to :func:`~compliance.history.patterns.same_audio`."""
    n_keys = len({int(k) for k in audio_keys})
    found = releases_sharing_keys(
        store, audio_keys, other_than_account=release.account_id,
        min_shared=th.fingerprint_min_shared_keys,
    )  # fmt: skip
    flag = fingerprint_flag(release.release_id, release.account_id, n_keys, found, th, same_file)
    return [] if flag is None else [flag]


def fingerprint_flag(
    release_id: str,
    account_id: str,
    n_keys: int,
    found: Sequence[KeyMatch],
    th: Thresholds,
    same_file: Collection[str] = (),
) -> patterns.Flag | None:
    """The flag of a release given the other accounts' releases that share its keys, or
    None when none passes the containment or all are copies of the very file."""

    def containment(m: KeyMatch) -> float:  # share of the smaller key set
        return m.shared / max(1, min(n_keys, m.n_keys))

    found = [
        m for m in found
        if m.release_id not in same_file and containment(m) >= th.fingerprint_min_containment
    ]  # fmt: skip
    if not found:
        return None
    found.sort(key=lambda m: (-m.shared, m.release_id))
    best = found[0]
    details = {
        "by": "fingerprint", "accounts": 1 + len({m.account_id for m in found}),
        "releases": [m.release_id for m in found[:10]], "n_releases": len(found),
        "shared_keys": best.shared,
        "containment": round(containment(best), 3),
    }  # fmt: skip
    return patterns.Flag(release_id, account_id, "same_audio", 1.0, details)


def fingerprint_flags(store, df: pd.DataFrame, th: Thresholds) -> list[patterns.Flag]:
    """The fingerprint ``same_audio`` flags of every stored release of ``df`` that has
    lookup keys (``compliance history flags``): each release of a group of copies that
    several accounts delivered, in both directions, as the file-hash rule flags them."""
    pairs, sizes = key_pairs(store, min_shared=th.fingerprint_min_shared_keys)
    if not pairs:
        return []
    rows = df.set_index("release_id")
    key_of = rows["audio_key"].to_dict()
    out = []
    for rid, found in pairs.items():
        if rid not in rows.index:
            continue
        own_key = key_of.get(rid)
        same_file = {m.release_id for m in found if own_key and key_of.get(m.release_id) == own_key}
        account = str(rows.at[rid, "account_id"])
        flag = fingerprint_flag(rid, account, sizes[rid], found, th, same_file)
        if flag is not None:
            out.append(flag)
    return out
