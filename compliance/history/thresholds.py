"""The tuning knobs of the account-level patterns (no pandas here: the policy schema
imports this module to know the knob names)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Tuning of the patterns (units in the names). Defaults are documented with their
    sources in ``policies/default.yaml`` (section ``history``)."""

    high_volume_per_24h: int = 100
    migration_min_artists: int = 10
    migration_max_per_artist: float = 8.0
    migration_min_per_artist: float = 2.0
    migration_max_short_share: float = 0.2
    short_min_s: float = 30.0
    short_max_s: float = 45.0
    short_min_count: int = 10
    short_min_share: float = 0.5
    lookback_days: float = 30.0
    same_audio_min_titles: int = 3
    same_audio_account_min_releases: int = 5
    same_audio_account_min_share: float = 0.2
    same_duration_tolerance_s: float = 0.1
    same_duration_min_releases: int = 3
    same_duration_min_titles: int = 3
    same_duration_window_s: float = 1.0
    same_duration_lookback_days: float = 90.0
    same_duration_max_chance: float = 1e-6
    fingerprint_min_shared_keys: int = 4
    fingerprint_min_containment: float = 0.25
    burst_window_h: float = 1.0
    burst_min_releases: int = 20
    burst_min_share_of_day: float = 0.5
    burst_dormant_days: float = 30.0
    lookalike_max_distance: int = 2


KNOBS: tuple[str, ...] = tuple(f.name for f in fields(Thresholds))
INTEGER_KNOBS: frozenset[str] = frozenset(
    f.name for f in fields(Thresholds) if isinstance(getattr(Thresholds(), f.name), int)
)


def with_overrides(values: dict[str, Any]) -> Thresholds:
    """The defaults with ``values`` (knob name -> number) set."""
    cast = {k: int(v) if k in INTEGER_KNOBS else float(v) for k, v in values.items()}
    return replace(Thresholds(), **cast)
