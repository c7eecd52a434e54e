"""``compliance bank``: the banks operators edit (protected artist names, protected voices)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click

from compliance.history import PROTECTED_ARTIST

PROTECTED_VOICE = "protected_voice"
KINDS = (PROTECTED_ARTIST, PROTECTED_VOICE)


def _store():
    from compliance.cli import _app as app

    return app().store


@click.group()
def bank() -> None:
    """Banks of protected artist names and protected voices."""


@bank.command("import")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--id", "voice_id", help="protected_voice: the artist id the recordings belong to.")
@click.option(
    "--manifest",
    type=click.Path(path_type=Path),
    help="protected_voice: CSV with columns voice_id,path (relative to the CSV) and "
    "optional artist_name, authorised_accounts (separated by ';'), consent.",
)
@click.option("--artist", "artist_name", help="protected_voice: the artist's name.")
@click.option(
    "--authorised-account",
    "authorised",
    multiple=True,
    help="protected_voice: an uploader account allowed to use the voice (repeatable).",
)
@click.option(
    "--consent",
    help="protected_voice: the consent or authorisation record: JSON, or a text stored as "
    '{"record": TEXT} (who granted it, the document, the date).',
)
@click.option("--provenance", help="protected_voice: where the recordings come from.")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def bank_import(
    kind: str,
    voice_id: str | None,
    manifest: Path | None,
    artist_name: str | None,
    authorised: tuple[str, ...],
    consent: str | None,
    provenance: str | None,
    paths: tuple[Path, ...],
) -> None:
    """Add names (protected_artist: one file, one name per line) or enrol reference
    recordings of a protected voice (protected_voice: --id ID FILE..., or --manifest)."""
    if kind == PROTECTED_ARTIST:
        if len(paths) != 1 or voice_id or manifest:
            _fail("protected_artist takes exactly one file of names (no --id, no --manifest)")
        _import_names(paths[0])
        return
    if bool(manifest) == bool(voice_id):
        _fail("protected_voice needs --id ID with recordings, or --manifest CSV")
    if voice_id and not paths:
        _fail("protected_voice --id needs at least one recording")
    record = _consent(consent)
    if manifest:
        groups = _read_manifest(manifest)
    else:
        groups = {
            voice_id: {"paths": list(paths), "artist_name": None, "authorised": [], "consent": None}
        }
    failed = False
    for vid, g in groups.items():
        failed |= not _enrol_one(
            vid,
            g["paths"],
            artist_name=artist_name or g["artist_name"],
            authorised=list(authorised) or g["authorised"],
            consent=record if record is not None else g["consent"],
            provenance=provenance,
        )
    sys.exit(1 if failed else 0)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _consent(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"record": text}
    return value if isinstance(value, dict) else {"record": value}


def _read_manifest(path: Path) -> dict[str, dict]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        _fail(f"cannot read manifest {path}: {exc}")
    if not rows or not {"voice_id", "path"} <= set(rows[0]):
        _fail(f"manifest {path} needs the columns voice_id,path")
    groups: dict[str, dict] = {}
    for r in rows:
        vid = (r.get("voice_id") or "").strip()
        p = (r.get("path") or "").strip()
        if not vid or not p:
            continue
        g = groups.setdefault(
            vid, {"paths": [], "artist_name": None, "authorised": [], "consent": None}
        )
        g["paths"].append(Path(p) if Path(p).is_absolute() else path.parent / p)
        if r.get("artist_name"):
            g["artist_name"] = r["artist_name"].strip()
        if r.get("authorised_accounts"):
            g["authorised"] = [a.strip() for a in r["authorised_accounts"].split(";") if a.strip()]
        if r.get("consent"):
            g["consent"] = _consent(r["consent"])
    return groups


def _enrol_one(vid, paths, *, artist_name, authorised, consent, provenance) -> bool:
    from compliance.errors import ComplianceError
    from compliance.voices.bank import enrol

    try:
        res = enrol(
            _store(), vid, paths, artist_name=artist_name, authorised_accounts=authorised,
            consent=consent, provenance=provenance,
        )  # fmt: skip
    except ComplianceError as exc:
        click.echo(f"error [{exc.code}]: {exc.message}", err=True)
        return False
    for _path, code, message in res.refused:
        click.echo(f"refused [{code}]: {message}", err=True)
    if not res.usable:
        click.echo(
            f"error [voice_no_usable_reference]: voice {vid}: none of its {len(paths)} "
            "recording(s) is usable; the voice is not enrolled",
            err=True,
        )
        return False
    click.echo(
        f"voice {vid}: {len(res.added)} reference(s) added, {len(res.refused)} refused, "
        f"{res.n_references} in its print" + (" (new)" if res.created else ""),
        err=True,
    )
    return True


def _import_names(path: Path) -> None:
    from compliance.history.store import add_names

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}", 1)
    names = [n.strip() for n in text.splitlines() if n.strip() and not n.startswith("#")]
    too_long = [n for n in names if len(n) > 512]
    for n in too_long:
        click.echo(f"error: name of {len(n)} characters refused (at most 512)", err=True)
    added = add_names(_store(), PROTECTED_ARTIST, [n for n in names if len(n) <= 512])
    click.echo(f"bank {PROTECTED_ARTIST}: {added} added, "
               f"{len(names) - added - len(too_long)} already there", err=True)  # fmt: skip
    sys.exit(1 if too_long else 0)


@bank.command("list")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table")
def bank_list(kind: str, fmt: str) -> None:
    """The names, or the voices (with references, authorised accounts, consent), of a bank."""
    if kind == PROTECTED_ARTIST:
        from compliance.history.store import list_names

        for n in list_names(_store(), kind):
            click.echo(json.dumps({"name": n}) if fmt == "jsonl" else n)
        return
    from compliance.voices.bank import list_voices

    for v in list_voices(_store()):
        if fmt == "jsonl":
            click.echo(json.dumps(v.view()))
        else:
            state = f"disabled: {v.disabled_reason}" if v.disabled else "active"
            click.echo(
                f"{v.voice_id}\t{v.artist_name or '-'}\t{v.n_references} ref\t"
                f"{','.join(v.authorised_accounts) or '-'}\t{state}"
            )


@bank.command("remove")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--reason", help="protected_voice: why the voice is disabled (kept with it).")
@click.argument("name")
def bank_remove(kind: str, reason: str | None, name: str) -> None:
    """Remove a name, or disable a protected voice (kept, so past decisions stay
    explainable; it is no longer matched)."""
    if kind == PROTECTED_ARTIST:
        from compliance.history.store import remove_name

        if not remove_name(_store(), kind, name):
            _fail(f"{name!r} is not in the {kind} bank", 1)
        return
    from compliance.voices.bank import disable_voice

    if not disable_voice(_store(), name, reason=reason or "removed by an operator"):
        _fail(f"voice {name!r} is not in the {kind} bank", 1)
