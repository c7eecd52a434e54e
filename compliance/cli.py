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

from compliance import bank_cli
from compliance.app import App
from compliance.errors import ComplianceError
from compliance.history import cli as history_cli
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
    from compliance.pipeline.ingest import expand_paths, read_manifest

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
        report = app.ingest(items, batch_size=batch_size, progress=on_item)
    for path, code, msg in report.skipped:
        _err(f"skipped {path}: [{code}] {msg}")
    for path, code, msg in report.failed:
        _err(f"failed  {path}: [{code}] {msg}")
    _err(
        f"catalogue add: {len(report.added)} added, {len(report.skipped)} skipped, "
        f"{len(report.failed)} failed; catalogue now {app.store.count_tracks()} tracks"
    )
    sys.exit(1 if report.failed else 0)


@catalogue.command("reindex")
@click.option("--batch-size", default=64, show_default=True, help="Tracks per index segment.")
def catalogue_reindex(batch_size: int) -> None:
    """Build what older catalogues lack, from the tracks' source files: the cover index
    (tracks ingested before the cover detector) and the peak phases of the coherence
    check (landmark segments built before index format 5); reports the files it could
    not read."""
    app = _app()
    report = app.backfill_covers(batch_size=batch_size)
    phases = app.backfill_phases()
    for path, code, msg in report.failed + phases.failed:
        _err(f"failed  {path}: [{code}] {msg}")
    _err(
        f"catalogue reindex: {len(report.added)} indexed for covers, {len(report.failed)} "
        f"failed; {len(phases.added)} re-fingerprinted with phases, {len(phases.failed)} failed"
    )
    sys.exit(1 if report.failed or phases.failed else 0)


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


def _load_ern(path: Path):
    """Release metadata from a DDEX ERN message (errors: one line with the ERN code)."""
    from compliance.intake import ern_to_release_metadata, parse_ern
    from compliance.intake.ern import ErnError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise click.UsageError(f"[ern_unreadable] {path}: {exc}") from exc
    try:
        msg = parse_ern(data)
    except ErnError as exc:
        raise click.UsageError(f"[{exc.code}] {path}: {exc}") from exc
    for w in msg.warnings:
        _err(f"warning: {path}: [{w.code}] {w.message}")
    return ern_to_release_metadata(msg)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per file.")
@click.option(
    "--metadata", type=click.Path(path_type=Path), help="JSON file of declared release metadata."
)
@click.option(
    "--ern", type=click.Path(path_type=Path),
    help="DDEX ERN 4.1-4.3.2 message declaring the release (instead of --metadata).",
)  # fmt: skip
@click.option("--no-record", is_flag=True, help="Do not store the decisions.")
def check(
    files: tuple[Path, ...], as_json: bool, metadata: Path | None, ern: Path | None,
    no_record: bool,
) -> None:  # fmt: skip
    """Check uploads against the catalogue and print a decision with evidence per file."""
    from compliance.report import print_table

    if metadata is not None and ern is not None:
        raise click.UsageError("[metadata_conflict] give --metadata or --ern, not both")
    meta = _load_ern(ern) if ern is not None else _load_metadata(metadata)
    app = _app()
    try:
        scanner = app.scanner(record=not no_record)
    except ComplianceError as exc:
        _err(f"error: {exc}")
        sys.exit(2)
    if stale := scanner.catalogue.cover_index_warning():
        _err(f"warning: {stale}")
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


# --------------------------------------------------------------------------- keys
@main.group()
def keys() -> None:
    """API keys for the HTTP service (only a hash of each secret is stored)."""


def _effective_rate(key, default) -> str:
    """The rate that applies to ``key``, for people: ``10/s``, ``off``, ``50/s (default)``."""
    from compliance.settings import format_rate

    return key.rate if key.rate is not None else f"{format_rate(default)} (default)"


@keys.command("create")
@click.option("--name", required=True, help="Who or what the key is for.")
@click.option(
    "--scopes", default="submit,read", show_default=True, help="Comma list of submit,read,admin."
)
@click.option(
    "--rate", default=None, metavar="RATE",
    help="The key's own rate limit (10/s, 600/min, 1000/h, off); default: COMPLIANCE_RATE_LIMIT.",
)  # fmt: skip
def keys_create(name: str, scopes: str, rate: str | None) -> None:
    """Create a key; the key itself is printed once, on the last line."""
    from compliance.api.keys import KeyStore, normalize_rate, parse_scopes

    scope_list, rate = parse_scopes(scopes), normalize_rate(rate)  # checked before any write
    app = _app()
    key, token = KeyStore(app.store).create(name, scope_list, rate)
    click.echo(
        f"created key {key.id} ({key.name}) scopes={','.join(key.scopes)} "
        f"rate={_effective_rate(key, app.settings.rate_limit)}"
    )
    click.echo("store it now: it cannot be shown again")
    click.echo(token)


@keys.command("set-rate")
@click.argument("key_id")
@click.argument("rate", metavar="RATE|default")
def keys_set_rate(key_id: str, rate: str) -> None:
    """Set a key's rate limit (10/s, 600/min, 1000/h, off), or 'default' to follow
    COMPLIANCE_RATE_LIMIT again. Running API processes apply it from the key's next request."""
    from compliance.api.keys import KeyStore, normalize_rate

    rate = normalize_rate(rate)
    app = _app()
    key = KeyStore(app.store).set_rate(key_id, rate)
    click.echo(f"{key.id} ({key.name}) rate={_effective_rate(key, app.settings.rate_limit)}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (requests with it then get 401 auth_invalid)."""
    from compliance.api.keys import KeyStore

    key = KeyStore(_app().store).revoke(key_id)
    click.echo(f"revoked {key.id} ({key.name}) at {key.revoked_at.isoformat()}")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
def keys_list(as_json: bool) -> None:
    """List keys (ids, names, scopes, effective rate limit, state; never secrets)."""
    from compliance.api.keys import KeyStore
    from compliance.settings import format_rate

    app = _app()
    default = app.settings.rate_limit
    for k in KeyStore(app.store).list():
        revoked = k.revoked_at.isoformat() if k.revoked_at else None
        if as_json:
            click.echo(json.dumps({"id": k.id, "name": k.name, "scopes": list(k.scopes),
                                   "rate": k.rate, "rate_effective": k.rate or format_rate(default),
                                   "created_at": k.created_at.isoformat(),
                                   "revoked_at": revoked}))  # fmt: skip
        else:
            state = f"revoked {revoked}" if revoked else "active"
            click.echo(
                f"{k.id}\t{k.name}\t{','.join(k.scopes)}\t{_effective_rate(k, default)}\t{state}"
            )


# --------------------------------------------------------------------------- service
def _logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


_KINDS = ("scan", "webhook")


def _parse_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    if not kinds or any(k not in _KINDS for k in kinds):
        raise click.BadParameter(f"a comma list of {','.join(_KINDS)}; got {text!r}")
    return kinds


def _workers(app, kinds, *, lease_s: float = 60.0, poll_s: float = 1.0) -> list:
    from compliance.jobs.scan_worker import ScanWorker
    from compliance.webhooks import WebhookWorker

    out = []
    if "scan" in kinds:
        out.append(ScanWorker(app, lease_s=lease_s, poll_s=poll_s))
    if "webhook" in kinds:
        out.append(WebhookWorker(app, poll_s=poll_s))
    return out


@main.command()
@click.option("--once", is_flag=True, help="Process at most one job (the first kind), then exit.")
@click.option("--lease-s", default=60.0, show_default=True, help="Scan job lease length, seconds.")
@click.option("--poll-s", default=1.0, show_default=True, help="Idle wait between claims.")
@click.option(
    "--kinds", default="scan,webhook", show_default=True,
    help="Job kinds to run: scan (analyses), webhook (signed deliveries), or both.",
)  # fmt: skip
@click.option(
    "--metrics-port", type=int, default=None,
    help="Serve this worker's Prometheus metrics (scan stage durations) on this port.",
)  # fmt: skip
@click.option(
    "--nice", "nice", default=10, show_default=True, type=click.IntRange(0, 19),
    help="Lower this process's CPU priority by this much (os.nice, and its autogroup's when "
    "it leads its own session; 0: unchanged), so that scans sharing cores with the API do "
    "not slow its answers.",
)  # fmt: skip
def worker(
    once: bool, lease_s: float, poll_s: float, kinds: str, metrics_port: int | None, nice: int
) -> None:
    """Run jobs from the queue until interrupted (Ctrl-C / SIGTERM): scans and webhook
    deliveries, each kind in a thread of its own, at a lower CPU priority (--nice)."""
    import signal
    import threading

    from compliance.jobs.priority import lower_priority

    _logging()
    lower_priority(nice)
    app = _app()
    workers = _workers(app, _parse_kinds(kinds), lease_s=lease_s, poll_s=poll_s)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        from compliance.jobs.metrics import WORKER_REGISTRY

        start_http_server(metrics_port, registry=WORKER_REGISTRY)
    if once:
        job = workers[0].run_once()
        click.echo("no job" if job is None else f"{job.id} {job.state}")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = [
        threading.Thread(target=w.run_forever, args=(stop,), name=f"worker-{i}", daemon=True)
        for i, w in enumerate(workers[1:], 1)
    ]
    for th in threads:
        th.start()
    try:
        workers[0].run_forever(stop)
    except KeyboardInterrupt:
        stop.set()
    for th in threads:
        th.join(timeout=30)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", "processes", default=1, show_default=True, type=click.IntRange(1, 64),
    help="API processes (uvicorn workers) sharing the port; each builds its own app from "
    "the environment. Scans are never run in them (see --embedded-worker).",
)  # fmt: skip
@click.option(
    "--embedded-worker", is_flag=True,
    help="Also run scan and webhook worker threads (in this process; with --workers N "
    "it only supervises the API processes).",
)  # fmt: skip
@click.option(
    "--demo-key", is_flag=True,
    help="Create an admin API key named 'demo' and print it with the URLs (make run).",
)  # fmt: skip
def serve(host: str, port: int, processes: int, embedded_worker: bool, demo_key: bool) -> None:
    """Serve the HTTP API (uvicorn)."""
    import threading

    import uvicorn

    from compliance.api import create_app

    _logging()
    app = _app()
    app.store  # noqa: B018  (open and migrate the database before accepting requests)
    app.policy  # noqa: B018
    if demo_key:
        from compliance.api.keys import KeyStore

        _, token = KeyStore(app.store).create("demo", ("admin",))
        base = f"http://{host}:{port}"
        click.echo(f"service:  {base}   (health: {base}/health/ready)")
        click.echo(f"OpenAPI:  {base}/docs")
        click.echo(f"demo key: {token}")
        click.echo(
            f"try:      curl -H 'Authorization: Bearer {token}' -F files=@FILE {base}/v1/releases"
        )
    # Not app.blobs.clear_incoming(): other replicas may share the blob folder and be
    # receiving uploads right now (temporary files of crashed uploads need an age-based
    # sweep, not done yet).
    stop = threading.Event()
    threads = []
    if embedded_worker:  # a scan worker and a webhook delivery worker
        threads = [
            threading.Thread(target=w.run_forever, args=(stop,), name=f"worker-{i}", daemon=True)
            for i, w in enumerate(_workers(app, _KINDS))
        ]
        for th in threads:
            th.start()
    try:
        if processes == 1:
            uvicorn.run(create_app(app, freeze_gc=True), host=host, port=port, log_level="info")
        else:  # spawned processes: each imports the factory and reads the same environment
            uvicorn.run(
                "compliance.api:create_app_from_env", factory=True, workers=processes,
                host=host, port=port, log_level="info",
            )  # fmt: skip
    finally:
        stop.set()
        for th in threads:
            th.join(timeout=30)


main.add_command(policy_group)
main.add_command(history_cli.history)
main.add_command(history_cli.accounts)
main.add_command(bank_cli.bank)

if __name__ == "__main__":  # pragma: no cover
    main()
