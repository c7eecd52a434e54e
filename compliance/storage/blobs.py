"""Content-addressed storage of uploaded audio, behind a small bucket-style interface.

Objects are addressed by the SHA-256 of their bytes (``sha256:<hex>``, the same form as
:func:`fingerprints.audio.content_hash`), so the same audio uploaded twice is stored
once. :class:`LocalBlobStore` keeps them in a folder; an object-storage backend can
implement the same four methods. Writes go to a temporary file in the same folder and
are renamed into place only when complete, so a failed or interrupted upload never
leaves a partial object under a valid address; the bytes and then the rename are fsynced
before ``commit`` returns, so an object whose address was handed out survives a crash or
a power loss.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

from compliance.errors import ComplianceError
from fingerprints.index.segment_files import fsync_dir

CHUNK = 1 << 20


class BlobTooLarge(ComplianceError):
    code = "upload_too_large"


class BlobStore(Protocol):
    """What the service needs from an object store."""

    def put(self, stream: BinaryIO, *, max_bytes: int) -> tuple[str, int]: ...

    def open(self, address: str) -> BinaryIO: ...

    def exists(self, address: str) -> bool: ...

    def path(self, address: str) -> Path: ...


def _check_address(address: str) -> str:
    prefix, _, digest = address.partition(":")
    if prefix != "sha256" or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ComplianceError(f"not a content address: {address!r}", code="blob_bad_address")
    return digest


class LocalBlobStore:
    """Objects as files ``root/ab/<sha256 hex>``.

    The 256 fan-out folders are made (and their names made durable) when the store
    opens, so that storing an object creates no folder: one fsync of the object's bytes
    and one of its folder's entries, whatever the store's age. Objects stored by earlier
    versions under ``root/ab/cd/<sha256 hex>`` are found where they are.

    Parameters
    ----------
    root : Path
        Folder of the store (created if missing).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".incoming"
        self._tmp.mkdir(exist_ok=True)
        made = False
        for i in range(256):
            try:
                (self.root / f"{i:02x}").mkdir()
                made = True
            except FileExistsError:
                pass
        if made:
            fsync_dir(self.root)

    def _located(self, digest: str) -> Path | None:
        """The file of an object that exists (either layout), else None."""
        for p in (self.root / digest[:2] / digest, self.root / digest[:2] / digest[2:4] / digest):
            if p.is_file():
                return p
        return None

    def path(self, address: str) -> Path:
        """Where the object of ``address`` lives, or would be stored when it does not exist."""
        digest = _check_address(address)
        return self._located(digest) or self.root / digest[:2] / digest

    def exists(self, address: str) -> bool:
        return self._located(_check_address(address)) is not None

    def open(self, address: str) -> BinaryIO:
        """Read an object; ``blob_not_found`` if there is none."""
        p = self.path(address)
        try:
            return open(p, "rb")
        except FileNotFoundError:
            raise ComplianceError(f"no object {address}", code="blob_not_found") from None

    def writer(self, *, max_bytes: int) -> BlobWriter:
        """An object written chunk by chunk (for pushed data such as a streamed upload):
        ``write`` the chunks, then ``commit`` for the address, or ``abort``."""
        return BlobWriter(self, max_bytes=max_bytes)

    def put(self, stream: BinaryIO, *, max_bytes: int) -> tuple[str, int]:
        """Store a stream; returns its address and size in bytes.

        Raises ``upload_too_large`` (and stores nothing) past ``max_bytes``; an empty
        stream is refused with ``upload_empty``.
        """
        w = self.writer(max_bytes=max_bytes)
        try:
            while chunk := stream.read(CHUNK):
                w.write(chunk)
            return w.commit()
        except BaseException:
            w.abort()
            raise

    def put_file(self, path: str | os.PathLike, *, max_bytes: int) -> tuple[str, int]:
        """Store a local file (copied, never moved)."""
        with open(path, "rb") as fh:
            return self.put(fh, max_bytes=max_bytes)

    def clear_incoming(self) -> None:
        """Remove temporary files left by a crashed process (call at start-up)."""
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp.mkdir(exist_ok=True)


class BlobWriter:
    """One object being written to a :class:`LocalBlobStore` (see ``writer``).

    The bytes go to a temporary file, hashed on the way; ``commit`` renames it to its
    content address. ``write`` past ``max_bytes`` raises ``upload_too_large`` and
    discards everything written; ``commit`` of nothing raises ``upload_empty``.
    """

    def __init__(self, blobs: LocalBlobStore, *, max_bytes: int) -> None:
        self._blobs = blobs
        self.max_bytes = max_bytes
        self.size = 0
        self._h = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=blobs._tmp, prefix="up-")
        self._tmp = Path(tmp_name)
        self._out: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        if self._out is None:
            raise ComplianceError("blob writer is closed", code="blob_closed")
        self.size += len(chunk)
        if self.size > self.max_bytes:
            self.abort()
            raise BlobTooLarge(f"upload is larger than {self.max_bytes} bytes")
        self._h.update(chunk)
        self._out.write(chunk)

    def commit(self) -> tuple[str, int]:
        """Make the object durable under its address; returns ``(address, size)``."""
        if self._out is None:
            raise ComplianceError("blob writer is closed", code="blob_closed")
        try:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            self._out = None
            if self.size == 0:
                raise ComplianceError("the upload is empty (0 bytes)", code="upload_empty")
            digest = self._h.hexdigest()
            if self._blobs._located(digest) is not None:
                self._tmp.unlink()
            else:
                final = self._blobs.root / digest[:2] / digest
                try:
                    os.replace(self._tmp, final)
                except FileNotFoundError:  # its fan-out folder was removed since the start
                    final.parent.mkdir(exist_ok=True)
                    fsync_dir(self._blobs.root)
                    os.replace(self._tmp, final)
                fsync_dir(final.parent)  # the object's name
            return "sha256:" + digest, self.size
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Discard what was written (idempotent)."""
        if self._out is not None:
            self._out.close()
            self._out = None
        self._tmp.unlink(missing_ok=True)
