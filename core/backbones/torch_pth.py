"""Read a PyTorch ``.pth`` state dict with numpy only: no torch, and no code from the file runs.

A ``.pth`` file is a pickle, and unpickling can call any importable function, so
``pickle.load`` on a downloaded weight file is remote code execution. Here a restricted
unpickler resolves only the handful of globals a plain state dict needs, each mapped to a
local stand-in (never to torch, which is not installed); any other global raises
``UnsafePickleError`` before anything is called.

Two container formats exist:

* legacy (torch < 1.6): five pickles back to back: magic number, protocol version,
  sys_info, the state dict itself (tensors point at storages through persistent ids),
  the list of storage keys; then each storage as an int64 element count and raw bytes;
* zip (torch >= 1.6): ``<archive>/data.pkl`` plus one raw file per storage in
  ``<archive>/data/<key>``.
"""

from __future__ import annotations

import pickle
import struct
import tarfile
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from core.base.errors import TransferLensError, UnsafePickleError

__all__ = ["TorchFormatError", "load_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch.<Name>Storage → on-disk element type (byte order is applied per file).
_STORAGE_CODES = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "BFloat16Storage": "u2",  # numpy has no bfloat16: read the raw 16 bits, widen later
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "b1",
}


class TorchFormatError(TransferLensError):
    """The file is not a readable PyTorch state dict (corrupt, truncated, or another format)."""


# Immutable records: pickle's BUILD opcode cannot rewrite a tuple's fields, and none of
# them is callable, so the stream cannot turn them into anything else.
class _StorageType(NamedTuple):
    name: str
    code: str


class _StorageRef(NamedTuple):
    key: str
    type: _StorageType
    numel: int
    offset: int  # legacy "views" share a root storage from this element on


class _TensorRef(NamedTuple):
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _is_index(value: Any) -> bool:
    return type(value) is int and value >= 0


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> _TensorRef:
    """Stand-in for torch._utils._rebuild_tensor: record the view, build it after storages load."""
    if not isinstance(storage, _StorageRef):
        raise TorchFormatError("a tensor refers to something that is not a storage")
    size, stride = tuple(size), tuple(stride)
    if not (_is_index(storage_offset) and len(size) == len(stride)
            and all(map(_is_index, size)) and all(map(_is_index, stride))):
        raise TorchFormatError(f"bad tensor geometry: offset={storage_offset!r} "
                               f"size={size!r} stride={stride!r}")
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any,
                       requires_grad: Any = False, backward_hooks: Any = None,
                       metadata: Any = None) -> _TensorRef:
    """Stand-in for torch._utils._rebuild_tensor_v2 (autograd flags and hooks are irrelevant)."""
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> Any:
    """Stand-in for torch._utils._rebuild_parameter: a Parameter is its tensor here."""
    if not isinstance(data, _TensorRef):
        raise TorchFormatError("a parameter wraps something that is not a tensor")
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name, code) for name, code in _STORAGE_CODES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that knows only the globals in _ALLOWED_GLOBALS and torch's storage ids."""

    def __init__(self, file: BinaryIO, *, storages: dict[str, tuple[_StorageType, int]] | None):
        # encoding: how py2-era str objects decode, as torch.load does.
        super().__init__(file, encoding="utf-8")
        self._storages = storages  # None: this pickle must not reference storages at all

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"Refused to load the weight file: its pickle asks for the global "
                f"'{module}.{name}', which a plain PyTorch state dict never needs "
                f"(only tensors, storages and OrderedDict are allowed). The file may be "
                f"malicious or not a state dict; nothing from it was executed.") from None

    def persistent_load(self, pid: Any) -> _StorageRef:
        if self._storages is None:
            raise TorchFormatError("unexpected storage reference outside the state dict")
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise TorchFormatError(f"unknown persistent id {pid!r:.80}")
        _, storage_type, key, _location, numel = pid[:5]
        if not (isinstance(storage_type, _StorageType) and isinstance(key, str)
                and _is_index(numel)):
            raise TorchFormatError(f"malformed storage reference {pid!r:.80}")
        view = pid[5] if len(pid) == 6 else None
        known = self._storages.setdefault(key, (storage_type, numel))
        if known != (storage_type, numel):
            raise TorchFormatError(f"storage {key!r} is declared twice with different types/sizes")
        if view is None:
            return _StorageRef(key, storage_type, numel, 0)
        # Legacy files may pickle a storage view: (view_key, offset, view_size) into `key`.
        if not (isinstance(view, tuple) and len(view) == 3
                and _is_index(view[1]) and _is_index(view[2]) and view[1] + view[2] <= numel):
            raise TorchFormatError(f"malformed storage view {view!r:.80}")
        return _StorageRef(key, storage_type, view[2], view[1])


def _unpickle(handle: BinaryIO, storages: dict | None = None) -> Any:
    try:
        return _RestrictedUnpickler(handle, storages=storages).load()
    except TransferLensError:
        raise  # UnsafePickleError / TorchFormatError already say what is wrong
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError,
            IndexError, KeyError, struct.error) as error:
        raise TorchFormatError(f"corrupt or unsupported pickle ({type(error).__name__}: "
                               f"{error})") from error


def _storage_dtype(storage_type: _StorageType, little_endian: bool) -> np.dtype:
    return np.dtype(storage_type.code).newbyteorder("<" if little_endian else ">")


def _as_native(array: np.ndarray, storage_type: _StorageType) -> np.ndarray:
    """Contiguous native-endian copy; float tensors of any width become float32."""
    if storage_type.name == "BFloat16Storage":
        # bfloat16 is the top half of a float32: shift the 16 bits into place.
        return (array.astype(np.uint32) << 16).view(np.float32)
    if array.dtype.kind == "f":
        return np.array(array, dtype=np.float32, order="C", copy=True)
    return np.array(array, dtype=array.dtype.newbyteorder("="), order="C", copy=True)


def _materialize(tensor: _TensorRef, buffers: dict[str, np.ndarray]) -> np.ndarray:
    storage = tensor.storage
    root = buffers.get(storage.key)
    if root is None:
        raise TorchFormatError(f"storage {storage.key!r} is referenced but missing from the file")
    flat = root[storage.offset:storage.offset + storage.numel]
    if len(flat) != storage.numel:
        raise TorchFormatError(f"storage {storage.key!r} is shorter than declared")
    if any(n == 0 for n in tensor.size):
        return _as_native(np.empty(tensor.size, dtype=flat.dtype), storage.type)
    # Bounds check before as_strided: a crafted stride must not read outside the buffer.
    last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.size, tensor.stride))
    if last >= len(flat):
        raise TorchFormatError(f"tensor in storage {storage.key!r} reaches element {last}, "
                               f"past its end ({len(flat)})")
    view = np.lib.stride_tricks.as_strided(
        flat[tensor.offset:], shape=tensor.size,
        strides=[s * flat.itemsize for s in tensor.stride], writeable=False)
    return _as_native(view, storage.type)


def _to_state_dict(obj: Any, buffers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(obj, dict):
        raise TorchFormatError(f"the file holds a {type(obj).__name__}, not a state dict")
    state = {}
    for name, value in obj.items():
        if not (isinstance(name, str) and isinstance(value, _TensorRef)):
            raise TorchFormatError(f"entry {name!r:.60} is not a named tensor: a plain state "
                                   f"dict (name → tensor) is expected")
        state[name] = _materialize(value, buffers)
    return state


def _load_legacy(handle: BinaryIO) -> dict[str, np.ndarray]:
    if _unpickle(handle) != _LEGACY_MAGIC:
        raise TorchFormatError("not a PyTorch file (bad magic number)")
    if _unpickle(handle) != _LEGACY_PROTOCOL:
        raise TorchFormatError("unsupported legacy PyTorch protocol version")
    sys_info = _unpickle(handle)
    little_endian = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
    storages: dict[str, tuple[_StorageType, int]] = {}
    obj = _unpickle(handle, storages)
    keys = _unpickle(handle)
    if not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)):
        raise TorchFormatError("malformed storage key list")
    count_format = "<q" if little_endian else ">q"
    buffers = {}
    for key in keys:
        if key not in storages:
            raise TorchFormatError(f"storage {key!r} is stored but never declared")
        storage_type, numel = storages[key]
        header = handle.read(8)
        if len(header) != 8:
            raise TorchFormatError(f"storage {key!r} is truncated")
        if struct.unpack(count_format, header)[0] != numel:
            raise TorchFormatError(f"storage {key!r}: element count does not match its tensors")
        dtype = _storage_dtype(storage_type, little_endian)
        data = handle.read(numel * dtype.itemsize)
        if len(data) != numel * dtype.itemsize:
            raise TorchFormatError(f"storage {key!r} is truncated")
        buffers[key] = np.frombuffer(data, dtype=dtype)
    return _to_state_dict(obj, buffers)


def _load_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        pickles = [n for n in names if n.split("/")[-1] == "data.pkl" and n.count("/") <= 1]
        if len(pickles) != 1:
            raise TorchFormatError("zip file without a single <archive>/data.pkl: not a "
                                   "PyTorch checkpoint")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = (archive.read(prefix + "byteorder").decode().strip()
                     if prefix + "byteorder" in names else "little")
        storages: dict[str, tuple[_StorageType, int]] = {}
        with archive.open(pickles[0]) as handle:
            obj = _unpickle(handle, storages)
        buffers = {}
        for key, (storage_type, numel) in storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise TorchFormatError(f"storage {key!r} is missing from the zip")
            dtype = _storage_dtype(storage_type, byteorder == "little")
            data = archive.read(member)
            if len(data) < numel * dtype.itemsize:
                raise TorchFormatError(f"storage {key!r} is truncated")
            buffers[key] = np.frombuffer(data, dtype=dtype, count=numel)
    return _to_state_dict(obj, buffers)


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Tensors of a PyTorch state dict file, by name in file order, as numpy copies.

    Float tensors come back as contiguous float32, others in their own dtype. Raises
    UnsafePickleError if the pickle asks for anything but tensors, and TorchFormatError
    for files that are corrupt or not a plain state dict.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    if tarfile.is_tarfile(path):
        raise TorchFormatError(f"{path.name}: tar-format checkpoints (torch < 0.4) are not "
                               f"supported; re-save it with a recent torch")
    with open(path, "rb") as handle:
        return _load_legacy(handle)
