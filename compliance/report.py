"""Readable terminal report of scan results (the CLI without ``--json``)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from compliance.pipeline.scan import ScanResult

_STYLE = {"pass": "green", "review": "yellow", "block": "bold red"}


def _fmt(x: float | None, spec: str) -> str:
    return "" if x is None else format(x, spec)


def print_table(results: Sequence[ScanResult], *, console: Console | None = None) -> None:
    """One block per file: decision, the rules that fired, the evidence."""
    console = console or Console()
    for r in results:
        if not r.ok:
            console.print(
                f"[bold]{escape(r.file)}[/]  [red]error[/] "
                f"{escape(f'[{r.error_code}] {r.error_message}')}"
            )
            continue
        d = r.decision
        assert d is not None
        verdict = str(d.verdict)
        console.print(
            f"[bold]{escape(r.file)}[/]  [{_STYLE[verdict]}]{verdict.upper()}[/]  "
            f"(policy {d.policy_id} v{d.policy_version}, {d.policy_hash[:12]})"
        )
        for rule in d.rules_fired:
            console.print(escape(f"  rule {rule.rule_id} -> {rule.then}: {rule.reason}"))
        if not r.evidence:
            console.print("  no evidence")
            continue
        table = Table(show_edge=False, pad_edge=False, box=None)
        for col in ("kind", "strength", "reference", "upload@s", "catalogue@s", "matched s",
                    "speed", "pitch st"):  # fmt: skip
            table.add_column(col)
        for e in r.evidence[:8]:
            table.add_row(
                str(e.kind), f"{e.strength:.2f}", escape(e.catalogue_id or e.voice_id or ""),
                _fmt(e.query_start_s, ".1f"), _fmt(e.catalogue_start_s, ".1f"),
                _fmt(e.matched_s, ".1f"), _fmt(e.speed_ratio, ".3f"),
                _fmt(e.pitch_shift_semitones, "+.2f"),
            )  # fmt: skip
        console.print(table)
        if len(r.evidence) > 8:
            console.print(f"  ... {len(r.evidence) - 8} weaker candidates (see --json)")
