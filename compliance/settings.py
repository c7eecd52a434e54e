"""One Settings object, from the environment (prefix ``COMPLIANCE_``), checked at start.

Every variable is optional; a bad value fails at once with a :class:`ConfigError` whose
message names the variable, instead of surfacing later as an obscure runtime error.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from compliance.errors import ConfigError

PREFIX = "COMPLIANCE_"
#: The policy pack shipped with the repository (used when ``COMPLIANCE_POLICY`` is unset).
DEFAULT_POLICY = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"
#: Database backends the store supports (SQLAlchemy backend names, any driver).
DATABASE_BACKENDS = ("sqlite", "postgresql")


def _raw(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, or None when unset or blank."""
    raw = env.get(name)
    return None if raw is None or raw.strip() == "" else raw.strip()


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be a positive integer")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, zero_ok: bool = False) -> float:
    """A positive finite number (or 0 too, with ``zero_ok``: a duration that may be off)."""
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        allowed = "0 or a positive finite number" if zero_ok else "a positive finite number"
        raise ConfigError(f"{name}={raw!r} must be {allowed}")
    return value


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = _raw(env, name)
    return (Path(raw) if raw is not None else default).expanduser().resolve()


_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


def parse_rate(text: str) -> tuple[int, float] | None:
    """``"10/s"``, ``"600/min"``, ``"1000/h"`` -> ``(limit, period_s)``; ``"off"`` -> None.

    Raises ValueError for anything else."""
    t = text.strip().lower()
    if t in ("off", "none", "unlimited"):
        return None
    count, sep, unit = t.partition("/")
    if not sep or unit not in _UNITS or not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f"{text!r} is not a rate like 10/s, 600/min or 1000/h (or off)")
    return int(count), _UNITS[unit]


_UNIT_NAMES = {1.0: "s", 60.0: "min", 3600.0: "h"}


def format_rate(rate: tuple[int, float] | None) -> str:
    """The inverse of :func:`parse_rate`: ``(600, 60.0)`` -> ``"600/min"``; None -> ``"off"``."""
    if rate is None:
        return "off"
    limit, period_s = rate
    unit = _UNIT_NAMES.get(float(period_s))
    return f"{limit}/{unit}" if unit else f"{limit}/{period_s:g}s"


def _rate(
    env: Mapping[str, str], name: str, default: tuple[int, float] | None
) -> tuple[int, float] | None:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        return parse_rate(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _database_url(env: Mapping[str, str], name: str, default: str) -> str:
    url = _raw(env, name) or default
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise ConfigError(f"{name}={url!r} is not a database URL") from None
    if backend not in DATABASE_BACKENDS:
        raise ConfigError(
            f"{name} has scheme {backend!r}; use one of {', '.join(DATABASE_BACKENDS)}"
        )
    return url


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of one process (immutable; build it with :meth:`from_env`).

    Attributes
    ----------
    home : Path
        State folder (``COMPLIANCE_HOME``, default ``./compliance-data``), absolute.
    database_url : str
        SQLAlchemy URL (``COMPLIANCE_DATABASE_URL``, default ``sqlite:///{home}/compliance.db``);
        backend ``sqlite`` or ``postgresql`` (for example ``postgresql+psycopg://...``).
    index_dir : Path
        Landmark index segments (``COMPLIANCE_INDEX_DIR``, default ``home/index``), absolute.
    policy_path : Path
        Policy YAML (``COMPLIANCE_POLICY``, default the repository's ``policies/default.yaml``).
    max_file_bytes : int
        Largest accepted audio file in bytes (``COMPLIANCE_MAX_FILE_BYTES``, default 1 GiB).
    max_duration_s : float
        Longest accepted audio in seconds (``COMPLIANCE_MAX_DURATION_S``, default 1800).
    workers : int
        Worker processes or threads (``COMPLIANCE_WORKERS``, default 1).
    rate_limit : (int, float) or None
        Requests per API key and period in seconds, enforced by each API process, for
        keys without a rate of their own (``COMPLIANCE_RATE_LIMIT`` as ``10/s``,
        ``600/min``, ``1000/h`` or ``off``; default ``50/s``).
    key_cache_s : float
        How long an API process reuses a successful API key verification, so that a
        revoked key is refused within this bound (``COMPLIANCE_KEY_CACHE_S``, default 5;
        0: every request reads the key; see :mod:`compliance.api.keycache`).
    db_pool_size : int
        Database connections each process keeps open (PostgreSQL; ``COMPLIANCE_DB_POOL_SIZE``,
        default 20); the API's thread pool has as many threads, so no request waits for
        a connection. Several API processes (``serve --workers N``) hold N times as many.
    upload_threads : int
        Uploads an API process parses and stores at once (``COMPLIANCE_UPLOAD_THREADS``,
        default 4); more wait their turn. Twenty at once share the interpreter in turns
        and all finish late; a few at a time finish in order (see docs/benchmarks.md,
        "upload threads").
    """

    home: Path
    database_url: str
    index_dir: Path
    policy_path: Path
    max_file_bytes: int = 1 << 30
    max_duration_s: float = 1800.0
    workers: int = 1
    rate_limit: tuple[int, float] | None = (50, 1.0)
    key_cache_s: float = 5.0
    db_pool_size: int = 20
    upload_threads: int = 4

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate the ``COMPLIANCE_*`` variables.

        Parameters
        ----------
        environ : mapping, optional
            Where to read from; ``os.environ`` (at call time) when omitted.

        Raises
        ------
        ConfigError
            A value is malformed: not a number, zero or negative, or an unsupported
            database URL. The message names the variable.
        """
        env = os.environ if environ is None else environ
        home = _path(env, f"{PREFIX}HOME", Path("compliance-data"))
        return cls(
            home=home,
            database_url=_database_url(
                env, f"{PREFIX}DATABASE_URL", f"sqlite:///{home / 'compliance.db'}"
            ),
            index_dir=_path(env, f"{PREFIX}INDEX_DIR", home / "index"),
            policy_path=_path(env, f"{PREFIX}POLICY", DEFAULT_POLICY),
            max_file_bytes=_int(env, f"{PREFIX}MAX_FILE_BYTES", 1 << 30),
            max_duration_s=_float(env, f"{PREFIX}MAX_DURATION_S", 1800.0),
            workers=_int(env, f"{PREFIX}WORKERS", 1),
            rate_limit=_rate(env, f"{PREFIX}RATE_LIMIT", (50, 1.0)),
            key_cache_s=_float(env, f"{PREFIX}KEY_CACHE_S", 5.0, zero_ok=True),
            db_pool_size=_int(env, f"{PREFIX}DB_POOL_SIZE", 20),
            upload_threads=_int(env, f"{PREFIX}UPLOAD_THREADS", 4),
        )

    def ensure_dirs(self) -> None:
        """Create ``home`` and ``index_dir`` (and parents); ConfigError if impossible."""
        for folder in (self.home, self.index_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create state folder {folder}: {exc}") from None
