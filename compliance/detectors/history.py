"""Account- and release-level evidence from the metadata and the release history:
bulk patterns, the same audio from another account, look-alike artist names, keyword
stuffing, invalid identifiers (issue 6).

The detector reads the history through ``ctx.history`` (the scanner's window query, see
:mod:`compliance.history.incremental`); without an account id there is no history to
read, and only the release's own metadata is checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compliance.detectors.base import ScanContext
from compliance.domain import Evidence, EvidenceKind

if TYPE_CHECKING:  # pandas is imported only by scans that read the history
    from compliance.history.patterns import Flag

_BULK = {"high_volume", "short_tracks", "burst", "same_audio"}


def _explain(f: Flag) -> str:
    d = f.details
    if f.pattern == "high_volume":
        return f"{d['releases_in_24h']} releases in 24 h by this account"
    if f.pattern == "short_tracks":
        lo, hi = d["range_s"]
        return f"{d['short_tracks']} of {d['releases']} recent releases are {lo:g}-{hi:g} s long"
    if f.pattern == "burst":
        return (f"{d['releases']} releases within {d['window_h']:g} h after "
                f"{d['idle_days_before']:g} idle days")  # fmt: skip
    if f.pattern == "same_audio":
        if d.get("by") == "duration":
            return (
                f"{d['account_releases']} releases of this account, {d['agreeing_releases']} "
                f"of {d['agreeing_accounts']} accounts in all, share a duration of "
                f"{d['duration_s']} s within {d['tolerance_s']:g} s (chance {d['chance']:.1g})"
            )
        if d.get("by") == "fingerprint":
            return (
                f"the same audio (a copy by fingerprint: {d['shared_keys']} lookup keys, "
                f"{d['containment']:.0%} of them) was delivered by {d['accounts'] - 1} other "
                f"account(s), {d['n_releases']} release(s)"
            )
        if "accounts" in d:
            return f"the same audio appears under {d['accounts']} accounts and {d['titles']} titles"
        return f"{d['account_duplicated_releases']} recent releases of this account duplicate audio"
    if f.pattern == "lookalike_artist":
        how = "look-alike characters" if d["homoglyph"] else f"{d['distance']} edit(s)"
        return f"artist name close to protected artist {d['protected']!r} ({how})"
    if f.pattern == "keyword_stuffing":
        return "title stuffed with search keywords: " + ", ".join(d["keywords"][:8])
    return d.get("message") or f"identifier problem: {d.get('code')}"


def _kind(f: Flag) -> EvidenceKind:
    if f.pattern == "same_audio" and f.details.get("accounts", 1) >= 2:
        return EvidenceKind.DUPLICATE_ACROSS_ACCOUNTS
    if f.pattern in _BULK:
        return EvidenceKind.BULK_PATTERN
    return {
        "lookalike_artist": EvidenceKind.IMPERSONATION,
        "keyword_stuffing": EvidenceKind.METADATA_SPAM,
        "identifier_invalid": EvidenceKind.IDENTIFIER_INVALID,
    }[f.pattern]


class HistoryDetector:
    """Evidence of :mod:`compliance.history.patterns` for the upload being checked."""

    name = "history"
    version = "3"  # 3: same audio by duration from 3 copies in the account (was 4)

    def run(self, ctx: ScanContext) -> list[Evidence]:
        if ctx.history is None:
            return []
        return self.evidence_of(ctx.history(ctx))

    def evidence_of(self, flags: list[Flag]) -> list[Evidence]:
        """The evidence of account-pattern flags (also used for API submissions, whose
        account evidence is computed per submission: :mod:`compliance.api.intake`)."""
        out = []
        for f in flags:
            out.append(
                Evidence(
                    kind=_kind(f), strength=float(min(max(f.strength, 0.0), 1.0)),
                    detector=self.name, detector_version=self.version,
                    explanation=_explain(f), raw_score=float(f.strength), raw_unit=f.pattern,
                    details={"pattern": f.pattern, **f.details},
                )
            )  # fmt: skip
        return out
