"""Hard-links the files two host venvs hold identically (torch and its CUDA libraries: about 5 GB each).

The two test hosts install the same torch wheel; on a machine with a small disk the second copy is what fills it.
A file is shared only where both trees hold it under the same path with the same bytes; each replacement is a new
link renamed over the old file, so an interrupted run leaves every file whole.

    python3 scripts/share_identical_files.py .host/venv .host-newest/venv
"""
import filecmp
import os
import sys

MIN_BYTES = 1 << 16  # small files are not worth reading twice


def share(keep: str, other: str) -> tuple[int, int]:
    """Links files under `other` to their identical twins under `keep`; returns (files, bytes) shared."""
    files = saved = 0
    for top, _, names in os.walk(other):
        for name in names:
            path = os.path.join(top, name)
            twin = os.path.join(keep, os.path.relpath(path, other))
            try:
                st, twin_st = os.lstat(path), os.lstat(twin)
            except FileNotFoundError:
                continue
            if (os.path.islink(path) or os.path.islink(twin) or st.st_size < MIN_BYTES
                    or st.st_size != twin_st.st_size or st.st_ino == twin_st.st_ino
                    or st.st_dev != twin_st.st_dev or not filecmp.cmp(path, twin, shallow=False)):
                continue
            tmp = path + ".d3link"
            os.link(twin, tmp)
            os.replace(tmp, path)
            files += 1
            saved += st.st_size
    return files, saved


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: share_identical_files.py KEEP_DIR OTHER_DIR")
    n, size = share(sys.argv[1], sys.argv[2])
    print(f"[share_identical_files] {n} files ({size / 2**30:.2f} GiB) of {sys.argv[2]} now share {sys.argv[1]}'s copies")
