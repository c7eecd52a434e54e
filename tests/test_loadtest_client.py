"""The load generator's HTTP client (scripts/_aioclient.py) against a real socket server:
the answers it reads are the ones sent, with Content-Length or chunked bodies, on a kept
connection, and again after the server closes it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from _aioclient import Connection


async def _serve(answers: list[bytes], seen: list[bytes]):
    """A server that reads one request head (and its Content-Length body) per answer, in
    order, and closes the connection after an answer that says so."""
    remaining = iter(answers)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            seen.append(head + await reader.readexactly(length))
            answer = next(remaining)
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer:
                break
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _answer(status: int, body: dict, *, chunked: bool = False, close: bool = False) -> bytes:
    raw = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
    if close:
        head += "Connection: close\r\n"
    if chunked:
        half = len(raw) // 2
        parts = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (raw[:half], raw[half:]))
        return (head + "transfer-encoding: chunked\r\n\r\n").encode() + parts + b"0\r\n\r\n"
    return (head + f"content-length: {len(raw)}\r\n\r\n").encode() + raw


def test_answers_are_read_whole_on_a_kept_and_a_reopened_connection():
    async def main():
        seen: list[bytes] = []
        answers = [
            _answer(202, {"scan": 1}),
            _answer(200, {"state": "done", "pad": "x" * 5000}, chunked=True, close=True),
            _answer(404, {"error": {"code": "not_found"}}),
        ]
        server = await _serve(answers, seen)
        port = server.sockets[0].getsockname()[1]
        conn = Connection(port, "k3y")
        got = [
            await conn.send(conn.prepare("POST", "/v1/releases", b"a" * 70000, "audio/wav")),
            await conn.send(conn.prepare("GET", "/v1/scans/1")),
            await conn.send(conn.prepare("GET", "/v1/scans/2")),  # a new connection
        ]
        await conn.close()
        server.close()
        await server.wait_closed()
        return got, seen

    got, seen = asyncio.run(main())
    assert got == [
        (202, {"scan": 1}),
        (200, {"state": "done", "pad": "x" * 5000}),
        (404, {"error": {"code": "not_found"}}),
    ]
    assert seen[0].startswith(b"POST /v1/releases HTTP/1.1\r\n")
    assert b"Authorization: Bearer k3y\r\n" in seen[0] and seen[0].endswith(b"a" * 70000)
    assert b"Content-Length: 70000\r\n" in seen[0]
    assert seen[2].startswith(b"GET /v1/scans/2 HTTP/1.1\r\n")


def test_a_non_json_answer_is_kept_raw():
    async def main():
        answer = b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 5\r\n\r\noops!"
        server = await _serve([answer], [])
        conn = Connection(server.sockets[0].getsockname()[1], "k", keep_alive=False)
        out = await conn.send(conn.prepare("GET", "/health/live"))
        await conn.close()
        server.close()
        return out

    assert asyncio.run(main()) == (502, {"raw": "oops!"})


def test_the_services_own_time_is_read_from_server_timing():
    from _aioclient import server_timings

    def app(header: str) -> float | None:
        return server_timings(header).get("app")

    assert app("app;dur=3.25") == 3.25
    assert app("db;dur=1, app;desc=x;dur=12") == 12.0
    assert app("db;dur=1") is None and app("") is None
    assert app("app;dur=abc") is None
    assert server_timings("app;dur=9.5, wait;dur=4, db;desc=x;dur=1.25, bad;dur=?") == {
        "app": 9.5,
        "wait": 4.0,
        "db": 1.25,
    }

    async def main():
        timed = (
            b"HTTP/1.1 200 OK\r\nserver-timing: app;dur=4.50, store;dur=2\r\n"
            b"content-length: 2\r\n\r\n{}"
        )
        plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
        server = await _serve([timed, plain], [])
        conn = Connection(server.sockets[0].getsockname()[1], "k")
        await conn.send(conn.prepare("GET", "/v1/scans/1"))
        first = conn.server_ms, conn.server_phases
        await conn.send(conn.prepare("GET", "/v1/scans/1"))
        await conn.close()
        server.close()
        return first, (conn.server_ms, conn.server_phases)

    assert asyncio.run(main()) == ((4.5, {"store": 2.0}), (None, {}))
