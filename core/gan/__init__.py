"""Triplane 3D GANs (DiffusionGAN3D's generator): EG3D-family snapshots read as data (core.gan.snapshot)."""
from .snapshot import ModuleRecord, Snapshot, SnapshotRefused, read_snapshot

__all__ = ["ModuleRecord", "Snapshot", "SnapshotRefused", "read_snapshot"]
