"""Release history: row validation, import into the real store, the patterns on
synthetic histories with known answers, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from compliance.cli import main
from compliance.history import patterns
from compliance.history.importer import import_log
from compliance.history.records import parse_release
from compliance.history.store import load_account_window, load_history, releases_frame

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _row(i: int, **kw) -> dict:
    base = {
        "release_id": f"R{i:06d}", "upload_ts": (T0 + timedelta(hours=i)).isoformat(),
        "account_id": "A1", "account_created_ts": (T0 - timedelta(days=400)).isoformat(),
        "account_country": "SE", "artist_name": f"Artist {i % 7}", "title": f"Song {i}",
        "duration_s": 180.0 + i % 50, "genre": "pop", "label_name": "L",
        "audio_sha1": f"{i:040x}", "explicit": False,
    }  # fmt: skip
    base.update(kw)
    return base


def _frame(rows: list[dict]) -> pd.DataFrame:
    recs = [parse_release(r, line=n) for n, r in enumerate(rows, 1)]
    assert not any(isinstance(r, list) for r in recs), recs
    return releases_frame(recs)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"release_id": ""}, "missing_field", "release_id"),
        ({"upload_ts": "yesterday"}, "bad_timestamp", "upload_ts"),
        ({"upload_ts": "2999-01-01T00:00:00+00:00"}, "date_in_future", "upload_ts"),
        ({"duration_s": "long"}, "wrong_type", "duration_s"),
        ({"duration_s": -3}, "out_of_range", "duration_s"),
        ({"duration_s": float("nan")}, "out_of_range", "duration_s"),
        ({"title": ""}, "missing_field", "title"),
        ({"title": "x" * 5000}, "too_long", "title"),
        ({"title": "a\x00b"}, "control_character", "title"),
        ({"explicit": "maybe"}, "wrong_type", "explicit"),
        ({"account_id": ["A"]}, "wrong_type", "account_id"),
        ({"contains_ai": "Some"}, "bad_contains_ai", "contains_ai"),
        ({"release_date": "2025-13-01"}, "bad_date", "release_date"),
    ],
)
def test_bad_fields_are_reported_with_code_field_and_line(change, code, field):
    got = parse_release(_row(1, **change), line=7)
    assert isinstance(got, list)
    assert (got[0].code, got[0].field, got[0].line) == (code, field, 7)


def test_mixed_scripts_and_emoji_in_names_are_data_not_errors():
    got = parse_release(_row(1, artist_name="Тaylor Swift 🎤", title="夜 ☾ Night"), line=1)
    assert not isinstance(got, list)
    assert got.artist_name == "Тaylor Swift 🎤"
    assert got.upload_ts.tzinfo is not None


def test_naive_and_z_times_are_utc():
    a = parse_release(_row(1, upload_ts="2025-01-01T10:00:00"), line=1)
    b = parse_release(_row(1, upload_ts="2025-01-01T10:00:00Z"), line=1)
    assert a.upload_ts == b.upload_ts == datetime(2025, 1, 1, 10, tzinfo=UTC)


# ------------------------------------------------------------------ import
def test_import_stores_good_rows_reports_bad_ones_and_is_idempotent(migrated_store, tmp_path):
    lines = [json.dumps(_row(i)) for i in range(5)]
    lines.insert(2, "{not json")
    lines.append(json.dumps(_row(9, duration_s="x")))
    lines.append(json.dumps(_row(0)))  # the same release id again in the file
    lines.append("[1, 2]")
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rep = import_log(migrated_store, log)
    assert rep.added == 5
    assert sorted((p.line, p.code) for p in rep.problems) == [
        (3, "bad_json"), (7, "wrong_type"), (8, "duplicate_release_id"), (9, "not_an_object"),
    ]  # fmt: skip
    df = load_history(migrated_store)
    assert sorted(df["release_id"]) == [f"R{i:06d}" for i in range(5)]
    assert str(df["upload_ts"].dt.tz) == "UTC"
    again = import_log(migrated_store, log)
    assert (again.added, again.skipped_existing) == (0, 5)
    w = load_account_window(migrated_store, "A1", T0 + timedelta(hours=1), T0 + timedelta(hours=3))
    assert sorted(w["release_id"]) == ["R000001", "R000002", "R000003"]


def test_csv_import_with_a_ragged_row(migrated_store, tmp_path):
    head = "release_id,upload_ts,account_id,title,duration_s,audio_sha1\n"
    body = "R1,2025-01-01T00:00:00Z,A,One,31.5,aa\nR2,2025-01-01T00:01:00Z,A,Two,31,bb,extra\n"
    log = tmp_path / "log.csv"
    log.write_text(head + body, encoding="utf-8")
    rep = import_log(migrated_store, log)
    assert rep.added == 1 and [p.code for p in rep.problems] == ["bad_csv"]
    assert rep.problems[0].line == 3


# ------------------------------------------------------------------ patterns
def _account(prefix: str, n: int, *, start: datetime, step_s: float, **kw) -> list[dict]:
    rows = []
    for i in range(n):
        at = (start + timedelta(seconds=i * step_s)).isoformat()
        r = _row(i, account_id=prefix, upload_ts=at, release_id=f"{prefix}-{i}",
                 audio_sha1=f"{prefix}{i:036d}")  # fmt: skip
        for k, v in kw.items():
            r[k] = v(i) if callable(v) else v
        rows.append(r)
    return rows


def _flagged(flags, pattern):
    return {f.release_id for f in flags if f.pattern == pattern}


def test_high_volume_flags_a_day_of_uploads_but_not_a_catalogue_migration():
    spam = _account("S", 150, start=T0, step_s=400, artist_name=lambda i: f"X{i % 5}")
    migration = _account("M", 150, start=T0, step_s=400, artist_name=lambda i: f"Artist {i % 30}")
    slow = _account("N", 150, start=T0, step_s=3 * 3600)
    flags = patterns.detect(_frame(spam + migration + slow))
    hv = _flagged(flags, "high_volume")
    assert hv == {f"S-{i}" for i in range(150)}
    one = next(f for f in flags if f.pattern == "high_volume")
    assert one.details["releases_in_24h"] == 150 and 0.5 <= one.strength <= 1.0


def test_short_tracks_need_many_and_most_of_the_account():
    farm = _account("F", 30, start=T0, step_s=7200, duration_s=lambda i: 31.0 + i % 10)
    interludes = _account("I", 30, start=T0, step_s=7200,
                          duration_s=lambda i: 35.0 if i % 6 == 0 else 200.0)  # fmt: skip
    flags = patterns.detect(_frame(farm + interludes))
    assert _flagged(flags, "short_tracks") == {f"F-{i}" for i in range(30)}


def test_burst_after_dormancy_but_not_a_steady_day():
    burst = _account("B", 40, start=T0, step_s=60)  # 40 in 40 minutes, account 400 days old
    steady = _account("D", 60, start=T0, step_s=1200)  # 3 per hour
    flags = patterns.detect(_frame(burst + steady))
    assert _flagged(flags, "burst") == {f"B-{i}" for i in range(40)}
    f = next(f for f in flags if f.pattern == "burst")
    assert f.details["idle_days_before"] == pytest.approx(400, abs=1)


def test_same_audio_across_accounts_and_titles_but_not_one_reissue():
    rows = _account("A", 3, start=T0, step_s=600)
    rows += _account("B", 3, start=T0 + timedelta(days=1), step_s=600)
    rows[3]["audio_sha1"] = rows[0]["audio_sha1"]  # B re-uploads A's first audio
    own = _account("C", 2, start=T0, step_s=600)
    own[1]["audio_sha1"] = own[0]["audio_sha1"]  # a compilation: same audio, two titles
    flags = patterns.detect(_frame(rows + own))
    assert _flagged(flags, "same_audio") == {"A-0", "B-0"}


def test_same_duration_finds_reencodes_without_a_shared_hash():
    rng = np.random.default_rng(3)
    reenc = _account("R", 12, start=T0, step_s=86400, duration_s=lambda i: 229.6 + 0.01 * (i % 5),
                     title=lambda i: f"T{i}")  # fmt: skip
    normal = _account("N", 200, start=T0, step_s=3600,
                      duration_s=lambda i: float(rng.uniform(120, 300)))  # fmt: skip
    flags = patterns.detect(_frame(reenc + normal))
    assert {r for r in _flagged(flags, "same_audio") if r.startswith("R-")} == {
        f"R-{i}" for i in range(12)
    }
    assert not {r for r in _flagged(flags, "same_audio") if r.startswith("N-")}


def _crowd(rng, n=600, around=200.0, spread=10.0):
    """Unrelated releases of many accounts whose durations crowd around ``around``."""
    lo, hi = around - spread, around + spread
    return _account("N", n, start=T0, step_s=3600, account_id=lambda i: f"N{i % 150}",
                    duration_s=lambda i: round(float(rng.uniform(lo, hi)), 2))  # fmt: skip


def test_same_duration_weighs_other_accounts_copies_against_the_crowd():
    rng = np.random.default_rng(5)
    crowd = _crowd(rng)  # 30 releases per second of duration
    copies = []
    for a in range(5):  # the same audio re-encoded, four copies in each of five accounts
        copies += _account(f"C{a}", 4, start=T0 + timedelta(days=a), step_s=86400,
                           duration_s=lambda i: 201.37 + 0.01 * (i % 3),
                           title=lambda i, a=a: f"T{a}-{i}")  # fmt: skip
    alone = patterns.detect(_frame(crowd + copies[:4]))
    # four copies where 6 releases agree within 0.1 s by chance: not evidence alone
    assert not _flagged(alone, "same_audio")
    flags = patterns.detect(_frame(crowd + copies))
    assert _flagged(flags, "same_audio") == {r["release_id"] for r in copies}
    f = next(f for f in flags if f.pattern == "same_audio")
    assert f.details["by"] == "duration" and f.details["agreeing_accounts"] >= 5
    assert f.details["chance"] <= 1e-6
    from compliance.detectors.history import HistoryDetector

    (ev,) = HistoryDetector().evidence_of([f])
    assert ev.kind.value == "bulk_pattern" and ev.details["pattern"] == "same_audio"
    assert "4 releases of this account" in ev.explanation and "share a duration" in ev.explanation


@pytest.mark.parametrize("per_account, found", [(3, True), (2, False)])
def test_same_duration_needs_three_titles_in_the_account(per_account, found):
    # The definition of the exact-copy rule: one account's audio under three titles.
    rng = np.random.default_rng(8)
    crowd = _crowd(rng, spread=20.0)  # 15 releases per second of duration
    copies = []
    for a in range(6):
        copies += _account(f"C{a}", per_account, start=T0 + timedelta(days=a), step_s=86400,
                           duration_s=lambda i: 201.37 + 0.01 * (i % 3),
                           title=lambda i, a=a: f"T{a}-{i}")  # fmt: skip
    flags = patterns.detect(_frame(crowd + copies))
    expected = {r["release_id"] for r in copies} if found else set()
    assert _flagged(flags, "same_audio") == expected
    assert not {r for r in _flagged(flags, "same_audio") if r.startswith("N")}


def test_same_duration_ignores_an_account_of_many_short_tracks():
    rng = np.random.default_rng(6)
    short = _account("S", 300, start=T0, step_s=3000, title=lambda i: f"S{i}",
                     duration_s=lambda i: round(float(rng.uniform(30, 35)), 2))  # fmt: skip
    flags = patterns.detect(_frame(short))
    assert not _flagged(flags, "same_audio")  # 60 per second: agreement is chance
    assert _flagged(flags, "short_tracks")


def test_the_incremental_check_finds_what_the_whole_history_finds(migrated_store):
    from compliance.history.incremental import flags_for_release
    from compliance.history.store import insert_releases
    from compliance.history.thresholds import Thresholds

    rng = np.random.default_rng(7)
    rows = _crowd(rng, n=300)
    for a in range(4):
        rows += _account(f"C{a}", 4, start=T0 + timedelta(days=a), step_s=86400 * 5,
                         duration_s=201.37, title=lambda i, a=a: f"T{a}-{i}")  # fmt: skip
    rows += _account("S", 130, start=T0 + timedelta(days=20), step_s=300)  # a day's flood
    recs = [parse_release(r, line=n) for n, r in enumerate(rows, 1)]
    last = {}
    for r in recs:  # each account's latest release is checked as if it were new
        if r.account_id not in last or r.upload_ts > last[r.account_id].upload_ts:
            last[r.account_id] = r
    checked = [last["C3"], last["S"], last["N7"]]
    insert_releases(migrated_store, [r for r in recs if r not in checked], source="test")
    everything = patterns.detect(releases_frame(recs))
    for r in checked:
        whole = sorted((f.pattern, f.details.get("by")) for f in everything
                       if f.release_id == r.release_id)  # fmt: skip
        one = flags_for_release(migrated_store, r, Thresholds())
        assert sorted((f.pattern, f.details.get("by")) for f in one) == whole, r.release_id
        if r is last["C3"]:  # found through the other accounts' copies
            assert ("same_audio", "duration") in whole


def test_empty_history_has_no_flags():
    assert patterns.detect(_frame([])) == []


# ------------------------------------------------------------------ CLI
def test_cli_history_import_bank_and_flags(tmp_path):
    env = {"COMPLIANCE_HOME": str(tmp_path / "home")}
    rows = _account("S", 120, start=T0, step_s=300, artist_name="Tayl0r Swift")
    rows += _account("N", 5, start=T0, step_s=86400)
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    names = tmp_path / "protected.txt"
    names.write_text("Taylor Swift\nDrake\n\n# comment\n", encoding="utf-8")
    run = CliRunner()
    r = run.invoke(main, ["history", "import", str(log)], env=env)
    assert r.exit_code == 1 and "line 126" in r.output and "125 added" in r.output
    r = run.invoke(main, ["bank", "import", "--kind", "protected_artist", str(names)], env=env)
    assert r.exit_code == 0, r.output
    r = run.invoke(main, ["history", "flags", "--format", "jsonl"], env=env)
    assert r.exit_code == 0, r.output
    got = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
    assert {o["pattern"] for o in got} == {"high_volume", "lookalike_artist"}
    assert {o["account_id"] for o in got} == {"S"}
    assert set(got[0]) == {"release_id", "account_id", "pattern", "strength", "details"}
    r = run.invoke(main, ["accounts", "report", "--format", "json"], env=env)
    assert r.exit_code == 0, r.output
    report = json.loads(r.output[r.output.index("[") :])
    assert report[0]["account_id"] == "S" and report[0]["flagged_releases"] == 120
    r = run.invoke(main, ["history", "import", str(tmp_path / "missing.jsonl")], env=env)
    assert r.exit_code == 2 and "file_unreadable" in r.output


# ------------------------------------------------------------------ policy
def test_policy_history_section_overrides_defaults_and_is_validated():
    from compliance.errors import ComplianceError
    from compliance.policy.loader import load_policy, load_policy_text

    default = load_policy("policies/default.yaml")
    assert default.history_thresholds().short_min_s == 30.0
    assert default.thresholds()["history.high_volume_per_24h"]["source"]
    head = (
        "id: p\nversion: '1'\nrules:\n  - id: r\n    when: {kind: reupload}\n"
        "    then: review\n    reason: because\n"
    )
    ok = head + "history:\n  burst_min_releases: {value: 7, source: test, date: 2026-12-02}\n"
    assert load_policy_text(ok).history_thresholds().burst_min_releases == 7
    for bad in (
        "history:\n  burst_min_releases: {value: 7.5, source: test, date: 2026-12-02}\n",
        "history:\n  no_such_knob: {value: 1, source: test, date: 2026-12-02}\n",
        "history:\n  burst_min_releases: {value: 7}\n",
    ):
        with pytest.raises(ComplianceError):
            load_policy_text(head + bad)


# ------------------------------------------------------------------ check
def test_check_adds_account_evidence_and_records_the_release(tmp_path):
    from compliance.synth import synth_piece
    from fingerprints.audio import write_wav

    env = {"COMPLIANCE_HOME": str(tmp_path / "home")}
    now = datetime.now(UTC)
    # 110 releases in the last 20 hours by account S; another account already has our audio
    rows = _account("S", 110, start=now - timedelta(hours=20), step_s=600)
    log = tmp_path / "log.jsonl"
    upload = tmp_path / "up.wav"
    write_wav(upload, synth_piece(11, 8.0, sample_rate=22050), 22050)
    from fingerprints.audio import content_hash

    other = _row(1, release_id="O-1", account_id="O", audio_sha1=None,
                 upload_ts=(now - timedelta(days=3)).isoformat())  # fmt: skip
    other["content_hash"] = content_hash(upload)
    log.write_text("\n".join(json.dumps(r) for r in [*rows, other]) + "\n", encoding="utf-8")
    names = tmp_path / "protected.txt"
    names.write_text("Taylor Swift\n", encoding="utf-8")
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({
        "account_id": "S", "artist": "Taylor Swiift",
        "title": "rain sounds sleep study lofi 8D relax", "isrc": "US-XX1-25-00001",
    }), encoding="utf-8")  # fmt: skip
    run = CliRunner()
    assert run.invoke(main, ["history", "import", str(log)], env=env).exit_code == 0
    assert run.invoke(main, ["bank", "import", "--kind", "protected_artist", str(names)],
                      env=env).exit_code == 0  # fmt: skip
    r = run.invoke(main, ["check", str(upload), "--metadata", str(meta), "--json"], env=env)
    assert r.exit_code == 0, r.output
    out = json.loads(next(line for line in r.output.splitlines() if line.startswith("{")))
    kinds = {e["kind"]: e for e in out["evidence"] if e["detector"] == "history"}
    assert set(kinds) == {"bulk_pattern", "impersonation", "metadata_spam",
                          "duplicate_across_accounts"}  # fmt: skip
    assert kinds["bulk_pattern"]["details"]["releases_in_24h"] == 111
    assert kinds["impersonation"]["details"]["protected"] == "Taylor Swift"
    assert out["decision"] == "review"
    assert {"account-pattern-review", "impersonation-review"} <= {
        f["rule_id"] for f in out["rules_fired"]
    }
    # the checked release is now history: checking it again does not count it twice
    r = run.invoke(main, ["check", str(upload), "--metadata", str(meta), "--json"], env=env)
    out = json.loads(next(line for line in r.output.splitlines() if line.startswith("{")))
    hv = [e for e in out["evidence"] if e["details"].get("pattern") == "high_volume"]
    assert hv[0]["details"]["releases_in_24h"] == 111
    # no account: no history evidence, no error
    r = run.invoke(main, ["check", str(upload), "--json"], env=env)
    out = json.loads(next(line for line in r.output.splitlines() if line.startswith("{")))
    assert not [e for e in out["evidence"] if e["detector"] == "history"]


def test_cli_flags_since_and_report_formats(tmp_path):
    env = {"COMPLIANCE_HOME": str(tmp_path / "home")}
    old = _account("OLD", 120, start=datetime(2024, 1, 1, tzinfo=UTC), step_s=300)
    new = _account("NEW", 120, start=datetime(2025, 6, 1, tzinfo=UTC), step_s=300)
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in old + new) + "\n", encoding="utf-8")
    run = CliRunner()
    assert run.invoke(main, ["history", "import", str(log)], env=env).exit_code == 0
    r = run.invoke(main, ["history", "flags", "--since", "2025-01-01", "--format", "jsonl"],
                   env=env)  # fmt: skip
    got = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
    assert got and {o["account_id"] for o in got} == {"NEW"}
    r = run.invoke(main, ["accounts", "report", "--format", "csv"], env=env)
    lines = [line for line in r.output.splitlines() if line and not line.startswith("history")]
    assert lines[0] == "account_id,risk,releases,flagged_releases,patterns"
    assert {line.split(",")[0] for line in lines[1:]} == {"OLD", "NEW"}
    r = run.invoke(main, ["accounts", "report"], env=env)
    assert r.exit_code == 0 and "high_volume (120)" in r.output
    r = run.invoke(main, ["bank", "remove", "--kind", "protected_artist", "Nobody"], env=env)
    assert r.exit_code == 1 and "not in the protected_artist bank" in r.output


def test_check_finds_a_reencoded_copy_another_account_delivered(tmp_path):
    from compliance.synth import synth_piece
    from fingerprints.audio import encode, write_wav

    env = {"COMPLIANCE_HOME": str(tmp_path / "home")}
    sr = 22050
    piece = synth_piece(21, 40.0, sample_rate=sr)
    write_wav(tmp_path / "orig.wav", piece, sr)
    encode(piece, sr, tmp_path / "copy.mp3", codec="mp3", bitrate="64k")
    write_wav(tmp_path / "other.wav", synth_piece(22, 40.0, sample_rate=sr), sr)
    run = CliRunner()

    def check(name, account, title):
        meta = tmp_path / f"{account}-{title}.json"
        meta.write_text(json.dumps({"account_id": account, "artist": "A", "title": title}))
        r = run.invoke(main, ["check", str(tmp_path / name), "--metadata", str(meta), "--json"],
                       env=env)  # fmt: skip
        assert r.exit_code == 0, r.output
        out = json.loads(next(x for x in r.output.splitlines() if x.startswith("{")))
        return [e for e in out["evidence"] if e["kind"] == "duplicate_across_accounts"]

    assert check("orig.wav", "first", "Original") == []
    (dup,) = check("copy.mp3", "second", "Renamed")  # another file hash, the same audio
    assert dup["details"]["by"] == "fingerprint" and dup["details"]["accounts"] == 2
    assert dup["details"]["containment"] >= 0.25 and "other account" in dup["explanation"]
    assert check("other.wav", "second", "Unrelated") == []
    # the very file another account delivered: found by its hash, not twice
    (same,) = check("copy.mp3", "first", "Again")
    assert same["details"].get("by") != "fingerprint" and same["details"]["accounts"] == 2
    own = synth_piece(23, 40.0, sample_rate=sr)
    write_wav(tmp_path / "own.wav", own, sr)
    encode(own, sr, tmp_path / "own.mp3", codec="mp3", bitrate="96k")
    assert check("own.wav", "third", "Mine") == []
    assert check("own.mp3", "third", "Mine, remastered") == []  # the account's own audio
    # the whole history's flags find the same copies among the checked releases
    r = run.invoke(main, ["history", "flags", "--format", "jsonl"], env=env)
    assert r.exit_code == 0, r.output
    got = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    by_fp = [
        f for f in got if f["pattern"] == "same_audio" and f["details"].get("by") == "fingerprint"
    ]
    assert {f["account_id"] for f in by_fp} == {"first", "second"}
    assert all(f["details"]["accounts"] == 2 for f in by_fp)
