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
        """[B/V, V] grid-azimuth steps of each view from its group's first view; refuses groups that are not
        one elevation with azimuths on the grid's step."""
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
        if (el - el[:, :1]).abs().max() > 0.5 or (rel - off).abs().max() > 0.05:
            raise ValueError(f"each group of {v} views must share one elevation and differ in azimuth by multiples "
                             f"of {step:g}° (as MVDream's r + i·360/{v}); got elevations {el.tolist()} and azimuths "
                             f"{az.tolist()}")
        return off.long() % int(round(360.0 / step))

    def joint_posterior_mean(self, x_t, t, cond, cameras, background=None) -> torch.Tensor:
        """E[x0 tuple | x_t tuple] for groups of `views` views: [B,3,R,R] (see the class docstring)."""
        v, n_az = self.views, int(round(360.0 / self.grid["azimuth_step"]))
        a = self.alphas_cumprod.to(x_t.device)[t.long()].double()
        st = self._stack(cond)
        bgs = self._backgrounds(background, x_t.shape[0], x_t)
        offsets = self.group_offsets(cameras).to(self.device)
        out = torch.empty_like(x_t)
        firsts = cameras[list(range(0, len(cameras), v))]
        for g, (idx, log_cam) in enumerate(self.candidates(firsts, len(firsts))):
            rows, cols = idx // n_az, idx % n_az
            tup = rows[None] * n_az + (cols[None] + offsets[g][:, None]) % n_az  # [V,k] grid index per view
            logw = log_cam.double()[None].expand(st["C"].shape[0], -1).clone()  # [O,k]
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
        if reference.fill:
            raise ValueError("the world image prior compares the reference with exact renders at its camera, so the "
                             "reference must be as seen (prepared with fill 0), not rescaled to fill the frame")
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
        """([O,K,R,R,3] every candidate turned by every grid azimuth step, over white, at the reference camera;
        [K] the turns in degrees)."""
        ref = self.reference
        turns = torch.arange(0.0, 360.0, self.grid["azimuth_step"])
        cams = Cameras.from_spherical(torch.full_like(turns, ref.elevation), turns, ref.distance, ref.fov)
        objects = [self.world_object(n) for n in names]
        key = content_key(*[_object_fingerprint(o) for o in objects], _renderer_source(),
                          self.resolution, ref.elevation, ref.distance, ref.fov, self.grid["azimuth_step"],
                          self.grid["shading"], "reference-candidates")

        def build():
            return torch.stack([render_object(o, cams, self.resolution, shading=self.grid["shading"],
                                              background=(1.0, 1.0, 1.0)).rgb for o in objects])
        return cached("world_reference_candidates", key, build), turns

    def _match_reference(self) -> tuple:
        """((object, turn in degrees, log weight), ...) for the (object, turn) pairs the reference may show,
        most likely first; pairs below 1e-6 of the best are dropped."""
        names = self.reference_candidates()
        renders, turns = self._reference_renders(names)  # [O,K,R,R,3]
        r = self.resolution
        img = self.reference.composite((1.0, 1.0, 1.0)).permute(2, 0, 1)[None]
        img = torch.nn.functional.interpolate(img, size=(r, r), mode="area")[0].permute(1, 2, 0)
        mse = ((renders - img) ** 2).mean((-1, -2, -3))  # [O,K]
        logw = torch.log_softmax((-mse / (2 * self.tolerance ** 2)).flatten().double(), 0).reshape(mse.shape)
        keep = (logw >= logw.max() - math.log(1e6)).nonzero().tolist()
        comps = sorted(((names[o], float(turns[k]), float(logw[o, k])) for o, k in keep), key=lambda c: -c[2])
        self.reference_mse = float(mse.min())
        self.unconditional_names = names
        return tuple(comps)

    def describe(self) -> str:
        """What the prior believes the reference shows, e.g. 'duck turned 0° (0.98), duck turned 15° (0.02)', and
        how well its best match explains it (RMS colour error against the tolerance)."""
        return (", ".join(f"{n} turned {t:g}° ({math.exp(w):.2f})" for n, t, w in self.components[:4])
                + f"; best match RMS error {math.sqrt(self.reference_mse):.3f} (tolerance {self.tolerance:g})")

    #: the best match explains the reference poorly above this many tolerances of RMS colour error (an exact view
    #: matches within a fraction of one)
    POOR_MATCH = 3.0
    #: a rival reading (another object, or the same turned over 45° away) with this much weight makes it ambiguous
    RIVAL_WEIGHT = 0.1

    def match_warnings(self) -> list[str]:
        """What a user must hear before trusting the result: the best match explains the reference poorly, or a
        rival reading (another object, or front / back) is nearly as likely. Each names the candidates and what
        to change."""
        best_name, best_turn, _ = self.components[0]
        rms = math.sqrt(self.reference_mse)
        fix = ("the World Image Prior compares the picture, as seen from the Reference Image's camera (fill 0, "
               "elevation and distance as the picture was taken), with exact renders: frame the object as the "
               "shipped reference is, or set those to the picture's")
        out = []
        if rms > self.POOR_MATCH * self.tolerance:
            out.append(f"the reference is poorly explained: its best match, {best_name} turned {best_turn:g}°, "
                       f"differs by RMS {rms:.3f}, over {self.POOR_MATCH:g}x the tolerance {self.tolerance:g}; "
                       f"the result may be the wrong object. {fix}")

        def apart(t):
            d = abs(t - best_turn) % 360.0
            return min(d, 360.0 - d) > 45.0
        rivals = [(n, t, math.exp(w)) for n, t, w in self.components[1:]
                  if (n != best_name or apart(t)) and math.exp(w) >= self.RIVAL_WEIGHT]
        if rivals:
            read = ", ".join(f"{n} turned {t:g}° ({p:.2f})" for n, t, p in rivals[:3])
            out.append(f"the reference is ambiguous: {best_name} turned {best_turn:g}° "
                       f"({math.exp(self.components[0][2]):.2f}) against {read}; the result may face the wrong way "
                       f"or be another object. {fix}")
        return out

    def conditioning(self):
        """(conditional, unconditional) for PromptedPrior(conditioning=...): the reference's components, and
        Zero123's null condition."""
        return ("reference", self.components), UNCONDITIONAL

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
