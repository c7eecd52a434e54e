"""``compliance policy check|test``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from compliance.errors import PolicyError

CASES_DIR = Path(__file__).resolve().parents[2] / "policies" / "cases"


@click.group("policy")
def policy() -> None:
    """Validate policies and run their golden cases."""


@policy.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Validate policy files; print id, version and hash, or the errors."""
    from compliance.policy import load_policy

    bad = 0
    for f in files:
        try:
            p = load_policy(f)
        except PolicyError as exc:
            bad += 1
            click.echo(f"INVALID {f}\n{exc.message}", err=True)
            continue
        click.echo(f"OK {f}: id={p.id} version={p.version} hash={p.hash} rules={len(p.doc.rules)}")
    sys.exit(1 if bad else 0)


@policy.command("test")
@click.argument("case_files", nargs=-1, type=click.Path(path_type=Path))
def test(case_files: tuple[Path, ...]) -> None:
    """Run golden cases (default: every file in policies/cases/)."""
    from compliance.policy.cases import run_case_file

    files = list(case_files) or sorted(CASES_DIR.glob("*.yaml"))
    failed = total = 0
    for f in files:
        try:
            results = run_case_file(f)
        except PolicyError as exc:
            click.echo(f"ERROR {f}: {exc.message}", err=True)
            failed += 1
            continue
        for r in results:
            total += 1
            failed += not r.ok
            mark = "pass" if r.ok else "FAIL"
            extra = "" if r.ok else f"  expected {r.expected}, got {r.got}"
            click.echo(f"{mark} {Path(r.file).name}: {r.name}{extra}")
    click.echo(f"{total - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
