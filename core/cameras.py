"""Cameras in the pack's one coordinate convention.

The convention (glTF's), used everywhere in Distill3D:
  * world: right-handed, +Y up, units are meters; an object sits inside the unit cube [-0.5, 0.5]^3, centered
    at the origin, and faces +Z (its front is seen from +Z);
  * camera: camera-to-world 4x4 matrices (`c2w`); in camera space +X is right, +Y is up and the camera looks
    down -Z (OpenGL / glTF);
  * spherical placement: `elevation` is the angle above the XZ plane (positive = camera above the object),
    `azimuth` is measured around +Y from +Z towards +X, so azimuth 0 looks at the object's front, 90 at the
    object's side on +X, 180 at its back; `distance` is from the origin; the camera looks at the origin;
  * `fov` is the vertical field of view in degrees; pixels are square; pixel (i, j) is row i from the top,
    column j from the left, and rays pass through pixel centers;
  * depth is the distance along the camera's viewing axis (-Z in camera space), in meters.

Other models' conventions (MVDream's z-up Blender matrices, Zero123's relative poses) get explicit converters
next to the models that need them; they all go through this module.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

_FLOAT = torch.float32


def _as_tensor(x, n: int | None = None, device=None) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=_FLOAT, device=device)
    if t.ndim == 0 and n is not None:
        t = t.expand(n)
    return t


def look_at(eye: torch.Tensor, target: torch.Tensor | None = None, up: torch.Tensor | None = None) -> torch.Tensor:
    """Camera-to-world matrices [N,4,4] for cameras at `eye` [N,3] looking at `target` (default: the origin)."""
    eye = torch.as_tensor(eye, dtype=_FLOAT)
    if eye.ndim == 1:
        eye = eye[None]
    target = torch.zeros_like(eye) if target is None else torch.as_tensor(target, dtype=_FLOAT).expand_as(eye)
    up = torch.tensor([0.0, 1.0, 0.0], device=eye.device).expand_as(eye) if up is None else \
        torch.as_tensor(up, dtype=_FLOAT, device=eye.device).expand_as(eye)
    forward = torch.nn.functional.normalize(target - eye, dim=-1)
    right = torch.linalg.cross(forward, up, dim=-1)
    # Looking straight up or down: any horizontal right vector will do; pick one that keeps azimuth continuous.
    degenerate = right.norm(dim=-1) < 1e-6
    if degenerate.any():
        alt = torch.tensor([1.0, 0.0, 0.0], device=eye.device).expand_as(eye)
        right = torch.where(degenerate[:, None], alt, right)
    right = torch.nn.functional.normalize(right, dim=-1)
    true_up = torch.linalg.cross(right, forward, dim=-1)
    c2w = torch.eye(4, device=eye.device).repeat(eye.shape[0], 1, 1)
    c2w[:, :3, 0] = right
    c2w[:, :3, 1] = true_up
    c2w[:, :3, 2] = -forward
    c2w[:, :3, 3] = eye
    return c2w


def spherical_to_position(elevation, azimuth, distance) -> torch.Tensor:
    """Camera positions [N,3] from elevation / azimuth (degrees) and distance, in the pack's convention."""
    el = torch.deg2rad(torch.as_tensor(elevation, dtype=_FLOAT))
    az = torch.deg2rad(torch.as_tensor(azimuth, dtype=_FLOAT))
    d = torch.as_tensor(distance, dtype=_FLOAT)
    el, az, d = torch.broadcast_tensors(el, az, d)
    return torch.stack([d * torch.cos(el) * torch.sin(az), d * torch.sin(el), d * torch.cos(el) * torch.cos(az)], -1)


@dataclass(frozen=True)
class Cameras:
    """A batch of pinhole cameras: camera-to-world matrices [N,4,4] and vertical fields of view [N] (degrees).

    Immutable by convention: every method returns a new object, so a ComfyUI output can be shared safely.
    """

    c2w: torch.Tensor
    fov: torch.Tensor

    def __post_init__(self):
        c2w = torch.as_tensor(self.c2w, dtype=_FLOAT)
        if c2w.ndim == 2:
            c2w = c2w[None]
        if c2w.ndim != 3 or c2w.shape[-2:] != (4, 4):
            raise ValueError(f"camera matrices must have shape [N,4,4], got {tuple(c2w.shape)}")
        fov = _as_tensor(self.fov, c2w.shape[0], device=c2w.device).reshape(-1)
        if fov.shape[0] == 1 and c2w.shape[0] > 1:
            fov = fov.expand(c2w.shape[0])
        if fov.shape[0] != c2w.shape[0]:
            raise ValueError(f"got {c2w.shape[0]} camera matrices but {fov.shape[0]} fields of view")
        if bool(((fov <= 0) | (fov >= 180)).any()):
            raise ValueError(f"field of view must be in (0, 180) degrees, got {fov.tolist()}")
        object.__setattr__(self, "c2w", c2w)
        object.__setattr__(self, "fov", fov.contiguous())

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_spherical(cls, elevation, azimuth, distance, fov=49.1) -> "Cameras":
        """Cameras on spheres around the origin, looking at it (angles in degrees)."""
        eye = spherical_to_position(elevation, azimuth, distance).reshape(-1, 3)
        return cls(look_at(eye), _as_tensor(fov, eye.shape[0]).reshape(-1).expand(eye.shape[0]))

    @classmethod
    def from_matrices(cls, c2w, fov) -> "Cameras":
        """Cameras from camera-to-world matrices already in the pack's convention (see the module docstring)."""
        return cls(c2w, fov)

    # ---- batch behaviour ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.c2w.shape[0]

    def __getitem__(self, idx) -> "Cameras":
        if isinstance(idx, int):
            idx = [idx]  # keep the batch dimension
        return Cameras(self.c2w[idx], self.fov[idx])

    def to(self, device) -> "Cameras":
        return Cameras(self.c2w.to(device), self.fov.to(device))

    @property
    def device(self) -> torch.device:
        return self.c2w.device

    @staticmethod
    def cat(cams: list["Cameras"]) -> "Cameras":
        return Cameras(torch.cat([c.c2w for c in cams]), torch.cat([c.fov for c in cams]))

    def placed(self, scale: float, offset) -> "Cameras":
        """These cameras moved with an object scaled by `scale` about the origin and moved by `offset`
        (core.world.placed_object): each sees the placed object exactly as it saw the original (the positions
        scaled and moved, the rotations and fields of view kept)."""
        c2w = self.c2w.clone()
        c2w[:, :3, 3] = c2w[:, :3, 3] * float(scale) + torch.as_tensor(offset, dtype=c2w.dtype, device=c2w.device)
        return Cameras(c2w, self.fov)

    # ---- derived quantities -------------------------------------------------------------------------------
    @property
    def position(self) -> torch.Tensor:
        return self.c2w[:, :3, 3]

    @property
    def distance(self) -> torch.Tensor:
        return self.position.norm(dim=-1)

    @property
    def elevation(self) -> torch.Tensor:
        p = self.position
        return torch.rad2deg(torch.asin((p[:, 1] / p.norm(dim=-1).clamp_min(1e-9)).clamp(-1, 1)))

    @property
    def azimuth(self) -> torch.Tensor:
        """Azimuth in degrees, in [-180, 180)."""
        p = self.position
        az = torch.rad2deg(torch.atan2(p[:, 0], p[:, 2]))
        return torch.remainder(az + 180.0, 360.0) - 180.0

    def focal(self, height: int) -> torch.Tensor:
        """Focal length in pixels for an image `height` pixels tall."""
        return 0.5 * height / torch.tan(torch.deg2rad(self.fov) / 2)

    def intrinsics(self, height: int, width: int) -> torch.Tensor:
        """3x3 pixel intrinsics [N,3,3] (OpenCV-style matrix; y down in pixels)."""
        f = self.focal(height)
        K = torch.zeros(len(self), 3, 3, device=self.device)
        K[:, 0, 0] = f
        K[:, 1, 1] = f
        K[:, 0, 2] = width / 2
        K[:, 1, 2] = height / 2
        K[:, 2, 2] = 1
        return K

    def world_to_camera(self) -> torch.Tensor:
        return torch.linalg.inv(self.c2w)

    def rays(self, height: int, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Ray origins and unit directions, each [N,H,W,3], through pixel centers."""
        width = height if width is None else width
        if height < 1 or width < 1:
            raise ValueError(f"image size must be positive, got {height}x{width}")
        dev = self.device
        f = self.focal(height)[:, None, None]
        js = torch.arange(width, device=dev, dtype=_FLOAT) + 0.5
        is_ = torch.arange(height, device=dev, dtype=_FLOAT) + 0.5
        ii, jj = torch.meshgrid(is_, js, indexing="ij")
        x = (jj[None] - width / 2) / f
        y = -(ii[None] - height / 2) / f
        d_cam = torch.stack([x, y, -torch.ones_like(x)], -1)  # [N,H,W,3]
        R = self.c2w[:, :3, :3]
        d = torch.einsum("nij,nhwj->nhwi", R, d_cam)
        d = torch.nn.functional.normalize(d, dim=-1)
        o = self.position[:, None, None, :].expand_as(d)
        return o, d

    def project(self, points: torch.Tensor, height: int, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Project world points [P,3] into every camera: pixel coords [N,P,2] (x right, y down) and depth [N,P]."""
        width = height if width is None else width
        w2c = self.world_to_camera()
        ph = torch.cat([points, torch.ones_like(points[:, :1])], -1)
        pc = torch.einsum("nij,pj->npi", w2c, ph)[..., :3]
        depth = -pc[..., 2]
        f = self.focal(height)[:, None]
        u = pc[..., 0] / depth.clamp_min(1e-9) * f + width / 2
        v = -pc[..., 1] / depth.clamp_min(1e-9) * f + height / 2
        return torch.stack([u, v], -1), depth

    def direction_labels(self, overhead_threshold: float = 60.0, front_halfwidth: float = 45.0,
                         back_halfwidth: float = 45.0) -> list[str]:
        """DreamFusion's view label of each camera: 'overhead', 'front', 'back' or 'side'."""
        return [direction_label(float(e), float(a), overhead_threshold, front_halfwidth, back_halfwidth)
                for e, a in zip(self.elevation, self.azimuth)]


def camera_light(cameras: Cameras, offset=(-0.4, 0.6, 1.0)) -> torch.Tensor:
    """A key light attached to each camera: from above-left of the viewer, as a photographer would place it."""
    v = torch.nn.functional.normalize(torch.tensor(offset, dtype=torch.float32, device=cameras.device), dim=0)
    return torch.nn.functional.normalize(cameras.c2w[:, :3, :3] @ v, dim=-1)


def random_light(cameras: Cameras, generator: torch.Generator | None = None, spread: float = 0.5) -> torch.Tensor:
    """DreamFusion's random point light, as a direction: the camera's own direction jittered by `spread` (so the
    lit side faces the viewer and shading reveals the geometry from every camera)."""
    base = torch.nn.functional.normalize(cameras.position, dim=-1)
    jitter = torch.randn(base.shape, generator=generator).to(base.device) * spread
    return torch.nn.functional.normalize(base + jitter, dim=-1)


def direction_label(elevation: float, azimuth: float, overhead_threshold: float = 60.0,
                    front_halfwidth: float = 45.0, back_halfwidth: float = 45.0) -> str:
    """The view-dependent prompt label for a camera at (elevation, azimuth) in degrees."""
    if elevation > overhead_threshold:
        return "overhead"
    a = abs((azimuth + 180.0) % 360.0 - 180.0)  # 0 = front, 180 = back
    if a <= front_halfwidth:
        return "front"
    if a >= 180.0 - back_halfwidth:
        return "back"
    return "side"


# Blender's world (z up, y back; MVDream's, nerfstudio's, instant-ngp's): its matrices are ours with world y -> z
# and z -> -y; the camera axes are the same (OpenGL: x right, y up, looking down -z).
_Z_UP_FROM_PACK = torch.tensor([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])


def z_up_to_pack(c2w: torch.Tensor) -> torch.Tensor:
    """Camera-to-world matrices [N,4,4] of a z-up world (Blender's, nerfstudio's) in the pack's y-up world."""
    return _Z_UP_FROM_PACK.T.to(c2w) @ c2w


def to_mvdream(cameras: Cameras) -> torch.Tensor:
    """[N,16]: the camera-to-world matrices MVDream's camera embedding takes — in its z-up world, the camera moved
    onto the unit sphere (distance normalized away), flattened row-major. Our azimuth/elevation placement is
    MVDream's, so orbit(4, 15) gives its default cameras."""
    m = _Z_UP_FROM_PACK.to(cameras.c2w) @ cameras.c2w
    m = m.clone()
    m[:, :3, 3] = m[:, :3, 3] / m[:, :3, 3].norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return m.reshape(-1, 16)


def to_zero123(cameras: Cameras, reference: Cameras) -> torch.Tensor:
    """[N,2]: each camera's (elevation, azimuth) in degrees *relative to* the reference camera, as Zero-1-to-3 and
    ComfyUI's StableZero123_Conditioning take them: elevation positive when the camera is higher than the reference
    (Zero123's polar angle, measured from the up axis, decreases), azimuth the angle the camera has moved around
    the up axis, positive counter-clockwise seen from above (Zero123's atan2(y, x) in its z-up world; a right-handed
    turn about our +Y), in [-180, 180). Computed from the camera positions, so any pack camera works."""
    p = cameras.position
    p0 = reference.position.to(p).expand_as(p)
    el = torch.asin((p[:, 1] / p.norm(dim=-1).clamp_min(1e-9)).clamp(-1, 1))
    el0 = torch.asin((p0[:, 1] / p0.norm(dim=-1).clamp_min(1e-9)).clamp(-1, 1))
    turn = p0[:, 2] * p[:, 0] - p0[:, 0] * p[:, 2]   # +Y . (h0 x h): positive for a right-handed turn
    along = p0[:, 0] * p[:, 0] + p0[:, 2] * p[:, 2]
    az = torch.rad2deg(torch.atan2(turn, along))
    return torch.stack([torch.rad2deg(el - el0), torch.remainder(az + 180.0, 360.0) - 180.0], -1)


#: EG3D's FFHQ camera frame: a head at the origin faces +z, the cameras aim at this pivot, the canonical camera
#: sits at (0, 0, 2.7) (rendering_kwargs avg_camera_pivot / avg_camera_radius of its released models)
EG3D_FFHQ_PIVOT = (0.0, 0.0, 0.2)
EG3D_FFHQ_RADIUS = 2.7
_OPENCV_FROM_GL = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))


def eg3d_frame(distance: float = 1.8, pivot=EG3D_FFHQ_PIVOT, radius: float = EG3D_FFHQ_RADIUS):
    """(scale, offset) that put our world into EG3D's: our origin on its pivot, our camera at `distance` on the
    front axis onto its canonical camera. For a generator trained in our own world: (1.0, (0, 0, 0))."""
    pivot = torch.tensor(pivot, dtype=_FLOAT)
    return float((torch.tensor([0.0, 0.0, radius]) - pivot).norm()) / distance, tuple(pivot.tolist())


def to_eg3d(cameras: Cameras, scale: float = 1.0, offset=(0.0, 0.0, 0.0)) -> torch.Tensor:
    """[N,25]: EG3D's camera conditioning c — its cam2world (OpenCV: x right, y down, z forward; world y up, as
    ours) flattened row-major, then its intrinsics normalized by the image size ([fx, 0, 0.5, 0, fy, 0.5, 0, 0, 1],
    fx = fy = 1 / (2 tan(fov / 2))). Our world point p is EG3D's scale * p + offset (eg3d_frame())."""
    m = cameras.c2w @ _OPENCV_FROM_GL.to(cameras.c2w)
    m = m.clone()
    m[:, :3, 3] = m[:, :3, 3] * scale + torch.as_tensor(offset, dtype=_FLOAT, device=m.device)
    f = cameras.focal(1)
    K = torch.zeros(len(cameras), 3, 3, device=m.device)
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = f, f, 0.5, 0.5, 1.0
    return torch.cat([m.reshape(-1, 16), K.reshape(-1, 9)], -1)


def from_eg3d(c: torch.Tensor, scale: float = 1.0, offset=(0.0, 0.0, 0.0)) -> Cameras:
    """Our cameras from EG3D's conditioning c [N,25] (to_eg3d's inverse); refuses another width, skewed or
    non-square intrinsics and a principal point off the centre (our cameras have none of those)."""
    c = torch.as_tensor(c, dtype=_FLOAT)
    if c.ndim == 1:
        c = c[None]
    if c.ndim != 2 or c.shape[-1] != 25:
        raise ValueError(f"EG3D's camera conditioning c has 25 values per camera (a 4x4 cam2world, then 3x3 "
                         f"normalized intrinsics), got shape {tuple(c.shape)}")
    K = c[:, 16:].reshape(-1, 3, 3)
    fx, fy = K[:, 0, 0], K[:, 1, 1]
    if not (torch.allclose(fx, fy, rtol=1e-4) and torch.allclose(K[:, :2, 2], torch.full_like(K[:, :2, 2], 0.5),
                                                                  atol=1e-4) and bool((K[:, 0, 1].abs() < 1e-6).all())):
        raise ValueError("EG3D intrinsics with different fx and fy, a skew or a principal point off the centre: our "
                         f"cameras are square pinholes (got fx {fx.tolist()}, fy {fy.tolist()}, centre "
                         f"{K[:, :2, 2].tolist()})")
    m = c[:, :16].reshape(-1, 4, 4).clone()
    m[:, :3, 3] = (m[:, :3, 3] - torch.as_tensor(offset, dtype=_FLOAT)) / scale
    return Cameras(m @ _OPENCV_FROM_GL, torch.rad2deg(2 * torch.atan(0.5 / fy)))


def zero123_camera_terms(relative: torch.Tensor) -> torch.Tensor:
    """[N,4] the camera terms ComfyUI's StableZero123_Conditioning appends to the CLIP image embedding for relative
    (elevation, azimuth) in degrees: [rad(-elevation), sin(rad(azimuth)), cos(rad(azimuth)), rad(90)]."""
    el, az = torch.deg2rad(relative[:, 0]), torch.deg2rad(relative[:, 1])
    return torch.stack([-el, torch.sin(az), torch.cos(az), torch.full_like(el, torch.pi / 2)], -1)


def orbit(n_views: int, elevation: float = 15.0, distance: float = 1.8, fov: float = 40.0,
          azimuth_start: float = 0.0, azimuth_span: float = 360.0) -> Cameras:
    """N cameras evenly spaced in azimuth around the object at one elevation (a turntable or an MVDream set)."""
    if n_views < 1:
        raise ValueError(f"an orbit needs at least 1 view, got {n_views}")
    step = azimuth_span / n_views
    az = azimuth_start + step * torch.arange(n_views, dtype=_FLOAT)
    return Cameras.from_spherical(torch.full_like(az, elevation), az, torch.full_like(az, distance),
                                  torch.full_like(az, fov))


def alternating_orbit(n_views: int = 6, high: float = 20.0, low: float = -10.0, distance: float = 1.8,
                      fov: float = 40.0, azimuth_start: float = 30.0) -> Cameras:
    """N cameras evenly spaced in azimuth, alternately above (`high`) and below (`low`): Zero123++'s six views
    (azimuth 30 + 60 i, elevation 20 / -10). The views from below see under a table top, those from above into
    a mug: a set at one elevation cannot carve either."""
    if n_views < 2:
        raise ValueError(f"views alternating between two elevations need 2 or more views (one at each); got "
                         f"{n_views}")
    az = azimuth_start + 360.0 / n_views * torch.arange(n_views, dtype=_FLOAT)
    el = torch.tensor([high if i % 2 == 0 else low for i in range(n_views)], dtype=_FLOAT)
    return Cameras.from_spherical(el, az, torch.full_like(az, distance), torch.full_like(az, fov))


@dataclass(frozen=True)
class CameraDistribution:
    """DreamFusion's random camera distribution; every range is a parameter (degrees and meters).

    The defaults follow public DreamFusion implementations, with distances scaled for objects in the unit
    cube: elevation [-10, 90], azimuth [-180, 180), distance [1.5, 2.0], vertical fov [40, 70].
    Elevation is sampled uniformly in angle (`uniform_sphere=False`) or uniformly on the sphere.
    `views_per_group` V > 1 draws MVDream's camera groups instead: each group of V consecutive cameras shares one
    elevation, distance and fov, with azimuths r + i·360/V (i = 0..V-1) from one random r.
    """

    elevation_range: tuple[float, float] = (-10.0, 90.0)
    azimuth_range: tuple[float, float] = (-180.0, 180.0)
    distance_range: tuple[float, float] = (1.5, 2.0)
    fov_range: tuple[float, float] = (40.0, 70.0)
    uniform_sphere: bool = False
    views_per_group: int = 1
    progressive_until: float = 0.0           # DreamCraft3D's progressive views: fraction of the run over which
    start_elevation: float = 0.0             # the ranges widen from the reference view (this elevation, azimuth 0)

    def __post_init__(self):
        if self.views_per_group < 1:
            raise ValueError(f"views_per_group must be at least 1, got {self.views_per_group}")
        for name in ("elevation_range", "azimuth_range", "distance_range", "fov_range"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name} must be (low, high) with low <= high, got ({lo}, {hi})")
        lo, hi = self.elevation_range
        if lo < -90 or hi > 90:
            raise ValueError(f"elevation_range must lie within [-90, 90] degrees, got ({lo}, {hi})")
        if self.distance_range[0] <= 0:
            raise ValueError(f"distance_range must be positive, got {self.distance_range}")
        if self.fov_range[0] <= 0 or self.fov_range[1] >= 180:
            raise ValueError(f"fov_range must lie within (0, 180) degrees, got {self.fov_range}")
        if not 0.0 <= self.progressive_until <= 1.0:
            raise ValueError(f"progressive_until is a fraction of the run, within 0..1, got {self.progressive_until}")

    def at(self, step: int, total: int) -> "CameraDistribution":
        """The distribution at `step` of `total`: with progressive_until > 0, the elevation range widens linearly
        from start_elevation and the azimuth range from 0 (the reference view) to their full ranges by that fraction
        of the run (DreamCraft3D / threestudio's progressive view expansion); else itself."""
        if self.progressive_until <= 0:
            return self
        r = min(1.0, step / max(self.progressive_until * total, 1.0))
        e0 = self.start_elevation
        el = tuple((1 - r) * e0 + r * e for e in self.elevation_range)
        az = tuple(r * a for a in self.azimuth_range)
        return dataclasses.replace(self, elevation_range=el, azimuth_range=az, progressive_until=0.0)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Cameras:
        v = self.views_per_group
        if n % v:
            raise ValueError(f"{n} cameras cannot form groups of {v} views: use a multiple of {v}")
        u = torch.rand(n // v, 4, generator=generator).repeat_interleave(v, 0)

        def lerp(r, x):
            return r[0] + (r[1] - r[0]) * x

        if self.uniform_sphere:
            s0, s1 = (math.sin(math.radians(v)) for v in self.elevation_range)
            el = torch.rad2deg(torch.asin(lerp((s0, s1), u[:, 0])))
        else:
            el = lerp(self.elevation_range, u[:, 0])
        az = lerp(self.azimuth_range, u[:, 1]) + torch.arange(v, dtype=_FLOAT).repeat(n // v) * (360.0 / v)
        return Cameras.from_spherical(el, az, lerp(self.distance_range, u[:, 2]), lerp(self.fov_range, u[:, 3]))
