"""The primitive world's reference prior: the exact denoiser of a small, known image distribution.

Its data are renders of world objects from a grid of cameras. Under x_t = a y + s eps with y drawn uniformly from
those renders (optionally weighted by how close each render's camera is to the query camera), the MMSE estimate
E[y | x_t] is a softmax-weighted mean of the renders; epsilon follows. It is a true diffusion model of that world,
text-conditioned (the prompt picks the object; the unconditional model pools every object, so CFG means what it
means) and, in "view-aware" mode, camera-conditioned. No training, no weights: every pipeline runs offline and
every result can be judged against the truth.
"""
from __future__ import annotations

import math
import re

import torch

from ..cache import cached, content_key
from ..cameras import Cameras, to_zero123
from ..world import CATALOGUE, render_object
from ..world.families import FAMILIES, MAX_MEMBERS, family_members, parse_family_prompt
from ..world.lookup import COLOUR_WORDS
from . import NoisePredictor, linear_beta_alphas_cumprod
from .paths import NoisePath, flow_sigmas


def _object_fingerprint(obj) -> torch.Tensor:
    """The object's SDF and albedo at fixed points: changes whenever its construction does."""
    pts = torch.rand(4096, 3, generator=torch.Generator().manual_seed(0)) - 0.5
    d, albedo = obj.shape(pts)
    return torch.cat([d.reshape(-1, 1), albedo.reshape(-1, 3)], 1).mul(1e5).round()


def _renderer_source() -> bytes:
    import importlib
    mods = [importlib.import_module(f"..world.{m}", __package__) for m in ("render", "sdf")]
    return b"".join(open(m.__file__, "rb").read() for m in mods)


MODES = ("view-aware", "2D", "multi-view")


def repaint_layers(layers: torch.Tensor, colour, tolerance: float = 0.12) -> torch.Tensor:
    """Layers [G,4,R,R] (premultiplied colour in [-1,1] space, coverage) with the object's main colour (the
    commonest albedo among fully covered pixels) replaced by `colour` (RGB 0..1) wherever it shows, edges
    included; other parts keep theirs (a red mug keeps its coffee)."""
    a = layers[:, 3:]
    c = ((layers[:, :3] + a) / 2) / a.clamp_min(1e-6)  # unpremultiplied albedo 0..1
    solid = (a[:, 0] > 0.999)
    quant = (c.permute(0, 2, 3, 1)[solid] * 20).round()
    values, counts = quant.unique(dim=0, return_counts=True)
    main = values[counts.argmax()] / 20
    near = ((c - main.reshape(1, 3, 1, 1)).norm(dim=1, keepdim=True) < tolerance) & (a > 0)
    new = torch.where(near, torch.tensor(colour, dtype=c.dtype).reshape(1, 3, 1, 1), c)
    return torch.cat([2 * new * a - a, a], 1)


NOISE_FORMS = ("ddpm", "flow")


def world_noise_path(noise: str = "ddpm", flow_shift: float = 3.0) -> NoisePath | None:
    """The world prior's noise form: 'ddpm' (Stable Diffusion's scaled-linear schedule; None) or 'flow' (x = (1 -
    sigma) x0 + sigma eps over SD3's shifted sigma table, velocity out: as SD3 / Flux are driven)."""
    if noise == "ddpm":
        return None
    if noise == "flow":
        if not 0.1 <= flow_shift <= 10.0:
            raise ValueError(f"the flow shift must be within 0.1..10 (SD3 / SD3.5: 3.0; 1.0: none), got {flow_shift}")
        return NoisePath.flow(flow_sigmas(flow_shift))
    raise ValueError(f"the world prior's noise form is one of {', '.join(NOISE_FORMS)}, got '{noise}'")


class WorldPrior(NoisePredictor):
    """A NoisePredictor over the primitive world's renders (pixel space, resolution 32 or 64).

    Every object is rendered from one camera grid (elevations x azimuth steps, fixed distance and fov) as layers
    (premultiplied colour + coverage), cached on disk (core.cache) since building all 16 takes tens of seconds on a
    CPU. The data a query is judged against are those layers composited over the query's own background (each
    view's random colour or learned environment, predict_eps(background=)), so the posterior is exact for whatever
    the render was composited over: an empty field on a random colour never matches a white snowman.
    mode 'view-aware': each render is weighted by a truncated Gaussian kernel of the angle between its camera and
    the query camera (renders beyond `max_angle` degrees get no weight; the nearest one always keeps some), so only
    the few renders near each query camera are ever compared.
    mode '2D': the camera is ignored, as a text-to-image model sees the world (it will grow Janus faces).
    mode 'multi-view': MVDream's setting: the batch is groups of `views` views of one object (one elevation,
    azimuths differing by multiples of the grid step, e.g. r + i·360/V), denoised jointly: the exact posterior mean
    over the object's render *tuples*, each tuple weighted by the product of its views' likelihoods and the camera
    kernel of the group's first view (the others follow it rigidly, so their angles are the same).
    members K: a prompt means its object's family (core.world.families), narrowed by its colour and shape words;
    the data are K members of it fixed by `member_seed` (member 0 the catalogue object where it fits), and the
    posterior is exact over members x renders, as a text-to-image model is a distribution over many ducks.
    K = 1 is the single catalogue object (repainted by a colour word), as the prior was before families.
    """

    space = "pixel"
    exact = True
    background_input = True
    shadings = ("albedo",)  # the shading of its render sets (the grid's: albedo, or normal for geometry stages)

    def __init__(self, resolution: int = 32, mode: str = "view-aware", kernel_degrees: float = 10.0,
                 max_angle: float = 25.0, elevations=(-10, 0, 10, 20, 30, 45, 60, 75), azimuth_step: float = 15.0,
                 distance: float = 1.8, fov: float = 40.0, shading: str = "albedo", background=(1.0, 1.0, 1.0),
                 views: int = 4, device="cpu", path: NoisePath | None = None, members: int = 1,
                 member_seed: int = 0):
        if mode not in MODES:
            raise ValueError(f"world prior mode must be one of {', '.join(MODES)}, got '{mode}'")
        if mode == "multi-view" and (views < 1 or (360.0 / azimuth_step) % views):
            raise ValueError(f"{views} views cannot split the {azimuth_step:g}° azimuth grid evenly: use a divisor of "
                             f"{int(360 / azimuth_step)}")
        self.views = views if mode == "multi-view" else 1
        if not 1 <= int(members) <= MAX_MEMBERS:
            raise ValueError(f"the world prior's family members K must be 1..{MAX_MEMBERS}, got {members}")
        self.members, self.member_seed = int(members), int(member_seed)
        self._objects: dict = {}  # drawn family members by name (the catalogue's are CATALOGUE's)
        if resolution not in (32, 64):
            raise ValueError(f"the world prior works at 32 or 64 pixels, got {resolution}")
        self.resolution, self.mode = resolution, mode
        if shading not in ("albedo", "normal"):
            raise ValueError(f"the world prior's renders are 'albedo' or 'normal' (normal maps, for geometry "
                             f"stages), got '{shading}'")
        self.shadings = (shading,)
        self.kernel = math.radians(kernel_degrees)
        self.max_angle = math.radians(max_angle)
        self.grid = dict(elevations=tuple(float(e) for e in elevations), azimuth_step=float(azimuth_step),
                         distance=float(distance), fov=float(fov), shading=shading,
                         background=tuple(float(b) for b in background))
        el = torch.tensor(self.grid["elevations"])
        az = torch.arange(0.0, 360.0, azimuth_step)
        ee, aa = torch.meshgrid(el, az, indexing="ij")
        self.cameras = Cameras.from_spherical(ee.reshape(-1), aa.reshape(-1), distance, fov)
        self.fixed_camera = (float(distance), float(fov))
        if path is not None and path.kind != "flow":
            raise ValueError(f"the world prior is offered in the DDPM form (path None) or the flow form; got a "
                             f"{path.kind} path")
        self.path = path
        self.alphas_cumprod = linear_beta_alphas_cumprod() if path is None else path.alphas_cumprod
        self.num_timesteps = self.alphas_cumprod.shape[0]
        self.device = torch.device(device)
        self.dirs = torch.nn.functional.normalize(self.cameras.position, dim=-1).to(self.device)
        self._sets: dict[str, torch.Tensor] = {}
        self._stacks: dict[tuple, torch.Tensor] = {}

    # ---- data -----------------------------------------------------------------------------------------------
    def layers(self, name: str) -> torch.Tensor:
        """[G,4,R,R] renders of one object from every grid camera (self.cameras, self.dirs) as layers to composite:
        channels 0-2 the colour premultiplied by coverage in the prior's [-1,1] space (2·c·alpha - alpha), channel 3
        the coverage alpha; over a background B (in [-1,1]) the image is colour + (1 - alpha) B, exactly."""
        if name not in self._sets and "|" in name:  # "mug|red": the object with its main colour painted
            base, colour = name.split("|", 1)
            self._sets[name] = repaint_layers(self.layers(base), COLOUR_WORDS[colour]) \
                if self.grid["shading"] == "albedo" else self.layers(base)
        if name not in self._sets:
            obj = self.world_object(name)
            key = content_key(_object_fingerprint(obj), _renderer_source(), self.resolution, self.grid, "layers")

            def build():
                rec = render_object(obj, self.cameras, self.resolution, shading=self.grid["shading"],
                                    background=(0.0, 0.0, 0.0))
                a = rec.alpha[..., None]
                return torch.cat([2 * rec.rgb - a, a], -1).permute(0, 3, 1, 2).contiguous()
            self._sets[name] = cached("world_render_sets", key, build).to(self.device)
        return self._sets[name]

    def world_object(self, name: str):
        """The catalogue object or drawn family member called `name` (a repainted 'mug|red': the mug)."""
        base = name.split("|", 1)[0]
        if base in self._objects:
            return self._objects[base]
        if base not in CATALOGUE:
            raise KeyError(f"'{name}' is neither a world object nor a family member this prior drew")
        return CATALOGUE[base]

    def _register(self, members) -> tuple[str, ...]:
        """The names of family members (name, object or None for a catalogue one), their objects kept for
        layers()."""
        for name, obj in members:
            if obj is not None:
                self._objects[name] = obj
        return tuple(n for n, _ in members)

    def family_conditioning(self, prompt: str) -> tuple[str, ...]:
        """The names of the K members the prompt means."""
        return self._register(parse_family_prompt(prompt).members(self.members, self.member_seed))

    def render_set(self, name: str, background=None) -> torch.Tensor:
        """[G,3,R,R] renders in [-1,1] of one object from every grid camera, over `background` (an RGB colour in
        0..1; default the grid's)."""
        lay = self.layers(name)
        b = torch.tensor(self.grid["background"] if background is None else background, device=lay.device)
        return lay[:, :3] + (1 - lay[:, 3:]) * (2 * b - 1).reshape(1, 3, 1, 1)

    def condition(self, prompt: str, negative: str = ""):
        """(conditional, unconditional): the K family members the prompt means (K = 1: the object it names, a
        colour word before it painting its main colour: "a red mug"), and every catalogue object pooled, with the
        prompt's members where K > 1."""
        cond = self.family_conditioning(prompt)
        uncond = tuple(CATALOGUE) if self.members == 1 else tuple(dict.fromkeys((*CATALOGUE, *cond)))
        return cond, uncond

    # ---- the prior ------------------------------------------------------------------------------------------
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1:3] != (self.resolution, self.resolution):
            raise ValueError(f"the world prior takes {self.resolution}² renders, got {tuple(images.shape[1:3])}")
        return images.permute(0, 3, 1, 2) * 2 - 1

    def candidates(self, cameras, batch: int):
        """Per query: (grid indices it may match, their log camera weights). 2D: every grid camera, weight 0."""
        if self.mode == "2D":  # every grid camera: a slice, so the sets are used in place, not gathered
            return [(slice(None), torch.zeros(self.dirs.shape[0], device=self.device))] * batch
        if cameras is None:
            raise ValueError("the view-aware world prior needs the cameras of the renders")
        return self.kernel_candidates(cameras.position)

    def kernel_candidates(self, directions: torch.Tensor):
        """Per query direction [B,3] (any length): (grid indices within max_angle, their log kernel weights)."""
        q = torch.nn.functional.normalize(directions.to(self.device, torch.float32), dim=-1)
        batch = q.shape[0]
        ang = torch.acos((q @ self.dirs.T).clamp(-1, 1))  # [B,G]
        keep = (ang <= self.max_angle) | (ang <= ang.min(1, keepdim=True).values + 1e-6)
        out = []
        for b in range(batch):
            idx = keep[b].nonzero().squeeze(-1)
            out.append((idx, -(ang[b, idx] ** 2) / (2 * self.kernel ** 2)))
        return out

    def _stack(self, cond) -> dict:
        """The conditioning's objects' layers in float64, flattened, with the sums every solid background needs:
        C [O,G,3P] premultiplied colour, A [O,G,P] alpha, cc = |C|², cs [O,G,3] = sum_p C_ch (1 - A), q = |1 - A|²."""
        if cond not in self._stacks:
            lay = torch.stack([self.layers(n) for n in cond]).double()  # [O,G,4,R,R]
            o, g = lay.shape[:2]
            C, A = lay[:, :, :3].reshape(o, g, 3, -1), lay[:, :, 3].reshape(o, g, -1)
            self._stacks[cond] = dict(C=C.reshape(o, g, -1), A=A, cc=(C * C).sum((-1, -2)),
                                      cs=(C * (1 - A)[:, :, None]).sum(-1), q=((1 - A) ** 2).sum(-1))
        return self._stacks[cond]

    def _backgrounds(self, background, n: int, like: torch.Tensor) -> list[torch.Tensor]:
        """Per view, the background in the prior's [-1,1] space, float64: a colour [3] where it is solid (the exact
        posterior then costs two matrix-vector products), else the image [3,P]."""
        if background is None:
            b = 2 * torch.tensor(self.grid["background"], dtype=torch.float64, device=like.device) - 1
            return [b] * n
        if background.shape != like.shape:
            raise ValueError(f"the backgrounds {tuple(background.shape)} do not match the renders {tuple(like.shape)}")
        out = []
        for img in background.to(like.device).double().flatten(2):  # [3,P]
            solid = (img.amax(-1) - img.amin(-1)).max() < 1e-6
            out.append(img[:, 0].clone() if solid else img)
        return out

    @staticmethod
    def _sq_distances(st, idx, x, a, bg) -> torch.Tensor:
        """|x - sqrt(a) y_k|² [O,k] for candidates y_k = C_k + (1 - A_k) B, in float64 (the exponent divides by
        sigma², tiny at low t)."""
        C, A = st["C"][:, idx], st["A"][:, idx]
        if bg.ndim == 1:  # solid: y.x and |y|² from precomputed sums
            bx = (bg[:, None] * x.reshape(3, -1)).sum(0)
            yx = C @ x + bx.sum() - A @ bx
            yy = st["cc"][:, idx] + 2 * st["cs"][:, idx] @ bg + (bg @ bg) * st["q"][:, idx]
            return ((x @ x) - 2 * a.sqrt() * yx + a * yy).clamp_min(0)
        y = C.reshape(*C.shape[:2], 3, -1) + (1 - A)[:, :, None] * bg
        return ((x.reshape(3, -1) - a.sqrt() * y) ** 2).sum((-1, -2))

    @staticmethod
    def _mean(st, idx, w, bg) -> torch.Tensor:
        """sum_k w_k y_k [3P] for softmax weights w [O,k]."""
        C, A = st["C"][:, idx], st["A"][:, idx]  # views when idx is a slice (2D): a vector-matrix product each
        c = (w.reshape(1, -1) @ C.reshape(-1, C.shape[-1]))[0].reshape(3, -1)
        cover = (w.reshape(1, -1) @ A.reshape(-1, A.shape[-1]))[0]
        return (c + (1 - cover) * (bg[:, None] if bg.ndim == 1 else bg)).flatten()

    def group_offsets(self, cameras) -> torch.Tensor:
        """[B/V, V, 2] each view's (grid rows, azimuth steps) from its group's first view. A group may share one
        elevation (MVDream's ring: any elevation) or mix elevations that each lie on the grid's (Zero123++'s six
        views alternating 20° / -10°: the views from below see under a table top); azimuths must differ by
        multiples of the grid's step."""
        v, step = self.views, self.grid["azimuth_step"]
        if cameras is None:
            raise ValueError("the multi-view world prior needs the cameras of the renders")
        if len(cameras) % v:
            raise ValueError(f"the multi-view world prior denoises groups of {v} views: a batch of {len(cameras)} "
                             f"views cannot be grouped; use a multiple of {v}")
        el = cameras.elevation.reshape(-1, v).cpu()
        az = cameras.azimuth.reshape(-1, v).cpu()
        rel = torch.remainder(az - az[:, :1], 360.0) / step
        off = rel.round()
        grid_el = torch.tensor(self.grid["elevations"])
        dist = (el[..., None] - grid_el).abs()  # [G,V,E]
        one_ring = (el - el[:, :1]).abs().amax(1) <= 0.5
        on_grid = (dist.amin(-1) <= 0.5).all(1)
        if not bool((one_ring | on_grid).all()) or (rel - off).abs().max() > 0.05:
            raise ValueError(f"each group of {v} views must share one elevation, or take each of its elevations from "
                             f"the prior's grid ({', '.join(f'{e:g}' for e in self.grid['elevations'])}), and differ "
                             f"in azimuth by multiples of {step:g}° (as MVDream's r + i·360/{v}, or Zero123++'s six "
                             f"views at 20° / -10°); got elevations {el.tolist()} and azimuths {az.tolist()}")
        rows = dist.argmin(-1)
        drow = torch.where(one_ring[:, None], torch.zeros_like(rows), rows - rows[:, :1])
        return torch.stack([drow, off.long() % int(round(360.0 / step))], -1)

    def joint_posterior_mean(self, x_t, t, cond, cameras, background=None) -> torch.Tensor:
        """E[x0 tuple | x_t tuple] for groups of `views` views: [B,3,R,R] (see the class docstring)."""
        v, n_az = self.views, int(round(360.0 / self.grid["azimuth_step"]))
        n_rows = len(self.grid["elevations"])
        a = self.alphas_cumprod.to(x_t.device)[t.long()].double()
        st = self._stack(cond)
        bgs = self._backgrounds(background, x_t.shape[0], x_t)
        offsets = self.group_offsets(cameras).to(self.device)
        out = torch.empty_like(x_t)
        firsts = cameras[list(range(0, len(cameras), v))]
        for g, (idx, log_cam) in enumerate(self.candidates(firsts, len(firsts))):
            rows = idx[None] // n_az + offsets[g][:, :1]  # [V,k] each view's grid row per candidate of the first
            cols = (idx[None] % n_az + offsets[g][:, 1:]) % n_az
            inside = ((rows >= 0) & (rows < n_rows)).all(0)  # a tuple whose views all lie on the grid
            tup = rows.clamp(0, n_rows - 1) * n_az + cols  # [V,k] grid index per view
            logw = log_cam.double()[None].expand(st["C"].shape[0], -1).clone()  # [O,k]
            logw[:, ~inside] = -math.inf
            for i in range(v):
                b = g * v + i
                logw -= self._sq_distances(st, tup[i], x_t[b].flatten().double(), a[b], bgs[b]) / (2 * (1 - a[b]))
            w = torch.softmax(logw.flatten(), 0).reshape(logw.shape)
            for i in range(v):
                b = g * v + i
                out[b] = self._mean(st, tup[i], w, bgs[b]).reshape(x_t.shape[1:]).to(x_t.dtype)
        return out

    def posterior_mean(self, x_t, t, cond, cameras=None, background=None) -> torch.Tensor:
        """E[x0 | x_t] over the renders of the conditioning's objects, composited over `background` ([B,3,R,R] in
        [-1,1], per view; default the grid's colour): [B,3,R,R]."""
        if self.mode == "multi-view":
            return self.joint_posterior_mean(x_t, t, cond, cameras, background)
        a = self.alphas_cumprod.to(x_t.device)[t.long()].double()
        st = self._stack(cond)
        bgs = self._backgrounds(background, x_t.shape[0], x_t)
        out = torch.empty_like(x_t)
        for b, (idx, log_cam) in enumerate(self.candidates(cameras, x_t.shape[0])):
            d2 = self._sq_distances(st, idx, x_t[b].flatten().double(), a[b], bgs[b])
            logw = -d2 / (2 * (1 - a[b])) + log_cam.double()[None]
            w = torch.softmax(logw.flatten(), 0).reshape(logw.shape)
            out[b] = self._mean(st, idx, w, bgs[b]).reshape(x_t.shape[1:]).to(x_t.dtype)
        return out

    @torch.no_grad()
    def predict_eps(self, x_t, t, cond, cameras=None, background=None) -> torch.Tensor:
        """background: the image behind each render in the prior's space ([B,3,R,R], e.g. encode(record.background))
        or None for the grid's colour; the posterior is the exact one for that background."""
        if self.path is not None:  # as a flow model is driven: native input, velocity out, CONST's x0 = x - sigma v
            x = self.path.to_native(x_t, t)
            sigma = self.path.sigma_at(t).to(x).reshape(-1, 1, 1, 1)
            x0 = x - sigma * self.predict_velocity(x, t, cond, cameras, background)
            return self.path.eps_from_x0(x, x0, t)
        x0 = self.posterior_mean(x_t, t, cond, cameras, background)
        a = self.alphas_cumprod.to(x_t.device)[t.long()].reshape(-1, 1, 1, 1)
        return (x_t - a.sqrt() * x0) / (1 - a).sqrt()

    @torch.no_grad()
    def predict_velocity(self, x, t, cond, cameras=None, background=None) -> torch.Tensor:
        """The flow form's own output for its native input x = (1 - sigma) x0 + sigma eps at table entry t: the
        velocity v = eps - x0 of the exact posterior, (x - E[x0 | x]) / sigma."""
        if self.path is None:
            raise ValueError("this world prior is in the DDPM form; make it with path=NoisePath.flow(...)")
        x0 = self.posterior_mean(x / self.path.norms.to(x)[t.long()].reshape(-1, 1, 1, 1), t, cond, cameras,
                                 background)
        return (x - x0) / self.path.sigma_at(t).to(x).reshape(-1, 1, 1, 1)

    def image_set_prior(self):
        """In view-aware and 2D modes (2D: like Stable Diffusion, blind to the camera; its boost, the image set,
        sees it), the exact prior of a set of images: what fine-tuning on them would make (BSD's boost)."""
        return ImageSetPrior(self) if self.mode in ("view-aware", "2D") else None


UNCONDITIONAL = "unconditional"


def _family_of(name: str) -> str:
    """The family a candidate belongs to: 'duck' for 'duck', 'duck~0.3' or 'duck|red' (a near-twin member is the
    same object to a user, not a rival reading)."""
    return re.split(r"[+/~|@]", name, maxsplit=1)[0]


class WorldImagePrior(WorldPrior):
    """Zero-1-to-3 of the world: novel views of whatever the reference image shows, judged relative to it.

    The reference (core.reference.Reference, seen from its camera at azimuth 0) is compared with exact renders of
    every world object, turned by every grid azimuth step, at that camera (over white): the posterior over
    (object, turn) is softmax(-mse / (2 tolerance²)). A render at a camera whose pose *relative to the reference*
    is (elevation e, azimuth a) (core.cameras.to_zero123, Zero123's convention) is then denoised exactly against
    the mixture of those objects seen at elevation e_ref + e and turned by (their turn + a), each render weighted
    by the view-aware kernel. Its unconditional model is Zero123's null condition: every object, from anywhere.
    """

    text_prompts = False

    def __init__(self, reference, resolution: int = 32, tolerance: float = 0.01, device="cpu", **kw):
        """kw: WorldPrior's (members K: the reference is matched against K members of every family)."""
        super().__init__(resolution, "view-aware", device=device, **kw)
        if tolerance <= 0:
            raise ValueError(f"the reference tolerance must be positive, got {tolerance}")
        self.reference, self.tolerance = reference, float(tolerance)
        self.ref_camera = reference.camera
        self.components = self._match_reference()

    def image_set_prior(self):
        """None: its conditional is the reference, which an image set would replace (BSD needs a text prior)."""
        return None

    def reference_candidates(self) -> tuple[str, ...]:
        """What the reference may show: every catalogue object (K = 1), or K members of every family."""
        if self.members == 1:
            return tuple(CATALOGUE)
        return tuple(n for fam in FAMILIES.values()
                     for n in self._register(family_members(fam, self.members, self.member_seed)))

    def _reference_renders(self, names) -> tuple[torch.Tensor, torch.Tensor]:
        """([O,K,R,R,4] every candidate turned by every grid azimuth step at the reference camera: colour over
        white and coverage; [K] the turns in degrees)."""
        ref = self.reference
        turns = torch.arange(0.0, 360.0, self.grid["azimuth_step"])
        cams = Cameras.from_spherical(torch.full_like(turns, ref.elevation), turns, ref.distance, ref.fov)
        objects = [self.world_object(n) for n in names]
        key = content_key(*[_object_fingerprint(o) for o in objects], _renderer_source(),
                          self.resolution, ref.elevation, ref.distance, ref.fov, self.grid["azimuth_step"],
                          self.grid["shading"], "reference-candidates-rgba")

        def build():
            recs = [render_object(o, cams, self.resolution, shading=self.grid["shading"], background=(1.0, 1.0, 1.0))
                    for o in objects]
            return torch.stack([torch.cat([r.rgb, r.alpha[..., None]], -1) for r in recs])
        return cached("world_reference_candidates", key, build), turns

    def _reference_image(self) -> torch.Tensor:
        """[R,R,3] the reference over white at the prior's resolution."""
        r = self.resolution
        img = self.reference.composite((1.0, 1.0, 1.0)).permute(2, 0, 1)[None]
        return torch.nn.functional.interpolate(img, size=(r, r), mode="area")[0].permute(1, 2, 0)

    #: the framing candidates are compared in, whatever the picture's (Reference Image's default fill)
    MATCH_FILL = 0.85
    #: candidates placed and judged exactly when the picture is framed unlike the world's own view
    SHORTLIST = 6

    def _framing_free_errors(self, renders: torch.Tensor) -> torch.Tensor:
        """[O,K] mean squared colour error of each candidate against the reference, both reframed to MATCH_FILL:
        which object and turn the picture shows, whatever its scale and centring."""
        from ..reference import reframe
        r = self.resolution
        ref = self.reference
        s = ref.image.shape[0]
        img = reframe(ref.composite((1.0, 1.0, 1.0))[None], ref.mask[None], self.MATCH_FILL, s)
        img = torch.nn.functional.interpolate(img.permute(0, 3, 1, 2), size=(r, r), mode="area").permute(0, 2, 3, 1)
        flat = renders.flatten(0, 1)
        cand = reframe(flat[..., :3], flat[..., 3], self.MATCH_FILL, r)
        return ((cand - img) ** 2).mean((-1, -2, -3)).reshape(renders.shape[:2])

    def _placement(self, obj, turn: float, iterations: int = 3) -> tuple[float, tuple]:
        """(scale, offset) placing `obj`, seen turned by `turn`, where the picture shows it: its silhouette's box
        matched to the reference mask's in size and centre (scale about the origin, offset across the view),
        refined by re-rendering."""
        from ..reference import framing_box
        from ..world import placed_object
        ref = self.reference
        size = ref.mask.shape[0]
        cy, cx, side = framing_box(ref.mask, 1.0)
        want = (2 * cx / size - 1, 2 * cy / size - 1, 2 * side / size)
        cam = Cameras.from_spherical([ref.elevation], [turn], ref.distance, ref.fov)
        right, up = cam.c2w[0, :3, 0], cam.c2w[0, :3, 1]
        reach = ref.distance * math.tan(math.radians(ref.fov) / 2)
        scale, offset = 1.0, torch.zeros(3)
        for _ in range(iterations):
            shown = obj if scale == 1.0 and not offset.any() else placed_object(obj, scale, offset.tolist())
            alpha = render_object(shown, cam, size, shading="albedo").alpha[0]
            box = framing_box(alpha, 1.0)
            if box is None:
                break
            u, v, w = 2 * box[1] / size - 1, 2 * box[0] / size - 1, 2 * box[2] / size
            k = want[2] / w  # grow about the origin: the centre's image moves with it
            offset = offset * k + reach * ((want[0] - k * u) * right - (want[1] - k * v) * up)
            scale *= k
        return float(scale), tuple(float(o) for o in offset)

    def _match_reference(self) -> tuple:
        """((object, turn in degrees, log weight), ...) for the (object, turn) pairs the reference may show,
        most likely first; pairs below 1e-6 of the best are dropped.

        A picture that one candidate explains as seen (within AS_SEEN tolerances) is weighed against every pair's
        exact render. Otherwise it is framed unlike the world's own view (another scale, off centre): the pairs that
        best match it whatever the framing (`_framing_free_errors`) are placed as the picture shows them
        (`_placement`, as new objects 'name@scale(offset)') and weighed by their exact renders."""
        names = self.reference_candidates()
        renders, turns = self._reference_renders(names)  # [O,K,R,R,4]
        self.unconditional_names = names
        self._candidate_renders = renders, turns
        self.placement = None
        img = self._reference_image()
        mse = ((renders[..., :3] - img) ** 2).mean((-1, -2, -3))  # [O,K]
        pairs = [(names[i], float(turns[j]), float(mse[i, j])) for i in range(len(names)) for j in range(len(turns))]
        free = self._framing_free_errors(renders)
        self.framing_free_rms = math.sqrt(float(free.min()))
        best_family = _family_of(names[int(free.min(1).values.argmin())])
        others = [i for i, n in enumerate(names) if _family_of(n) != best_family]
        self.rival_family = min(((math.sqrt(float(free[i].min())), names[i]) for i in others), default=None)
        if math.sqrt(float(mse.min())) > self.AS_SEEN * self.tolerance:
            placed = self._placed_pairs(names, turns, free, img)
            if min(p[2] for p in placed) < float(mse.min()):
                pairs = placed
        errors = torch.tensor([p[2] for p in pairs], dtype=torch.float64)
        logw = torch.log_softmax(-errors / (2 * self.tolerance ** 2), 0)
        keep = (logw >= logw.max() - math.log(1e6)).nonzero().flatten().tolist()
        self.reference_mse = float(errors.min())
        comps = sorted(((pairs[i][0], pairs[i][1], float(logw[i])) for i in keep), key=lambda c: -c[2])
        if "@" in comps[0][0]:
            self.placement = self._placements[comps[0][0]]
        return tuple(comps)

    #: a best match within this many tolerances of RMS error explains the picture as seen, with no placing
    AS_SEEN = 2.0
    #: a placing within this scale (relative) and offset of the world's own is no placing: the object is kept as is
    SAME_PLACE = (0.01, 0.005)

    def _placed_pairs(self, names, turns, free: torch.Tensor, img: torch.Tensor) -> list:
        """[(placed name, turn, mean squared error)] for the SHORTLIST pairs that best match the picture whatever its
        framing, each placed where the picture shows it and rendered exactly at the reference camera (at the
        reference's size, area-averaged to the prior's: as the reference itself was)."""
        from ..world import placed_object
        ref = self.reference
        size = ref.mask.shape[0]
        self._placements = {}
        out = []
        for flat in free.flatten().argsort()[:self.SHORTLIST].tolist():
            i, j = divmod(flat, free.shape[1])
            obj = self.world_object(names[i])
            scale, offset = self._placement(obj, float(turns[j]))
            if abs(scale - 1) < self.SAME_PLACE[0] and max(abs(o) for o in offset) < self.SAME_PLACE[1]:
                shown = obj  # where the world has it (a world view whose fine parts alias at 32², the house's)
            else:
                shown = placed_object(obj, scale, offset, names[i])
                self._objects[shown.name] = shown
                self._placements[shown.name] = (scale, offset)
            cam = Cameras.from_spherical([ref.elevation], [float(turns[j])], ref.distance, ref.fov)
            rgb = render_object(shown, cam, size, shading=self.grid["shading"], background=(1.0, 1.0, 1.0)).rgb
            rgb = torch.nn.functional.interpolate(rgb.permute(0, 3, 1, 2), size=img.shape[:2], mode="area")
            out.append((shown.name, float(turns[j]), float(((rgb[0].permute(1, 2, 0) - img) ** 2).mean())))
        return out

    def shown_object(self):
        """The world object the reference most likely shows, placed as the picture frames it: what a result from
        this reference is judged against."""
        return self.world_object(self.components[0][0])

    def describe(self) -> str:
        """What the prior believes the reference shows, e.g. 'duck turned 0° (0.98), duck turned 15° (0.02)', and
        how well its best match explains it (RMS colour error against the tolerance)."""
        placed = "" if self.placement is None else (
            f"; the picture frames it at {self.placement[0]:.2f}x the world's size, moved "
            f"({', '.join(f'{o:+.2f}' for o in self.placement[1])}), and the prior places it so")
        return (", ".join(f"{n} turned {t:g}° ({math.exp(w):.2f})" for n, t, w in self.components[:4])
                + f"; best match RMS error {math.sqrt(self.reference_mse):.3f} (tolerance {self.tolerance:g})"
                + placed)

    #: the best match explains the reference poorly above this RMS colour error, both framed alike (32²): catalogue
    #: objects under shifted, scaled and filled framings match their own renders within 0.14 and every other
    #: family's from 0.13 (the yellow duck against the yellow torus) and mostly 0.19 up
    POOR_MATCH = 0.16
    #: another family whose best framed-alike error is within this factor of the best's is a rival reading (the
    #: catalogue's own pictures: a factor 1.6 or more)
    RIVAL_FAMILY = 1.25
    #: a rival reading (another object, or the same turned over 45° away) with this much weight makes it ambiguous
    RIVAL_WEIGHT = 0.1

    def _same_reading(self, a: tuple, b: tuple) -> bool:
        """Whether two readings (name, turn) are one 3D object: the same candidate (placing aside) whose views at
        the reference's elevation agree all the way round when turned by the two turns (a symmetric object's
        'back' is its front)."""
        base_a, base_b = a[0].split("@", 1)[0], b[0].split("@", 1)[0]
        if base_a != base_b:
            return False
        renders, turns = self._candidate_renders
        o = self.unconditional_names.index(base_a)
        step = float(turns[1] - turns[0])
        shift = round((b[1] - a[1]) / step) % len(turns)
        diff = ((renders[o] - renders[o].roll(-shift, 0)) ** 2).mean()
        return math.sqrt(float(diff)) <= self.AS_SEEN * self.tolerance

    def match_warnings(self) -> list[str]:
        """What a user must hear before trusting the result: the best match explains the reference poorly, or a
        rival reading (another object, or the same one facing another way) is nearly as likely. Each names the
        candidates and what to change."""
        best = self.components[0]
        rms = math.sqrt(self.reference_mse)
        out = []
        if self.framing_free_rms > self.POOR_MATCH:
            out.append(f"the reference is poorly explained: its best match, {best[0]} turned {best[1]:g}°, differs "
                       f"by RMS {self.framing_free_rms:.3f} framed alike (over {self.POOR_MATCH:g}; the world's own "
                       f"objects match within 0.07, other objects differ by 0.2 or more) and by {rms:.3f} as placed; "
                       f"the result "
                       f"may be the wrong object. The picture may show something the world does not hold, or be "
                       f"taken from another height: set the Reference Image's elevation to the picture's, and give "
                       f"a clean mask of the whole object")
        if self.rival_family and self.rival_family[0] < self.RIVAL_FAMILY * self.framing_free_rms:
            out.append(f"the reference may show another object: framed alike, {best[0]} differs from it by RMS "
                       f"{self.framing_free_rms:.3f} and {self.rival_family[1]} by {self.rival_family[0]:.3f}; the "
                       f"result may be the wrong object. Use a picture that shows what tells them apart, larger in "
                       f"the frame")
        rivals = [(n, t, math.exp(w)) for n, t, w in self.components[1:]
                  if math.exp(w) >= self.RIVAL_WEIGHT and not self._same_reading(best, (n, t))]
        if rivals:
            read = ", ".join(f"{n} turned {t:g}° ({p:.2f})" for n, t, p in rivals[:3])
            out.append(f"the reference is ambiguous: {best[0]} turned {best[1]:g}° ({math.exp(best[2]):.2f}) against "
                       f"{read}; the result may face the wrong way or be another object. Use a picture that shows "
                       f"what tells them apart (a three-quarter view, the object larger in the frame), or set the "
                       f"Reference Image's elevation to the picture's")
        return out

    def conditioning(self, placed: bool = True):
        """(conditional, unconditional) for PromptedPrior(conditioning=...): the reference's components, and
        Zero123's null condition. placed=False: the components' objects where the world has them (their weights as
        the placed ones earned), for renders whose cameras move with the placing (Cameras.placed) instead."""
        comps = self.components if placed else tuple((n.split("@", 1)[0], t, w) for n, t, w in self.components)
        return ("reference", comps), UNCONDITIONAL

    def condition(self, prompt: str, negative: str = ""):
        raise ValueError("the world image prior is conditioned by its reference image, not by text")

    def world_directions(self, cameras, turn: float) -> torch.Tensor:
        """[B,3] the directions, in the world's own frame, of the views Zero123 is asked for: elevation e_ref + e,
        and the reference's azimuth turned right-handedly about +Y by (turn + a), from to_zero123's (e, a)."""
        rel = to_zero123(cameras.to("cpu"), self.ref_camera)
        el = torch.deg2rad(self.reference.elevation + rel[:, 0])
        th = torch.deg2rad(turn + rel[:, 1])
        h = torch.cos(el)  # the reference looks along +Z at azimuth 0; a right-handed turn about +Y by th:
        return torch.stack([h * torch.sin(th), torch.sin(el), h * torch.cos(th)], -1)

    def posterior_mean(self, x_t, t, cond, cameras=None, background=None) -> torch.Tensor:
        a = self.alphas_cumprod.to(x_t.device)[t.long()].double()
        bgs = self._backgrounds(background, x_t.shape[0], x_t)
        out = torch.empty_like(x_t)
        if cond == UNCONDITIONAL:
            st = self._stack(self.unconditional_names)
            for b in range(x_t.shape[0]):
                d2 = self._sq_distances(st, slice(None), x_t[b].flatten().double(), a[b], bgs[b])
                w = torch.softmax((-d2 / (2 * (1 - a[b]))).flatten(), 0).reshape(d2.shape)
                out[b] = self._mean(st, slice(None), w, bgs[b]).reshape(x_t.shape[1:]).to(x_t.dtype)
            return out
        if cameras is None:
            raise ValueError("the world image prior needs the cameras of the renders (their pose relative to the "
                             "reference)")
        _, comps = cond
        parts = []  # per component: (stack, candidates per query)
        for name, turn, logw in comps:
            parts.append((self._stack((name,)), self.kernel_candidates(self.world_directions(cameras, turn)), logw))
        for b in range(x_t.shape[0]):
            x = x_t[b].flatten().double()
            logws = []
            for st, cands, lw in parts:
                idx, log_cam = cands[b]
                d2 = self._sq_distances(st, idx, x, a[b], bgs[b])
                logws.append((-d2 / (2 * (1 - a[b])) + log_cam.double()[None] + lw).flatten())
            w = torch.softmax(torch.cat(logws), 0)
            acc, i = 0, 0
            for st, cands, _ in parts:
                k = cands[b][0].numel()
                acc = acc + self._mean(st, cands[b][0], w[i:i + k][None], bgs[b])
                i += k
            # _mean adds (1 - coverage) * background per component: subtract the extra copies
            bg = bgs[b][:, None] if bgs[b].ndim == 1 else bgs[b]
            extra = (len(parts) - 1) * bg.expand(3, x.numel() // 3).flatten()
            out[b] = (acc - extra).reshape(x_t.shape[1:]).to(x_t.dtype)
        return out


BOOTSTRAP = "bootstrap"


class ImageSetPrior(WorldPrior):
    """The exact denoiser of a given image set seen from given cameras, view-aware: what "fine-tuning the world
    prior on these images" means exactly (BSD's DreamBooth model of the world). It keeps its base prior's
    resolution, kernel and fixed camera; its one conditional, BOOTSTRAP, is the image set (set_images)."""

    def __init__(self, base: WorldPrior):
        super().__init__(base.resolution, "view-aware", kernel_degrees=math.degrees(base.kernel),
                         max_angle=math.degrees(base.max_angle), device=base.device, **base.grid)
        self.base = base
        self.alphas_cumprod, self.num_timesteps = base.alphas_cumprod, base.num_timesteps  # its base's timeline
        self._images = None

    def set_images(self, layers: torch.Tensor, cameras) -> None:
        """layers [N,4,R,R] as WorldPrior.layers (premultiplied colour in [-1,1] space, coverage), seen from
        `cameras` (any directions: the kernel finds the nearest)."""
        if layers.ndim != 4 or layers.shape[1] != 4 or len(cameras) != layers.shape[0]:
            raise ValueError(f"the image set must be [N,4,R,R] layers with one camera each, got "
                             f"{tuple(layers.shape)} for {len(cameras)} cameras")
        self._images = layers.to(self.device, torch.float32)
        self.dirs = torch.nn.functional.normalize(cameras.position.to(self.device, torch.float32), dim=-1)
        self._stacks = {}

    @property
    def ready(self) -> bool:
        return self._images is not None

    def layers(self, name: str) -> torch.Tensor:
        if name != BOOTSTRAP:
            raise ValueError(f"the image-set prior holds only its own images ('{BOOTSTRAP}'), not '{name}'")
        if self._images is None:
            raise ValueError("the image-set prior has no images yet: call set_images first")
        return self._images

    def condition(self, prompt: str = "", negative: str = ""):
        return (BOOTSTRAP,), (BOOTSTRAP,)
