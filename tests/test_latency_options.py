"""The intake latency work: the API key cache and its revocation bound, the idle-only
connection ping, ``compliance worker --nice`` and ``compliance serve --workers N``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from compliance.api.keycache import KeyCache
from compliance.api.keys import KeyStore
from compliance.cli import main
from compliance.settings import Settings
from compliance.storage import store as store_mod
from compliance.storage.models import ApiKeyRow
from compliance.storage.types import utcnow
from tests.conftest import _PG_SKIP, PG_URL, pg_schema

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _revoke_elsewhere(store, key_id: str) -> None:
    """What ``compliance keys revoke`` in another process does, as far as this process
    can tell: the row changes in the database, no ORM event fires here."""
    with store.engine.begin() as c:
        c.execute(
            sa.update(ApiKeyRow.__table__)
            .where(ApiKeyRow.__table__.c.id == key_id)
            .values(revoked_at=utcnow())
        )


# ------------------------------------------------------------------ key cache
def test_a_revoked_key_is_refused_within_the_cache_bound(store):
    clock = Clock()
    cache = KeyCache(store, ttl_s=5.0, clock=clock)
    key, token = KeyStore(store).create("k", ("read",))
    assert cache.verify(token).id == key.id and cache.reads == 1
    clock.t += 4.0
    assert cache.verify(token).id == key.id and cache.reads == 1  # from memory
    assert cache.cached(token).id == key.id
    _revoke_elsewhere(store, key.id)
    clock.t += 0.9  # 4.9 s after the database read: still the cached answer (the bound)
    assert cache.verify(token) is not None and cache.reads == 1
    clock.t += 0.1  # 5 s after the read that made the entry: read again, refused
    assert cache.cached(token) is None
    assert cache.verify(token) is None and cache.reads == 2
    clock.t += 100.0
    assert cache.verify(token) is None and cache.reads == 3  # refusals are never cached


def test_a_revocation_in_this_process_applies_at_once_and_ttl_0_disables(store):
    clock = Clock()
    cache = KeyCache(store, ttl_s=5.0, clock=clock)
    key, token = KeyStore(store).create("k", ("read",))
    other, other_token = KeyStore(store).create("other", ("read",))
    assert cache.verify(token) is not None and cache.verify(other_token) is not None
    KeyStore(store).revoke(key.id)  # through the ORM, here: the entry is dropped
    assert cache.verify(token) is None
    assert cache.verify(other_token).id == other.id and cache.reads == 3  # kept
    off = KeyCache(store, ttl_s=0)
    assert off.verify(other_token) is not None and off.verify(other_token) is not None
    assert off.reads == 2 and off.cached(other_token) is None


def test_the_cache_rejects_tampered_tokens_and_stays_bounded(store):
    cache = KeyCache(store, ttl_s=5.0, clock=Clock(), max_entries=2)
    tokens = [KeyStore(store).create(f"k{i}", ("read",))[1] for i in range(3)]
    for t in tokens:
        assert cache.verify(t) is not None
    assert len(cache._entries) == 2  # the oldest entry made room
    assert cache.verify(tokens[0][:-2] + "xx") is None  # a wrong secret is a miss


def test_api_requests_reuse_the_verification(tmp_path):
    from fastapi.testclient import TestClient

    from compliance.api import create_app
    from compliance.app import App

    app = App(Settings.from_env({"COMPLIANCE_HOME": str(tmp_path / "h")}))
    _key, token = KeyStore(app.store).create("k", ("read",))
    h = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(app)) as c:
        for _ in range(5):
            assert c.get("/v1/scans/nope", headers=h).status_code == 404
        assert app.key_cache.reads == 1
        r = c.get("/v1/scans/nope", headers={"Authorization": "Bearer rcc_a_b"})
        assert r.status_code == 401
    app.store.close()


def test_an_entry_past_half_its_ttl_is_refreshed_by_one_caller(store):
    clock = Clock()
    cache = KeyCache(store, ttl_s=5.0, clock=clock)
    key, token = KeyStore(store).create("k", ("read",))
    assert cache.verify(token).id == key.id
    clock.t += 2.4
    assert cache.lookup(token) == (key, False)
    clock.t += 0.2  # past REFRESH_AFTER x ttl: one caller is asked to refresh
    assert cache.lookup(token) == (key, True)
    assert cache.lookup(token) == (key, False) and cache.reads == 1  # the others are not
    assert cache.verify(token, fresh=True).id == key.id and cache.reads == 2
    clock.t += 4.0  # 6.6 s after the first read, 4 s after the refresh: still valid
    assert cache.lookup(token) == (key, True) and cache.reads == 2  # and due again
    _revoke_elsewhere(store, key.id)
    assert cache.verify(token, fresh=True) is None  # a refresh drops a revoked key
    assert cache.lookup(token) == (None, False) and cache.verify(token) is None


def _async_client(tmp_path, monkeypatch, delay_s: float = 0.0):
    """A SQLite app, its API and a token, the key's database read slowed by ``delay_s``."""
    import httpx2 as httpx

    from compliance.api import create_app
    from compliance.app import App

    app = App(Settings.from_env({"COMPLIANCE_HOME": str(tmp_path / "h")}))
    _key, token = KeyStore(app.store).create("k", ("read",))
    real = KeyStore.verify

    def slow(self, t):
        time.sleep(delay_s)
        return real(self, t)

    monkeypatch.setattr(KeyStore, "verify", slow)
    api = create_app(app)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://t")
    return app, api, client, {"Authorization": f"Bearer {token}"}


def test_concurrent_requests_with_an_unverified_key_share_one_database_read(tmp_path, monkeypatch):
    import asyncio

    app, _api, client, h = _async_client(tmp_path, monkeypatch, delay_s=0.2)

    async def burst():
        async with client:
            return await asyncio.gather(*(client.get("/v1/scans/nope", headers=h)
                                          for _ in range(10)))  # fmt: skip

    answers = asyncio.run(burst())
    assert [r.status_code for r in answers] == [404] * 10
    assert app.key_cache.reads == 1
    app.store.close()


def test_the_api_refreshes_a_key_in_the_background_before_it_expires(tmp_path, monkeypatch):
    import asyncio

    app, api, client, h = _async_client(tmp_path, monkeypatch)
    clock = Clock()
    app.key_cache.clock = clock

    async def requests():
        async with client:
            assert (await client.get("/v1/scans/nope", headers=h)).status_code == 404
            clock.t += 3.0  # past half the 5 s: answered from memory, refreshed behind
            assert (await client.get("/v1/scans/nope", headers=h)).status_code == 404
            for _ in range(100):
                if not api.state.key_flights:
                    break
                await asyncio.sleep(0.01)
            assert app.key_cache.reads == 2  # the refresh read, before any entry expired
            clock.t += 2.2  # past the first entry's 5 s: the refreshed one answers
            assert (await client.get("/v1/scans/nope", headers=h)).status_code == 404

    asyncio.run(requests())
    assert app.key_cache.reads == 2
    app.store.close()


def test_settings_of_the_cache_and_the_pool(tmp_path):
    s = Settings.from_env({"COMPLIANCE_HOME": str(tmp_path)})
    assert s.key_cache_s == 5.0 and s.db_pool_size == 20 and s.upload_threads == 4
    s = Settings.from_env({"COMPLIANCE_HOME": str(tmp_path), "COMPLIANCE_KEY_CACHE_S": "0",
                           "COMPLIANCE_DB_POOL_SIZE": "8",
                           "COMPLIANCE_UPLOAD_THREADS": "2"})  # fmt: skip
    assert s.key_cache_s == 0.0 and s.db_pool_size == 8 and s.upload_threads == 2
    from compliance.errors import ConfigError

    for var, value in (("COMPLIANCE_KEY_CACHE_S", "-1"), ("COMPLIANCE_KEY_CACHE_S", "soon"),
                       ("COMPLIANCE_DB_POOL_SIZE", "0"),
                       ("COMPLIANCE_UPLOAD_THREADS", "0")):  # fmt: skip
        with pytest.raises(ConfigError, match=var):
            Settings.from_env({"COMPLIANCE_HOME": str(tmp_path), var: value})


def test_uploads_are_parsed_at_most_upload_threads_at_once(tmp_path, monkeypatch):
    """Six simultaneous submissions through the real app with ``upload_threads=2``: at
    most two uploads are being parsed and stored at any moment, and all six are
    accepted."""
    import io
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import soundfile as sf
    from fastapi.testclient import TestClient

    from compliance.api import create_app
    from compliance.app import App
    from compliance.storage.blobs import LocalBlobStore

    home = tmp_path / "home"
    settings = Settings.from_env({"COMPLIANCE_HOME": str(home),
                                  "COMPLIANCE_UPLOAD_THREADS": "2"})  # fmt: skip
    app = App(settings)
    app.store.migrate()
    _key, token = KeyStore(app.store).create("t", ("submit", "read"))
    lock, active, peak = threading.Lock(), [0], [0]
    real_writer = LocalBlobStore.writer

    def slow_writer(self, *, max_bytes):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)  # the parse of one upload, long enough for the others to queue
        w = real_writer(self, max_bytes=max_bytes)
        real_commit = w.commit

        def commit():
            try:
                return real_commit()
            finally:
                with lock:
                    active[0] -= 1

        w.commit = commit
        return w

    monkeypatch.setattr(LocalBlobStore, "writer", slow_writer)

    def wav(i: int) -> bytes:  # 1 s of seeded noise: distinct audio per upload
        buf = io.BytesIO()
        noise = np.random.default_rng(i).uniform(-0.5, 0.5, 8000)
        sf.write(buf, noise, 8000, format="WAV", subtype="PCM_16")
        return buf.getvalue()

    with TestClient(create_app(app)) as client:

        def submit(i: int) -> int:
            files = [("files", (f"{i}.wav", wav(i), "audio/wav"))]
            r = client.post("/v1/releases", headers={"Authorization": f"Bearer {token}"},
                            files=files)  # fmt: skip
            return r.status_code

        with ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(submit, range(6)))
    app.store.close()
    assert codes == [202] * 6
    assert peak[0] == 2


# ------------------------------------------------------------------ idle-only ping
@pytest.mark.skipif(bool(_PG_SKIP), reason=_PG_SKIP or "")
def test_an_idle_connection_killed_by_the_server_is_replaced(monkeypatch):
    from compliance.storage import Store

    with pg_schema("ping") as schema:
        st = Store(PG_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=1,
                   max_overflow=0)  # fmt: skip
        admin = sa.create_engine(PG_URL, poolclass=sa.NullPool)
        try:
            with st.engine.connect() as c:
                pid = c.execute(sa.text("select pg_backend_pid()")).scalar()
            monkeypatch.setattr(store_mod, "PING_IDLE_S", 0.0)  # every checkout is "idle"
            with admin.begin() as c:
                c.execute(sa.text("select pg_terminate_backend(:p)"), {"p": pid})
            time.sleep(0.2)
            with st.engine.connect() as c:  # pinged, found dead, replaced: no error
                assert c.execute(sa.text("select pg_backend_pid()")).scalar() != pid
        finally:
            admin.dispose()
            st.close()


# ------------------------------------------------------------------ worker --nice
def test_worker_nice_lowers_the_priority(tmp_path, monkeypatch):
    from compliance.jobs import priority

    monkeypatch.setattr(priority, "_leads_session", lambda: False)  # never the test's group
    calls = []
    monkeypatch.setattr(os, "nice", lambda n: calls.append(n) or n)
    env = {"COMPLIANCE_HOME": str(tmp_path / "h")}
    run = CliRunner()
    assert run.invoke(main, ["worker", "--once"], env=env).exit_code == 0
    assert run.invoke(main, ["worker", "--once", "--nice", "3"], env=env).exit_code == 0
    assert run.invoke(main, ["worker", "--once", "--nice", "0"], env=env).exit_code == 0
    assert calls == [10, 3]
    bad = run.invoke(main, ["worker", "--once", "--nice", "25"], env=env)
    assert bad.exit_code == 2


def test_worker_nice_that_is_refused_is_a_warning(tmp_path, monkeypatch):
    def refuse(_n):
        raise PermissionError("not allowed")

    monkeypatch.setattr(os, "nice", refuse)
    monkeypatch.setattr("compliance.jobs.priority._leads_session", lambda: False)
    r = CliRunner().invoke(main, ["worker", "--once"], env={"COMPLIANCE_HOME": str(tmp_path)})
    assert r.exit_code == 0 and "no job" in r.output


# ------------------------------------------------------------------ serve --workers
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(p))
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_serve_with_several_api_processes(tmp_path):
    env = dict(os.environ, COMPLIANCE_HOME=str(tmp_path / "h"), PYTHONPATH=str(ROOT))
    env.pop("COMPLIANCE_DATABASE_URL", None)
    made = subprocess.run(
        [sys.executable, "-m", "compliance", "keys", "create", "--name", "t", "--scopes", "read"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    token = made.stdout.strip().splitlines()[-1]
    port = _free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "compliance", "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            children = _children(proc.pid)
            try:
                with urllib.request.urlopen(f"{base}/health/ready", timeout=2) as r:
                    if r.status == 200 and len(children) >= 2:
                        break
            except OSError:
                pass
            time.sleep(0.2)
        assert len(children) >= 2, (tmp_path / "serve.log").read_text()
        req = urllib.request.Request(f"{base}/v1/scans/nope")
        req.add_header("Authorization", f"Bearer {token}")
        for _ in range(6):  # whichever process answers knows the key and the store
            try:
                urllib.request.urlopen(req, timeout=5)
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
                assert json.loads(exc.read())["error"]["code"] == "scan_not_found"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)
        log.close()


# ------------------------------------------------------------------ worker autogroup
def test_a_session_leader_also_lowers_its_autogroup(tmp_path, monkeypatch):
    from compliance.jobs import priority

    monkeypatch.setattr(os, "nice", lambda n: n)
    group = tmp_path / "autogroup"
    group.write_text("/autogroup-85 nice 2\n")
    monkeypatch.setattr(priority, "_leads_session", lambda: True)
    assert priority.lower_priority(10, autogroup=group) == ["nice", "autogroup"]
    assert group.read_text() == "12"
    group.write_text("/autogroup-85 nice 15\n")
    priority.lower_priority(10, autogroup=group)
    assert group.read_text() == "19"  # the largest nice value
    group.write_text("garbage")
    assert priority.lower_priority(3, autogroup=group) == ["nice"]  # a warning, no error
    assert priority.lower_priority(0, autogroup=group) == []
    monkeypatch.setattr(priority, "_leads_session", lambda: False)
    group.write_text("/autogroup-85 nice 0\n")
    assert priority.lower_priority(10, autogroup=group) == ["nice"]
    assert group.read_text() == "/autogroup-85 nice 0\n"  # shared session: left alone


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="no autogroup scheduling")
def test_a_worker_in_its_own_session_gets_a_nicer_autogroup():
    code = (
        "from compliance.jobs.priority import lower_priority; import os;"
        "print(lower_priority(7)); print(os.nice(0)); print(open('/proc/self/autogroup').read())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        start_new_session=True, timeout=60,
    ).stdout.split("\n")  # fmt: skip
    assert out[0] == "['nice', 'autogroup']"
    assert int(out[1]) >= 7
    assert out[2].split()[-1] == "7"  # a new session's autogroup starts at 0


# ------------------------------------------------------------------ gc freeze, gc pauses
def test_serve_freezes_the_start_up_heap_and_reports_gc_pauses(tmp_path):
    import gc

    from fastapi.testclient import TestClient

    from compliance.api import create_app
    from compliance.app import App

    app = App(Settings.from_env({"COMPLIANCE_HOME": str(tmp_path / "h")}))
    assert gc.get_freeze_count() == 0
    try:
        with TestClient(create_app(app, freeze_gc=True)) as c:
            assert gc.get_freeze_count() > 0  # the start-up heap is out of the collector's way
            gc.collect()
            text = c.get("/metrics").text
        pauses = [
            line for line in text.splitlines()
            if line.startswith('compliance_gc_pause_seconds_count{generation="2"}')
        ]  # fmt: skip
        assert pauses and float(pauses[0].rsplit(" ", 1)[1]) >= 1
    finally:
        gc.unfreeze()
        app.store.close()
    with TestClient(create_app(App(Settings.from_env({"COMPLIANCE_HOME": str(tmp_path / "g")})))):
        assert gc.get_freeze_count() == 0  # only `serve` asks for it
