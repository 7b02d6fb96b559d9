"""Reading EG3D-family network snapshots (`network-snapshot-*.pkl`, EG3D and PanoHead) without running them.

Those files are plain pickles of the training objects. Every persistent class carries the *source code* of its
module, which the original loader executes, and any pickle can name any callable. Here a restricted unpickler
reads only data: each global the file names must be on an allow-list of harmless rebuild helpers (tensors,
storages, ordered dicts, numpy scalars), and every module, persistent or not, becomes a ModuleRecord (its class
name, init arguments, plain attributes, parameters, buffers, children) built by this code, never by the file's.
A nested tensor stream is read by a second restricted unpickler that allows storage types only. Anything else
is refused with SnapshotRefused, naming what the file asked for.

    snap = read_snapshot("models/eg3d/ffhq512-128.pkl")
    g = snap.modules["G_ema"]; g.class_name, g.init_kwargs, g.state_dict()
"""
from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

#: the legacy torch.save stream's first value (torch.serialization's magic number)
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
    "UntypedStorage": torch.uint8,
}
#: classes a snapshot's modules may name without carrying their source (EG3D / PanoHead's plain modules and
#: torch's own): read as records, never imported
MODULE_CLASSES = {
    "training.triplane.OSGDecoder",
    "training.volumetric_rendering.renderer.ImportanceRenderer",
    "training.volumetric_rendering.ray_marcher.MipRayMarcher2",
    "training.volumetric_rendering.ray_sampler.RaySampler",
    "torch.nn.modules.container.Sequential", "torch.nn.modules.container.ModuleList",
    "torch.nn.modules.container.ModuleDict", "torch.nn.modules.activation.Softplus",
    "torch.nn.modules.activation.ReLU", "torch.nn.modules.activation.LeakyReLU",
    "torch.nn.modules.activation.Sigmoid", "torch.nn.modules.activation.Tanh", "torch.nn.modules.linear.Linear",
}


class SnapshotRefused(ValueError):
    """The file asks for something a network snapshot never needs (a callable, a class, a code path)."""


@dataclass
class ModuleRecord:
    """One module of a snapshot as data. source: 'embedded' for a persistent class (its module's source text is
    kept in `source_text`, never run) or the dotted path of a plain class."""
    class_name: str
    source: str
    init_args: tuple = ()
    init_kwargs: dict = field(default_factory=dict)
    attributes: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)
    buffers: dict = field(default_factory=dict)
    children: dict = field(default_factory=dict)
    source_text: str = ""

    def state_dict(self, prefix: str = "") -> dict:
        """Parameters and buffers by dotted name, as torch's state_dict names them."""
        out = {prefix + k: v for k, v in {**self.parameters, **self.buffers}.items()}
        for name, child in self.children.items():
            out.update(child.state_dict(f"{prefix}{name}."))
        return out

    def find(self, dotted: str) -> "ModuleRecord":
        node = self
        for part in dotted.split("."):
            if part not in node.children:
                raise KeyError(f"{self.class_name} has no submodule {dotted!r}")
            node = node.children[part]
        return node


@dataclass
class Snapshot:
    """A snapshot's modules (G, G_ema, D, augment_pipe when present) and its other entries (plain data)."""
    modules: dict
    other: dict


# ---- what the outer stream may call ---------------------------------------------------------------------------

class _Recorded:
    """Stands in for a plain (non-persistent) module class: created empty by the pickle's NEWOBJ, given its
    state by BUILD. Calling it with arguments (REDUCE) is refused."""
    path = ""

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise SnapshotRefused(f"the file calls the class {self.path} with arguments; a snapshot only "
                                  f"restores its state")

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise SnapshotRefused(f"the state of {self.path} is a {type(state).__name__}, not a dict")
        self.state = state


class _Persistent:
    """What torch_utils.persistence._reconstruct_persistent_obj(meta) gives here: the meta, checked, its source
    kept as text."""

    def __init__(self, meta):
        if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
            raise SnapshotRefused("a persistent object whose meta is not a class record (type 'class', "
                                  "class_name, module_src, state)")
        if not isinstance(meta.get("module_src", ""), str) or not isinstance(meta.get("state"), dict):
            raise SnapshotRefused(f"the persistent {meta['class_name']} has no source text or no state dict")
        self.class_name, self.source_text, self.state = meta["class_name"], meta.get("module_src", ""), meta["state"]
        self.version = meta.get("version")


class _EasyDict(dict):
    """dnnlib's EasyDict as a plain dict (its BUILD state, if any, is merged in)."""

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.update(state)


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    """torch._utils._rebuild_tensor_v2, checked: the view must lie inside its storage (as_strided does not check)."""
    if not isinstance(storage, torch.Tensor) or storage.ndim != 1:
        raise SnapshotRefused("a tensor whose storage was not read from a tensor stream")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or int(offset) < 0 or any(s < 0 for s in size + stride):
        raise SnapshotRefused(f"a tensor view with size {size}, stride {stride}, offset {offset}")
    if all(s > 0 for s in size):
        last = int(offset) + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= storage.numel():
            raise SnapshotRefused(f"a tensor view reaching element {last} of a storage of {storage.numel()}")
        numel = 1
        for s in size:
            numel *= s
        if numel > storage.numel():  # a stride-0 view would let a tiny file allocate without bound
            raise SnapshotRefused(f"a tensor view of {numel} elements over a storage of {storage.numel()}")
    return torch.as_strided(storage, size, stride, int(offset)).clone()


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    if not isinstance(data, torch.Tensor):
        raise SnapshotRefused("a parameter without tensor data")
    return data


def _load_storage(data: bytes) -> torch.Tensor:
    """torch.storage._load_from_bytes: a nested legacy torch.save stream of one storage, read as a 1-D tensor."""
    if not isinstance(data, (bytes, bytearray)):
        raise SnapshotRefused("a storage whose data is not bytes")
    f = io.BytesIO(data)
    if _StorageUnpickler(f).load() != _LEGACY_MAGIC:
        raise SnapshotRefused("a nested tensor stream that is not torch's legacy format")
    _StorageUnpickler(f).load()  # protocol version
    _StorageUnpickler(f).load()  # system info
    inner = _StorageUnpickler(f)
    inner.load()  # the storage object itself (its persistent id)
    keys = _StorageUnpickler(f).load()
    if len(inner.storages) != 1 or keys != list(inner.storages):
        raise SnapshotRefused(f"a nested tensor stream with {len(inner.storages)} storages (one expected)")
    dtype, numel = inner.storages[keys[0]]
    (count,) = struct.unpack("<q", f.read(8))
    item = torch.empty((), dtype=dtype).element_size()
    raw = f.read(count * item)
    if count != numel or len(raw) != count * item:
        raise SnapshotRefused(f"a nested tensor stream of {len(raw)} bytes for {numel} elements")
    return torch.frombuffer(bytearray(raw), dtype=dtype).clone() if count else torch.empty(0, dtype=dtype)


def _codecs_encode(text, encoding="utf-8"):
    """Protocol-2 pickles write bytes as _codecs.encode(str, 'latin1'); nothing else is allowed."""
    if not isinstance(text, str) or encoding != "latin1":
        raise SnapshotRefused("_codecs.encode used for something other than protocol-2 bytes")
    return text.encode("latin1")


def _numpy_dtype(name, align=False, copy=False):
    import numpy as np
    dt = np.dtype(name) if isinstance(name, str) else None
    if dt is None or dt.kind not in "biuf":
        raise SnapshotRefused(f"a numpy dtype {name!r}; only numeric scalars are read")
    return dt


def _numpy_scalar(dtype, data=None):
    import numpy as np
    if not isinstance(dtype, np.dtype) or not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        raise SnapshotRefused("a numpy scalar that is not a plain number")
    return np.frombuffer(bytes(data), dtype=dtype)[0].item()


_GLOBALS = {
    "torch_utils.persistence._reconstruct_persistent_obj": _Persistent,
    "collections.OrderedDict": OrderedDict,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch.storage._load_from_bytes": _load_storage,
    "dnnlib.util.EasyDict": _EasyDict,
    "dnnlib.EasyDict": _EasyDict,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "_codecs.encode": _codecs_encode,
    "numpy.dtype": _numpy_dtype,
    "numpy.core.multiarray.scalar": _numpy_scalar,
    "numpy._core.multiarray.scalar": _numpy_scalar,
}


def _private_copy(obj):
    """A copy of an allowed global for one file: pickle's BUILD can set attributes on what find_class returns, and
    must not change this module's own functions and classes for later files."""
    if obj in (OrderedDict, set, frozenset):  # built-in types: their attributes cannot be set
        return obj
    if isinstance(obj, type):
        return type(obj.__name__, (obj,), {})
    return lambda *args, **kwargs: obj(*args, **kwargs)


class _SnapshotUnpickler(pickle.Unpickler):
    def __init__(self, f):
        super().__init__(f)
        self._allowed: dict = {}

    def find_class(self, module, name):
        # Python 2 names (a protocol-2 pickle writes __builtin__.set), mapped as pickle itself maps them
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        path = f"{module}.{name}"
        if path in _GLOBALS or path in MODULE_CLASSES:
            if path not in self._allowed:
                self._allowed[path] = _private_copy(_GLOBALS[path]) if path in _GLOBALS else \
                    type(name, (_Recorded,), {"path": path})
            return self._allowed[path]
        raise SnapshotRefused(f"the file asks for {path}, which a network snapshot never needs: refused, nothing "
                              f"of it was imported or run")

    def persistent_load(self, pid):
        raise SnapshotRefused(f"the file uses a persistent id ({str(pid)[:60]}) outside a tensor stream")


class _StorageUnpickler(pickle.Unpickler):
    """The nested legacy stream: storage types by name, storages by persistent id; nothing else."""

    def __init__(self, f):
        super().__init__(f)
        self.storages: dict = {}

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise SnapshotRefused(f"a nested tensor stream asks for {module}.{name}: refused")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)
                and isinstance(pid[2], str) and isinstance(pid[4], int)):
            raise SnapshotRefused(f"a nested tensor stream with the persistent id {str(pid)[:60]}")
        self.storages[pid[2]] = (pid[1], pid[4])
        return pid[2]


# ---- from the unpickled objects to records ---------------------------------------------------------------------

_MODULE_KEYS = {"_parameters", "_buffers", "_modules", "_non_persistent_buffers_set", "training",
                "_init_args", "_init_kwargs", "_is_full_backward_hook"}


def _is_module_state(state) -> bool:
    return isinstance(state, dict) and "_parameters" in state and "_modules" in state


def _record(obj, name: str) -> ModuleRecord:
    if isinstance(obj, _Persistent):
        class_name, source, state, text = obj.class_name, "embedded", obj.state, obj.source_text
    elif isinstance(obj, _Recorded):
        class_name, source, state, text = type(obj).__name__, obj.path, getattr(obj, "state", {}), ""
    else:
        raise SnapshotRefused(f"{name} is a {type(obj).__name__}, not a module")
    if not _is_module_state(state):
        raise SnapshotRefused(f"{name} ({class_name}) has no module state (_parameters, _modules)")
    skip = set(state.get("_non_persistent_buffers_set") or ())
    tensors = lambda d: {k: v for k, v in (d or {}).items() if isinstance(v, torch.Tensor)}  # noqa: E731
    children = {k: _record(v, f"{name}.{k}") for k, v in (state.get("_modules") or {}).items() if v is not None}
    attributes = {k: v for k, v in state.items() if k not in _MODULE_KEYS and not (k.startswith("_") and "hook" in k)
                  and not isinstance(v, (_Recorded, _Persistent))}
    return ModuleRecord(class_name, source, tuple(state.get("_init_args") or ()), dict(state.get("_init_kwargs") or {}),
                        attributes, tensors(state.get("_parameters")),
                        {k: v for k, v in tensors(state.get("_buffers")).items() if k not in skip}, children, text)


def _describe(obj) -> str:
    if isinstance(obj, dict):
        return f"a dict with keys {sorted(map(str, obj))[:8]}"
    return f"a {type(obj).__name__}"


def read_snapshot(path_or_bytes) -> Snapshot:
    """The snapshot's modules as records; refuses a file that asks for anything but data, and one that is not an
    EG3D-family snapshot (a dict holding G_ema or G), saying what it holds."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data, where = bytes(path_or_bytes), "the snapshot"
    else:
        with open(path_or_bytes, "rb") as f:
            data = f.read()
        where = str(path_or_bytes)
    try:
        obj = _SnapshotUnpickler(io.BytesIO(data)).load()
    except SnapshotRefused as e:
        raise SnapshotRefused(f"{where}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error) as e:
        raise ValueError(f"{where} is not a readable pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or not any(isinstance(obj.get(k), (_Persistent, _Recorded)) for k in ("G_ema", "G")):
        raise ValueError(f"{where} is not an EG3D-family network snapshot (a dict holding the generator G_ema): "
                         f"it holds {_describe(obj)}")
    modules = {k: _record(v, k) for k, v in obj.items() if isinstance(v, (_Persistent, _Recorded))}
    return Snapshot(modules, {k: v for k, v in obj.items() if k not in modules})
