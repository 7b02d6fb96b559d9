"""A disk cache for tensors that are expensive to compute and cheap to store (the world prior's render sets).

Keys are content hashes of everything the value depends on, so a stale entry is never read; writes are atomic,
so a cancelled run leaves no half-written entry. The folder is $DISTILL3D_CACHE, else ~/.cache/distill3d;
DISTILL3D_CACHE=off disables the cache.
"""
from __future__ import annotations

import hashlib
import os
import tempfile

import torch


def cache_dir() -> str | None:
    d = os.environ.get("DISTILL3D_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "distill3d"))
    return None if d.lower() in ("off", "0", "none", "") else d


def content_key(*parts) -> str:
    """A hex digest of strings, bytes and tensors (tensors by their values)."""
    h = hashlib.sha1()
    for p in parts:
        if isinstance(p, torch.Tensor):
            p = p.detach().cpu().contiguous().numpy().tobytes()
        elif not isinstance(p, bytes):
            p = repr(p).encode()
        h.update(hashlib.sha1(p).digest())
    return h.hexdigest()


def cached(kind: str, key: str, build):
    """build() once per key; later calls (in any process) load it. Unreadable entries are rebuilt."""
    folder = cache_dir()
    if folder is None:
        return build()
    path = os.path.join(folder, kind, key[:2], key + ".pt")
    if os.path.exists(path):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # a corrupt entry (disk full at write time, a torch upgrade): rebuild it
            pass
    value = build()
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".d3tmp-", dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as f:
            torch.save(value, f)
        os.replace(tmp, path)
    except OSError:  # a read-only or full disk: the cache is an optimization, never a failure
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    return value
