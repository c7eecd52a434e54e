"""A lean HTTP/1.1 client on asyncio streams, for the load generator (scripts/loadtest.py).

Twenty client *threads* in one Python process share its interpreter lock: a response
that has arrived waits until its thread gets the lock back, and that wait is counted in
the latency the thread measures (on the twelfth machine, a wave of 20 simultaneous
uploads took about 10 ms longer as measured by the threaded generator than by one event
loop). Here every client is a coroutine of one event loop with its own kept-alive
connection, and a request is bytes prepared before the clock starts: what is timed is
writing them and reading the answer.

Only what the service's answers need is implemented: ``Content-Length`` or chunked
bodies, ``Connection: close``. A connection the server closed between two requests is
opened again once, as :meth:`_servicebench.Service.request` does.
"""

from __future__ import annotations

import asyncio
import contextlib

from _servicebench import json_or_raw


def server_timings(server_timing: str) -> dict[str, float]:
    """Every metric of a Server-Timing header that has a numeric ``dur``: name -> ms."""
    out: dict[str, float] = {}
    for metric in server_timing.split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        for param in params:
            key, _, value = param.partition("=")
            if key == "dur":
                with contextlib.suppress(ValueError):  # a malformed figure is left out
                    out[name] = float(value)
    return out


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 this client understands."""


class Connection:
    """One client's connection to ``127.0.0.1:port``, kept alive unless told otherwise."""

    def __init__(self, port: int, key: str, *, keep_alive: bool = True) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {key}\r\n"
        if not keep_alive:  # a new connection per request
            self.auth += "Connection: close\r\n"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.server_ms: float | None = None
        """The last answer's ``Server-Timing: app;dur=`` (the service's own time), ms."""
        self.server_phases: dict[str, float] = {}
        """The last answer's other Server-Timing metrics (the route's phases), ms."""

    def prepare(self, method: str, path: str, body: bytes = b"", content_type: str = "") -> bytes:
        """The request's bytes (head and body), built before it is timed."""
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{self.auth}"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {len(body)}\r\n"
        return head.encode() + b"\r\n" + body

    async def send(self, request: bytes) -> tuple[int, object]:
        """Send prepared bytes and read the answer: ``(status, JSON body or {"raw": ...})``."""
        for attempt in (0, 1):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                self._writer.write(request)
                await self._writer.drain()
                status, body, keep = await self._read_answer()
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
                continue
            if not keep:
                await self.close()
            return status, json_or_raw(body)
        raise AssertionError("unreachable")

    async def _read_answer(self) -> tuple[int, bytes, bool]:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        else:
            body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        keep = headers.get("connection", "").lower() != "close"
        self.server_phases = server_timings(headers.get("server-timing", ""))
        self.server_ms = self.server_phases.pop("app", None)
        return int(parts[1]), body, keep

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        out = bytearray()
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # no trailers from this server
                return bytes(out)
            out += await self._reader.readexactly(size)
            await self._reader.readexactly(2)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None
