"""The release history, its audio lookup keys and the name banks in the store (tables
``history_releases``, ``history_audio_keys`` and ``bank_names``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

import pandas as pd
from sqlalchemy import func, insert, select

from compliance.history.records import HistoryRelease
from compliance.storage.models import (
    BankNameRow,
    HistoryAudioKeyRow,
    HistoryReleaseRow,
    utcnow,
)

COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(HistoryRelease))
"""The columns of a history frame: the fields of :class:`HistoryRelease`."""
_CHUNK = 500


def insert_releases(store, releases: Sequence[HistoryRelease], *, source: str) -> int:
    """Store the releases whose id is not in the history yet, in one transaction.

    Returns
    -------
    int
        How many were added.
    """
    if not releases:
        return 0
    with store.session() as s, s.begin():
        taken: set[str] = set()
        ids = [r.release_id for r in releases]
        for i in range(0, len(ids), _CHUNK):
            q = select(HistoryReleaseRow.release_id).where(
                HistoryReleaseRow.release_id.in_(ids[i : i + _CHUNK])
            )
            taken.update(s.scalars(q))
        now = utcnow()
        new = [
            {**r.to_row(source=source), "recorded_at": now}
            for r in releases
            if r.release_id not in taken
        ]
        if new:
            # Core executemany (one multi-row statement per batch), not the ORM's bulk
            # path, which split these rows into one statement per row pattern.
            s.connection().execute(insert(HistoryReleaseRow.__table__), new)
    return len(new)


def releases_frame(releases: Iterable[HistoryRelease]) -> pd.DataFrame:
    """A history frame of releases not (necessarily) stored."""
    return _frame([getattr(r, c) for c in COLUMNS] for r in releases)


def _frame(rows: Iterable[Sequence]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(list(rows), columns=list(COLUMNS))
    for col in ("upload_ts", "account_created_ts"):
        df[col] = pd.to_datetime(df[col], utc=True)
    df["duration_s"] = df["duration_s"].astype("float64")
    return df


def _select():
    return select(*(getattr(HistoryReleaseRow, c) for c in COLUMNS))


def load_history(store, *, since: datetime | None = None) -> pd.DataFrame:
    """Every release (since ``since``, by upload time) as a frame with :data:`COLUMNS`."""
    q = _select()
    if since is not None:
        q = q.where(HistoryReleaseRow.upload_ts >= since)
    with store.reader() as s:
        return _frame(s.execute(q).all())


def load_account_window(store, account_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """One account's releases uploaded in ``[start, end]`` (the index on (account_id,
    upload_ts) makes this one range scan)."""
    q = _select().where(
        HistoryReleaseRow.account_id == account_id,
        HistoryReleaseRow.upload_ts >= start,
        HistoryReleaseRow.upload_ts <= end,
    )
    with store.reader() as s:
        return _frame(s.execute(q).all())


def count_account_durations(
    store, account_id: str, low_s: float, high_s: float, since: datetime
) -> int:
    """How many of one account's releases uploaded since ``since`` have a duration in
    ``[low_s, high_s]`` seconds (a range scan of the (account_id, upload_ts) index)."""
    q = select(func.count()).where(
        HistoryReleaseRow.account_id == account_id,
        HistoryReleaseRow.upload_ts >= since,
        HistoryReleaseRow.duration_s >= low_s,
        HistoryReleaseRow.duration_s <= high_s,
    )
    with store.reader() as s:
        return int(s.scalar(q) or 0)


def load_duration_window(
    store, low_s: float, high_s: float, start: datetime, end: datetime
) -> pd.DataFrame:
    """Every account's releases uploaded in ``[start, end]`` whose duration is in
    ``[low_s, high_s]`` seconds (the index on (duration_s, upload_ts))."""
    q = _select().where(
        HistoryReleaseRow.duration_s >= low_s,
        HistoryReleaseRow.duration_s <= high_s,
        HistoryReleaseRow.upload_ts >= start,
        HistoryReleaseRow.upload_ts <= end,
    )
    with store.reader() as s:
        return _frame(s.execute(q).all())


def load_by_audio(store, keys: Sequence[str]) -> pd.DataFrame:
    """Every release whose audio reference is one of ``keys``."""
    keys = [k for k in keys if k]
    if not keys:
        return _frame([])
    with store.reader() as s:
        return _frame(s.execute(_select().where(HistoryReleaseRow.audio_key.in_(keys))).all())


def insert_audio_keys(store, release_id: str, account_id: str, keys: Sequence[int]) -> int:
    """Store the lookup keys of a stored release's audio
    (:func:`fingerprints.chromaprint.lookup_keys`), unless it has some already.

    Returns
    -------
    int
        How many were added.
    """
    keys = sorted({int(k) for k in keys})
    if not keys:
        return 0
    with store.session() as s, s.begin():
        have = s.scalar(
            select(func.count()).where(HistoryAudioKeyRow.release_id == release_id)
        )  # fmt: skip
        if have:
            return 0
        rows = [{"key": k, "release_id": release_id, "account_id": account_id} for k in keys]
        s.connection().execute(insert(HistoryAudioKeyRow.__table__), rows)
    return len(keys)


@dataclass(frozen=True, slots=True)
class KeyMatch:
    """A stored release that shares lookup keys with a new one."""

    release_id: str
    account_id: str
    shared: int
    """Keys in common."""
    n_keys: int
    """Keys the stored release has."""


def releases_sharing_keys(
    store, keys: Sequence[int], *, other_than_account: str, min_shared: int
) -> list[KeyMatch]:
    """Releases of other accounts that share at least ``min_shared`` of ``keys`` (one
    grouped scan of the key index, then the key counts of the few that pass)."""
    keys = sorted({int(k) for k in keys})
    if not keys:
        return []
    k = HistoryAudioKeyRow
    with store.reader() as s:
        q = (
            select(k.release_id, k.account_id, func.count())
            .where(k.key.in_(keys), k.account_id != other_than_account)
            .group_by(k.release_id, k.account_id)
            .having(func.count() >= min_shared)
        )
        hits = s.execute(q).all()
        if not hits:
            return []
        ids = [h[0] for h in hits]
        sizes = dict(
            s.execute(
                select(k.release_id, func.count()).where(k.release_id.in_(ids))
                .group_by(k.release_id)
            ).all()
        )  # fmt: skip
    return [KeyMatch(r, a, int(n), int(sizes.get(r, 0))) for r, a, n in hits]


def key_pairs(store, *, min_shared: int) -> tuple[dict[str, list[KeyMatch]], dict[str, int]]:
    """For every release with lookup keys, the releases of other accounts sharing at
    least ``min_shared`` of them (a self-join of the key table: for ``history flags``),
    and how many keys each release has."""
    a = HistoryAudioKeyRow.__table__.alias("a")
    b = HistoryAudioKeyRow.__table__.alias("b")
    q = (
        select(a.c.release_id, b.c.release_id, b.c.account_id, func.count())
        .select_from(a.join(b, (a.c.key == b.c.key) & (a.c.account_id != b.c.account_id)))
        .group_by(a.c.release_id, b.c.release_id, b.c.account_id)
        .having(func.count() >= min_shared)
    )
    k = HistoryAudioKeyRow
    with store.reader() as s:
        pairs = s.execute(q).all()
        if not pairs:
            return {}, {}
        sizes = dict(s.execute(select(k.release_id, func.count()).group_by(k.release_id)).all())
    out: dict[str, list[KeyMatch]] = {}
    for rid, other, account, n in pairs:
        out.setdefault(rid, []).append(KeyMatch(other, account, int(n), int(sizes[other])))
    return out, {r: int(n) for r, n in sizes.items()}


def add_names(store, kind: str, names: Iterable[str], *, added_by: str = "cli") -> int:
    """Add names to a name bank; names already there are kept as they are. Returns how
    many were added."""
    wanted = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))
    with store.session() as s, s.begin():
        have = set(s.scalars(select(BankNameRow.name).where(BankNameRow.kind == kind)))
        new = [{"kind": kind, "name": n, "added_by": added_by} for n in wanted if n not in have]
        if new:
            s.execute(insert(BankNameRow), new)
    return len(new)


def remove_name(store, kind: str, name: str) -> bool:
    """Remove a name from a bank; False when it was not there."""
    with store.session() as s, s.begin():
        row = s.get(BankNameRow, (kind, name))
        if row is None:
            return False
        s.delete(row)
    return True


def list_names(store, kind: str) -> list[str]:
    """The names of a bank, sorted."""
    with store.reader() as s:
        q = select(BankNameRow.name).where(BankNameRow.kind == kind).order_by(BankNameRow.name)
        return list(s.scalars(q))
