"""A differentiable triangle rasterizer in pure torch (nvdiffrast where it imports on CUDA).

For every pixel: the nearest covering triangle (depth test), perspective-correct barycentric interpolation of
vertex attributes (differentiable w.r.t. vertex positions and attributes), and an antialiased silhouette: near
the outline, coverage is a box-filtered signed distance to the nearest triangle edge, so the mask sends
gradients to the vertices that shape it (the role of nvdiffrast's antialias pass).
"""
from __future__ import annotations

import torch

from ..accel import cuda_extension_available
from ..cameras import Cameras, camera_light
from . import RenderRecord, shade
from .triangles import candidate_pixels, edge_functions


def _signed_distance(p, A, B, C):
    """Signed distance in pixels from points p to triangles ABC (positive inside): min over the edge lines."""
    e0, e1, e2, ar = edge_functions(p, A, B, C)
    sgn = torch.sign(ar.detach())
    lens = torch.stack([(C - B).norm(dim=-1), (A - C).norm(dim=-1), (B - A).norm(dim=-1)], -1)
    return (torch.stack([e0, e1, e2], -1) * sgn[:, None] / lens.clamp_min(1e-9)).min(-1).values, (e0, e1, e2, ar)


def _antialias(alpha, attr_img, covered, uv, faces, fidx, face, pix, w0, w1, w2, area, ok, attributes, height,
               width):
    """Box-filtered coverage across the outline, differentiable w.r.t. the vertices that shape it.

    For an uncovered pixel q next to a covered one, sd_q is its signed distance to the nearest triangle (the
    distance to the union's outline): q's coverage is clamp(0.5 + sd_q) and its covered neighbour p's is
    clamp(1.5 + sd_q) (the outline crosses between their centers, one pixel apart). Interior pixels stay 1.
    """
    dev = alpha.device
    cov_img = covered.reshape(height, width)
    pad = torch.nn.functional.pad(cov_img[None, None].float(), (1, 1, 1, 1))[0, 0]
    neigh_cov = (pad[:-2, 1:-1] + pad[2:, 1:-1] + pad[1:-1, :-2] + pad[1:-1, 2:]) > 0
    outer = (~cov_img & neigh_cov).reshape(-1)
    with torch.no_grad():
        uv_d = uv.detach()[faces[fidx]]
        p = torch.stack([(pix % width).float() + 0.5, (pix // width).float() + 0.5], -1)
        sd, _ = _signed_distance(p, uv_d[face, 0], uv_d[face, 1], uv_d[face, 2])
        sel = ok & outer[pix] & (sd > -1.0)
        cand = torch.arange(face.shape[0], device=dev)
        best = torch.full((height * width,), -2.0, device=dev).scatter_reduce(0, pix[sel], sd[sel], reduce="amax")
        pick = sel & (sd >= best[pix])
        best_idx = torch.full((height * width,), -1, dtype=torch.long, device=dev).scatter_reduce(
            0, pix[pick], cand[pick], reduce="amax", include_self=True)
    q = (best_idx >= 0).nonzero().squeeze(-1)
    if q.numel() == 0:
        return alpha, attr_img
    tri = faces[fidx[face[best_idx[q]]]]
    pq = torch.stack([(q % width).float() + 0.5, (q // width).float() + 0.5], -1)
    sd_q, (e0, e1, e2, ar) = _signed_distance(pq, uv[tri[:, 0]], uv[tri[:, 1]], uv[tri[:, 2]])
    alpha = alpha.index_put((q,), (0.5 + sd_q).clamp(0, 1))
    b = (torch.stack([e0, e1, e2], -1) / ar[:, None]).clamp_min(0)
    b = b / b.sum(-1, keepdim=True).clamp_min(1e-9)
    attr_img = attr_img.index_put((q,), (b[..., None] * attributes[tri]).sum(1))
    # covered pixels beside those: the outline crosses between the two centers
    sd_img = torch.full((height * width,), 1.0, device=dev).index_put((q,), sd_q)
    sd_hw = sd_img.reshape(height, width)
    padded = torch.nn.functional.pad(sd_hw[None, None], (1, 1, 1, 1), value=1.0)[0, 0]
    nb = torch.stack([padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]).min(0).values
    inner = cov_img & (nb < 1.0)
    inner_idx = inner.reshape(-1).nonzero().squeeze(-1)
    alpha = alpha.index_put((inner_idx,), (1.5 + nb.reshape(-1)[inner_idx]).clamp(0, 1))
    return alpha, attr_img


def _project(vertices: torch.Tensor, cameras: Cameras, height: int, width: int):
    """Pixel coords [N,V,2] (x right, y down, pixel centers at +0.5) and view depth [N,V]."""
    uv, depth = cameras.project(vertices, height, width)
    return uv, depth


def nvdiffrast_available(device) -> bool:
    return cuda_extension_available(device, "nvdiffrast.torch")


_GL_CONTEXTS = {}


def _rasterize_nvdiffrast(vertices, faces, cameras, height, width, attributes, background, want_normals):
    """The same contract through nvdiffrast (CUDA): rasterize, interpolate, antialias."""
    import nvdiffrast.torch as dr

    dev = vertices.device
    ctx = _GL_CONTEXTS.setdefault(dev, dr.RasterizeCudaContext(device=dev))
    n = len(cameras)
    w2c = cameras.world_to_camera().to(dev)
    near, far = 0.01, 100.0
    sy = 1.0 / torch.tan(torch.deg2rad(cameras.fov.to(dev)) / 2)
    proj = torch.zeros(n, 4, 4, device=dev)
    proj[:, 0, 0] = sy * height / width
    proj[:, 1, 1] = sy
    proj[:, 2, 2] = -(far + near) / (far - near)
    proj[:, 2, 3] = -2 * far * near / (far - near)
    proj[:, 3, 2] = -1.0
    vh = torch.cat([vertices, torch.ones_like(vertices[:, :1])], -1)
    cam_pts = torch.einsum("nij,vj->nvi", w2c, vh)
    clip = torch.einsum("nij,nvj->nvi", proj, cam_pts).contiguous()
    tri = faces.to(dev).int().contiguous()
    rast, _ = dr.rasterize(ctx, clip, tri, resolution=[height, width])
    depth_attr = (-cam_pts[..., 2:3]).contiguous()
    feats = torch.cat([attributes.expand(n, -1, -1), vertices.expand(n, -1, -1), depth_attr], -1).contiguous()
    interp, _ = dr.interpolate(feats, rast, tri)
    covered = (rast[..., 3] > 0).float()[..., None]
    c = attributes.shape[-1]
    col = interp[..., :3] if c >= 3 else torch.full_like(interp[..., :3], 0.8)
    bg = torch.tensor(background, device=dev, dtype=col.dtype)
    rgb_alpha = torch.cat([covered * col + (1 - covered) * bg, covered], -1)
    rgb_alpha = dr.antialias(rgb_alpha.contiguous(), rast, clip, tri)
    flip = lambda x: x.flip(1)  # nvdiffrast's row 0 is the bottom of the image
    fn = torch.nn.functional.normalize(torch.linalg.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                                                          vertices[faces[:, 2]] - vertices[faces[:, 0]]), dim=-1)
    tri_id = rast[..., 3].long()
    normal = torch.where((tri_id > 0)[..., None], fn[(tri_id - 1).clamp_min(0)], torch.zeros_like(interp[..., :3]))
    return RenderRecord(rgb=flip(rgb_alpha[..., :3]), alpha=flip(rgb_alpha[..., 3]),
                        depth=flip(interp[..., c + 3] * covered[..., 0]),
                        normal=flip(normal) if want_normals else None, albedo=flip(rgb_alpha[..., :3]),
                        shading="albedo", extras={"attributes": flip(interp[..., :c]),
                                                  "positions": flip(interp[..., c:c + 3])})


def rasterize(vertices: torch.Tensor, faces: torch.Tensor, cameras: Cameras, height: int, width: int | None = None,
              attributes: torch.Tensor | None = None, background=(1.0, 1.0, 1.0), antialias: bool = True,
              want_normals: bool = True, backend: str = "auto") -> RenderRecord:
    """Render a triangle mesh from each camera. vertices [V,3] (may require grad), faces [F,3], attributes [V,C]
    (colors by default). Returns a RenderRecord [N,H,W,...]: rgb = attributes[..., :3] over the background,
    alpha (antialiased), depth along the view axis, world normals (face normals, where covered); the raw
    interpolated attributes and the world positions are in extras. backend: 'torch', 'nvdiffrast', or 'auto'
    (nvdiffrast where it imports on CUDA)."""
    width = height if width is None else width
    dev = vertices.device
    if backend not in ("auto", "torch", "nvdiffrast"):
        raise ValueError(f"rasterizer backend must be 'auto', 'torch' or 'nvdiffrast', got '{backend}'")
    if backend == "nvdiffrast" and not nvdiffrast_available(dev):
        raise RuntimeError("backend 'nvdiffrast' needs nvdiffrast installed and a CUDA device; use 'auto' or 'torch'")
    if backend == "nvdiffrast" or (backend == "auto" and nvdiffrast_available(dev)):
        attrs = torch.full_like(vertices, 0.8) if attributes is None else attributes
        return _rasterize_nvdiffrast(vertices, faces, cameras.to(dev), height, width, attrs, background,
                                     want_normals)
    faces = faces.to(dev).long()
    if attributes is None:
        attributes = torch.full_like(vertices, 0.8)
    bg = torch.tensor(background, dtype=vertices.dtype, device=dev)
    fn = torch.nn.functional.normalize(torch.linalg.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                                                          vertices[faces[:, 2]] - vertices[faces[:, 0]]), dim=-1)
    out = {k: [] for k in ("rgb", "alpha", "depth", "normal", "attr", "pos")}
    for i in range(len(cameras)):
        cam = cameras[i].to(dev)
        uv, z = _project(vertices, cam, height, width)
        uv, z = uv[0], z[0]
        front = (z[faces] > 1e-4).all(1)
        fidx = front.nonzero().squeeze(-1)
        with torch.no_grad():
            uv_f = uv.detach()[faces[fidx]]  # [F',3,2]
            face, px, py = candidate_pixels(uv_f, height, width, pad=1.0 if antialias else 0.0)
            p = torch.stack([px.float() + 0.5, py.float() + 0.5], -1)
            a, b, c = uv_f[face, 0], uv_f[face, 1], uv_f[face, 2]
            w0, w1, w2, area = edge_functions(p, a, b, c)
            ok = area.abs() > 1e-12
            s = torch.sign(area)
            inside = ok & (w0 * s >= 0) & (w1 * s >= 0) & (w2 * s >= 0)
            # perspective-correct depth at the pixel: 1/z interpolates linearly in screen space
            zf = z.detach()[faces[fidx]][face]
            l0, l1, l2 = w0 / area.where(ok, torch.ones_like(area)), w1 / area.where(ok, torch.ones_like(area)), \
                w2 / area.where(ok, torch.ones_like(area))
            inv_z = l0 / zf[:, 0] + l1 / zf[:, 1] + l2 / zf[:, 2]
            pix = py * width + px
            zbuf = torch.full((height * width,), float("inf"), device=dev)
            depth_c = torch.where(inside, 1.0 / inv_z.clamp_min(1e-9), torch.full_like(inv_z, float("inf")))
            zbuf = zbuf.scatter_reduce(0, pix, depth_c, reduce="amin")
            win = inside & (depth_c <= zbuf[pix])
            # one winner per pixel (ties: the lowest candidate index)
            win_idx = torch.full((height * width,), -1, dtype=torch.long, device=dev)
            cand = torch.arange(face.shape[0], device=dev)
            win_idx = win_idx.scatter_reduce(0, pix[win], cand[win], reduce="amax", include_self=True)
        covered = win_idx >= 0
        cov_pix = covered.nonzero().squeeze(-1)
        k = win_idx[cov_pix]
        tri = faces[fidx[face[k]]]  # [P,3] vertex ids
        p_k = torch.stack([(cov_pix % width).float() + 0.5, (cov_pix // width).float() + 0.5], -1)
        A, B, C = uv[tri[:, 0]], uv[tri[:, 1]], uv[tri[:, 2]]  # differentiable screen positions
        e0, e1, e2, ar = edge_functions(p_k, A, B, C)
        bary = torch.stack([e0, e1, e2], -1) / ar[:, None]
        zt = z[tri]
        persp = bary / zt
        persp = persp / persp.sum(-1, keepdim=True)  # perspective-correct weights
        attr_img = torch.zeros(height * width, attributes.shape[1], device=dev, dtype=attributes.dtype)
        attr_img = attr_img.index_put((cov_pix,), (persp[..., None] * attributes[tri]).sum(1))
        pos_img = torch.zeros(height * width, 3, device=dev).index_put((cov_pix,),
                                                                       (persp[..., None] * vertices[tri]).sum(1))
        depth_img = torch.zeros(height * width, device=dev).index_put((cov_pix,), 1.0 / (bary / zt).sum(-1))
        nrm_img = torch.zeros(height * width, 3, device=dev).index_put((cov_pix,), fn[fidx[face[k]]])
        alpha = covered.float()
        if antialias:
            alpha, attr_img = _antialias(alpha, attr_img, covered, uv, faces, fidx, face, pix, w0, w1, w2, area, ok,
                                         attributes, height, width)
        col = attr_img[:, :3] if attr_img.shape[1] >= 3 else torch.full_like(attr_img[:, :1], 0.8).expand(-1, 3)
        rgb = alpha[:, None] * col + (1 - alpha[:, None]) * bg
        out["rgb"].append(rgb.reshape(height, width, 3))
        out["alpha"].append(alpha.reshape(height, width))
        out["depth"].append(depth_img.reshape(height, width))
        out["normal"].append(nrm_img.reshape(height, width, 3))
        out["attr"].append(attr_img.reshape(height, width, -1))
        out["pos"].append(pos_img.reshape(height, width, 3))
    st = {k: torch.stack(v) for k, v in out.items()}
    return RenderRecord(rgb=st["rgb"], alpha=st["alpha"], depth=st["depth"],
                        normal=st["normal"] if want_normals else None, albedo=st["rgb"], shading="albedo",
                        extras={"attributes": st["attr"], "positions": st["pos"]})


def render_mesh(mesh, cameras: Cameras, height: int, width: int | None = None, background=(1.0, 1.0, 1.0),
                shading: str = "albedo", device="cpu") -> RenderRecord:
    """Render a core Mesh with its texture (uv + image), or its vertex colors, or gray."""
    from ..mesh.texture import sample_texture

    v = mesh.vertices.to(device)
    if mesh.textured:
        attr = mesh.uv.to(device)
    elif mesh.vertex_colors is not None:
        attr = mesh.vertex_colors.to(device)
    else:
        attr = torch.full_like(v, 0.8)
    cams = cameras.to(device)
    rec = rasterize(v, mesh.faces.to(device), cams, height, width, attributes=attr, background=background)
    a = rec.alpha[..., None]
    color = rec.extras["attributes"]
    if mesh.textured:
        color = sample_texture(mesh.texture.to(device), color)
    if shading != "albedo":
        ld = camera_light(cams)[:, None, None, :].expand_as(rec.normal)
        color = shade(color, rec.normal, ld, shading, 0.35)
    bg = torch.tensor(background, device=v.device)
    rgb = a * color[..., :3] + (1 - a) * bg
    return RenderRecord(rgb=rgb, alpha=rec.alpha, depth=rec.depth, normal=rec.normal, albedo=rgb, shading=shading)


def render_surface(vertices, faces, color_fn, cameras: Cameras, height: int, width: int | None = None,
                   shading: str = "albedo", light_dirs=None, ambient: float = 0.35, background=None,
                   environment=None) -> RenderRecord:
    """Render a surface whose albedo is a function of the 3D point (a DMTet's texture field, a frozen mesh's new
    texture): rasterize once, query color_fn at the covered pixels' surface points, shade, composite over
    `background` (solid colours per view, as the volume renderer's) or else the `environment` module of the ray
    direction. Differentiable in the vertices and in whatever color_fn learns."""
    from . import view_backgrounds

    width = height if width is None else width
    cams = cameras.to(vertices.device)
    rec = rasterize(vertices, faces, cams, height, width, attributes=vertices, background=(0.0, 0.0, 0.0))
    solid = view_backgrounds(background, len(cams), vertices.device)
    if solid is None:
        _, dirs = cams.rays(height, width)
        bg = environment(dirs.reshape(-1, 3)).reshape(*dirs.shape)
    else:
        bg = solid[:, None, None, :].expand(-1, height, width, 3)
    covered = rec.alpha > 0
    albedo = torch.zeros_like(rec.extras["positions"])
    if covered.any():
        albedo = albedo.index_put(covered.nonzero(as_tuple=True), color_fn(rec.extras["attributes"][covered]))
    color = albedo
    if shading != "albedo":
        ld = camera_light(cams) if light_dirs is None else light_dirs
        color = shade(albedo, rec.normal, ld[:, None, None, :].expand_as(rec.normal), shading, ambient)
    a = rec.alpha[..., None]
    return RenderRecord(rgb=a * color + (1 - a) * bg, alpha=rec.alpha, depth=rec.depth, normal=rec.normal,
                        albedo=a * albedo + (1 - a) * bg, shading=shading, background=bg,
                        extras={"faces": faces.shape[0]})
