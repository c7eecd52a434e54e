"""The patterns for one new release, on the part of the history it needs: its account's
recent window (one range scan of the (account_id, upload_ts) index) and the releases
that share its audio (the audio_key index). Nothing else of the history is read, so the
cost does not grow with the history."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from compliance.history import patterns
from compliance.history.records import HistoryRelease
from compliance.history.store import (
    count_account_durations,
    load_account_window,
    load_by_audio,
    load_duration_window,
    releases_frame,
)
from compliance.history.thresholds import Thresholds


def window_days(th: Thresholds) -> float:
    """How far back the patterns look from a new release, days: the longest window of
    any pattern plus the day around a burst."""
    return max(th.lookback_days, th.burst_dormant_days) + 1.0


def flags_for_release(
    store, release: HistoryRelease, th: Thresholds, *, protected=None
) -> list[patterns.Flag]:
    """Every pattern flag of ``release`` given the stored history (which need not hold
    it yet).

    Parameters
    ----------
    store : compliance.storage.Store
    release : HistoryRelease
    th : Thresholds
    protected : compliance.metadata.names.ProtectedNames, optional
    """
    start = release.upload_ts - timedelta(days=window_days(th))
    account = load_account_window(store, release.account_id, start, release.upload_ts)
    parts = [account]
    if release.audio_key:
        parts.append(load_by_audio(store, [release.audio_key]))
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
    return patterns.detect(df, th, protected=protected, only=release.release_id)
