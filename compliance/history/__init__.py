"""Release history and the account-level patterns read from it (bulk uploads, short
tracks, the same audio under many titles, look-alike artist names, keyword stuffing,
bursts, invalid identifiers)."""
