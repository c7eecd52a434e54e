"""DDEX ERN intake on ``POST /v1/releases``: an ``ern`` part instead of ``metadata``.

The message is parsed with the safe parser (:func:`compliance.intake.ern.parse_ern`) as
soon as its part has arrived. The uploaded ``files`` and the message's delivery files
must then agree, matched by file name (the URI's last path segment):

* every uploaded file is a delivery file of a sound recording of the message
  (``ern_file_unreferenced``; an image or other non-audio resource is not scanned and
  must not be uploaded);
* every sound-recording delivery file of the message is uploaded (``ern_file_missing``);
* a file the message gives a ``HashSum`` for has that digest (``ern_hash_mismatch``);
  the algorithm must be one we compute (``ern_hash_algorithm_unsupported``).

When the ``ern`` part comes *before* the files (recommended), an unreferenced file is
refused before any of its bytes is stored, and the digest is computed while the file
streams. When it comes after, the files already stored are checked from the blob store.
The release metadata is :func:`~compliance.intake.ern.ern_to_release_metadata` of the main
release; the parser's warnings are returned with the 202 answer.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

from compliance.api.errors import ApiError
from compliance.api.upload import (
    DEFAULT_TEXT_PARTS,
    MAX_METADATA_BYTES,
    StoredFile,
    Upload,
)
from compliance.intake.ern import DeliveryFile, ErnError, ErnMessage, ern_to_release_metadata
from compliance.intake.ern import parse_ern as _parse_ern
from compliance.storage.blobs import CHUNK, LocalBlobStore

MAX_ERN_BYTES = 10 * 2**20


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def hexdigest(self) -> str:
        return f"{self.value & 0xFFFFFFFF:08x}"


#: DDEX HashSumAlgorithmType values (and common spellings) -> a hasher factory.
#: ``SHA``, ``SHA2`` and ``SHA3`` name a family, not one function: not accepted.
_ALGORITHMS: dict[str, Any] = {
    "MD5": hashlib.md5,
    "SHA1": hashlib.sha1,
    "SHA-1": hashlib.sha1,
    "SHA-224": hashlib.sha224,
    "SHA224": hashlib.sha224,
    "SHA-256": hashlib.sha256,
    "SHA256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
    "SHA512": hashlib.sha512,
    "CRC32": _Crc32,
}
SUPPORTED_HASHES: tuple[str, ...] = ("MD5", "SHA-1", "SHA-224", "SHA-256", "SHA-384", "SHA-512",
                                     "CRC32")  # fmt: skip


def new_hasher(algorithm: str | None):
    """A hasher for a DDEX algorithm name, or None when we do not compute it."""
    factory = _ALGORITHMS.get((algorithm or "").strip().upper())
    return factory() if factory is not None else None


def _not_supported(name: str, algorithm: str | None) -> ApiError:
    return ApiError(
        400,
        "ern_hash_algorithm_unsupported",
        f"{name}: the message gives a {algorithm or 'unnamed'} HashSum; supported: "
        f"{', '.join(SUPPORTED_HASHES)}",
    )


def ern_text_parts() -> dict:
    """Text parts of the release intake with ERN: ``metadata`` or ``ern``."""
    return {
        **DEFAULT_TEXT_PARTS,
        "ern": (
            MAX_ERN_BYTES,
            lambda n: ApiError(400, "ern_too_large", f"the ERN message is larger than {n} bytes"),
        ),
    }


def metadata_mapping(msg: ErnMessage) -> dict[str, Any]:
    """The release metadata of a message as the JSON object stored with the release (the
    same shape as the ``metadata`` part: the ERN-only facts are further keys, which the
    policy sees as ``extra.<key>``)."""
    meta = ern_to_release_metadata(msg)
    out: dict[str, Any] = {
        "title": meta.title,
        "artist": meta.artist,
        "licences": list(meta.licences),
        "contains_ai": meta.contains_ai,
        "isrcs": list(meta.isrcs),
        "upc": meta.upc,
        "label": meta.label,
    }
    for k, v in meta.extra.items():
        out.setdefault(k, v)
    return out


class ErnIntake:
    """The :class:`~compliance.api.upload.UploadHook` of ``POST /v1/releases``: refuses
    ``metadata`` together with ``ern`` and checks the files against the message."""

    def __init__(self, *, max_bytes: int = MAX_ERN_BYTES) -> None:
        self.max_bytes = max_bytes
        self.message: ErnMessage | None = None
        self.expected: dict[str, DeliveryFile] = {}
        self.other: dict[str, str] = {}  # file name -> resource kind (Image, Video...)
        self._texts: set[str] = set()

    # -- UploadHook
    def begin_text(self, part: str) -> None:
        other = {"ern": "metadata", "metadata": "ern"}.get(part)
        if other in self._texts:
            raise ApiError(
                400, "metadata_conflict",
                "send either a 'metadata' part or an 'ern' part, not both",
            )  # fmt: skip
        self._texts.add(part)

    def on_text(self, part: str, data: bytes) -> None:
        if part != "ern":
            return
        try:
            msg = _parse_ern(data, max_bytes=self.max_bytes)
        except ErnError as exc:
            where = f" (line {exc.line}, column {exc.column})" if exc.line else ""
            raise ApiError(400, exc.code, f"{exc}{where}") from None
        self.message = msg
        for sr in msg.sound_recordings:
            for f in sr.files:
                if f.file_name:
                    self.expected.setdefault(f.file_name, f)
        for o in msg.other_resources:
            for f in o.files:
                if f.file_name and f.file_name not in self.expected:
                    self.other.setdefault(f.file_name, o.kind)

    def begin_file(self, name: str) -> dict[str, Any]:
        if self.message is None:
            return {}
        f = self._delivery_file(name)
        algo = f.hash_sum.algorithm if f.hash_sum is not None and f.hash_sum.value else None
        if f.hash_sum is None or not f.hash_sum.value:
            return {}
        hasher = new_hasher(algo)
        if hasher is None:
            raise _not_supported(name, algo)
        return {algo: hasher}

    def end_file(self, stored: StoredFile) -> None:
        if self.message is not None:
            self._check_hash(stored, None)

    def finish(self, upload: Upload, blobs: LocalBlobStore) -> None:
        if self.message is None:
            return
        for stored in upload.files:
            self._delivery_file(stored.name)  # files that came before the message
        for stored in upload.files:
            self._check_hash(stored, blobs)
        uploaded = {f.name for f in upload.files}
        missing = [n for n in self.expected if n not in uploaded]
        if missing:
            more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
            raise ApiError(
                400, "ern_file_missing",
                f"the ERN message lists files that were not uploaded: "
                f"{', '.join(missing[:5])}{more}",
            )  # fmt: skip

    # -- checks
    def _delivery_file(self, name: str) -> DeliveryFile:
        f = self.expected.get(name)
        if f is not None:
            return f
        kind = self.other.get(name)
        if kind is not None:
            raise ApiError(
                400, "ern_file_unreferenced",
                f"{name}: the ERN message lists it for a {kind} resource, not a sound "
                "recording; upload only the audio files",
            )  # fmt: skip
        raise ApiError(
            400, "ern_file_unreferenced",
            f"{name}: no delivery file of the ERN message has this file name",
        )  # fmt: skip

    def _check_hash(self, stored: StoredFile, blobs: LocalBlobStore | None) -> None:
        f = self.expected.get(stored.name)
        if f is None or f.hash_sum is None or not f.hash_sum.value:
            return
        algo = f.hash_sum.algorithm
        got = stored.digests.get(algo or "")
        if got is None:
            if blobs is None:
                return  # checked in finish()
            hasher = new_hasher(algo)
            if hasher is None:
                raise _not_supported(stored.name, algo)
            with blobs.open(stored.address) as fh:
                while chunk := fh.read(CHUNK):
                    hasher.update(chunk)
            got = stored.digests[algo or ""] = hasher.hexdigest().lower()
        want = f.hash_sum.value.strip().lower()
        if got != want:
            raise ApiError(
                400, "ern_hash_mismatch",
                f"{stored.name}: {algo} of the upload is {got}, the ERN message says {want}",
            )  # fmt: skip

    def warnings(self) -> list[dict[str, Any]]:
        if self.message is None:
            return []
        return [{"code": w.code, "message": w.message, "where": w.where}
                for w in self.message.warnings]  # fmt: skip


__all__ = ["MAX_ERN_BYTES", "MAX_METADATA_BYTES", "ErnIntake", "ern_text_parts", "new_hasher"]
