"""Accounts ranked by risk from the flags of :mod:`compliance.history.patterns`."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

from compliance.history.patterns import Flag


def account_risk(df: pd.DataFrame, flags: list[Flag]) -> list[dict[str, Any]]:
    """One row per flagged account, riskiest first.

    ``risk`` is the share of the account's releases that are flagged times the
    strongest flag's strength (0..1); ``patterns`` counts flagged releases per pattern.
    """
    releases = df["account_id"].value_counts().to_dict()
    per: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    strongest: dict[str, float] = defaultdict(float)
    for f in flags:
        per[f.account_id][f.pattern].add(f.release_id)
        strongest[f.account_id] = max(strongest[f.account_id], f.strength)
    rows = []
    for account, pats in per.items():
        flagged = set().union(*pats.values())
        n = int(releases.get(account, len(flagged)))
        rows.append({
            "account_id": account,
            "risk": round(len(flagged) / max(n, 1) * strongest[account], 3),
            "releases": n,
            "flagged_releases": len(flagged),
            "patterns": {k: len(v) for k, v in sorted(pats.items())},
        })  # fmt: skip
    rows.sort(key=lambda r: (-r["risk"], -r["flagged_releases"], r["account_id"]))
    return rows
