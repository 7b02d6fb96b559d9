"""Triplane 3D GANs (DiffusionGAN3D's generator): EG3D-family snapshots read as data (core.gan.snapshot) and
triplanes rendered as EG3D renders them (core.gan.render), its mapping network and triplane decoder
(core.gan.networks), its StyleGAN2 synthesis network in plain torch (core.gan.stylegan2), and the whole
generator, loadable from a snapshot or our own safetensors (core.gan.eg3d). The port's reading of EG3D is in
EG3D_PORT.md. The pack's own small generators (core.gan.world); samples as fields (core.gan.field); DiffusionGAN3D's
domain adaptation (core.gan.adapt) and text-to-avatar (core.gan.avatar)."""
from .eg3d import TriplaneGenerator, from_record, load_generator, save_generator
from .snapshot import ModuleRecord, Snapshot, SnapshotRefused, read_snapshot

__all__ = ["ModuleRecord", "Snapshot", "SnapshotRefused", "TriplaneGenerator", "from_record", "load_generator",
           "read_snapshot", "save_generator"]
