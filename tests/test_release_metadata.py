"""Declared release metadata: what JSON metadata may say."""

import pytest


def test_declared_contains_ai_is_normalised_or_refused():
    from compliance.domain import ReleaseMetadata

    assert ReleaseMetadata.from_mapping({"contains_ai": "partly"}).contains_ai == "Partly"
    assert ReleaseMetadata.from_mapping({"contains_ai": " none "}).contains_ai == "None"
    assert ReleaseMetadata.from_mapping({"contains_ai": ""}).contains_ai is None
    for bad in ("maybe", 1, ["All"]):
        with pytest.raises(ValueError, match="contains_ai"):
            ReleaseMetadata.from_mapping({"contains_ai": bad})
