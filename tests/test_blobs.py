"""Content-addressed blob store: dedup by content, atomic writes, limits, bad addresses."""

from __future__ import annotations

import hashlib
import io
import os

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


_NEEDS_PROC = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")


def _fsync_log(monkeypatch) -> list[tuple[str, str]]:
    """Record ("fsync", folder-or-file path) and ("rename", destination) in call order
    (``os.replace`` and ``os.rename`` both count as renames)."""
    log: list[tuple[str, str]] = []
    real_fsync = os.fsync

    def fsync(fd):
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def renaming(real):
        def rename(src, dst, *a, **kw):
            log.append(("rename", str(dst)))
            return real(src, dst, *a, **kw)

        return rename

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", renaming(os.replace))
    monkeypatch.setattr(os, "rename", renaming(os.rename))
    return log


@_NEEDS_PROC
def test_a_committed_object_is_fsynced_and_then_its_folder_after_the_rename(tmp_path, monkeypatch):
    store = LocalBlobStore(tmp_path.resolve() / "blobs")  # /proc shows resolved paths
    log = _fsync_log(monkeypatch)
    address, _ = store.put(io.BytesIO(b"first object"), max_bytes=1 << 20)
    final = store.path(address)
    assert final.parent.parent == store.root  # root/ab/<digest>
    renamed = log.index(("rename", str(final)))
    synced = [p for op, p in log[renamed + 1 :] if op == "fsync"]
    assert synced == [str(final.parent)]  # the name in its folder, nothing else
    assert ("fsync", str(final)) not in log[renamed:]  # the bytes were synced before
    assert [p for op, p in log[:renamed] if op == "fsync"] != []


@_NEEDS_PROC
def test_the_fan_out_folders_are_made_and_made_durable_when_the_store_opens(tmp_path, monkeypatch):
    root = tmp_path.resolve() / "blobs"
    log = _fsync_log(monkeypatch)
    LocalBlobStore(root)
    assert sorted(p.name for p in root.iterdir() if p.name != ".incoming") == [
        f"{i:02x}" for i in range(256)
    ]
    assert ("fsync", str(root)) in log
    log.clear()
    LocalBlobStore(root)  # already there: nothing to make durable
    assert log == []


def test_a_fan_out_folder_removed_while_the_store_is_open_is_made_again(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    data = b"an object whose folder went away"
    folder = tmp_path / "blobs" / hashlib.sha256(data).hexdigest()[:2]
    folder.rmdir()
    address, _ = store.put(io.BytesIO(data), max_bytes=1 << 20)
    assert store.path(address).parent == folder and store.open(address).read() == data


def test_objects_of_the_two_level_layout_are_still_found(tmp_path):
    """Stores written before the one-level layout keep ``root/ab/cd/<digest>``."""
    root = tmp_path / "blobs"
    data = b"an object stored by an earlier version"
    digest = hashlib.sha256(data).hexdigest()
    old = root / digest[:2] / digest[2:4] / digest
    old.parent.mkdir(parents=True)
    old.write_bytes(data)
    store = LocalBlobStore(root)
    address = "sha256:" + digest
    assert store.exists(address) and store.path(address) == old
    assert store.open(address).read() == data
    again, _ = store.put(io.BytesIO(data), max_bytes=1 << 20)  # deduplicated: not copied
    assert again == address
    assert [p for p in root.rglob(digest)] == [old]


@_NEEDS_PROC
def test_a_segment_folder_is_fsynced_with_its_names_and_its_rename(tmp_path, monkeypatch):
    import numpy as np

    from fingerprints.index.segment_files import write_segment_folder

    log = _fsync_log(monkeypatch)
    root = tmp_path.resolve() / "index"  # /proc shows resolved paths
    final = write_segment_folder(root, "seg-1", {"a": np.arange(3)}, {"n": 3})
    at = log.index(("rename", str(final)))
    before = [p for op, p in log[:at] if op == "fsync"]
    after = [p for op, p in log[at + 1 :] if op == "fsync"]
    assert any(p.endswith(".npy") for p in before) and any(p.endswith("meta.json") for p in before)
    assert before[-1].startswith(str(root / ".tmp-seg-1-"))  # the folder's names
    assert after == [str(root)]  # the rename
