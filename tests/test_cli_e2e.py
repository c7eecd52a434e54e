"""End to end through the real CLI (click runner), real SQLite store, real index files,
real ffmpeg decoding, with seeded synthetic music."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from compliance.cli import main
from compliance.synth import synth_piece
from fingerprints.audio import encode, write_wav

SR = 22050


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A catalogue of four pieces ingested through the CLI, and a few uploads."""
    root = tmp_path_factory.mktemp("world")
    home = root / "home"
    cat = root / "cat"
    cat.mkdir()
    pieces = {f"song-{i}": synth_piece(200 + i, 30.0, sample_rate=SR) for i in range(4)}
    rows = []
    for cid, y in pieces.items():
        p = cat / f"{cid}.wav"
        write_wav(p, y, SR)
        rows.append({"path": p.name, "id": cid, "title": f"Title {cid}", "artist": "Someone"})
    manifest = cat / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "id", "title", "artist"])
        w.writeheader()
        w.writerows(rows)
    env = {"COMPLIANCE_HOME": str(home)}
    runner = CliRunner()
    r = runner.invoke(main, ["catalogue", "add", "--manifest", str(manifest), "--quiet"], env=env)
    assert r.exit_code == 0, r.output
    up = root / "uploads"
    up.mkdir()
    encode(pieces["song-1"], SR, up / "copy.mp3", codec="mp3", bitrate="64k")
    write_wav(up / "crop.wav", pieces["song-2"][8 * SR : 22 * SR], SR)
    bed = synth_piece(777, 30.0, sample_rate=SR)
    ex = pieces["song-3"][5 * SR : 17 * SR]
    bed[10 * SR : 22 * SR] += 0.7 * ex
    write_wav(up / "remix.wav", bed / np.max(np.abs(bed)), SR)
    write_wav(up / "new.wav", synth_piece(888, 20.0, sample_rate=SR), SR)
    write_wav(up / "silence.wav", np.zeros(10 * SR, np.float32), SR)
    write_wav(up / "tiny.wav", synth_piece(5, 0.5, sample_rate=SR), SR)
    (up / "notaudio.mp3").write_text("this is not audio")
    (up / "empty.wav").write_bytes(b"")
    return {"env": env, "up": up, "cat": cat, "manifest": manifest, "home": home}


def _check(world, *names, extra=()):
    runner = CliRunner()
    files = [str(world["up"] / n) for n in names]
    r = runner.invoke(main, ["check", "--json", *extra, *files], env=world["env"])
    lines = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    return r, {json.loads(json.dumps(o))["file"]: o for o in lines}, files


def test_json_contract_and_decisions(world):
    r, out, files = _check(world, "copy.mp3", "crop.wav", "remix.wav", "new.wav")
    assert r.exit_code == 0, r.output
    assert list(out) == files  # one line per file, in order, path as given
    copy, crop, remix, new = (out[f] for f in files)
    for o in (copy, crop, remix, new):
        assert set(o) >= {"file", "decision", "policy", "evidence", "rules_fired"}
        assert set(o["policy"]) == {"id", "version", "hash"}
        for e in o["evidence"]:
            assert set(e) >= {
                "kind", "strength", "catalogue_id", "query_start_s", "catalogue_start_s",
                "matched_s", "speed_ratio", "pitch_shift_semitones", "detector",
                "detector_version", "explanation",
            }  # fmt: skip
    assert copy["decision"] == "block"
    assert copy["evidence"][0]["kind"] == "reupload"
    assert copy["evidence"][0]["catalogue_id"] == "song-1"
    assert crop["decision"] == "block"
    top = crop["evidence"][0]
    assert (top["catalogue_id"], top["kind"]) == ("song-2", "reupload")
    assert abs(top["catalogue_start_s"] - top["query_start_s"] - 8.0) < 0.3
    assert remix["decision"] == "review"
    rtop = remix["evidence"][0]
    assert (rtop["catalogue_id"], rtop["kind"]) == ("song-3", "remix")
    assert abs(rtop["query_start_s"] - 10.0) < 1.0
    assert abs(rtop["catalogue_start_s"] - 5.0) < 0.5
    assert new["decision"] == "pass"


def test_declared_licence_turns_block_into_pass(world, tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"title": "x", "licences": ["song-1"]}))
    r, out, files = _check(world, "copy.mp3", extra=["--metadata", str(meta)])
    assert r.exit_code == 0
    assert out[files[0]]["decision"] == "pass"


def test_bad_files_get_codes_and_do_not_stop_the_batch(world):
    r, out, files = _check(world, "notaudio.mp3", "empty.wav", "missing.wav", "crop.wav")
    assert r.exit_code == 1
    codes = [out[f].get("error", {}).get("code") for f in files]
    assert codes[0] == "audio_decode_failed"
    assert codes[1] == "audio_empty"
    assert codes[2] == "audio_not_found"
    assert out[files[3]]["decision"] == "block"


def test_silence_passes_without_evidence_and_tiny_clips_are_refused(world):
    r, out, files = _check(world, "silence.wav", "tiny.wav")
    assert out[files[0]]["decision"] == "pass" and out[files[0]]["evidence"] == []
    assert out[files[1]]["error"]["code"] == "audio_too_short"
    assert r.exit_code == 1


def test_reingest_skips_by_content_hash_and_reports_bad_files(world):
    runner = CliRunner()
    (world["cat"] / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    r = runner.invoke(main, ["catalogue", "add", str(world["cat"]), "--quiet"], env=world["env"])
    assert r.exit_code == 1  # one file failed, the others were skipped, nothing lost
    assert "skipped" in r.output and "failed" in r.output and "broken.wav" in r.output
    r = runner.invoke(main, ["catalogue", "list", "--json"], env=world["env"])
    ids = sorted(json.loads(x)["id"] for x in r.output.splitlines())
    assert ids == ["song-0", "song-1", "song-2", "song-3"]


def test_duplicate_catalogue_id_is_refused(world, tmp_path):
    other = tmp_path / "song-0.wav"
    write_wav(other, synth_piece(4242, 5.0, sample_rate=SR), SR)
    r = CliRunner().invoke(main, ["catalogue", "add", str(other), "--quiet"], env=world["env"])
    assert r.exit_code == 1
    assert "catalogue_duplicate_id" in r.output


def test_disabled_entry_no_longer_matches(world, tmp_path):
    env = dict(world["env"])
    runner = CliRunner()
    r = runner.invoke(main, ["catalogue", "disable", "song-0", "--reason", "test"], env=env)
    assert r.exit_code == 0, r.output
    write_wav(tmp_path / "c0.wav", synth_piece(200, 30.0, sample_rate=SR)[: 15 * SR], SR)
    r = runner.invoke(main, ["check", "--json", str(tmp_path / "c0.wav")], env=env)
    o = json.loads(r.output.splitlines()[0])
    assert all(e["catalogue_id"] != "song-0" for e in o["evidence"])
    assert o["decision"] == "pass"


def test_readable_table(world):
    r = CliRunner().invoke(main, ["check", str(world["up"] / "crop.wav")], env=world["env"])
    assert r.exit_code == 0
    assert "BLOCK" in r.output and "song-2" in r.output
    r = CliRunner().invoke(main, ["check", str(world["up"] / "notaudio.mp3")], env=world["env"])
    assert r.exit_code == 1 and "[audio_decode_failed]" in r.output


def test_decisions_are_recorded_with_versions_and_policy_hash(world):
    from compliance.settings import Settings
    from compliance.storage import Store

    s = Settings.from_env({"COMPLIANCE_HOME": world["env"]["COMPLIANCE_HOME"]})
    store = Store(s.database_url)
    scans = store.list_scans(limit=1000)
    assert scans
    rec = scans[0]
    assert len(rec.policy_hash) == 64
    assert rec.detectors.get("reupload") and rec.detectors.get("remix")
    assert rec.thresholds


def test_configuration_errors_are_one_line_with_a_code(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["catalogue", "list"], env={
        "COMPLIANCE_HOME": str(tmp_path),
        "COMPLIANCE_DATABASE_URL": "postgresql+psycopg://nobody:hunter2@127.0.0.1:1/none",
    })  # fmt: skip
    assert r.exit_code == 2 and "[database_unavailable]" in r.output
    assert "nobody:***@127.0.0.1" in r.output and "hunter2" not in r.output
    bad_policy = tmp_path / "p.yaml"
    bad_policy.write_text("id: x\nrules: []\n")
    (tmp_path / "a.wav").write_bytes(b"")
    r = runner.invoke(main, ["check", str(tmp_path / "a.wav")], env={
        "COMPLIANCE_HOME": str(tmp_path), "COMPLIANCE_POLICY": str(bad_policy),
    })  # fmt: skip
    assert r.exit_code == 2 and "[policy_invalid]" in r.output and "p.yaml:" in r.output
    r = runner.invoke(main, ["catalogue", "list"], env={"COMPLIANCE_MAX_DURATION_S": "x"})
    assert r.exit_code == 2 and "COMPLIANCE_MAX_DURATION_S" in r.output


def test_a_postgresql_url_without_its_driver_is_a_configuration_error(tmp_path, monkeypatch):
    """An install without the 'postgres' extra: one line naming the package, exit 2."""
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now fails
    r = CliRunner().invoke(main, ["catalogue", "list"], env={
        "COMPLIANCE_HOME": str(tmp_path),
        "COMPLIANCE_DATABASE_URL": "postgresql+psycopg://user:secret@127.0.0.1:1/none",
    })  # fmt: skip
    assert r.exit_code == 2 and "[database_driver_missing]" in r.output
    assert "psycopg" in r.output and "[postgres]" in r.output and "secret" not in r.output
    assert "Traceback" not in r.output


def test_the_api_reads_through_threads_without_the_async_pool(tmp_path, monkeypatch, caplog):
    """psycopg-pool missing: status reads take the thread path instead of failing start-up."""
    import sys

    from compliance.api import _status_reader
    from compliance.app import App
    from compliance.settings import Settings

    monkeypatch.setitem(sys.modules, "psycopg_pool", None)
    app = App(Settings.from_env({
        "COMPLIANCE_HOME": str(tmp_path),
        "COMPLIANCE_DATABASE_URL": "postgresql+psycopg://user@127.0.0.1:1/none",
    }))  # fmt: skip
    with caplog.at_level("WARNING", logger="compliance.api"):
        assert _status_reader(app) is None
    assert "psycopg_pool" in caplog.text


def test_same_flow_on_postgresql(tmp_path):
    """catalogue add + check through the CLI with the production store."""
    import uuid

    import sqlalchemy as sa

    from tests.conftest import _PG_SKIP, PG_URL

    if _PG_SKIP:
        pytest.skip(_PG_SKIP)
    schema = f"e2e_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        env = {
            "COMPLIANCE_HOME": str(tmp_path / "home"),
            "COMPLIANCE_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
        }
        y = synth_piece(4321, 20.0, sample_rate=SR)
        write_wav(tmp_path / "pg-song.wav", y, SR)
        write_wav(tmp_path / "upload.wav", y[4 * SR : 16 * SR], SR)
        runner = CliRunner()
        r = runner.invoke(main, ["catalogue", "add", str(tmp_path / "pg-song.wav")], env=env)
        assert r.exit_code == 0, r.output
        r = runner.invoke(main, ["check", "--json", str(tmp_path / "upload.wav")], env=env)
        o = json.loads(r.output.splitlines()[0])
        assert o["decision"] == "block" and o["evidence"][0]["catalogue_id"] == "pg-song"
        with admin.connect() as c:
            n = c.execute(sa.text(f'SELECT count(*) FROM "{schema}".scans')).scalar()
        assert n == 1
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_check_takes_release_metadata_from_a_ddex_ern_message(world, tmp_path):
    from compliance.intake import ern_to_release_metadata, parse_ern
    from compliance.settings import Settings
    from compliance.storage import Store
    from tests.test_ern import _sample

    data = _sample("ern43-simple-audio-single.xml")
    ern = tmp_path / "release.xml"
    ern.write_bytes(data)
    r, out, files = _check(world, "copy.mp3", extra=["--ern", str(ern)])
    assert r.exit_code == 0, r.output
    got = out[files[0]]
    assert got["decision"] == "block"  # an ERN declares no catalogue licence
    s = Settings.from_env({"COMPLIANCE_HOME": world["env"]["COMPLIANCE_HOME"]})
    store = Store(s.database_url)
    try:
        record = store.get_scan(got["scan_id"])
    finally:
        store.close()
    assert record.release_metadata["title"] == ern_to_release_metadata(parse_ern(data)).title
    assert record.release_metadata["title"]


def test_check_refuses_a_hostile_ern_with_its_code(world, tmp_path):
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        '<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43">&b;'
        "</ern:NewReleaseMessage>"
    )
    r = CliRunner().invoke(
        main, ["check", "--ern", str(bomb), str(world["up"] / "copy.mp3")], env=world["env"]
    )
    assert r.exit_code == 2
    assert "ern_forbidden_construct" in r.output
