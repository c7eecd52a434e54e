# ruff: noqa: F811  (the fixtures app, keys are imported from tests.test_api)
"""Per-key rate limits: token buckets, RateLimit-* headers on every authenticated /v1
answer, 429 rate_limited with Retry-After, and nothing stored for a refused request."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient

from compliance.api import create_app
from compliance.api.ratelimit import RateLimiter
from compliance.app import App
from compliance.errors import ConfigError
from compliance.settings import Settings, parse_rate
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
