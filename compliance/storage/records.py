"""Plain values that go into and come out of the :class:`~compliance.storage.Store`.

Frozen dataclasses, never ORM objects: callers cannot mutate or lazily load through
them, and the tables can change without changing these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CatalogueTrackIn:
    """A catalogue entry to add.

    ``id`` is the catalogue's own id; ``content_hash`` identifies the audio bytes
    (unique across the catalogue); ``added_by`` records who added it (provenance);
    ``bank`` names the collection it belongs to.
    """

    id: str
    content_hash: str
    duration_s: float
    title: str | None = None
    artist: str | None = None
    source_path: str | None = None
    added_by: str | None = None
    bank: str = "catalogue"


@dataclass(frozen=True, slots=True)
class CatalogueTrack:
    """A stored catalogue entry; disabled entries stay so past decisions remain explainable.

    ``added_at`` and ``disabled_at`` are timezone-aware UTC.
    """

    id: str
    content_hash: str
    duration_s: float
    title: str | None
    artist: str | None
    source_path: str | None
    added_by: str | None
    added_at: datetime | None
    bank: str
    disabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SegmentIn:
    """An index segment file to record (``name`` is its folder under the index dir)."""

    name: str
    signal: str
    signal_version: str
    track_ids: list[str]
    n_hashes: int


@dataclass(frozen=True, slots=True)
class Segment:
    """A recorded (live) index segment; ``created_at`` is timezone-aware UTC."""

    name: str
    signal: str
    signal_version: str
    track_ids: list[str]
    n_hashes: int
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One stored decision with everything needed to explain it later.

    ``id`` is None on the way in (the store assigns a UUID) unless the caller picks one;
    ``created_at`` is set by the store (timezone-aware UTC). ``evidence`` and
    ``rules_fired`` hold the ``to_dict()`` forms of the domain objects, ``detectors``
    maps detector name to version, ``thresholds`` is the policy's threshold table.
    """

    id: str | None
    file: str
    content_hash: str
    decision: str
    policy_id: str
    policy_version: str
    policy_hash: str
    evidence: list[dict[str, Any]]
    rules_fired: list[dict[str, Any]]
    detectors: dict[str, str]
    thresholds: dict[str, Any]
    release_metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
