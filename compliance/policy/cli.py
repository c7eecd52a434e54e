"""``compliance policy check|test``: validate policies and run their golden cases."""

from __future__ import annotations

import json
from pathlib import Path

import click

from compliance.errors import PolicyError

#: Golden cases shipped with the repository (``policy test`` without arguments).
CASES_DIR = Path(__file__).resolve().parents[2] / "policies" / "cases"


def _shown(path: Path) -> str:
    """The path relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@click.group("policy")
def policy() -> None:
    """Validate policies and run their golden cases."""


@policy.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Validate policy FILES: print OK with id, version and hash, or the errors.

    Exits 1 if any file is invalid.
    """
    from compliance.policy.loader import load_policy

    invalid = 0
    for f in files:
        try:
            p = load_policy(f)
        except PolicyError as exc:
            invalid += 1
            click.echo(f"INVALID {f}", err=True)
            click.echo(exc.message, err=True)
            continue
        click.echo(
            f"OK {f}: id={p.id} version={p.version} mode={p.mode} "
            f"findings={len(p.doc.findings)} rules={len(p.doc.rules)} hash={p.hash}"
        )
    if invalid:
        raise SystemExit(1)


@policy.command("test")
@click.argument("case_files", nargs=-1, type=click.Path(path_type=Path))
def test(case_files: tuple[Path, ...]) -> None:
    """Run golden CASE_FILES (default: every *.yaml in policies/cases/).

    Prints pass or FAIL per case; exits 1 on any failure or unreadable case file.
    """
    from compliance.policy.cases import run_case_file

    files = list(case_files) or sorted(CASES_DIR.glob("*.yaml"))
    if not files:
        click.echo(f"no case files in {CASES_DIR}", err=True)
        raise SystemExit(1)
    passed = failed = 0
    for f in files:
        try:
            results = run_case_file(f)
        except PolicyError as exc:
            failed += 1
            click.echo(f"ERROR {f}", err=True)
            click.echo(exc.message, err=True)
            continue
        for r in results:
            if r.ok:
                passed += 1
                click.echo(f"pass {_shown(f)}:{r.line}: {r.name}")
            else:
                failed += 1
                click.echo(
                    f"FAIL {_shown(f)}:{r.line}: {r.name}: expected {r.expected}, got {r.got}"
                )
    click.echo(f"{passed} passed, {failed} failed")
    if failed:
        raise SystemExit(1)


@policy.command("schema")
def schema() -> None:
    """Print the JSON Schema of policy files (as committed in policies/schema.json)."""
    from compliance.policy.schema import export_json_schema

    click.echo(json.dumps(export_json_schema(), indent=2))
