"""Metadata checks (issue 6): look-alike artist names, identifier formats, title spam.

Pure functions over strings: no store, no pandas. The account-level patterns and the
policy wiring call these.
"""

from compliance.metadata.identifiers import (
    IdentifierProblem,
    check_isrc,
    check_upc,
    normalise_isrc,
    normalise_upc,
    recordings_under_several_isrcs,
)
from compliance.metadata.names import NameMatch, ProtectedNames, lookalike, normalise, skeleton
from compliance.metadata.titles import StuffingScore, keyword_stuffing, title_template

__all__ = [
    "IdentifierProblem",
    "NameMatch",
    "ProtectedNames",
    "StuffingScore",
    "check_isrc",
    "check_upc",
    "keyword_stuffing",
    "lookalike",
    "normalise",
    "normalise_isrc",
    "normalise_upc",
    "recordings_under_several_isrcs",
    "skeleton",
    "title_template",
]
