"""Release intake: reading what distributors deliver (DDEX ERN messages) into domain objects."""

from compliance.intake.ern import (
    SUPPORTED_VERSIONS,
    Contributor,
    DeliveryFile,
    DisplayArtist,
    ErnError,
    ErnMessage,
    ErnWarning,
    Genre,
    HashSum,
    MessageParty,
    OtherResource,
    Party,
    Release,
    SoundRecording,
    ern_to_release_metadata,
    parse_ern,
)

__all__ = [
    "SUPPORTED_VERSIONS",
    "Contributor",
    "DeliveryFile",
    "DisplayArtist",
    "ErnError",
    "ErnMessage",
    "ErnWarning",
    "Genre",
    "HashSum",
    "MessageParty",
    "OtherResource",
    "Party",
    "Release",
    "SoundRecording",
    "ern_to_release_metadata",
    "parse_ern",
]
