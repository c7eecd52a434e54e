"""Account-level patterns over the release history (pandas and numpy).

Every function takes a frame of releases with the columns of
:data:`compliance.history.store.COLUMNS` and returns :class:`Flag` rows: which release,
which pattern, a strength in 0..1 and the numbers behind it. :func:`detect` runs them all
over a whole history (``compliance history flags``), or with ``only=`` for one new
release on the part of the history it needs (its account's recent window and the
releases that share its audio: :mod:`compliance.history.incremental`), which is what
makes a check incremental.

The thresholds are :class:`~compliance.history.thresholds.Thresholds` (defaults there;
the policy file's ``history`` section overrides them, each with its source).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammainc

from compliance.history.thresholds import Thresholds

PATTERNS = (
    "high_volume", "short_tracks", "same_audio", "lookalike_artist", "keyword_stuffing",
    "burst", "identifier_invalid",
)  # fmt: skip
_H = 3600.0
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Flag:
    """One flagged release for one pattern."""

    release_id: str
    account_id: str
    pattern: str
    strength: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"release_id", "account_id", "pattern", "strength", "details"}``."""
        return {
            "release_id": self.release_id, "account_id": self.account_id,
            "pattern": self.pattern, "strength": round(float(self.strength), 3),
            "details": _plain(self.details),
        }  # fmt: skip


def _plain(v: Any) -> Any:
    """numpy scalars and containers as plain JSON values."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _seconds(ts: pd.Series) -> np.ndarray:
    """UTC times as seconds since the epoch (whatever the frame's time resolution)."""
    if not len(ts):
        return np.empty(0)
    us = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
    return us.astype(np.int64) / 1e6


def _by_account(
    df: pd.DataFrame, *, min_releases: int = 1
) -> Iterator[tuple[str, pd.DataFrame, np.ndarray]]:
    """Each account's releases sorted by upload time, with the times in seconds
    (accounts with fewer than ``min_releases`` left out before grouping)."""
    if len(df) < min_releases or df.empty:
        return
    ids = df["account_id"].to_numpy()
    if (ids == ids[0]).all():  # one account (the incremental check): no grouping
        g = df.sort_values("upload_ts", kind="stable")
        yield str(ids[0]), g, _seconds(g["upload_ts"])
        return
    if min_releases > 1:
        counts = df["account_id"].value_counts()
        df = df[df["account_id"].isin(counts.index[counts >= min_releases])]
    for account, g in df.sort_values(["account_id", "upload_ts"]).groupby("account_id", sort=False):
        yield str(account), g, _seconds(g["upload_ts"])


def _dense_windows(t: np.ndarray, width_s: float, minimum: int) -> list[tuple[int, int]]:
    """Maximal runs ``[i, j)`` of sorted times covered by some window of ``width_s``
    holding at least ``minimum`` of them."""
    if t.size < minimum:
        return []
    j = np.searchsorted(t, t + width_s, side="left")
    starts = np.flatnonzero(j - np.arange(t.size) >= minimum)
    runs: list[tuple[int, int]] = []
    for i in starts:
        a, b = int(i), int(j[i])
        if runs and a <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], b))
        else:
            runs.append((a, b))
    return runs


def high_volume(df: pd.DataFrame, th: Thresholds) -> list[Flag]:
    """Accounts uploading at least ``high_volume_per_24h`` releases within 24 hours,
    unless the window looks like a catalogue migration (many artists with a few
    full-length releases each, little short audio)."""
    out = []
    for account, g, t in _by_account(df, min_releases=th.high_volume_per_24h):
        for a, b in _dense_windows(t, _DAY, th.high_volume_per_24h):
            w = g.iloc[a:b]
            peak = int((np.searchsorted(t[a:b], t[a:b] + _DAY) - np.arange(b - a)).max())
            artists = int(w["artist_name"].nunique())
            per_artist = (b - a) / max(artists, 1)
            short = float(_is_short(w["duration_s"], th).mean())
            migration = (
                artists >= th.migration_min_artists
                and th.migration_min_per_artist <= per_artist <= th.migration_max_per_artist
                and short <= th.migration_max_short_share
            )
            if migration:
                continue
            details = {
                "releases_in_24h": peak, "threshold": th.high_volume_per_24h,
                "artists": artists, "releases_per_artist": round(per_artist, 2),
                "short_share": round(short, 3),
            }  # fmt: skip
            strength = min(1.0, 0.5 * peak / th.high_volume_per_24h)
            out += [Flag(r, account, "high_volume", strength, details) for r in w["release_id"]]
    return out


def _is_short(d: pd.Series, th: Thresholds) -> pd.Series:
    return (d >= th.short_min_s) & (d <= th.short_max_s)


def short_tracks(df: pd.DataFrame, th: Thresholds) -> list[Flag]:
    """Accounts whose releases within ``lookback_days`` are mostly cut to just past the
    30-second stream-count point: the short ones are flagged."""
    out = []
    span = th.lookback_days * _DAY
    short_df = df[_is_short(df["duration_s"], th)]
    counts = short_df["account_id"].value_counts()
    busy = counts.index[counts >= th.short_min_count]
    for account, g, t in _by_account(df[df["account_id"].isin(busy)]):
        short = _is_short(g["duration_s"], th).to_numpy()
        if short.sum() < th.short_min_count:
            continue
        cs = np.concatenate([[0], np.cumsum(short)])
        lo = np.searchsorted(t, t - span, side="left")
        hi = np.searchsorted(t, t + span, side="right")
        for i in np.flatnonzero(short):
            # the busiest of the windows around this release: before or after it
            best = max(
                (int(cs[i + 1] - cs[lo[i]]), i + 1 - int(lo[i])),
                (int(cs[hi[i]] - cs[i]), int(hi[i]) - i),
            )
            n_short, n = best
            if n_short >= th.short_min_count and n_short / n >= th.short_min_share:
                details = {
                    "short_tracks": n_short, "releases": n,
                    "range_s": [th.short_min_s, th.short_max_s], "window_days": th.lookback_days,
                }  # fmt: skip
                rid = str(g["release_id"].iloc[i])
                out.append(Flag(rid, account, "short_tracks", n_short / n, details))
    return out


def same_audio_groups(df: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """Audio references shared by several accounts, or by one account under at least
    ``same_audio_min_titles`` titles: one row per such release with ``accounts`` and
    ``titles`` of its group."""
    d = df[df["audio_key"].notna()]
    if d.empty:
        return d.assign(accounts=[], titles=[])
    d = d.assign(_title=d["title"].str.casefold())
    g = d.groupby("audio_key")
    accounts = g["account_id"].transform("nunique")
    titles = g["_title"].transform("nunique")
    keep = (accounts >= 2) | (titles >= th.same_audio_min_titles)
    return d[keep].drop(columns="_title").assign(accounts=accounts[keep], titles=titles[keep])


def same_audio(df: pd.DataFrame, th: Thresholds) -> list[Flag]:
    """The same audio under several accounts or many titles; and accounts that do it at
    scale, all of whose releases in the window are flagged (a re-encoded copy has
    another file hash, so the account's pattern is the evidence for those)."""
    groups = same_audio_groups(df, th)
    out = [
        Flag(r.release_id, r.account_id, "same_audio", 1.0 if r.accounts >= 2 else 0.8,
             {"audio_key": r.audio_key, "accounts": int(r.accounts), "titles": int(r.titles)})
        for r in groups.itertuples()
    ]  # fmt: skip
    flagged = set(groups["release_id"])
    span = th.lookback_days * _DAY
    dup_accounts = set(groups["account_id"])
    for account, g, t in _by_account(df[df["account_id"].isin(dup_accounts)]):
        dup = g["release_id"].isin(flagged).to_numpy()
        cs = np.concatenate([[0], np.cumsum(dup)])
        lo = np.searchsorted(t, t - span, side="left")
        hi = np.searchsorted(t, t + span, side="right")
        n_dup = cs[hi] - cs[lo]
        share = n_dup / (hi - lo)
        hit = (n_dup >= th.same_audio_account_min_releases) & (
            share >= th.same_audio_account_min_share
        )
        for i in np.flatnonzero(hit & ~dup):
            details = {
                "account_duplicated_releases": int(n_dup[i]), "window_days": th.lookback_days,
                "share": round(float(share[i]), 3),
            }  # fmt: skip
            out.append(Flag(str(g["release_id"].iloc[i]), account, "same_audio", 0.6, details))
    return out


def _duration_clusters(d: np.ndarray, tol: float) -> list[np.ndarray]:
    """Indices of runs of durations that chain within ``tol`` seconds."""
    ok = np.flatnonzero(np.isfinite(d))
    order = ok[np.argsort(d[ok], kind="stable")]
    if order.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(d[order]) > tol) + 1
    return np.split(order, breaks)


def chance_of_agreement(agreeing: int, nearby: int, tolerance_s: float, window_s: float) -> float:
    """How likely ``agreeing`` or more of the releases near a duration agree with it
    within ``tolerance_s`` by chance, when ``nearby`` releases (the agreeing included) lie
    within ``window_s`` of it: a Poisson tail whose rate is the density of durations
    around it (the releases of the window outside the tolerance, plus one, spread
    evenly).

    Parameters
    ----------
    agreeing, nearby : int
        Counts of other releases (not the one tested), ``agreeing <= nearby``.
    tolerance_s, window_s : float
        Half-widths, seconds; ``tolerance_s < window_s``.

    Returns
    -------
    float
        P(X >= agreeing) for X ~ Poisson(rate), in 0..1.
    """
    if agreeing <= 0:
        return 1.0
    rate = (nearby - agreeing + 1) * tolerance_s / (window_s - tolerance_s)
    return float(gammainc(agreeing, rate))  # the regularised lower incomplete gamma


def same_duration(df: pd.DataFrame, th: Thresholds, *, only: str | None = None) -> list[Flag]:
    """Re-encoded copies where the history has only a file hash (a re-encode keeps the duration
    to a few tens of milliseconds of encoder padding). A release is flagged when its account
    has, within ``same_duration_lookback_days`` either side of it (a longer window than the
    other patterns': copies of one audio are spread over weeks to months), at least
    ``same_duration_min_releases`` releases (itself included) whose durations agree with its
    own within ``same_duration_tolerance_s``, under at least ``same_duration_min_titles``
    titles, and when so many releases of *every* account agree with that duration that
    chance does not explain it: :func:`chance_of_agreement` against the density of durations
    within ``same_duration_window_s`` at most ``same_duration_max_chance``. The density
    makes the rule hold where durations crowd (an account of hundreds of 30-35 s tracks
    meets within 0.1 s by chance), and the other accounts' agreeing releases count, since a
    copy is often spread over several accounts with a few copies each. Reported as
    ``same_audio`` with ``by: duration``; a check with audio uses the fingerprint index
    instead.

    Parameters
    ----------
    df : DataFrame
        The releases the densities are measured on: the whole history, or for one new
        release its account's window and every release whose duration is within
        ``same_duration_window_s`` of its own (:mod:`compliance.history.incremental`).
    only : str, optional
        A release id: test that release alone (the incremental check).
    """
    tol, width = th.same_duration_tolerance_s, th.same_duration_window_s
    span = th.same_duration_lookback_days * _DAY
    minimum = th.same_duration_min_releases
    d_all = df["duration_s"].to_numpy(np.float64)
    t_all = _seconds(df["upload_ts"])
    acc_all = df["account_id"].to_numpy()
    ok = np.flatnonzero(np.isfinite(d_all))
    order = ok[np.argsort(d_all[ok], kind="stable")]
    by_d = d_all[order]
    # accounts with some run of that many durations chained within the tolerance
    srt = df[["account_id", "duration_s"]].dropna().sort_values(["account_id", "duration_s"])
    close = (srt["duration_s"].diff() <= tol) & (srt["account_id"] == srt["account_id"].shift())
    run = (~close).cumsum()
    sizes = run.map(run.value_counts())
    candidates = set(srt["account_id"][sizes >= minimum].unique())
    if only is not None:
        candidates &= set(df["account_id"][df["release_id"] == only])
    out = []
    for account, g, t in _by_account(df[df["account_id"].isin(candidates)]):
        d = g["duration_s"].to_numpy(np.float64)
        titles = g["title"].fillna("").str.casefold().to_numpy()
        for c in _duration_clusters(d, tol):
            if c.size < minimum:
                continue
            for i in np.sort(c):
                if only is not None and g["release_id"].iloc[i] != only:
                    continue
                own = c[(np.abs(d[c] - d[i]) <= tol) & (np.abs(t[c] - t[i]) <= span)]
                if own.size < minimum or len(set(titles[own])) < th.same_duration_min_titles:
                    continue
                lo = np.searchsorted(by_d, d[i] - width, side="left")
                hi = np.searchsorted(by_d, d[i] + width, side="right")
                near = order[lo:hi]
                near = near[np.abs(t_all[near] - t[i]) <= span]
                agree = near[np.abs(d_all[near] - d[i]) <= tol]
                # the release itself is among both (it is in df)
                chance = chance_of_agreement(agree.size - 1, near.size - 1, tol, width)
                if chance > th.same_duration_max_chance:
                    continue
                details = {
                    "by": "duration", "duration_s": round(float(d[i]), 2),
                    "tolerance_s": tol, "account_releases": int(own.size),
                    "agreeing_releases": int(agree.size),
                    "agreeing_accounts": len(set(acc_all[agree])),
                    "nearby_releases": int(near.size), "chance": float(f"{chance:.2g}"),
                }  # fmt: skip
                out.append(Flag(str(g["release_id"].iloc[i]), account, "same_audio", 0.6, details))
    return out


def burst(df: pd.DataFrame, th: Thresholds) -> list[Flag]:
    """A dormant account releasing dozens within about an hour: at least
    ``burst_min_releases`` within ``burst_window_h``, those being most of the account's
    releases that day, after ``burst_dormant_days`` without a release."""
    out = []
    width = th.burst_window_h * _H
    for account, g, t in _by_account(df, min_releases=th.burst_min_releases):
        for a, b in _dense_windows(t, width, th.burst_min_releases):
            day = int(np.searchsorted(t, t[a] + _DAY) - np.searchsorted(t, t[a] - _DAY))
            if (b - a) / day < th.burst_min_share_of_day:
                continue
            created = g["account_created_ts"].iloc[a]
            before = t[a - 1] if a > 0 else (created.timestamp() if pd.notna(created) else None)
            idle_days = None if before is None else (t[a] - before) / _DAY
            if idle_days is None or idle_days < th.burst_dormant_days:
                continue
            details = {
                "releases": b - a, "window_h": th.burst_window_h,
                "idle_days_before": round(float(idle_days), 1), "releases_that_day": day,
            }  # fmt: skip
            strength = min(1.0, 0.5 * (b - a) / th.burst_min_releases)
            out += [Flag(r, account, "burst", strength, details) for r in g["release_id"].iloc[a:b]]
    return out


def lookalike_artist(df: pd.DataFrame, th: Thresholds, protected) -> list[Flag]:
    """Artist names close to a protected artist's after normalisation and look-alike
    folding (:class:`compliance.metadata.names.ProtectedNames`)."""
    if protected is None or len(protected) == 0:
        return []
    out = []
    names = df["artist_name"].dropna().unique()
    hits = {}
    for n in names:
        m = protected.closest(str(n), max_distance=th.lookalike_max_distance)
        if m is not None:
            hits[n] = m
    if not hits:
        return out
    for r in df[df["artist_name"].isin(list(hits))].itertuples():
        m = hits[r.artist_name]
        details = {
            "protected": m.protected, "distance": m.distance, "exact": m.exact,
            "homoglyph": m.homoglyph, "mixed_script": m.mixed_script,
        }  # fmt: skip
        out.append(Flag(r.release_id, r.account_id, "lookalike_artist", m.similarity, details))
    return out


def keyword_stuffing(df: pd.DataFrame, th: Thresholds) -> list[Flag]:
    """Titles stuffed with search keywords (:func:`compliance.metadata.titles.keyword_stuffing`)."""
    from compliance.metadata.titles import keyword_stuffing as score

    out = []
    scores: dict[str, Any] = {}
    for r in df[["release_id", "account_id", "title"]].dropna().itertuples():
        s = scores.get(r.title)
        if s is None:
            s = scores[r.title] = score(str(r.title))
        if s.stuffed:
            details = {"keywords": list(s.keywords), "words": s.n_words}
            # a stuffed title is at or past the pattern's threshold: strength >= 0.5
            strength = max(0.5, s.score)
            out.append(Flag(r.release_id, r.account_id, "keyword_stuffing", strength, details))
    return out


def identifier_invalid(df: pd.DataFrame, th: Thresholds) -> list[Flag]:
    """ISRCs and UPCs that break their published format or check digit, and one
    recording under several ISRCs."""
    from compliance.metadata import identifiers

    out = []
    for r in df[["release_id", "account_id", "isrc", "upc"]].itertuples():
        for kind, value, check in (("isrc", r.isrc, identifiers.check_isrc),
                                   ("upc", r.upc, identifiers.check_upc)):  # fmt: skip
            if isinstance(value, str) and value:
                p = check(value)
                if p is not None:
                    details = {"identifier": kind, "value": value, "code": p.code,
                               "message": p.message}  # fmt: skip
                    out.append(Flag(r.release_id, r.account_id, "identifier_invalid", 1.0, details))
    pairs = df[["audio_key", "isrc"]].dropna()
    several = identifiers.recordings_under_several_isrcs(pairs.itertuples(index=False, name=None))
    if several:
        rows = df[df["audio_key"].isin(list(several)) & df["isrc"].notna()]
        for r in rows.itertuples():
            details = {"code": "isrc_several", "isrcs": sorted(several[r.audio_key])}
            out.append(Flag(r.release_id, r.account_id, "identifier_invalid", 0.8, details))
    return out


def detect(
    df: pd.DataFrame, th: Thresholds | None = None, *, protected=None, only: str | None = None
) -> list[Flag]:
    """Every pattern over a history frame.

    With ``only`` (a release id in ``df``), the flags of that release alone: the account
    patterns run on its account's rows, the metadata checks on its own row (what an
    incremental check needs; the same flags for it as over the whole frame).
    """
    th = th or Thresholds()
    if df.empty:
        return []
    if only is None:
        return (
            high_volume(df, th) + short_tracks(df, th) + same_audio(df, th)
            + same_duration(df, th) + burst(df, th) + lookalike_artist(df, th, protected)
            + keyword_stuffing(df, th) + identifier_invalid(df, th)
        )  # fmt: skip
    row = df[df["release_id"] == only]
    if row.empty:
        return []
    account = df[df["account_id"] == row["account_id"].iloc[0]]
    key = row["audio_key"].iloc[0]
    shared = df[df["audio_key"] == key] if isinstance(key, str) else row
    # Patterns that cannot fire on so few rows are skipped (the same flags, without the
    # frame operations that dominate the cost of a small account's check).
    n = len(account)
    flags: list[Flag] = []
    if n >= th.high_volume_per_24h:
        flags += high_volume(account, th)
    if n >= th.burst_min_releases:
        flags += burst(account, th)
    if n >= th.short_min_count:
        flags += short_tracks(account, th)
    if n >= th.same_duration_min_releases:  # on every account's durations near its own
        flags += same_duration(df, th, only=only)
    if len(shared) > 1 or n >= th.same_audio_account_min_releases:
        both = pd.concat([account, shared]).drop_duplicates("release_id")
        flags += same_audio(both, th)
    flags += lookalike_artist(row, th, protected) + keyword_stuffing(row, th)
    ids = pd.concat([row, shared]).drop_duplicates("release_id") if len(shared) > 1 else row
    flags += identifier_invalid(ids, th)
    return [f for f in flags if f.release_id == only]
