"""What the uploader declared about a release (from JSON metadata or, later, DDEX ERN)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ReleaseMetadata:
    """Declared metadata of one upload.

    ``licences`` lists the catalogue ids (or ``"*"``) for which the uploader declares a
    sample/re-use licence; the policy engine reads it in ``unless`` clauses.
    ``contains_ai`` is the declared AI disclosure (DDEX ERN 4.3.2 ``ContainsAI``: ``All``,
    ``Partly`` or ``None``). ``isrcs``, ``upc`` and ``label`` come from an ERN message.
    """

    title: str | None = None
    artist: str | None = None
    account_id: str | None = None
    uploader_tier: str | None = None
    licences: tuple[str, ...] = ()
    contains_ai: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Filled from DDEX ERN intake (compliance.intake.ern); JSON metadata keeps such keys in
    # ``extra`` as before, so policies testing ``extra.<key>`` are unaffected.
    isrcs: tuple[str, ...] = ()
    upc: str | None = None
    label: str | None = None

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None) -> ReleaseMetadata:
        """Build from a JSON object; unknown keys are kept in ``extra``."""
        if not data:
            return cls()
        if not isinstance(data, dict):
            raise ValueError("release metadata must be a JSON object")
        known = {"title", "artist", "account_id", "uploader_tier", "licences", "contains_ai"}
        lic = data.get("licences") or ()
        if isinstance(lic, str) or not all(isinstance(x, str) for x in lic):
            raise ValueError("metadata 'licences' must be a list of catalogue ids")
        return cls(
            title=data.get("title"),
            artist=data.get("artist"),
            account_id=data.get("account_id"),
            uploader_tier=data.get("uploader_tier"),
            licences=tuple(lic),
            contains_ai=contains_ai_value(data.get("contains_ai")),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def has_licence_for(self, catalogue_id: str | None) -> bool:
        return "*" in self.licences or (catalogue_id is not None and catalogue_id in self.licences)


CONTAINS_AI = ("All", "Partly", "None")
"""DDEX ERN 4.3.2 ``ContainsAI`` values."""


def contains_ai_value(value: Any) -> str | None:
    """A declared ``contains_ai`` in its DDEX spelling (case-insensitive), None when not
    declared (missing or empty); anything else is an error, never silently "not
    declared".

    Raises
    ------
    ValueError
        For a value outside ``All``, ``Partly``, ``None``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        for v in CONTAINS_AI:
            if value.strip().casefold() == v.casefold():
                return v
    raise ValueError(
        f"metadata 'contains_ai' must be one of All, Partly, None (DDEX ContainsAI), got {value!r}"
    )
