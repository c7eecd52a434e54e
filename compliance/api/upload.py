"""Streaming ``multipart/form-data`` intake: each file goes straight into the blob store.

Starlette's form parser spools every file to a temporary file before the endpoint runs,
so a size limit would only apply after the whole body arrived. Here the request body is
fed chunk by chunk to python-multipart's push parser; the bytes of a ``files`` part are
hashed and written to a :class:`~compliance.storage.blobs.BlobWriter`, and the first
byte past the limit stops the upload with 413 ``file_too_large``. The parser runs in a
worker thread (its callbacks write to disk), never blocking the event loop.

Parts: ``files`` (one or more, the audio) and at most one of each text part the route
accepts (default ``metadata``, a JSON object, as a plain field or a file part). Anything
else is 400 ``unexpected_part``. A route can pass an :class:`UploadHook` that sees each
text part and each file as it arrives: it may refuse a file before any byte is stored,
ask for extra digests computed while the file streams, and check the whole upload at the
end (the DDEX ERN intake does all three).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio
from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from compliance.api.errors import ApiError
from compliance.api.metrics import add_phase
from compliance.errors import ComplianceError
from compliance.storage.blobs import BlobWriter, LocalBlobStore

MAX_METADATA_BYTES = 1 << 20
MAX_HEADER_BYTES = 16 << 10
MAX_NAME_CHARS = 255
#: Body bytes gathered before they are parsed (and written to blobs) in a worker thread.
PARSE_BATCH = 1 << 20

T = TypeVar("T")


@dataclass
class StoredFile:
    name: str
    address: str
    size: int
    #: Extra digests asked for by the route's hook (algorithm -> lowercase hex).
    digests: dict[str, str] = field(default_factory=dict)


@dataclass
class Upload:
    files: list[StoredFile] = field(default_factory=list)
    texts: dict[str, bytes] = field(default_factory=dict)

    @property
    def metadata(self) -> bytes | None:
        return self.texts.get("metadata")


class UploadHook(Protocol):
    """Route-specific checks while a multipart body streams (see the module docstring)."""

    def begin_text(self, part: str) -> None:
        """A text part starts (raise :class:`ApiError` to refuse it)."""

    def on_text(self, part: str, data: bytes) -> None:
        """A text part is complete."""

    def begin_file(self, name: str) -> dict[str, Any]:
        """A file part starts: raise to refuse it; return ``{algorithm: hasher}`` for
        digests to compute while it streams (objects with ``update`` and ``hexdigest``)."""

    def end_file(self, stored: StoredFile) -> None:
        """A file is stored (its ``digests`` filled)."""

    def finish(self, upload: Upload, blobs: LocalBlobStore) -> None:
        """Every part arrived (runs in a worker thread: it may read blobs)."""


#: Text parts of the release intake: name -> (byte limit, error past the limit).
DEFAULT_TEXT_PARTS: dict[str, tuple[int, Callable[[int], ApiError]]] = {
    "metadata": (
        MAX_METADATA_BYTES,
        lambda n: ApiError(413, "metadata_too_large", f"metadata is larger than {n} bytes"),
    ),
}


def _safe_name(raw: bytes | None, n: int) -> str:
    """The client's file name without any folder part, bounded; ``file-<n>`` if none."""
    name = (raw or b"").decode("utf-8", "replace").replace("\\", "/")
    name = os.path.basename(name).strip().replace("\x00", "")
    return name[:MAX_NAME_CHARS] or f"file-{n}"


def _blob_error(exc: ComplianceError, name: str, max_bytes: int) -> ApiError:
    if exc.code == "upload_too_large":
        return ApiError(413, "file_too_large", f"{name}: larger than {max_bytes} bytes")
    if exc.code == "upload_empty":
        return ApiError(400, "file_empty", f"{name}: the file is empty (0 bytes)")
    return ApiError(400, exc.code, f"{name}: {exc}")


class _Parts:
    """python-multipart callbacks: route each part to a blob writer or the metadata."""

    def __init__(
        self,
        blobs: LocalBlobStore,
        max_file_bytes: int,
        max_files: int,
        check_metadata,
        text_parts=None,
        hook: UploadHook | None = None,
    ) -> None:
        self.blobs, self.max_file_bytes, self.max_files = blobs, max_file_bytes, max_files
        self.check_metadata = check_metadata
        self.text_parts = DEFAULT_TEXT_PARTS if text_parts is None else text_parts
        self.hook = hook
        self._hashers: dict[str, Any] = {}
        self._text_name = ""
        self.upload = Upload()
        self._hname = b""
        self._hvalue = b""
        self._hbytes = 0
        self._disposition = b""
        self._writer: BlobWriter | None = None
        self._name = ""
        self._meta: bytearray | None = None
        self._kind: str | None = None  # "file" | "text"

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self._disposition, self._hbytes, self._kind = b"", 0, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]
        self._count_header(end - start)

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]
        self._count_header(end - start)

    def _count_header(self, n: int) -> None:
        self._hbytes += n
        if self._hbytes > MAX_HEADER_BYTES:
            raise ApiError(400, "request_invalid", "multipart part headers are too large")

    def on_header_end(self) -> None:
        if self._hname.lower() == b"content-disposition":
            self._disposition = self._hvalue
        self._hname, self._hvalue = b"", b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._disposition)
        part = opts.get(b"name", b"").decode("utf-8", "replace")
        if part == "files":
            if len(self.upload.files) >= self.max_files:
                raise ApiError(400, "too_many_files", f"at most {self.max_files} files per release")
            self._kind = "file"
            self._name = _safe_name(opts.get(b"filename"), len(self.upload.files) + 1)
            self._hashers = self.hook.begin_file(self._name) if self.hook is not None else {}
            self._writer = self.blobs.writer(max_bytes=self.max_file_bytes)
        elif part in self.text_parts:
            if part in self.upload.texts:
                raise ApiError(400, f"{part}_invalid", f"more than one {part} part")
            if self.hook is not None:
                self.hook.begin_text(part)
            self._kind = "text"
            self._text_name = part
            self._meta = bytearray()
        else:
            names = ", ".join(repr(n) for n in ("files", *self.text_parts))
            raise ApiError(400, "unexpected_part", f"unexpected part {part!r}: send {names}")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._kind == "file":
            assert self._writer is not None
            chunk = data[start:end]
            try:
                self._writer.write(chunk)
            except ComplianceError as exc:
                raise _blob_error(exc, self._name, self.max_file_bytes) from None
            for h in self._hashers.values():
                h.update(chunk)
        elif self._kind == "text":
            assert self._meta is not None
            self._meta += data[start:end]
            limit, too_large = self.text_parts[self._text_name]
            if len(self._meta) > limit:
                raise too_large(limit)

    def on_part_end(self) -> None:
        if self._kind == "file":
            assert self._writer is not None
            w, self._writer = self._writer, None
            try:
                address, size = w.commit()
            except ComplianceError as exc:
                raise _blob_error(exc, self._name, self.max_file_bytes) from None
            digests = {a: h.hexdigest().lower() for a, h in self._hashers.items()}
            stored = StoredFile(self._name, address, size, digests)
            self.upload.files.append(stored)
            if self.hook is not None:
                self.hook.end_file(stored)
        elif self._kind == "text":
            data = bytes(self._meta or b"")
            self.upload.texts[self._text_name] = data
            self._meta = None
            if self._text_name == "metadata" and self.check_metadata is not None:
                self.check_metadata(data)  # fail before the files that follow
            if self.hook is not None:
                self.hook.on_text(self._text_name, data)
        self._kind = None

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
            self._writer = None


async def read_upload(
    request: Request,
    blobs: LocalBlobStore,
    *,
    max_file_bytes: int,
    max_files: int = 100,
    check_metadata: Callable[[bytes], object] | None = None,
    text_parts: dict[str, tuple[int, Callable[[int], ApiError]]] | None = None,
    hook: UploadHook | None = None,
) -> Upload:
    """Parse the request body, storing every file part in ``blobs`` as it arrives
    (:func:`read_upload_then` with nothing to run after the parse)."""
    return await read_upload_then(
        request, blobs, _same, max_file_bytes=max_file_bytes, max_files=max_files,
        check_metadata=check_metadata, text_parts=text_parts, hook=hook,
    )  # fmt: skip


def _same(upload: Upload) -> Upload:
    return upload


async def read_upload_then(
    request: Request,
    blobs: LocalBlobStore,
    then: Callable[[Upload], T],
    *,
    max_file_bytes: int,
    max_files: int = 100,
    check_metadata: Callable[[bytes], object] | None = None,
    text_parts: dict[str, tuple[int, Callable[[int], ApiError]]] | None = None,
    hook: UploadHook | None = None,
) -> T:
    """Parse the request body, storing every file part in ``blobs`` as it arrives, then
    return ``then(upload)``, run in the worker thread that parsed the end of the body: a
    route that records the upload in the database (``POST /v1/releases``) does it in the
    same thread hop as the parse, not in a second one (under load each hop waits for the
    event loop and for a free thread, and every thread switch costs CPU).

    Raises :class:`ApiError` for a body that is not multipart (415 ``multipart_required``),
    malformed multipart (400 ``request_invalid``), a file over the limit (413
    ``file_too_large``), an empty file (400 ``file_empty``), no file (400
    ``files_missing``); ``check_metadata`` runs on the metadata part as soon as it has
    arrived and may raise its own :class:`ApiError`. ``text_parts`` replaces the accepted
    text parts (default: ``metadata``); ``hook`` sees every part (:class:`UploadHook`).
    Blobs stored before an error stay in
    the (content-addressed) store, unreferenced; no partial blob is ever left under an
    address.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        raise ApiError(415, "multipart_required", "send multipart/form-data with 'files' parts")
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "request_invalid", "multipart body without a boundary")
    parts = _Parts(blobs, max_file_bytes, max_files, check_metadata, text_parts, hook)
    parser = MultipartParser(boundary, parts.callbacks())

    times: list[float] = []  # the parse thread's start and end, perf_counter seconds

    def finish(tail: bytes) -> T:  # the last bytes, the end checks, the hook's finish
        times.append(time.perf_counter())
        if tail:
            parser.write(tail)
        parser.finalize()
        if parts._kind is not None:
            raise ApiError(400, "request_invalid", "the multipart body ended inside a part")
        if not parts.upload.files:
            raise ApiError(400, "files_missing", "no 'files' part: send at least one audio file")
        if hook is not None:
            hook.finish(parts.upload, blobs)
        out = then(parts.upload)
        times.append(time.perf_counter())
        return out

    # The body arrives in chunks of up to 64 KiB; they are handed to a worker thread in
    # batches of PARSE_BATCH bytes (one thread hop per batch, not per chunk: under load
    # each hop waits for the event loop and a thread), and the last batch is parsed
    # together with the end of the upload, so a small upload takes one hop. The app's
    # upload limiter (``COMPLIANCE_UPLOAD_THREADS``) lets a few uploads be parsed at
    # once: twenty threads parsing together share the interpreter lock in turns and all
    # finish late, a few at a time finish in order (measured: docs/benchmarks.md).
    limiter = getattr(request.app.state, "upload_limiter", None)
    pending = bytearray()
    t0 = time.perf_counter()
    try:
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= PARSE_BATCH:
                data, pending = bytes(pending), bytearray()
                await anyio.to_thread.run_sync(parser.write, data, limiter=limiter)
        received = time.perf_counter()
        out = await anyio.to_thread.run_sync(finish, bytes(pending), limiter=limiter)
        resumed = time.perf_counter()
        # Server-Timing phases: the body's arrival (and the parse of all but its last
        # MiB), the wait for an upload thread, the last parse with the blobs' fsyncs and
        # ``then``, and the wait for the event loop to run this coroutine again
        for name, a, b in (
            ("receive", t0, received),
            ("wait", received, times[0]),
            ("store", times[0], times[1]),
            ("resume", times[1], resumed),
        ):
            add_phase(request.scope, name, b - a)
        return out
    except FormParserError as exc:
        raise ApiError(400, "request_invalid", f"malformed multipart body: {exc}") from None
    finally:
        parts.abort()
