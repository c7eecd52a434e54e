"""The ``compliance`` command.

Exit codes: 0 all files processed; 1 some files could not be processed (each reported,
the rest went on); 2 usage or configuration error. A ``review`` or ``block`` decision is
a result, not an error: it does not change the exit code.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from compliance.app import App
from compliance.errors import ComplianceError
from compliance.policy.cli import policy as policy_group
from compliance.settings import Settings


def _app() -> App:
    try:
        return App(Settings.from_env())
    except ComplianceError as exc:
        raise click.UsageError(str(exc)) from exc


def _err(msg: str) -> None:
    click.echo(msg, err=True)


class _Main(click.Group):
    """Reports service errors (bad configuration, unreachable database, invalid policy)
    as one line with their code and exit status 2, never as a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ComplianceError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Main)
@click.version_option(package_name="release-compliance-checker")
def main() -> None:
    """Compliance checks for music distributors: re-uploads, samples and policy decisions."""


# --------------------------------------------------------------------------- catalogue
@main.group()
def catalogue() -> None:
    """Manage the catalogue of protected recordings."""


@catalogue.command("add")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--manifest", type=click.Path(path_type=Path), help="CSV with path,id[,title,artist]."
)
@click.option("--batch-size", default=64, show_default=True, help="Tracks per index segment.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def catalogue_add(paths: tuple[Path, ...], manifest: Path | None, batch_size: int, quiet: bool):
    """Ingest audio files or folders (ids from the manifest, else the file name stem)."""
    from compliance.pipeline.ingest import expand_paths, ingest, read_manifest

    if not paths and manifest is None:
        raise click.UsageError("give PATH... and/or --manifest CSV")
    app = _app()
    try:
        items = read_manifest(manifest) if manifest else []
    except ComplianceError as exc:
        _err(f"error: {exc}")
        sys.exit(2)
    if paths:
        by_path = {i.path.resolve(): i for i in items}
        for it in expand_paths(paths):
            if it.path.resolve() not in by_path:
                items.append(it)
    on_item = None
    progress = contextlib.nullcontext()
    if not quiet and sys.stderr.isatty():  # rich is imported only to draw the bar
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        bar = Progress(
            TextColumn("ingest"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.description}"), transient=True, console=Console(stderr=True),
        )  # fmt: skip
        task = bar.add_task("", total=len(items))

        def on_item(item, outcome):
            bar.update(task, advance=1, description=f"{outcome}: {item.path.name}")

        progress = bar
    with progress:
        report = ingest(
            items,
            store=app.store,
            index_dir=app.settings.index_dir,
            max_duration_s=app.settings.max_duration_s,
            max_bytes=app.settings.max_file_bytes,
            batch_size=batch_size,
            progress=on_item,
        )
    for path, code, msg in report.skipped:
        _err(f"skipped {path}: [{code}] {msg}")
    for path, code, msg in report.failed:
        _err(f"failed  {path}: [{code}] {msg}")
    _err(
        f"catalogue add: {len(report.added)} added, {len(report.skipped)} skipped, "
        f"{len(report.failed)} failed; catalogue now {app.store.count_tracks()} tracks"
    )
    sys.exit(1 if report.failed else 0)


@catalogue.command("list")
@click.option("--all", "include_disabled", is_flag=True, help="Include disabled entries.")
@click.option("--json", "as_json", is_flag=True)
def catalogue_list(include_disabled: bool, as_json: bool) -> None:
    """List catalogue entries."""
    app = _app()
    tracks = app.store.list_tracks(include_disabled=include_disabled)
    if as_json:
        for t in tracks:
            click.echo(
                json.dumps(
                    {
                        "id": t.id, "title": t.title, "artist": t.artist,
                        "content_hash": t.content_hash, "duration_s": t.duration_s,
                        "disabled": t.disabled, "disabled_reason": t.disabled_reason,
                    }
                )
            )  # fmt: skip
        return
    for t in tracks:
        state = f"disabled: {t.disabled_reason}" if t.disabled else ""
        click.echo(f"{t.id}\t{t.duration_s:7.1f} s\t{t.title or ''}\t{t.artist or ''}\t{state}")


@catalogue.command("disable")
@click.argument("catalogue_id")
@click.option("--reason", required=True, help="Why (kept with the entry).")
def catalogue_disable(catalogue_id: str, reason: str) -> None:
    """Disable an entry: it stops matching; past decisions stay explainable."""
    app = _app()
    try:
        app.store.disable_track(catalogue_id, reason=reason)
    except ComplianceError as exc:
        _err(f"error: {exc}")
        sys.exit(1)
    _err(f"disabled {catalogue_id}")


# --------------------------------------------------------------------------- check
def _load_metadata(path: Path | None):
    from compliance.domain import ReleaseMetadata

    if path is None:
        return ReleaseMetadata()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ReleaseMetadata.from_mapping(data)
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"[metadata_invalid] {path}: {exc}") from exc


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per file.")
@click.option(
    "--metadata", type=click.Path(path_type=Path), help="JSON file of declared release metadata."
)
@click.option("--no-record", is_flag=True, help="Do not store the decisions.")
def check(files: tuple[Path, ...], as_json: bool, metadata: Path | None, no_record: bool) -> None:
    """Check uploads against the catalogue and print a decision with evidence per file."""
    from compliance.report import print_table

    meta = _load_metadata(metadata)
    app = _app()
    try:
        scanner = app.scanner(record=not no_record)
    except ComplianceError as exc:
        _err(f"error: {exc}")
        sys.exit(2)
    failed = 0
    results = []
    for f in files:
        r = scanner.check(str(f), meta)
        failed += not r.ok
        if as_json:
            click.echo(json.dumps(r.to_json()), nl=True)
            sys.stdout.flush()
        else:
            results.append(r)
    if not as_json:
        print_table(results)
    sys.exit(1 if failed else 0)


# --------------------------------------------------------------------------- demo
@main.command()
@click.option(
    "--workdir", type=click.Path(path_type=Path), default=None,
    help="Where demo audio is written (default: COMPLIANCE_HOME/demo).",
)  # fmt: skip
def demo(workdir: Path | None) -> None:
    """Synthesize a demo catalogue, ingest it, check demo uploads, print the decisions."""
    from compliance.demo import run_demo

    app = _app()
    sys.exit(run_demo(app, workdir or app.settings.home / "demo"))


main.add_command(policy_group)

if __name__ == "__main__":  # pragma: no cover
    main()
