"""The release history and the name banks in the store (tables ``history_releases``
and ``bank_names``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime

import pandas as pd
from sqlalchemy import func, insert, select

from compliance.history.records import HistoryRelease
from compliance.storage.models import BankNameRow, HistoryReleaseRow, utcnow

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
