"""One release of the history: parsing and validation of an imported row.

A row is a mapping (a JSON object or a CSV row, where every value is text). Every
problem of a row is reported with a stable code; a row with any problem is not stored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

MAX_ID = 128
MAX_NAME = 512
MAX_TITLE = 500
MAX_DURATION_S = 24 * 3600.0
FUTURE_SLACK = timedelta(days=1)
"""Upload times later than now plus this are refused (clock skew of the sender)."""
CONTAINS_AI = ("All", "Partly", "None")
AUDIO_KEY_FIELDS = ("audio_key", "audio_sha1", "audio_hash", "fingerprint", "content_hash")
_COUNTRY = re.compile(r"^[A-Za-z]{2,3}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class HistoryRelease:
    """A release as the patterns read it (times in UTC)."""

    release_id: str
    account_id: str
    upload_ts: datetime
    account_created_ts: datetime | None = None
    account_country: str | None = None
    artist_name: str | None = None
    title: str | None = None
    duration_s: float | None = None
    genre: str | None = None
    label_name: str | None = None
    audio_key: str | None = None
    explicit: bool | None = None
    isrc: str | None = None
    upc: str | None = None
    release_date: str | None = None
    contains_ai: str | None = None

    def to_row(self, *, source: str) -> dict[str, Any]:
        """Column values of ``history_releases``."""
        out = {k: getattr(self, k) for k in self.__slots__}
        out["source"] = source
        return out


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a row was refused: ``line`` is the 1-based line (JSON lines) or data row
    number plus one for the header (CSV), ``field`` the offending field."""

    line: int
    code: str
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f" {self.field}" if self.field else ""
        return f"line {self.line}{where}: {self.message} [{self.code}]"


class _Row:
    def __init__(self, data: Mapping[str, Any], line: int, now: datetime) -> None:
        self.data, self.line, self.now = data, line, now
        self.problems: list[RowProblem] = []

    def fail(self, code: str, field: str | None, message: str) -> None:
        self.problems.append(RowProblem(self.line, code, field, message))

    def text(self, name: str, *, required: bool = False, limit: int = MAX_NAME) -> str | None:
        v = self.data.get(name)
        if v is None or (isinstance(v, str) and not v.strip()):
            if required:
                self.fail("missing_field", name, f"{name} is required")
            return None
        if isinstance(v, bool) or not isinstance(v, str | int):
            self.fail("wrong_type", name, f"{name} must be text, got {type(v).__name__}")
            return None
        s = str(v).strip()
        if len(s) > limit:
            self.fail("too_long", name, f"{name} has {len(s)} characters (at most {limit})")
            return None
        if _CONTROL.search(s):
            self.fail("control_character", name, f"{name} contains control characters")
            return None
        return s

    def timestamp(self, name: str, *, required: bool = False) -> datetime | None:
        s = self.text(name, required=required, limit=64)
        if s is None:
            return None
        try:
            t = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            self.fail("bad_timestamp", name, f"{name} {s!r} is not an ISO 8601 time")
            return None
        t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
        if t > self.now + FUTURE_SLACK:
            self.fail("date_in_future", name, f"{name} {s} is in the future")
            return None
        return t

    def number(self, name: str, *, lo: float, hi: float) -> float | None:
        v = self.data.get(name)
        if v is None or v == "":
            return None
        if isinstance(v, bool):
            self.fail("wrong_type", name, f"{name} must be a number, got a boolean")
            return None
        try:
            x = float(v)
        except (TypeError, ValueError):
            self.fail("wrong_type", name, f"{name} must be a number, got {v!r}")
            return None
        if not math.isfinite(x) or not lo < x <= hi:
            self.fail("out_of_range", name, f"{name} {x} is outside ({lo}, {hi}]")
            return None
        return x

    def boolean(self, name: str) -> bool | None:
        v = self.data.get(name)
        if v is None or v == "":
            return None
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return v.strip().lower() in ("true", "1", "yes")
        self.fail("wrong_type", name, f"{name} must be true or false, got {v!r}")
        return None


def parse_release(
    data: Mapping[str, Any], *, line: int, now: datetime | None = None
) -> HistoryRelease | list[RowProblem]:
    """A validated :class:`HistoryRelease`, or every problem of the row.

    Parameters
    ----------
    data : mapping
        The fields of the development corpus's bulk log (``release_id, upload_ts,
        account_id, account_created_ts, account_country, artist_name, title, duration_s,
        genre, label_name, audio_sha1, explicit``), and optionally ``isrc``, ``upc``,
        ``release_date`` (YYYY-MM-DD) and ``contains_ai``. The audio reference may be
        called any of :data:`AUDIO_KEY_FIELDS`.
    line : int
        Where the row is, for the problems.
    now : datetime, optional
        The present, for "date in the future" (default: the clock).
    """
    if not isinstance(data, Mapping):
        return [RowProblem(line, "not_an_object", None, "a row must be a JSON object")]
    r = _Row(data, line, now or datetime.now(UTC))
    release_id = r.text("release_id", required=True, limit=MAX_ID)
    account_id = r.text("account_id", required=True, limit=MAX_ID)
    upload_ts = r.timestamp("upload_ts", required=True)
    created = r.timestamp("account_created_ts")
    country = r.text("account_country", limit=8)
    if country is not None and not _COUNTRY.match(country):
        r.fail("bad_country", "account_country", f"account_country {country!r} is not a code")
    title = r.text("title", required=True, limit=MAX_TITLE)
    duration = r.number("duration_s", lo=0.0, hi=MAX_DURATION_S)
    release_date = r.text("release_date", limit=10)
    if release_date is not None:
        try:
            date.fromisoformat(release_date)
        except ValueError:
            r.fail("bad_date", "release_date", f"release_date {release_date!r} is not YYYY-MM-DD")
    contains_ai = r.text("contains_ai", limit=16)
    if contains_ai is not None and contains_ai not in CONTAINS_AI:
        r.fail("bad_contains_ai", "contains_ai", f"contains_ai must be one of {CONTAINS_AI}")
    audio_key = None
    for name in AUDIO_KEY_FIELDS:
        if data.get(name) not in (None, ""):
            audio_key = r.text(name, limit=128)
            break
    out = dict(
        artist_name=r.text("artist_name"),
        genre=r.text("genre", limit=128),
        label_name=r.text("label_name"),
        explicit=r.boolean("explicit"),
        isrc=r.text("isrc", limit=32),
        upc=r.text("upc", limit=32),
    )
    if r.problems:
        return r.problems
    assert release_id and account_id and upload_ts
    return HistoryRelease(
        release_id=release_id, account_id=account_id, upload_ts=upload_ts,
        account_created_ts=created, account_country=country, title=title,
        duration_s=duration, audio_key=audio_key, release_date=release_date,
        contains_ai=contains_ai, **out,
    )  # fmt: skip
