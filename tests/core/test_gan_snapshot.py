"""EG3D-family snapshots read as data: a generator pickled in EG3D's snapshot structure (persistent classes with
their module source embedded, plain module classes by name, tensors as nested legacy torch streams, EasyDicts,
numpy scalars) comes back tensor for tensor; every route by which a pickle runs code is refused, and the code never
runs (a marker file stays absent)."""
import copy
import os
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch

from core.gan import SnapshotRefused, read_snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def eg3d_modules(monkeypatch, tmp_path):
    """Stand-ins for the modules EG3D's pickles name (torch_utils.persistence, dnnlib.util, training.triplane), so
    that this process can write such a pickle. Their reconstruct function runs the embedded source, as the
    original does: the marker file shows whether anything ran it."""
    marker = tmp_path / "ran"
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        exec(meta["module_src"], {})
        raise AssertionError("the original reconstruct function was called")
    _reconstruct_persistent_obj.__module__, _reconstruct_persistent_obj.__qualname__ = \
        "torch_utils.persistence", "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    dnnlib_util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    dnnlib_util.EasyDict = EasyDict
    triplane = types.ModuleType("training.triplane")

    class OSGDecoder(torch.nn.Module):
        def __init__(self, n_features, hidden=8):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.Softplus(),
                                           torch.nn.Linear(hidden, 4))
    OSGDecoder.__module__, OSGDecoder.__qualname__ = "training.triplane", "OSGDecoder"
    triplane.OSGDecoder = OSGDecoder
    for name, mod in (("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence),
                      ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", dnnlib_util),
                      ("training", types.ModuleType("training")), ("training.triplane", triplane)):
        monkeypatch.setitem(sys.modules, name, mod)
    source = f"open({str(marker)!r}, 'w').write('the embedded source ran')\n"
    return types.SimpleNamespace(marker=marker, persistence=persistence, EasyDict=EasyDict, OSGDecoder=OSGDecoder,
                                 source=source)


def _persistent(cls, m):
    """EG3D's persistence decorator, as far as pickling goes: init arguments kept, pickled as a class record
    holding its module's source and its state."""
    class Persistent(cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._init_args, self._init_kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)

        def __reduce__(self):
            meta = dict(type="class", version=6, module_src=m.source, class_name=cls.__name__,
                        state=self.__getstate__())
            return m.persistence._reconstruct_persistent_obj, (meta,), None
    Persistent.__name__ = Persistent.__qualname__ = cls.__name__
    return Persistent


class _Mapping(torch.nn.Module):
    def __init__(self, z_dim, w_dim, num_layers=2):
        super().__init__()
        self.fc = torch.nn.ModuleList(torch.nn.Linear(z_dim if i == 0 else w_dim, w_dim) for i in range(num_layers))
        self.register_buffer("w_avg", torch.randn(w_dim))
        self.weight_gain = np.float64(1 / np.sqrt(z_dim))  # EG3D keeps gains as numpy scalars


def _generator_class(m):
    """A tiny generator shaped like EG3D's: a persistent mapping, a plain decoder class, fp16 and strided tensors,
    a non-persistent buffer, EasyDict kwargs, plain attributes."""
    mapping = _persistent(_Mapping, m)

    class _Generator(torch.nn.Module):
        def __init__(self, z_dim=6, w_dim=5, mapping_kwargs=None, rendering_kwargs=None):
            super().__init__()
            self.mapping = mapping(z_dim, w_dim, **(mapping_kwargs or {}))
            self.decoder = m.OSGDecoder(4)
            self.fp16 = torch.nn.Parameter(torch.randn(3, 4).half())
            self.transposed = torch.nn.Parameter(torch.randn(4, 3).t())  # a non-contiguous view of its storage
            self.register_buffer("dataset_label_std", torch.rand(25))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)
            self.rendering_kwargs = rendering_kwargs
            self.neural_rendering_resolution = 64
    return _persistent(_Generator, m)


def _snapshot(m, protocol=4):
    torch.manual_seed(0)
    rk = m.EasyDict(box_warp=1, depth_resolution=48, ray_start=2.25, superresolution_module="SR")
    cls = _generator_class(m)
    g = cls(mapping_kwargs=m.EasyDict(num_layers=2), rendering_kwargs=rk)
    g_ema = cls(mapping_kwargs=m.EasyDict(num_layers=2), rendering_kwargs=rk).eval()  # (deepcopy would go through
    g_ema.load_state_dict(g.state_dict())  # the persistent reduce, i.e. run the embedded source)
    data = dict(training_set_kwargs=dict(resolution=512, use_labels=True), G=g, D=None, G_ema=g_ema,
                augment_pipe=None)
    return g, pickle.dumps(data, protocol=protocol)


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_generator_in_eg3ds_snapshot_structure_reads_back_tensor_for_tensor(eg3d_modules, protocol):
    m = eg3d_modules
    g, data = _snapshot(m, protocol)
    snap = read_snapshot(data)
    assert set(snap.modules) == {"G", "G_ema"} and snap.other["training_set_kwargs"]["resolution"] == 512
    rec = snap.modules["G_ema"]
    assert rec.class_name == "_Generator" and rec.source == "embedded" and rec.source_text == m.source
    assert rec.init_kwargs["mapping_kwargs"] == {"num_layers": 2}
    assert rec.attributes["rendering_kwargs"]["depth_resolution"] == 48
    assert rec.attributes["neural_rendering_resolution"] == 64
    assert rec.find("mapping").attributes["weight_gain"] == pytest.approx(1 / np.sqrt(6), abs=0)
    assert rec.find("decoder").source == "training.triplane.OSGDecoder"
    assert rec.find("decoder.net").class_name == "Sequential"
    got, want = rec.state_dict(), g.state_dict()
    assert set(got) == set(want) and "scratch" not in got
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape and torch.equal(got[k], v), k
    assert not m.marker.exists()  # the embedded module source never ran


class _Reduces:
    """An object that pickles as a call of `fn(*args)`: what an attacker writes into a .pkl."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _storage_stream(payload) -> bytes:
    """A nested legacy tensor stream whose storage object is `payload` (pickled in its place)."""
    return b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001, {}, payload, ["0"]))


def _storage(n):
    """A typed storage of n floats, as tensors pickle theirs (torch warns that typed storages are deprecated)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.zeros(n).storage()


def test_every_route_to_running_code_is_refused_and_nothing_runs(eg3d_modules, tmp_path):
    m = eg3d_modules
    g, _ = _snapshot(m)
    touch = f"touch {m.marker}"
    attacks = {
        "posix.system": _Reduces(os.system, touch),
        "builtins.exec": _Reduces(exec, f"open({str(m.marker)!r}, 'w')"),
        "builtins.__import__": _Reduces(__import__, "os"),
        "nested tensor stream asks for posix.system": _Reduces(torch.storage._load_from_bytes,
                                                               _storage_stream(_Reduces(os.system, touch))),
        "calls the class training.triplane.OSGDecoder": _Reduces(m.OSGDecoder, 4),
        "a storage of 4": _Reduces(torch._utils._rebuild_tensor_v2, _storage(4), 0, (1000,), (1,), False,
                                   OrderedDict()),
        "over a storage of 4": _Reduces(torch._utils._rebuild_tensor_v2, _storage(4), 0, (10 ** 9,), (0,), False,
                                        OrderedDict()),
    }
    for expected, payload in attacks.items():
        for data in (dict(G_ema=g, extra=payload), dict(G_ema=payload)):
            with pytest.raises(SnapshotRefused, match=expected.replace(".", r"\.")):
                read_snapshot(pickle.dumps(data, protocol=4))
            assert not m.marker.exists(), expected
    # the original route: a persistent record's module source, which EG3D's own loader executes
    read_snapshot(pickle.dumps(dict(G_ema=g), protocol=4))
    assert not m.marker.exists()
    # and the same file through plain pickle runs it: the marker test can see a run
    with pytest.raises(AssertionError, match="original reconstruct"):
        pickle.loads(pickle.dumps(dict(G_ema=g), protocol=4))
    assert m.marker.exists()


def test_a_file_that_is_not_a_snapshot_says_what_it_holds(tmp_path):
    with pytest.raises(ValueError, match=r"not an EG3D-family network snapshot .* holds a dict with keys \['a', 'b'\]"):
        read_snapshot(pickle.dumps({"a": 1, "b": [torch.zeros(2)]}))
    with pytest.raises(ValueError, match="holds a list"):
        read_snapshot(pickle.dumps([1, 2]))
    path = tmp_path / "network-snapshot-000000.pkl"
    path.write_bytes(b"PK\x03\x04 this is a zip, not a pickle")
    with pytest.raises(ValueError, match=f"{path} is not a readable pickle"):
        read_snapshot(str(path))


# EG3D's class names for ours: persistent classes (pickled with their module's source) and the plain decoder
_EG3D_NAMES = {"TriplaneGenerator": "TriPlaneGenerator", "Backbone": "Generator", "MappingNetwork": "MappingNetwork",
               "SynthesisNetwork": "SynthesisNetwork", "SynthesisLayer": "SynthesisLayer", "ToRGBLayer": "ToRGBLayer",
               "FullyConnected": "FullyConnectedLayer", "Superresolution": "SuperresolutionHybrid2X"}


def _eg3d_pickle(obj, m, init_kwargs) -> bytes:
    """`obj` (our generator) pickled the way EG3D's training writes its own: each of our modules as the persistent
    class EG3D has in its place (class name, module source, state with init arguments), the decoder as EG3D's
    plain OSGDecoder class, tensors by torch's own reduction (nested legacy streams)."""
    import io
    from core.gan.stylegan2 import SynthesisBlock
    from core.gan.networks import TriplaneDecoder

    class OSGDecoder(TriplaneDecoder):  # our decoder under EG3D's plain class path
        pass
    OSGDecoder.__module__, OSGDecoder.__qualname__ = "training.triplane", "OSGDecoder"
    sys.modules["training.triplane"].OSGDecoder = OSGDecoder
    obj.decoder.__class__ = OSGDecoder

    class EG3DPickler(pickle.Pickler):
        def reducer_override(self, o):
            name = type(o).__name__
            if isinstance(o, SynthesisBlock):
                name = "SynthesisBlock" if o.up > 1 or o.in_channels == 0 else "SynthesisBlockNoUp"
            elif isinstance(o, TriplaneDecoder):  # pickled by class reference, as EG3D's plain OSGDecoder
                return NotImplemented
            elif name not in _EG3D_NAMES:
                return NotImplemented
            else:
                name = _EG3D_NAMES[name]
            state = dict(o.__getstate__(), _init_args=(),
                         _init_kwargs=m.EasyDict(init_kwargs) if o is obj else m.EasyDict())
            meta = dict(type="class", version=6, module_src=m.source, class_name=name, state=state)
            return m.persistence._reconstruct_persistent_obj, (meta,)
    f = io.BytesIO()
    EG3DPickler(f, protocol=4).dump(dict(training_set_kwargs={}, G=obj, D=None, G_ema=obj, augment_pipe=None))
    return f.getvalue()


def test_our_generator_pickled_as_eg3d_pickles_its_own_loads_and_renders_the_same(eg3d_modules, tmp_path):
    """A tiny generator made with our code, pickled in EG3D's snapshot structure, loads through the safe reader
    (no code from the file runs: the marker stays absent) and renders exactly what it rendered; our own
    safetensors format does the same."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "scripts"))
    from make_eg3d_reference import GENERATOR_KWARGS, inputs
    from core.gan.eg3d import TriplaneGenerator, load_generator, save_generator
    m = eg3d_modules
    torch.manual_seed(0)
    g = TriplaneGenerator(**GENERATOR_KWARGS).eval()
    kwargs = {k: v for k, v in GENERATOR_KWARGS.items()}
    path = tmp_path / "network-snapshot-000000.pkl"
    path.write_bytes(_eg3d_pickle(g, m, kwargs))
    z, c = torch.randn(2, 8, generator=torch.Generator().manual_seed(1)), inputs()["c"]

    def render(gen):
        torch.manual_seed(7)
        with torch.no_grad():
            return gen(z, c, neural_rendering_resolution=16, noise_mode="const")
    want = render(g)
    for loaded in (load_generator(str(path)), None):
        if loaded is None:
            save_generator(g, str(tmp_path / "g.safetensors"))
            loaded = load_generator(str(tmp_path / "g.safetensors"))
        got = render(loaded)
        for k in want:
            assert torch.equal(got[k], want[k]), k
    assert not m.marker.exists()


def test_a_snapshot_with_a_narrow_mapping_builds_and_renders_what_eg3d_renders(eg3d_modules, tmp_path):
    """A snapshot whose generator was built with mapping_kwargs layer_features and embed_features (EG3D's
    MappingNetwork options) loads through the safe reader into a generator that gives EG3D's outputs at neural
    rendering 64² (tests/data/eg3d_narrow_reference.safetensors), image_raw as EG3D returns it included."""
    from safetensors.torch import load_file
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from make_eg3d_reference import NARROW_KWARGS, NARROW_RESOLUTION, RENDER_SEED, seeded_state
    from core.gan.eg3d import TriplaneGenerator, load_generator
    g = TriplaneGenerator(**NARROW_KWARGS).eval()
    g.load_state_dict({**g.state_dict(), **seeded_state({k: list(v.shape) for k, v in g.state_dict().items()},
                                                        seed=7)}, strict=True)
    path = tmp_path / "network-snapshot-000000.pkl"
    path.write_bytes(_eg3d_pickle(g, eg3d_modules, dict(NARROW_KWARGS)))
    loaded = load_generator(str(path))
    assert loaded.backbone.mapping.fc1.weight.shape == (64, 64)
    ref = load_file(os.path.join(ROOT, "tests", "data", "eg3d_narrow_reference.safetensors"))
    torch.manual_seed(RENDER_SEED)
    with torch.no_grad():
        out = loaded(ref["z"], ref["c"], truncation_psi=0.7, neural_rendering_resolution=NARROW_RESOLUTION,
                     noise_mode="const")
    for name in ("image", "image_raw", "image_render", "image_depth"):
        assert torch.allclose(out[name], ref[name], atol=1e-4, rtol=1e-4), name
    assert not eg3d_modules.marker.exists()


@pytest.mark.parametrize("change, message", [
    (dict(architecture="resnet"), r"architecture='resnet' is not ported"),
    (dict(kernel_size=5), r"kernel_size=5 is not ported"),
    (dict(sr_kwargs={"architecture": "orig"}), r"sr_kwargs of SuperresolutionHybrid2X: architecture='orig'"),
    (dict(sr_kwargs={"up": 4}), r"'up' is not an option of EG3D's StyleGAN2 blocks"),
    (dict(w_dim=256), r"styles its blocks with 512-wide ws; this generator's w_dim is 256"),
    (dict(channels_last=True), r"built with channels_last, which this port does not take"),
    (dict(rendering_kwargs="density_noise"), r"density_noise 0.5: .* not ported"),
])
def test_a_snapshot_built_with_what_the_port_does_not_run_is_refused_by_name(eg3d_modules, tmp_path, change,
                                                                            message):
    """Every constructor argument of EG3D's generator is honoured or refused by name: block options at values the
    port does not run (in the backbone or the head), arguments EG3D's classes do not take, a head's fixed w_dim,
    rendering settings the renderer does not port."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from make_eg3d_reference import GENERATOR_KWARGS
    from core.gan.eg3d import TriplaneGenerator, load_generator
    g = TriplaneGenerator(**GENERATOR_KWARGS).eval()
    kwargs = dict(GENERATOR_KWARGS, **change)
    if change.get("rendering_kwargs") == "density_noise":
        kwargs["rendering_kwargs"] = dict(GENERATOR_KWARGS["rendering_kwargs"], density_noise=0.5)
        g.rendering_kwargs = kwargs["rendering_kwargs"]
    path = tmp_path / "network-snapshot-000000.pkl"
    path.write_bytes(_eg3d_pickle(g, eg3d_modules, kwargs))
    with pytest.raises(ValueError, match=message):
        load_generator(str(path))
    assert not eg3d_modules.marker.exists()


def test_a_snapshot_with_eg3ds_default_block_options_and_without_noise_loads():
    """Block options at EG3D's defaults are accepted; use_noise False is honoured (no noise buffers or strengths);
    a mapping without a tracked average refuses truncation."""
    from core.gan.eg3d import TriplaneGenerator
    from core.gan.networks import MappingNetwork
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from make_eg3d_reference import GENERATOR_KWARGS
    g = TriplaneGenerator(**dict(GENERATOR_KWARGS, architecture="skip", resample_filter=[1, 3, 3, 1], kernel_size=3,
                                 activation="lrelu", fp16_channels_last=False, use_noise=False,
                                 sr_kwargs=dict(GENERATOR_KWARGS["sr_kwargs"], use_noise=False)))
    assert not any("noise" in k for k in g.state_dict())
    m = MappingNetwork(4, 0, 8, num_ws=2, num_layers=2, w_avg_beta=None, activation="relu")
    assert "w_avg" not in m.state_dict()
    with pytest.raises(ValueError, match="keeps none"):
        m(torch.randn(1, 4), None, truncation_psi=0.5)
