# ruff: noqa: F811  (the fixtures app, keys are imported from tests.test_api)
"""Per-key rate limits: token buckets, RateLimit-* headers on every authenticated /v1
answer, 429 rate_limited with Retry-After, and nothing stored for a refused request;
each key's own rate (api_keys.rate_limit) or the default, and the keys CLI for it."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from compliance.api import create_app
from compliance.api.keys import KeyStore
from compliance.api.ratelimit import RateLimiter
from compliance.app import App
from compliance.errors import ConfigError
from compliance.settings import Settings, format_rate, parse_rate
from compliance.storage.models import JobRow, ReleaseFileRow, ReleaseRow
from compliance.synth import synth_piece
from tests.test_api import SR, _count, _error, _submit, _wav, app, keys  # noqa: F401


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_refills_at_the_rate():
    clock = _Clock()
    rl = RateLimiter(3, 1.0, clock=clock)
    got = [rl.take("k") for _ in range(4)]
    assert [d.allowed for d in got] == [True, True, True, False]
    assert [d.remaining for d in got] == [2, 1, 0, 0]
    assert got[0].reset_s == 1 and got[3].retry_after_s == 1
    assert rl.take("other").allowed  # buckets are per key
    clock.t += 0.34  # a third of a second: one token back
    assert rl.take("k").allowed and not rl.take("k").allowed
    clock.t += 10
    assert rl.take("k").remaining == 2  # never more than the bucket holds


def test_rate_setting():
    assert parse_rate("10/s") == (10, 1.0)
    assert parse_rate("600/min") == (600, 60.0)
    assert parse_rate(" 1000/h ") == (1000, 3600.0)
    assert parse_rate("off") is None
    for bad in ("10", "x/s", "0/s", "10/week", "-1/s"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    env = {"COMPLIANCE_HOME": "/tmp/x"}
    assert Settings.from_env(env).rate_limit == (50, 1.0)
    assert Settings.from_env({**env, "COMPLIANCE_RATE_LIMIT": "5/min"}).rate_limit == (5, 60.0)
    with pytest.raises(ConfigError, match="COMPLIANCE_RATE_LIMIT"):
        Settings.from_env({**env, "COMPLIANCE_RATE_LIMIT": "fast"})


@pytest.fixture
def limited(app):
    """The same store under a limit of 3 requests per minute per key."""
    other = App(dataclasses.replace(app.settings, rate_limit=(3, 60.0)))
    with TestClient(create_app(other)) as c:
        yield c
    other.store.close()


def test_headers_and_429(app, limited, keys):
    h = keys["reader"]
    first = limited.get("/v1/scans/none", headers=h)
    _error(first, 404, "scan_not_found")  # errors carry the headers too
    assert first.headers["RateLimit-Limit"] == "3"
    assert first.headers["RateLimit-Remaining"] == "2"
    assert first.headers["RateLimit-Reset"] == "20"  # one token every 20 s
    assert first.headers["RateLimit-Policy"] == "3;w=60"
    assert limited.get("/v1/scans/none", headers=h).headers["RateLimit-Remaining"] == "1"
    assert limited.get("/v1/scans/none", headers=h).headers["RateLimit-Remaining"] == "0"
    r = limited.get("/v1/scans/none", headers=h)
    _error(r, 429, "rate_limited")
    assert r.headers["Retry-After"] == "20" and r.headers["RateLimit-Remaining"] == "0"
    # another key has its own bucket; health and unauthenticated answers carry none
    ok = limited.get("/v1/scans/none", headers=keys["admin"])
    assert ok.headers["RateLimit-Remaining"] == "2"
    assert "RateLimit-Limit" not in limited.get("/health/live").headers
    assert "RateLimit-Limit" not in limited.get("/v1/scans/none").headers  # 401


def test_a_refused_submission_stores_nothing(app, limited, keys):
    h = keys["submitter"]
    for _ in range(3):
        limited.get("/v1/releases/none", headers=h)
    good = _wav(synth_piece(1, 3.0, sample_rate=SR))
    r = _submit(limited, h, [("a.wav", good)])
    _error(r, 429, "rate_limited")
    assert _count(app, ReleaseRow) == 0 and _count(app, JobRow) == 0
    assert _count(app, ReleaseFileRow) == 0
    assert not [p for p in app.blobs.root.rglob("*") if p.is_file()]


def test_off_means_no_limit_and_no_headers(app, keys):
    other = App(dataclasses.replace(app.settings, rate_limit=None))
    try:
        with TestClient(create_app(other)) as c:
            for _ in range(60):
                r = c.get("/v1/scans/none", headers=keys["reader"])
                assert r.status_code == 404
            assert "RateLimit-Limit" not in r.headers
    finally:
        other.store.close()


def test_buckets_at_each_keys_own_rate():
    clock = _Clock()
    rl = RateLimiter(3, 1.0, clock=clock)
    assert [rl.take("a", (1, 60.0)).allowed for _ in range(2)] == [True, False]
    assert rl.take("a", (1, 60.0)).retry_after_s == 60
    assert rl.take("b", None) is None  # unlimited: no decision, no headers
    assert rl.take("c").limit == 3  # the default
    d = rl.take("d", (10, 1.0))
    assert (d.limit, d.remaining) == (10, 9)
    d = rl.take("d", (2, 60.0))  # a lowered rate keeps at most the new bucket size
    assert (d.limit, d.remaining, d.window_s) == (2, 1, 60.0)
    assert RateLimiter(None, clock=clock).take("e") is None  # default off
    with pytest.raises(ValueError):
        rl.take("f", (0, 1.0))


def test_format_rate_is_the_inverse_of_parse_rate():
    for text in ("10/s", "600/min", "1000/h", "off"):
        assert format_rate(parse_rate(text)) == text
    assert format_rate(parse_rate(" 7/SEC ")) == "7/s"
    assert format_rate(parse_rate("unlimited")) == "off"


def _clocked(app, clock):
    """A TestClient on ``app`` whose limiter runs on ``clock`` (default: the settings)."""
    api = create_app(app)
    rate = app.settings.rate_limit
    api.state.limiter = RateLimiter(*(rate or (None,)), clock=clock)
    return TestClient(api)


def _token(app, name, rate=None, scopes=("read",)):
    key, token = KeyStore(app.store).create(name, scopes, rate)
    return key, {"Authorization": f"Bearer {token}"}


def test_two_keys_with_their_own_rates(app):
    clock = _Clock()
    other = App(dataclasses.replace(app.settings, rate_limit=(3, 60.0)))
    _, fast = _token(other, "fast", "5/s")
    _, slow = _token(other, "slow", "2/min")
    _, plain = _token(other, "plain")  # NULL: the settings default
    _, free = _token(other, "free", "off")
    try:
        with _clocked(other, clock) as c:
            got = [c.get("/v1/scans/none", headers=fast) for _ in range(6)]
            assert [r.status_code for r in got] == [404] * 5 + [429]
            assert got[0].headers["RateLimit-Limit"] == "5"
            assert got[0].headers["RateLimit-Policy"] == "5;w=1"
            assert got[5].headers["Retry-After"] == "1"
            got = [c.get("/v1/scans/none", headers=slow) for _ in range(3)]
            assert [r.status_code for r in got] == [404, 404, 429]
            assert got[0].headers["RateLimit-Limit"] == "2"
            assert got[0].headers["RateLimit-Policy"] == "2;w=60"
            _error(got[2], 429, "rate_limited")
            assert got[2].headers["Retry-After"] == "30"
            got = [c.get("/v1/scans/none", headers=plain) for _ in range(4)]
            assert [r.status_code for r in got] == [404] * 3 + [429]
            assert got[0].headers["RateLimit-Policy"] == "3;w=60"
            for _ in range(30):
                r = c.get("/v1/scans/none", headers=free)
                assert r.status_code == 404 and "RateLimit-Limit" not in r.headers
            clock.t += 1.0  # the fast key is full again, the slow one still waits
            assert c.get("/v1/scans/none", headers=fast).status_code == 404
            assert c.get("/v1/scans/none", headers=slow).status_code == 429
            clock.t += 29.0
            assert c.get("/v1/scans/none", headers=slow).status_code == 404
    finally:
        other.store.close()


def test_a_keys_own_rate_applies_when_the_default_is_off(app):
    other = App(dataclasses.replace(app.settings, rate_limit=None))
    _, limited_key = _token(other, "limited", "1/min")
    _, plain = _token(other, "plain")
    try:
        with _clocked(other, _Clock()) as c:
            assert c.get("/v1/scans/none", headers=limited_key).headers["RateLimit-Limit"] == "1"
            _error(c.get("/v1/scans/none", headers=limited_key), 429, "rate_limited")
            r = c.get("/v1/scans/none", headers=plain)
            assert r.status_code == 404 and "RateLimit-Limit" not in r.headers
    finally:
        other.store.close()


def test_a_changed_rate_applies_from_the_next_request(app):
    """No restart and no cache: the rate comes with the key's row, read on every verify."""
    other = App(dataclasses.replace(app.settings, rate_limit=(3, 60.0)))
    key, h = _token(other, "k")
    ks = KeyStore(other.store)
    try:
        with _clocked(other, _Clock()) as c:
            for _ in range(3):
                c.get("/v1/scans/none", headers=h)
            _error(c.get("/v1/scans/none", headers=h), 429, "rate_limited")
            ks.set_rate(key.id, "off")
            r = c.get("/v1/scans/none", headers=h)
            assert r.status_code == 404 and "RateLimit-Limit" not in r.headers
            ks.set_rate(key.id, "1/s")
            r = c.get("/v1/scans/none", headers=h)
            assert r.status_code == 404 and r.headers["RateLimit-Policy"] == "1;w=1"
            _error(c.get("/v1/scans/none", headers=h), 429, "rate_limited")
            ks.set_rate(key.id, "default")
            r = c.get("/v1/scans/none", headers=h)  # still no token, now refilled at 3/min
            assert r.status_code == 429 and r.headers["RateLimit-Policy"] == "3;w=60"
    finally:
        other.store.close()


def test_one_key_lookup_per_request(app):
    """The key's rate adds no database round trip: with the key cache off, one api_keys
    query per request (the rate comes with the key); with it on, none within its TTL."""
    from sqlalchemy import event

    for ttl, expected in ((0.0, 1), (60.0, 0)):
        other = App(dataclasses.replace(app.settings, key_cache_s=ttl))
        _, h = _token(other, f"k{ttl:g}", "10/s")
        seen: list[str] = []

        def on_execute(conn, cursor, statement, *args, seen=seen):
            seen.append(statement)

        try:
            with _clocked(other, _Clock()) as c:
                c.get("/v1/scans/none", headers=h)  # warm up (migrations, pools, cache)
                event.listen(other.store.engine, "before_cursor_execute", on_execute)
                try:
                    r = c.get("/v1/scans/none", headers=h)
                finally:
                    event.remove(other.store.engine, "before_cursor_execute", on_execute)
        finally:
            other.store.close()
        assert r.headers["RateLimit-Limit"] == "10"
        assert len([s for s in seen if "api_keys" in s]) == expected, (ttl, seen)


def test_an_unparseable_stored_rate_falls_back_to_the_default(app):
    from compliance.storage.models import ApiKeyRow

    other = App(dataclasses.replace(app.settings, rate_limit=(3, 60.0)))
    key, h = _token(other, "k")
    with other.store.session() as s, s.begin():
        s.get(ApiKeyRow, key.id).rate_limit = "lots"  # written outside KeyStore
    try:
        with _clocked(other, _Clock()) as c:
            assert c.get("/v1/scans/none", headers=h).headers["RateLimit-Limit"] == "3"
    finally:
        other.store.close()


# ----------------------------------------------------------------- the keys CLI
def _cli(app, *args):
    from click.testing import CliRunner

    from compliance.cli import main

    env = {"COMPLIANCE_HOME": str(app.settings.home),
           "COMPLIANCE_DATABASE_URL": app.settings.database_url,
           "COMPLIANCE_RATE_LIMIT": "50/s"}  # fmt: skip
    return CliRunner().invoke(main, ["keys", *args], env=env)


def test_keys_cli_rates(app):
    import json

    r = _cli(app, "create", "--name", "fast", "--scopes", "read", "--rate", " 10/SEC ")
    assert r.exit_code == 0, r.output
    assert "rate=10/s" in r.output and r.output.strip().splitlines()[-1].startswith("rcc_")
    r = _cli(app, "create", "--name", "plain", "--scopes", "read")
    assert r.exit_code == 0 and "rate=50/s (default)" in r.output, r.output
    r = _cli(app, "create", "--name", "bad", "--scopes", "read", "--rate", "fast")
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("error: [key_rate_invalid]")
    assert [k.name for k in KeyStore(app.store).list()] == ["fast", "plain"]  # none created

    rows = [json.loads(line) for line in _cli(app, "list", "--json").output.splitlines()]
    assert [(k["name"], k["rate"], k["rate_effective"]) for k in rows] == [
        ("fast", "10/s", "10/s"), ("plain", None, "50/s"),
    ]  # fmt: skip
    fast, plain = rows[0]["id"], rows[1]["id"]
    lines = _cli(app, "list").output.splitlines()
    assert lines[0].split("\t")[3] == "10/s" and lines[1].split("\t")[3] == "50/s (default)"

    r = _cli(app, "set-rate", plain, "off")
    assert r.exit_code == 0 and "rate=off" in r.output, r.output
    r = _cli(app, "set-rate", fast, "default")
    assert r.exit_code == 0 and "rate=50/s (default)" in r.output, r.output
    assert {k.name: k.rate for k in KeyStore(app.store).list()} == {"fast": None, "plain": "off"}
    r = _cli(app, "set-rate", plain, "often")
    assert r.exit_code == 2 and "[key_rate_invalid]" in r.output
    assert KeyStore(app.store).list()[1].rate == "off"  # unchanged
    r = _cli(app, "set-rate", "nope", "1/s")
    assert r.exit_code == 2 and "[key_not_found]" in r.output
