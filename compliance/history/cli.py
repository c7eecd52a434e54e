"""``compliance history`` and ``compliance accounts`` commands."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from compliance.history import PROTECTED_ARTIST


def _app():
    from compliance.cli import _app as app

    return app()


def _flags(app, since: datetime | None):
    from compliance.history import patterns
    from compliance.history.incremental import fingerprint_flags
    from compliance.history.store import list_names, load_history
    from compliance.metadata.names import ProtectedNames

    df = load_history(app.store)
    protected = ProtectedNames(list_names(app.store, PROTECTED_ARTIST))
    th = app.policy.history_thresholds()
    flags = patterns.detect(df, th, protected=protected)
    if not df.empty:  # copies found by fingerprint among checked releases
        flags += fingerprint_flags(app.store, df, th)
    if since is not None:
        recent = set(df.loc[df["upload_ts"] >= since, "release_id"])
        flags = [f for f in flags if f.release_id in recent]
    return df, flags


@click.group()
def history() -> None:
    """The release history and the account-level patterns found in it."""


@history.command("import")
@click.argument("path", type=click.Path(path_type=Path))
def history_import(path: Path) -> None:
    """Import a past release log (JSON lines, or CSV when the name ends in .csv).

    Rows with problems are reported with their line and not stored; the rest are.
    Exit status 1 when some rows were rejected."""
    from compliance.history.importer import import_log

    report = import_log(_app().store, path)
    for p in report.problems[:200]:
        click.echo(f"{path}: {p}", err=True)
    if len(report.problems) > 200:
        click.echo(f"... and {len(report.problems) - 200} more problems", err=True)
    click.echo(
        f"history import: {report.added} added, {report.skipped_existing} already there, "
        f"{report.rejected} rejected",
        err=True,
    )
    sys.exit(1 if report.problems else 0)


@history.command("flags")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only releases uploaded on or after this date (UTC).")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table")
def history_flags(since: datetime | None, fmt: str) -> None:
    """Every flagged release and pattern. With --format jsonl, one object per line:
    {"release_id", "account_id", "pattern", "strength", "details"}."""
    since = since.replace(tzinfo=UTC) if since is not None else None
    _, flags = _flags(_app(), since)
    if fmt == "jsonl":
        for f in flags:
            click.echo(json.dumps(f.to_dict(), ensure_ascii=False))
        return
    for f in flags:
        detail = ", ".join(f"{k}={v}" for k, v in f.details.items())
        click.echo(f"{f.release_id}\t{f.account_id}\t{f.pattern}\t{f.strength:.2f}\t{detail}")
    click.echo(f"{len(flags)} flags", err=True)


@click.group()
def accounts() -> None:
    """Accounts and their risk."""


@accounts.command("report")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def accounts_report(fmt: str) -> None:
    """Accounts ranked by risk: the patterns found in their releases."""
    from compliance.history.report import account_risk

    df, flags = _flags(_app(), None)
    rows = account_risk(df, flags)
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    elif fmt == "csv":
        w = csv.writer(sys.stdout)
        w.writerow(["account_id", "risk", "releases", "flagged_releases", "patterns"])
        for r in rows:
            pats = ";".join(f"{k}:{v}" for k, v in r["patterns"].items())
            w.writerow([r["account_id"], r["risk"], r["releases"], r["flagged_releases"], pats])
    else:
        for r in rows:
            pats = ", ".join(f"{k} ({v})" for k, v in r["patterns"].items())
            click.echo(
                f"{r['account_id']}\t{r['risk']:.2f}\t{r['flagged_releases']}/{r['releases']}"
                f"\t{pats}"
            )
