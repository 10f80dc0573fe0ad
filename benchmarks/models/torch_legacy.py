"""Read a PyTorch checkpoint in the legacy (pre-zip, torch < 1.6) serialization without PyTorch.

The legacy file is a sequence of pickles followed by raw bytes (``torch/serialization.py``,
``_legacy_save``):

1. the magic number ``0x1950a86a20f9469cfc6c``, the protocol version (1001) and a dict of
   system info (byte order, type sizes);
2. the saved object (usually a state dict, an ``OrderedDict``) whose tensors are
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` calls, each
   storage a *persistent id* ``("storage", torch.FloatStorage, key, location, numel, view)``;
3. the list of storage keys, in the order their bytes follow;
4. per key: the element count (int64, little-endian), then the raw elements.

Every pickle of the file is read by a restricted unpickler: the header pickles and the key
list by one that refuses every global (they are numbers, a dict of plain values and a list of
strings), the saved object by one that maps only the few classes such files reference (to
the small stand-ins below). Any other global is refused before it is called, so reading a
file never runs code from it.
"""
from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
PROTOCOL_VERSION = 1001
ZIP_MAGIC = b"PK\x03\x04"

# torch's typed storages -> numpy dtypes (BFloat16 is read as uint16 and widened).
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class TorchFileError(ValueError):
    """The file is not a legacy PyTorch checkpoint this reader understands."""


@dataclass(frozen=True)
class StorageType:
    """Stands in for ``torch.FloatStorage`` & co. in the unpickled object."""
    name: str

    @property
    def dtype(self):
        return np.dtype(STORAGE_DTYPES[self.name])


@dataclass
class StorageRef:
    """A persistent id resolved before the bytes are read: which storage, and (for an old
    view into a larger storage) where in it."""
    key: str
    storage_type: StorageType
    numel: int
    view_offset: int = 0


@dataclass
class TensorRef:
    """A tensor waiting for its storage's bytes (they follow the pickles)."""
    storage: StorageRef
    offset: int
    size: tuple
    stride: tuple


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_tensor(storage, storage_offset, size, stride):
    return TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest):
    return data


class _PlainUnpickler(pickle.Unpickler):
    """Numbers, strings, lists and dicts only: any global or persistent id is refused."""

    GLOBALS: dict = {}

    def find_class(self, module, name):
        try:
            return self.GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a torch file") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(f"unexpected persistent id {pid!r} in a torch file's header")


class _Unpickler(_PlainUnpickler):
    """The saved object: state dicts of tensors (their storages as persistent ids)."""

    GLOBALS = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    }

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_DTYPES:
            return StorageType(name)
        return super().find_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        _, storage_type, key, _location, numel, view = pid
        if view is None:
            return StorageRef(str(key), storage_type, int(numel))
        _view_key, offset, view_numel = view  # a view of storage `key`: its elements from offset
        return StorageRef(str(key), storage_type, int(view_numel), int(offset))


def _read_storages(f, keys: list, types: dict) -> dict:
    out = {}
    for key in keys:
        numel = int(np.frombuffer(f.read(8), "<i8")[0])
        dtype = types[key].dtype.newbyteorder("<")
        raw = f.read(numel * dtype.itemsize)
        if len(raw) != numel * dtype.itemsize:
            raise TorchFileError(f"storage {key}: file ends after {len(raw)} of {numel * dtype.itemsize} bytes")
        data = np.frombuffer(raw, dtype)
        if types[key].name == "BFloat16Storage":  # the upper half of a float32
            data = (data.astype(np.uint32) << 16).view(np.float32)
        out[key] = data
    return out


def _collect(obj, found: list) -> None:
    if isinstance(obj, TensorRef):
        found.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _collect(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _collect(v, found)


def _materialize(ref: TensorRef, storages: dict) -> np.ndarray:
    data = storages[ref.storage.key]
    start = ref.storage.view_offset + ref.offset
    if not ref.size:
        return np.array(data[start])
    item = data.itemsize
    view = np.lib.stride_tricks.as_strided(data[start:], shape=ref.size,
                                           strides=tuple(s * item for s in ref.stride))
    return np.array(view, order="C")  # own, contiguous and writable


def _flatten(obj, prefix: str, out: dict, storages: dict) -> None:
    if isinstance(obj, TensorRef):
        out[prefix] = _materialize(obj, storages)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, storages)


def read_legacy_state_dict(path) -> dict:
    """The tensors of a legacy-format PyTorch file as ``{name: np.ndarray}`` (in the file's
    order; nested dicts, e.g. ``{"state_dict": {...}}``, give dotted names).

    Raises FileNotFoundError for a missing file and :class:`TorchFileError` for a zip-format
    file (``torch.save`` since 1.6) or anything else that is not a legacy checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no PyTorch file at {path}")
    with open(path, "rb") as f:
        head = f.read(4)
        if head == ZIP_MAGIC:
            raise TorchFileError(
                f"{path} is a zip-format PyTorch file (torch.save since torch 1.6); this reader only "
                f"reads the legacy format (re-save with torch.save(..., _use_new_zipfile_serialization=False))")
        f.seek(0)
        try:
            magic = _PlainUnpickler(f).load()
        except Exception as e:
            raise TorchFileError(f"{path} is not a legacy PyTorch file: {e}") from None
        if not isinstance(magic, int) or magic != MAGIC_NUMBER:
            raise TorchFileError(f"{path} is not a legacy PyTorch file (magic number {magic!r})")
        try:
            version = _PlainUnpickler(f).load()
            if version != PROTOCOL_VERSION:
                raise TorchFileError(f"{path}: unsupported legacy protocol version {version!r}")
            sys_info = _PlainUnpickler(f).load()
            if not isinstance(sys_info, dict):
                raise TorchFileError(f"{path}: the system info is a {type(sys_info).__name__}, not a dict")
            if not sys_info.get("little_endian", True):
                raise TorchFileError(f"{path} was written on a big-endian machine; not supported")
            obj = _Unpickler(f).load()
            keys = _PlainUnpickler(f).load()
        except pickle.UnpicklingError as e:
            raise TorchFileError(f"{path}: {e}") from None
        if not isinstance(keys, list):
            raise TorchFileError(f"{path}: the storage keys are a {type(keys).__name__}, not a list")
        keys = [str(k) for k in keys]
        refs: list = []
        _collect(obj, refs)
        types = {r.storage.key: r.storage.storage_type for r in refs}
        missing = [k for k in keys if k not in types]
        if missing:  # a storage no tensor uses: its type is unknown, so its size is too
            raise TorchFileError(f"{path}: storages {missing[:3]} are used by no tensor")
        storages = _read_storages(f, keys, types)
    out: dict = {}
    _flatten(obj, "", out, storages)
    return out
