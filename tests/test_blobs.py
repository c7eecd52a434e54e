"""Content-addressed blob store: dedup by content, atomic writes, limits, bad addresses."""

from __future__ import annotations

import hashlib
import io

import pytest

from compliance.errors import ComplianceError
from compliance.storage.blobs import LocalBlobStore
from fingerprints.audio import content_hash


class _Exploding(io.RawIOBase):
    """A stream that fails half-way, like a client that disconnects."""

    def __init__(self) -> None:
        self.sent = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.sent >= 3:
            raise ConnectionResetError("client went away")
        self.sent += 1
        return b"x" * 1000


def test_put_is_content_addressed_and_deduplicated(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"RIFF" + bytes(range(256)) * 50
    a, n = store.put(io.BytesIO(data), max_bytes=1 << 20)
    b, _ = store.put(io.BytesIO(data), max_bytes=1 << 20)
    assert a == b == "sha256:" + hashlib.sha256(data).hexdigest() and n == len(data)
    assert store.exists(a) and store.open(a).read() == data
    (tmp_path / "f.bin").write_bytes(data)
    assert content_hash(tmp_path / "f.bin") == a  # same address as the audio library's hash
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(files) == 1


def test_limits_and_failures_leave_nothing(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    with pytest.raises(ComplianceError) as err:
        store.put(io.BytesIO(b"y" * 5000), max_bytes=4096)
    assert err.value.code == "upload_too_large"
    with pytest.raises(ComplianceError) as err:
        store.put(io.BytesIO(b""), max_bytes=10)
    assert err.value.code == "upload_empty"
    with pytest.raises(ConnectionResetError):
        store.put(_Exploding(), max_bytes=1 << 20)
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("address", ["md5:abc", "sha256:xyz", "sha256:" + "A" * 64, "../etc"])
def test_bad_addresses_are_refused(tmp_path, address):
    store = LocalBlobStore(tmp_path)
    with pytest.raises(ComplianceError) as err:
        store.open(address)
    assert err.value.code == "blob_bad_address"


def test_unknown_address(tmp_path):
    with pytest.raises(ComplianceError) as err:
        LocalBlobStore(tmp_path).open("sha256:" + "0" * 64)
    assert err.value.code == "blob_not_found"
