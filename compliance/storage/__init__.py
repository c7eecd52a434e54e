"""Persistence: the SQL store (SQLite or PostgreSQL) and the index files.

Public API: :class:`Store` and the plain values it takes and returns
(:class:`CatalogueTrackIn`, :class:`CatalogueTrack`, :class:`SegmentIn`, :class:`Segment`,
:class:`ScanRecord`). Tables live in :mod:`compliance.storage.models`.
"""

from compliance.storage.records import (
    CatalogueTrack,
    CatalogueTrackIn,
    ScanRecord,
    Segment,
    SegmentIn,
)
from compliance.storage.store import Store

__all__ = ["CatalogueTrack", "CatalogueTrackIn", "ScanRecord", "Segment", "SegmentIn", "Store"]
