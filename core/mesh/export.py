"""Mesh files: GLB (glTF 2.0 binary), OBJ and PLY, encoded in memory and written atomically.

Colors: the pack's colors are display (sRGB) values. glTF defines COLOR_0 as linear, so GLB vertex colors are
converted to linear on export (viewers then show the colors the renders show); OBJ and PLY keep sRGB values,
as those formats' readers expect.

Textures in a GLB are embedded as data: URIs, not as binary-chunk images (see inline_glb_images), unless that
would push the graph the GLB carries (asset.extras) beyond what ComfyUI's page reads of a dropped file (see encode).
"""
from __future__ import annotations

import base64
import io
import json
import logging
import os
import struct

import numpy as np
import torch

from ..files import resolve_prefix, write_new_file, write_new_file_set
from ..deps import require
from . import Mesh

FORMATS = ("glb", "obj", "ply")
logger = logging.getLogger(__name__)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(np.clip(c, 0, None), 1 / 2.4) - 0.055)


def gltf_arrays(mesh: Mesh) -> dict:
    """The mesh in glTF's conventions, as another glTF writer (ComfyUI's own MESH / SaveGLB) takes it: vertices
    [V,3], faces [F,3] int64, and where present uvs [V,2] with v pointing down the image (origin top-left),
    vertex_colors [V,3] linear (COLOR_0), texture [H,W,3] sRGB (the baseColor image, row 0 at the top)."""
    out = {"vertices": mesh.vertices.clone(), "faces": mesh.faces.clone()}
    if mesh.textured:
        out["uvs"] = torch.stack([mesh.uv[:, 0], 1 - mesh.uv[:, 1]], -1)
        out["texture"] = mesh.texture.clone()
    if mesh.vertex_colors is not None:
        out["vertex_colors"] = torch.from_numpy(srgb_to_linear(mesh.vertex_colors.numpy().astype(np.float64))
                                                ).float()
    return out


def from_gltf_arrays(vertices, faces, uvs=None, vertex_colors=None, texture=None) -> Mesh:
    """The inverse of gltf_arrays: a Mesh from glTF-convention arrays (one item of ComfyUI's MESH: uvs with v down,
    linear vertex colours, an sRGB texture). A texture without uvs is dropped."""
    v = torch.as_tensor(vertices, dtype=torch.float32)
    f = torch.as_tensor(faces, dtype=torch.int64)
    colors = None
    if vertex_colors is not None:
        c = torch.as_tensor(vertex_colors, dtype=torch.float32)[:, :3]
        colors = torch.from_numpy(linear_to_srgb(c.numpy().astype(np.float64))).float()
    uv = tex = None
    if uvs is not None:
        uv_t = torch.as_tensor(uvs, dtype=torch.float32)
        uv = torch.stack([uv_t[:, 0], 1 - uv_t[:, 1]], -1)
        # a layout without an image (ComfyUI's Unwrap Mesh) is kept, on plain grey: the layout is what a painter needs
        tex = torch.full((1, 1, 3), 0.5) if texture is None else torch.as_tensor(texture, dtype=torch.float32)[..., :3]
    return Mesh(v, f, colors, uv, tex)


def _trimesh(mesh: Mesh, linear_colors: bool):
    trimesh = require("trimesh", "Mesh files (Save Mesh)")

    if mesh.textured:
        from PIL import Image
        from trimesh.visual.material import PBRMaterial

        img = Image.fromarray((mesh.texture.numpy() * 255).round().astype(np.uint8))
        mat = PBRMaterial(baseColorTexture=img, metallicFactor=0.0, roughnessFactor=1.0)
        visual = trimesh.visual.TextureVisuals(uv=mesh.uv.numpy(), material=mat)
        return trimesh.Trimesh(vertices=mesh.vertices.numpy(), faces=mesh.faces.numpy(), visual=visual,
                               vertex_normals=mesh.vertex_normals().numpy(), process=False)
    colors = None
    if mesh.vertex_colors is not None:
        c = mesh.vertex_colors.numpy().astype(np.float64)
        if linear_colors:
            c = srgb_to_linear(c)
        colors = np.concatenate([np.round(c * 255), np.full((c.shape[0], 1), 255)], 1).astype(np.uint8)
    return trimesh.Trimesh(vertices=mesh.vertices.numpy(), faces=mesh.faces.numpy(), vertex_colors=colors,
                           vertex_normals=mesh.vertex_normals().numpy(), process=False)


def encode(mesh: Mesh, fmt: str, asset_extras: dict | None = None) -> bytes:
    """The bytes of `mesh` as a file of format 'glb', 'obj' or 'ply'. asset_extras: the GLB's asset.extras (e.g.
    the graph that made it, {"prompt": JSON text, "workflow": JSON text}, as ComfyUI's SaveGLB writes it); the
    OBJ and PLY files carry none, as ComfyUI's own savers write none there."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown mesh format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if mesh.num_faces == 0:
        raise ValueError("the mesh has no faces; refusing to write an empty file")
    tm = _trimesh(mesh, linear_colors=(fmt == "glb"))
    if fmt == "obj":
        return tm.export(file_type="obj", include_color=mesh.vertex_colors is not None,
                         include_normals=True).encode()
    data = tm.export(file_type=fmt)
    if fmt != "glb":
        return data
    glb = inline_glb_images(data, asset_extras)
    if asset_extras and not glb_graph_readable(glb):
        # The data: URIs push the graph beyond what the frontends read of a dropped file: the images stay in the
        # binary chunk, as ComfyUI's own SaveGLB keeps them (every viewer shows them; only Preview3D on a server
        # started with --disable-api-nodes refuses them, see inline_glb_images).
        glb = inline_glb_images(data, asset_extras, images=False)
        logger.warning("Distill3D: the texture is too large to embed as a data: URI beside the graph the GLB carries "
                       "(ComfyUI's page reads the first %d KiB of a dropped GLB): it is kept in the binary chunk, as "
                       "ComfyUI's SaveGLB keeps textures; Preview3D on a server started with --disable-api-nodes "
                       "shows it untextured (a smaller texture_size, or --disable-metadata, keeps it embedded)",
                       GLB_METADATA_WINDOW // 1024)
    return glb


_GLB_JSON, _GLB_BIN = 0x4E4F534A, 0x004E4942
# ComfyUI's frontends (1.32.9 and 1.49.6; their GLB metadata reader, src/scripts/metadata/gltf.ts in
# https://github.com/Comfy-Org/ComfyUI_frontend) read only the first MiB of a dropped GLB and find the graph only if
# the whole JSON chunk lies inside it.
GLB_METADATA_WINDOW = 1 << 20


def read_glb(glb: bytes) -> tuple[dict, bytes]:
    """A GLB's JSON tree and binary chunk."""
    magic, _, length = struct.unpack_from("<4sII", glb, 0)
    if magic != b"glTF":
        raise ValueError("not a GLB: the file does not start with 'glTF'")
    chunks, off = {}, 12
    while off < length:
        size, kind = struct.unpack_from("<II", glb, off)
        chunks[kind] = glb[off + 8: off + 8 + size]
        off += 8 + size
    return json.loads(chunks[_GLB_JSON]), chunks.get(_GLB_BIN, b"")


def glb_asset_extras(glb: bytes) -> dict:
    """The GLB's asset.extras ({} when it has none): where ComfyUI's SaveGLB, and Save Mesh, put the graph."""
    return read_glb(glb)[0].get("asset", {}).get("extras") or {}


def _write_glb(tree: dict, binary: bytes) -> bytes:
    text = json.dumps(tree, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary = binary + b"\0" * (-len(binary) % 4)
    parts = [struct.pack("<II", len(text), _GLB_JSON), text]
    if binary:
        parts += [struct.pack("<II", len(binary), _GLB_BIN), binary]
    body = b"".join(parts)
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def inline_glb_images(glb: bytes, asset_extras: dict | None = None, images: bool = True) -> bytes:
    """The same GLB with its images moved out of the binary chunk into data: URIs (both are valid glTF 2.0), and
    with `asset_extras` (when given and not empty) as its asset.extras.

    Why data: URIs: ComfyUI started with --disable-api-nodes (offline use) serves its page under a
    Content-Security-Policy whose connect-src allows 'self' and data: but not blob:; three.js's GLTFLoader, which
    Preview3D uses, fetches a binary-chunk image through a blob: URL, so the texture is refused and the model shows
    untextured. A data: URI loads (checked in tests/browser on ComfyUI 0.33.0's frontend).

    asset.extras is where ComfyUI's SaveGLB writes the graph ({"prompt": JSON text, "workflow": JSON text}); the
    frontends restore a dropped GLB's workflow from there, reading the JSON chunk only if it ends within the file's
    first MiB (GLB_METADATA_WINDOW): a large embedded texture can push it past (see glb_graph_readable).
    images=False only adds the extras, leaving the images where they are."""
    tree, binary = read_glb(glb)
    views = tree.get("bufferViews", [])

    def view_bytes(v):
        start = v.get("byteOffset", 0)
        return binary[start: start + v["byteLength"]]
    moved = set()
    for image in tree.get("images", []) if images else []:
        if "bufferView" in image:
            i = image.pop("bufferView")
            moved.add(i)
            mime = image.pop("mimeType", "image/png")
            image["uri"] = f"data:{mime};base64," + base64.b64encode(view_bytes(views[i])).decode("ascii")
    if asset_extras:
        tree["asset"] = {**tree.get("asset", {"version": "2.0"}), "extras": dict(asset_extras)}
    if not moved:
        return _write_glb(tree, binary) if asset_extras else glb
    packed, kept, new_index = bytearray(), [], {}
    for i, v in enumerate(views):  # the binary chunk without the moved images, its views re-indexed
        if i in moved:
            continue
        packed += b"\0" * (-len(packed) % 4)
        new_index[i] = len(kept)
        kept.append(dict(v, byteOffset=len(packed)))
        packed += view_bytes(v)
    packed += b"\0" * (-len(packed) % 4)
    tree["bufferViews"] = kept
    for accessor in tree.get("accessors", []):
        sparse = accessor.get("sparse", {})
        for ref in (accessor, sparse.get("indices", {}), sparse.get("values", {})):
            if "bufferView" in ref:
                ref["bufferView"] = new_index[ref["bufferView"]]
    tree["buffers"] = [{"byteLength": len(packed)}]
    return _write_glb(tree, bytes(packed))


def glb_graph_readable(glb: bytes) -> bool:
    """Whether ComfyUI's frontends can restore the graph from this GLB when it is dropped on the page: its JSON
    chunk ends within the first GLB_METADATA_WINDOW bytes (they read no further)."""
    (json_len,) = struct.unpack_from("<I", glb, 12)
    return 20 + json_len <= GLB_METADATA_WINDOW


def encode_obj_set(mesh: Mesh, stem: str) -> dict[str, bytes]:
    """A textured mesh as OBJ + MTL + PNG files named stem.obj / stem.mtl / stem.png."""
    trimesh = require("trimesh", "Mesh files (Save Mesh)")

    text, files = trimesh.exchange.obj.export_obj(_trimesh(mesh, False), include_texture=True,
                                                  return_texture=True, mtl_name=f"{stem}.mtl")
    png = next(v for k, v in files.items() if k.endswith(".png"))
    old = next(k for k in files if k.endswith(".png"))
    mtl = files[f"{stem}.mtl"].decode().replace(old, f"{stem}.png").encode()
    return {"obj": text.encode(), "mtl": mtl, "png": png}


def save_mesh(mesh: Mesh, output_dir: str, prefix: str, fmt: str = "glb", asset_extras: dict | None = None) -> str:
    """Encode and write `mesh` as the next 'prefix_NNNNN_.fmt' under output_dir (a textured OBJ comes with its
    .mtl and .png, written as a group). asset_extras: see encode. Returns the absolute path of the main file."""
    fmt = fmt.lower()
    folder, name = resolve_prefix(output_dir, prefix)
    if fmt == "obj" and mesh.textured:
        if mesh.num_faces == 0:
            raise ValueError("the mesh has no faces; refusing to write an empty file")
        encode_obj_set(mesh, "probe")  # fail before touching the folder
        return write_new_file_set(folder, name, lambda stem: encode_obj_set(mesh, stem))["obj"]
    data = encode(mesh, fmt, asset_extras)  # encode first: a failure leaves nothing behind
    return write_new_file(folder, name, fmt, data)


def load_mesh(path_or_bytes, fmt: str | None = None) -> Mesh:
    """Read a GLB / OBJ / PLY back into a Mesh (all geometry merged, in the file's coordinates)."""
    trimesh = require("trimesh", "Mesh files (Save Mesh)")

    try:
        if isinstance(path_or_bytes, (bytes, bytearray)):
            loaded = trimesh.load(io.BytesIO(path_or_bytes), file_type=fmt, process=False)
        else:
            loaded = trimesh.load(path_or_bytes, file_type=fmt, process=False)
    except Exception as e:  # trimesh's own errors say what broke, not which file
        what = os.path.basename(path_or_bytes) if isinstance(path_or_bytes, str) else f"the {fmt or 'mesh'} data"
        raise ValueError(f"{what} could not be read as a mesh (GLB / OBJ / PLY): {e}") from e
    attr = None  # a glTF with a material keeps COLOR_0 as a vertex attribute (ComfyUI's SaveGLB writes both)
    if isinstance(loaded, trimesh.Scene):
        parts = list(loaded.geometry.values())
        if len(parts) == 1 and parts[0].visual.kind != "vertex":
            attr = getattr(parts[0].visual, "vertex_attributes", {}).get("color")
        loaded = loaded.to_geometry() if hasattr(loaded, "to_geometry") else loaded.dump(concatenate=True)
    if loaded.visual.kind == "texture" and getattr(loaded.visual, "uv", None) is not None:
        mat = loaded.visual.material
        img = getattr(mat, "baseColorTexture", None) or getattr(mat, "image", None)
        if img is not None:
            tex = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)
            return Mesh(torch.from_numpy(np.asarray(loaded.vertices, dtype=np.float32)),
                        torch.from_numpy(np.asarray(loaded.faces, dtype=np.int64)), None,
                        torch.from_numpy(np.asarray(loaded.visual.uv, dtype=np.float32)), tex)
    colors = None
    vc = getattr(loaded.visual, "vertex_colors", None) if loaded.visual.kind == "vertex" else attr
    if vc is not None and len(vc) == len(loaded.vertices):
        vc = np.asarray(vc)[:, :3]
        colors = vc.astype(np.float64) / (1.0 if np.issubdtype(vc.dtype, np.floating) else 255.0)
        if (fmt or (path_or_bytes if isinstance(path_or_bytes, str) else "")).lower().endswith("glb"):
            colors = linear_to_srgb(colors)
    return Mesh(torch.from_numpy(np.asarray(loaded.vertices, dtype=np.float32)),
                torch.from_numpy(np.asarray(loaded.faces, dtype=np.int64)),
                None if colors is None else torch.from_numpy(colors.astype(np.float32)))
