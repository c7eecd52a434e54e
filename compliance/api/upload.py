"""Streaming ``multipart/form-data`` intake: each file goes straight into the blob store.

Starlette's form parser spools every file to a temporary file before the endpoint runs,
so a size limit would only apply after the whole body arrived. Here the request body is
fed chunk by chunk to python-multipart's push parser; the bytes of a ``files`` part are
hashed and written to a :class:`~compliance.storage.blobs.BlobWriter`, and the first
byte past the limit stops the upload with 413 ``file_too_large``. The parser runs in a
worker thread (its callbacks write to disk), never blocking the event loop.

Parts: ``files`` (one or more, the audio) and at most one ``metadata`` (a JSON object,
as a plain field or a file part). Anything else is 400 ``unexpected_part``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from compliance.api.errors import ApiError
from compliance.errors import ComplianceError
from compliance.storage.blobs import BlobWriter, LocalBlobStore

MAX_METADATA_BYTES = 1 << 20
MAX_HEADER_BYTES = 16 << 10
MAX_NAME_CHARS = 255


@dataclass
class StoredFile:
    name: str
    address: str
    size: int


@dataclass
class Upload:
    files: list[StoredFile] = field(default_factory=list)
    metadata: bytes | None = None


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
        self, blobs: LocalBlobStore, max_file_bytes: int, max_files: int, check_metadata
    ) -> None:
        self.blobs, self.max_file_bytes, self.max_files = blobs, max_file_bytes, max_files
        self.check_metadata = check_metadata
        self.upload = Upload()
        self._hname = b""
        self._hvalue = b""
        self._hbytes = 0
        self._disposition = b""
        self._writer: BlobWriter | None = None
        self._name = ""
        self._meta: bytearray | None = None
        self._kind: str | None = None  # "file" | "metadata"

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
            self._writer = self.blobs.writer(max_bytes=self.max_file_bytes)
        elif part == "metadata":
            if self.upload.metadata is not None:
                raise ApiError(400, "metadata_invalid", "more than one metadata part")
            self._kind = "metadata"
            self._meta = bytearray()
        else:
            raise ApiError(
                400, "unexpected_part", f"unexpected part {part!r}: send 'files' and 'metadata'"
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._kind == "file":
            assert self._writer is not None
            try:
                self._writer.write(data[start:end])
            except ComplianceError as exc:
                raise _blob_error(exc, self._name, self.max_file_bytes) from None
        elif self._kind == "metadata":
            assert self._meta is not None
            self._meta += data[start:end]
            if len(self._meta) > MAX_METADATA_BYTES:
                raise ApiError(
                    413, "metadata_too_large", f"metadata is larger than {MAX_METADATA_BYTES} bytes"
                )

    def on_part_end(self) -> None:
        if self._kind == "file":
            assert self._writer is not None
            w, self._writer = self._writer, None
            try:
                address, size = w.commit()
            except ComplianceError as exc:
                raise _blob_error(exc, self._name, self.max_file_bytes) from None
            self.upload.files.append(StoredFile(self._name, address, size))
        elif self._kind == "metadata":
            self.upload.metadata = bytes(self._meta or b"")
            self._meta = None
            if self.check_metadata is not None:  # fail before the files that follow
                self.check_metadata(self.upload.metadata)
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
) -> Upload:
    """Parse the request body, storing every file part in ``blobs`` as it arrives.

    Raises :class:`ApiError` for a body that is not multipart (415 ``multipart_required``),
    malformed multipart (400 ``request_invalid``), a file over the limit (413
    ``file_too_large``), an empty file (400 ``file_empty``), no file (400
    ``files_missing``); ``check_metadata`` runs on the metadata part as soon as it has
    arrived and may raise its own :class:`ApiError`. Blobs stored before an error stay in
    the (content-addressed) store, unreferenced; no partial blob is ever left under an
    address.
    """
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        raise ApiError(415, "multipart_required", "send multipart/form-data with 'files' parts")
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "request_invalid", "multipart body without a boundary")
    parts = _Parts(blobs, max_file_bytes, max_files, check_metadata)
    parser = MultipartParser(boundary, parts.callbacks())
    try:
        async for chunk in request.stream():
            if chunk:
                await anyio.to_thread.run_sync(parser.write, chunk)
        await anyio.to_thread.run_sync(parser.finalize)
    except FormParserError as exc:
        raise ApiError(400, "request_invalid", f"malformed multipart body: {exc}") from None
    finally:
        parts.abort()
    if parts._kind is not None:
        raise ApiError(400, "request_invalid", "the multipart body ended inside a part")
    if not parts.upload.files:
        raise ApiError(400, "files_missing", "no 'files' part: send at least one audio file")
    return parts.upload
