"""Persistence: the SQL store and the index files."""

from compliance.storage.store import (
    CatalogueTrack,
    CatalogueTrackIn,
    ScanRecord,
    Segment,
    SegmentIn,
    Store,
)

__all__ = ["CatalogueTrack", "CatalogueTrackIn", "ScanRecord", "Segment", "SegmentIn", "Store"]
