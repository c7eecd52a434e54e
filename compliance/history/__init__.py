"""Release history and the account-level patterns read from it (bulk uploads, short
tracks, the same audio under many titles, look-alike artist names, keyword stuffing,
bursts, invalid identifiers)."""

PROTECTED_ARTIST = "protected_artist"
"""The name bank of protected artists."""
