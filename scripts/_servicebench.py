"""Shared set-up of the service benchmarks (scripts/loadtest.py, scripts/faulttest.py).

A temporary COMPLIANCE_HOME, a database (a fresh PostgreSQL schema by default, dropped
afterwards; or SQLite in the home), a small synthetic catalogue ingested and an API key
created through the CLI, ``compliance serve`` (no embedded worker) on a free port, and
``compliance worker`` subprocesses started and killed on demand (at the worker's default
``--nice 10`` unless told otherwise). The per-key rate limit is off
(``COMPLIANCE_RATE_LIMIT=off`` unless set): all the load comes with one key. Everything runs in
subprocesses of this one; :meth:`Service.close` stops them all.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compliance.synth import synth_piece  # noqa: E402

SR = 22050
PG_URL = os.environ.get(
    "COMPLIANCE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def wav_bytes(seed: int, seconds: float) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, synth_piece(seed, seconds, sample_rate=SR), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def json_or_raw(raw: bytes):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return {"raw": raw[:200].decode(errors="replace")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multipart(files: list[tuple[str, bytes]], metadata: dict | None) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, data in files:
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
                  f"filename=\"{name}\"\r\nContent-Type: audio/wav\r\n\r\n".encode())  # fmt: skip
        out.write(data + b"\r\n")
    if metadata is not None:
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
                  f"Content-Type: application/json\r\n\r\n".encode())  # fmt: skip
        out.write(json.dumps(metadata).encode() + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


WORKER_READY_S = 120.0
"""How long :meth:`Service.start_worker` waits for a worker's warm-up, seconds."""


class Service:
    """The service under test: home, database, catalogue, key, server, workers."""

    def __init__(self, *, db: str = "pg", catalogue_tracks: int = 4) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="compliance-bench-")
        self.home = Path(self.tmp.name) / "home"
        self.schema = None
        self.env = dict(os.environ)
        self.env["COMPLIANCE_HOME"] = str(self.home)
        # One key sends all the load: the per-key limit (default 50/s) would answer
        # most of it 429 and measure the limiter, not the service.
        self.env.setdefault("COMPLIANCE_RATE_LIMIT", "off")
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), *([self.env["PYTHONPATH"]] if self.env.get("PYTHONPATH") else [])]
        )
        if db == "pg":
            import sqlalchemy as sa

            self.schema = f"bench_{uuid.uuid4().hex[:10]}"
            eng = sa.create_engine(PG_URL, poolclass=sa.NullPool)
            with eng.begin() as c:
                c.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
            eng.dispose()
            opts = urllib.parse.quote(f"-csearch_path={self.schema}")
            self.env["COMPLIANCE_DATABASE_URL"] = f"{PG_URL}?options={opts}"
        self.db = db
        self.procs: list[subprocess.Popen] = []
        self.server: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.logs = Path(self.tmp.name) / "logs"
        self.logs.mkdir()
        self._catalogue(catalogue_tracks)
        self.key = self._key()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        #: One persistent connection per client thread (HTTP keep-alive, as an intake
        #: pipeline's HTTP session does); False: a new connection for every request.
        self.keep_alive = True
        self._conns = threading.local()

    # ---------------------------------------------------------------- CLI set-up
    def cli(self, *args: str, timeout: float = 300) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "compliance", *args], env=self.env, capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip
        if r.returncode != 0:
            raise RuntimeError(f"compliance {' '.join(args)} failed: {r.stderr[-2000:]}")
        return r.stdout

    def _catalogue(self, n: int) -> None:
        folder = Path(self.tmp.name) / "catalogue"
        folder.mkdir()
        for i in range(n):
            (folder / f"ref-{i}.wav").write_bytes(wav_bytes(10_000 + i, 20.0))
        self.cli("catalogue", "add", str(folder), "--quiet")

    def _key(self) -> str:
        out = self.cli("keys", "create", "--name", "bench", "--scopes", "submit,read")
        return out.strip().splitlines()[-1]

    # ---------------------------------------------------------------- processes
    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (lives with the process)
        p = subprocess.Popen(
            [sys.executable, "-m", "compliance", *args], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.procs.append(p)
        return p

    def start_server(self, *extra: str, timeout_s: float = 60) -> None:
        self.server = self._spawn("server", "serve", "--port", str(self.port), *extra)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"server exited: {self.tail('server')}")
            try:
                with urllib.request.urlopen(f"{self.base}/health/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError("server not ready in time")

    def start_worker(
        self, *extra: str, ready_timeout_s: float | None = WORKER_READY_S
    ) -> subprocess.Popen:
        """Start a scan worker; wait until it has warmed up and logged "started" (a
        long-running worker, as in production), or return at once with
        ``ready_timeout_s=None`` (a cold worker whose start-up shares the cores)."""
        name = f"worker-{len(self.workers)}"
        log = self.logs / f"{name}.log"
        seen = log.stat().st_size if log.exists() else 0  # the log of an earlier round
        p = self._spawn(name, "worker", "--kinds", "scan", "--poll-s", "0.2", *extra)
        self.workers.append(p)
        if ready_timeout_s is None:
            return p
        deadline = time.monotonic() + ready_timeout_s
        while b" started" not in log.read_bytes()[seen:]:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.tail(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready in {ready_timeout_s:.0f} s")
            time.sleep(0.1)
        return p

    def stop_workers(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.workers = []

    def tail(self, name: str, n: int = 2000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    # ---------------------------------------------------------------- HTTP
    def request(
        self, method: str, path: str, body: bytes | None = None,
        content_type: str | None = None, timeout: float = 30,
    ) -> tuple[int, dict]:  # fmt: skip
        headers = {"Authorization": f"Bearer {self.key}"}
        if content_type:
            headers["Content-Type"] = content_type
        if not self.keep_alive:
            return self._request_once(method, path, body, headers, timeout)
        for attempt in (0, 1):  # a kept connection the server closed: once more, anew
            conn = getattr(self._conns, "conn", None)
            if conn is None:
                conn = self._conns.conn = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=timeout
                )
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                raw = r.read()
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self._conns.conn = None
                if attempt:
                    raise
                continue
            return r.status, json_or_raw(raw)
        raise AssertionError("unreachable")

    def _request_once(self, method, path, body, headers, timeout) -> tuple[int, dict]:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json_or_raw(exc.read())

    def submit(self, name: str, data: bytes, metadata: dict | None = None):
        body, ctype = multipart([(name, data)], metadata)
        return self.request("POST", "/v1/releases", body, ctype)

    # ---------------------------------------------------------------- the store
    def store(self):
        from compliance.storage import Store

        url = self.env.get("COMPLIANCE_DATABASE_URL") or f"sqlite:///{self.home / 'compliance.db'}"
        return Store(url)

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):  # its own session: ours only
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        if self.schema:
            import sqlalchemy as sa

            eng = sa.create_engine(PG_URL, poolclass=sa.NullPool)
            with eng.begin() as c:
                c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            eng.dispose()
        self.tmp.cleanup()
