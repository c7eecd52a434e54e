"""Convert Resemblyzer's GE2E speaker-encoder weights to the numpy file the checker loads.

The PyPI wheel ``Resemblyzer==0.1.4`` (Apache-2.0, Corentin Jemine) ships the weights as
``resemblyzer/pretrained.pt``, a PyTorch checkpoint in the legacy (pre-1.6, non-zip)
serialisation. This script reads it without PyTorch: a restricted unpickler that
accepts only the three classes a state dict needs (OrderedDict, the float storage type
and ``_rebuild_tensor_v2``) and refuses everything else, then the raw little-endian
storages that follow the pickles. The LSTM and projection weights (not the optimiser
state, not the GE2E loss's similarity scale) are written as float16 to
``fingerprints/models/ge2e_v1.npz`` with a card naming the source and its hash, and the
wheel's licence text beside it (``ge2e_v1.LICENSE``). The weights file (2.6 MB) is not
committed: ``make install`` runs this script, which checks the wheel's SHA-256 and the
result's (the conversion is deterministic), so every checkout gets the same bytes::

    python scripts/convert_ge2e.py                 # downloads the pinned wheel with pip
    python scripts/convert_ge2e.py --wheel FILE    # or converts a wheel already on disk

The runtime (:mod:`fingerprints.ge2e`) never downloads anything.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

WHEEL = "Resemblyzer==0.1.4"
WHEEL_FILE = "Resemblyzer-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f"
MEMBER = "resemblyzer/pretrained.pt"
NPZ_SHA256 = "ea76ee5810fbb08776e6265d3da75fe98b895d7e91fbfb99a8227dc0c206b2d4"
"""SHA-256 of the converted file (the conversion is deterministic: same wheel, same bytes)."""
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
OUT = Path(__file__).resolve().parents[1] / "fingerprints" / "models" / "ge2e_v1.npz"
KEEP = tuple(
    [f"lstm.{w}_l{i}" for i in range(3) for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    + ["linear.weight", "linear.bias"]
)
DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "LongStorage": np.int64}


class _StorageType:
    def __init__(self, name: str) -> None:
        if name not in DTYPES:
            raise pickle.UnpicklingError(f"unsupported storage type torch.{name}")
        self.dtype = np.dtype(DTYPES[name])


class _Tensor:
    def __init__(self, storage, offset, size, stride, *_ignored) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


class _Unpickler(pickle.Unpickler):
    def __init__(self, f) -> None:
        super().__init__(f)
        self.storages: dict[str, np.dtype] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _Tensor
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, size, _view = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        self.storages[str(key)] = storage_type.dtype
        return {"key": str(key), "dtype": storage_type.dtype, "size": int(size)}


def read_legacy_checkpoint(data: bytes) -> dict[str, np.ndarray]:
    """The ``model_state`` tensors of a legacy PyTorch checkpoint as numpy arrays."""
    f = io.BytesIO(data)
    if pickle.load(f) != LEGACY_MAGIC:
        raise ValueError("not a legacy PyTorch checkpoint")
    if pickle.load(f) != 1001:
        raise ValueError("unknown checkpoint protocol version")
    info = pickle.load(f)
    if not info.get("little_endian", False):
        raise ValueError("big-endian checkpoint")
    unpickler = _Unpickler(f)
    obj = unpickler.load()
    keys = pickle.load(f)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError("malformed storage key list")
    state = obj["model_state"]
    raw: dict[str, np.ndarray] = {}
    for key in keys:
        (n,) = np.frombuffer(f.read(8), dtype="<i8")
        dtype = unpickler.storages[key]
        data = f.read(int(n) * dtype.itemsize)
        if len(data) != int(n) * dtype.itemsize:
            raise ValueError("truncated checkpoint")
        raw[key] = np.frombuffer(data, dtype=dtype.newbyteorder("<"))
    out = {}
    for name, t in state.items():
        buf = raw[t.storage["key"]]
        item = buf.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            buf[t.offset :], shape=tuple(t.size), strides=tuple(s * item for s in t.stride)
        )
        out[name] = np.array(view)
    return out


def fetch_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", str(dest)],
        check=True,
    )
    return dest / WHEEL_FILE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, help="a downloaded Resemblyzer 0.1.4 wheel")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        blob = wheel.read_bytes()
        digest = hashlib.sha256(blob).hexdigest()
        if digest != WHEEL_SHA256:
            sys.exit(f"{wheel}: sha256 {digest} is not the pinned {WHEEL_SHA256}")
        with zipfile.ZipFile(io.BytesIO(blob)) as z:
            pt = z.read(MEMBER)
            licence = z.read("Resemblyzer-0.1.4.dist-info/LICENSE").decode()
    state = read_legacy_checkpoint(pt)
    arrays = {k.replace(".", "__"): state[k].astype(np.float16) for k in KEEP}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    got = hashlib.sha256(args.out.read_bytes()).hexdigest()
    if got != NPZ_SHA256:
        args.out.unlink()
        sys.exit(f"{args.out}: converted weights have sha256 {got}, not {NPZ_SHA256}")
    card = {
        "model": "GE2E speaker encoder (3-layer LSTM 40->256, linear 256->256, ReLU, L2)",
        "source": f"PyPI {WHEEL} ({WHEEL_FILE}, sha256 {WHEEL_SHA256}), member {MEMBER}",
        "source_sha256": hashlib.sha256(pt).hexdigest(),
        "licence": "Apache-2.0 (Resemblyzer, Copyright Corentin Jemine); see the wheel's LICENSE",
        "licence_first_line": licence.strip().splitlines()[0].strip(),
        "stored_dtype": "float16 (computed in float32)",
        "parameters": int(sum(a.size for a in arrays.values())),
        "npz_sha256": hashlib.sha256(args.out.read_bytes()).hexdigest(),
        "converted_by": "scripts/convert_ge2e.py",
    }
    args.out.with_suffix(".card.json").write_text(json.dumps(card, indent=2) + "\n")
    args.out.with_suffix(".LICENSE").write_text(licence)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {card['parameters']} parameters)")


if __name__ == "__main__":
    main()
