"""Writing output files safely: counters that never overwrite, and atomic writes (temp file, then rename)."""
from __future__ import annotations

import os
import re
import tempfile


class OutputPathError(ValueError):
    """A filename prefix that would leave the output folder or is otherwise unusable."""


def resolve_prefix(output_dir: str, prefix: str) -> tuple[str, str]:
    """Split 'sub/folder/name' into (absolute folder inside output_dir, name); refuse paths that escape it."""
    prefix = prefix.strip().replace("\\", "/")
    if not prefix or prefix.endswith("/"):
        raise OutputPathError(f"filename prefix must name a file, e.g. 'distill3d/mesh', got '{prefix}'")
    root = os.path.realpath(output_dir)
    folder = os.path.realpath(os.path.join(root, os.path.dirname(prefix)))
    if os.path.commonpath([root, folder]) != root:
        raise OutputPathError(f"filename prefix '{prefix}' leaves the output folder {root}; use a relative path")
    name = os.path.basename(prefix)
    if not re.fullmatch(r"[^<>:\"|?*\x00-\x1f]+", name):
        raise OutputPathError(f"filename prefix '{prefix}' has characters that cannot be in a file name")
    return folder, name


def next_counter(folder: str, name: str) -> int:
    """The counter after the highest one used by 'name_NNNNN_.<any extension>' files in folder (ComfyUI's
    naming): a GLB, an OBJ set and a video saved under one prefix never share a number."""
    pat = re.compile(re.escape(name) + r"_(\d+)_\.[A-Za-z0-9]+$")
    best = 0
    if os.path.isdir(folder):
        for f in os.listdir(folder):
            m = pat.match(f)
            if m:
                best = max(best, int(m.group(1)))
    return best + 1


def _temp_file(folder: str, data: bytes, suffix: str = "") -> str:
    """data written and synced to a new hidden temp file in folder (linked to its final name by the caller)."""
    fd, tmp = tempfile.mkstemp(prefix=".d3tmp-", suffix=suffix, dir=folder)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def write_new_file(folder: str, name: str, ext: str, data: bytes) -> str:
    """Write data to the next free 'name_NNNNN_.ext' in folder atomically; never overwrites. Returns the path."""
    os.makedirs(folder, exist_ok=True)
    tmp = _temp_file(folder, data, "." + ext)
    try:
        counter = next_counter(folder, name)
        while True:
            path = os.path.join(folder, f"{name}_{counter:05d}_.{ext}")
            try:
                os.link(tmp, path)  # fails if the name is taken: nothing is ever overwritten
                return path
            except FileExistsError:
                counter += 1
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_new_file_set(folder: str, name: str, make_files) -> dict[str, str]:
    """Write a group of files sharing one counter ('name_NNNNN_.obj', '.mtl', '.png', ...) atomically as a group.

    make_files(stem) returns {extension: bytes} for the stem 'name_NNNNN_' (files may name each other). Either
    every file of the set appears, or none: a failure removes the ones already linked. Returns {ext: path}.
    """
    os.makedirs(folder, exist_ok=True)
    counter = next_counter(folder, name)
    while True:
        stem = f"{name}_{counter:05d}_"
        files = make_files(stem)
        if any(os.path.exists(os.path.join(folder, f"{stem}.{ext}")) for ext in files):
            counter += 1
            continue
        temps, linked = {}, []
        try:
            for ext, data in files.items():
                temps[ext] = _temp_file(folder, data, "." + ext)
            for ext, tmp in temps.items():
                path = os.path.join(folder, f"{stem}.{ext}")
                os.link(tmp, path)
                linked.append(path)
            return {ext: os.path.join(folder, f"{stem}.{ext}") for ext in files}
        except FileExistsError:
            for path in linked:
                os.unlink(path)
            counter += 1
        except BaseException:
            for path in linked:
                os.unlink(path)
            raise
        finally:
            for tmp in temps.values():
                if os.path.exists(tmp):
                    os.unlink(tmp)


def write_exclusive(path: str, data: bytes) -> str:
    """Write data to exactly `path` atomically; refuses (FileExistsError) if it exists, never overwrites."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = _temp_file(folder, data)
    try:
        os.link(tmp, path)  # fails if the name is taken meanwhile
        return path
    finally:
        os.unlink(tmp)


def write_replacing(path: str, data: bytes) -> str:
    """Write data to `path` atomically, replacing what is there (a training script's own output): a reader sees the
    old file or the new one, never half of one."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = _temp_file(folder, data)
    try:
        os.replace(tmp, path)
        return path
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
