"""One Settings object, from the environment (prefix ``COMPLIANCE_``), checked at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from compliance.errors import ConfigError

_REPO_POLICY = Path(__file__).resolve().parents[1] / "policies" / "default.yaml"
_SCHEMES = ("sqlite", "postgresql")


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{name}={raw!r} is not {kind}") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of one process.

    Attributes
    ----------
    home : Path
        State folder (``COMPLIANCE_HOME``, default ``./compliance-data``).
    database_url : str
        SQLAlchemy URL (``COMPLIANCE_DATABASE_URL``, default SQLite in ``home``).
    index_dir : Path
        Landmark index segments (``COMPLIANCE_INDEX_DIR``, default ``home/index``).
    policy_path : Path
        Policy YAML (``COMPLIANCE_POLICY``, default ``policies/default.yaml``).
    max_file_bytes : int
        Largest accepted audio file (``COMPLIANCE_MAX_FILE_BYTES``, default 1 GiB).
    max_duration_s : float
        Longest accepted audio (``COMPLIANCE_MAX_DURATION_S``, default 1800 s).
    """

    home: Path
    database_url: str
    index_dir: Path
    policy_path: Path
    max_file_bytes: int = 1 << 30
    max_duration_s: float = 1800.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate; raises :class:`ConfigError` naming the variable."""
        env = os.environ if environ is None else environ
        home = Path(env.get("COMPLIANCE_HOME") or "compliance-data").expanduser().resolve()
        url = env.get("COMPLIANCE_DATABASE_URL") or f"sqlite:///{home / 'compliance.db'}"
        scheme = url.split(":", 1)[0].split("+", 1)[0]
        if scheme not in _SCHEMES:
            raise ConfigError(
                f"COMPLIANCE_DATABASE_URL has scheme {scheme!r}; use one of {', '.join(_SCHEMES)}"
            )
        index_dir = Path(env.get("COMPLIANCE_INDEX_DIR") or home / "index").expanduser()
        policy = Path(env.get("COMPLIANCE_POLICY") or _REPO_POLICY).expanduser()
        return cls(
            home=home,
            database_url=url,
            index_dir=index_dir.resolve(),
            policy_path=policy,
            max_file_bytes=int(_number(env, "COMPLIANCE_MAX_FILE_BYTES", 1 << 30, integer=True)),
            max_duration_s=float(_number(env, "COMPLIANCE_MAX_DURATION_S", 1800.0, integer=False)),
        )

    def ensure_dirs(self) -> None:
        """Create the state folders."""
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            self.index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create state folder {self.home}: {exc}") from None
