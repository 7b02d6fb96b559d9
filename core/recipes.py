"""The shipped world workflows' recipes as data, and the runs that follow them.

RECIPES holds each world workflow's settings once, by the node of its spec (scripts/build_workflows.py) that takes
them and that node's own input names: build_workflows writes them into the workflow JSONs, and the runs below (what
the benches and tests run) read them, so a bench row is the shipped graph's result. tests/host/test_recipes.py fails
if a shipped workflow and its recipe disagree. Judging a result is core.evaluate's.
"""
from __future__ import annotations

import torch

from .cameras import CameraDistribution, Cameras
from .evaluate import evaluate_field, training_views

#: the world's text-to-3D cameras: DreamFusion's distribution at the world prior's distance and fov
WORLD_CAMERAS = {"elevation_min": -10.0, "elevation_max": 75.0, "distance_min": 1.8, "distance_max": 1.8,
                 "fov_min": 40.0, "fov_max": 40.0}
#: NeuS + eikonal, 300 steps: the optimization every world text-to-3D graph runs
WORLD_FIT = {"steps": 300, "learning_rate": 0.02, "samples_per_ray": 24, "seed": 0}
EIKONAL = {"weight": 0.1}
#: the loss settings the world text-to-3D graphs share (t_max annealed to 0.5; random backgrounds half the time)
WORLD_DISTILLATION = {"guidance_scale": 10.0, "t_max_end": 0.5, "random_background": 0.5}
#: the world prior over 4 members of the prompt's family (core.world.families), drawn by seed 0: the graphs whose
#: method's point is a prior of many answers (ProlificDreamer: one crisp member, not their average; MVDream: every
#: view the same member)
WORLD_FAMILY = {"members": 4, "member_seed": 0}

RECIPES = {
    "dreamfusion_world": {
        "prior": {"mode": "view-aware", "resolution": "32"}, "cams": WORLD_CAMERAS,
        "sds": {**WORLD_DISTILLATION, "views_per_step": 4}, "eik": EIKONAL, "fit": WORLD_FIT},
    "mvdream_world": {
        "prior": {"mode": "multi-view", "resolution": "32", **WORLD_FAMILY}, "cams": {"views": 4, **WORLD_CAMERAS},
        "mvsds": {**WORLD_DISTILLATION, "views": 4, "groups_per_step": 1, "cfg_rescale": 0.5, "x0_form": True},
        "eik": EIKONAL, "fit": WORLD_FIT},
    "prolificdreamer_world": {
        "prior": {"mode": "view-aware", "resolution": "32", **WORLD_FAMILY}, "cams": WORLD_CAMERAS,
        "vsd": {**WORLD_DISTILLATION, "views_per_step": 4, "estimator": "auto", "estimator_lr": 0.001,
                "estimator_steps": 0},
        "eik": EIKONAL, "fit": WORLD_FIT},
    "dreamcraft3d_world": {
        "image_prior": {"resolution": "32", "tolerance": 0.01}, "text_prior": {"mode": "2D", "resolution": "32"},
        "ref": {"elevation": 15.0, "distance": 1.8, "fov": 40.0, "size": 128},
        "cams": {"elevation_min": -10.0, "elevation_max": 45.0, "distance_min": 1.8, "distance_max": 1.8,
                 "fov_min": 40.0, "fov_max": 40.0},
        "hybrid": {"guidance_3d": 5.0, "guidance_2d": 10.0, "views_per_step": 4, "anneal_until": 0.04,
                   "progressive_until": 0.04, "random_background": WORLD_DISTILLATION["random_background"]},
        "ref_loss": {"rays_per_step": 512, "rgb_weight": 1.0, "mask_weight": 1.0},
        "eik": EIKONAL,
        "coarse": {"steps": 200, "learning_rate": 0.02, "samples_per_ray": 24, "seed": 0}},
    "flow_world": {
        "prior": {"mode": "view-aware", "resolution": "32", "noise": "flow", "flow_shift": 3.0}, "cams": WORLD_CAMERAS,
        "sds": {**WORLD_DISTILLATION, "views_per_step": 4, "form": "rfds", "weighting": "rfds"},
        "eik": EIKONAL, "fit": WORLD_FIT},
    "geodream_world": {
        "mv_prior": {"mode": "multi-view", "resolution": "64"},
        "sampler": {"views": 4, "elevation": 15.0, "azimuth_start": 0.0, "steps": 30, "guidance_scale": 7.5, "seed": 0},
        "volume": {"method": "learned", "grid_size": 32},
        "field": {"volume_lr": 0.1, "volume_decay": 0.1, "residual_lr": 0.05, "seed": 0},
        "prior": {"mode": "view-aware", "resolution": "32"},
        "cams": {"elevation_min": -10.0, "elevation_max": 45.0, "distance_min": 1.8, "distance_max": 1.8,
                 "fov_min": 40.0, "fov_max": 40.0},
        "vsd": {"guidance_scale": 7.5, "views_per_step": 4, "t_max_end": 0.5, "estimator": "auto",
                "estimator_steps": 0, "random_background": WORLD_DISTILLATION["random_background"]},
        "eik": EIKONAL,
        "fit": {"steps": 60, "learning_rate": 0.02, "samples_per_ray": 24, "seed": 0}},
}
#: the loss node of each world text-to-3D recipe, by the method name core.recipes' runs take
TEXT_TO_3D = {"sds": ("dreamfusion_world", "sds"), "mvsds": ("mvdream_world", "mvsds"),
              "vsd": ("prolificdreamer_world", "vsd")}


def cameras_of(inputs: dict, **changes) -> CameraDistribution:
    """A camera distribution node's inputs (its azimuth all around unless given) as a CameraDistribution."""
    c = {"azimuth_min": -180.0, "azimuth_max": 180.0} | inputs
    return CameraDistribution((c["elevation_min"], c["elevation_max"]), (c["azimuth_min"], c["azimuth_max"]),
                              (c["distance_min"], c["distance_max"]), (c["fov_min"], c["fov_max"]), **changes)


def _optimize_new_field(kind, terms, eikonal: float, field, field_kw, steps, lr, seed, n_samples, on_progress, device):
    """A world run's end: the eikonal term for NeuS, a new seeded field of `kind` unless one is given, the loop."""
    from .fields import make_field
    from .losses.regularizers import EikonalLoss
    from .optimize import optimize
    if kind == "neus":
        terms.append(EikonalLoss(eikonal))
    if field is None:
        torch.manual_seed(seed)
        field = make_field(kind, **(field_kw or {}))
    return optimize(field, terms, steps, lr=lr, seed=seed, n_samples=n_samples, on_progress=on_progress,
                    device=device)


def fit_to_views(obj, kind: str = "neus", steps: int = 600, lr: float = 0.02, n_views: int = 24,
                 resolution: int = 64, rays_per_step: int = 1024, n_samples: int = 48, seed: int = 0,
                 on_progress=None, device="cpu", field=None, free_space_weight: float = 0.0, **field_kw):
    """The reference reconstruction: a field fitted to `n_views` exact albedo views of a world object.

    `field` (optional) is the field to optimize in place (default: a new one of `kind`, seeded). Returns the
    optimizer's result; evaluate_field(result.field, obj) judges it. Space carving is off by default: the world's
    one through-hole (the torus) opens without it (bench/bench_holes.py), and the fits' figures stay those the
    tests hold (with it the snowman's NeuS is 0.941 against 0.942, its DMTet refinement 0.917 against 0.929).
    """
    from .world import render_object

    cams = training_views(n_views)
    ref = render_object(obj, cams, resolution, shading="albedo")
    return fit_views(ref.rgb, cams, ref.alpha, kind, steps, lr, rays_per_step, n_samples, seed, on_progress,
                     device, field, free_space_weight, **field_kw)


def fit_views(images, cameras, masks=None, kind: str = "neus", steps: int = 600, lr: float = 0.02,
              rays_per_step: int = 1024, n_samples: int = 48, seed: int = 0, on_progress=None, device="cpu",
              field=None, free_space_weight: float = 1.0, **field_kw):
    """A field fitted to posed views (images [N,R,R,3], their cameras and masks: a world object's renders, or Load
    Views' PosedViews), as the Views to 3D workflow does: the reference views loss with space carving, and the
    eikonal term for an SDF."""
    from .fields import make_field
    from .losses.reference import ReferenceViewsLoss
    from .losses.regularizers import EikonalLoss
    from .optimize import optimize

    terms = [ReferenceViewsLoss(images, cameras, masks=masks, rays_per_step=rays_per_step,
                                free_space_weight=free_space_weight)]
    if kind == "neus":
        terms.append(EikonalLoss(0.1))
    if field is None:
        torch.manual_seed(seed)
        field = make_field(kind, **field_kw)
    return optimize(field, terms, steps, lr=lr, seed=seed, n_samples=n_samples, on_progress=on_progress,
                    device=device)


def dreamfusion_on_world(obj, kind: str = "neus", steps: int | None = None, lr: float | None = None,
                         guidance_scale: float | None = None, mode: str | None = None, resolution: int | None = None,
                         batch: int | None = None, n_samples: int | None = None, seed: int = 0, on_progress=None,
                         device="cpu", field=None, method: str = "sds", field_kw: dict | None = None,
                         recipe: str | None = None, noise: dict | None = None, members: int | None = None,
                         member_seed: int | None = None, prompt: str | None = None, **loss_kw):
    """The world text-to-3D run of a shipped workflow's recipe (RECIPES: method 'sds' dreamfusion_world, 'mvsds'
    mvdream_world, 'vsd' prolificdreamer_world), prompt 'a <object>'; evaluate_field(result.field, obj, 32) judges
    it; `recipe` names another workflow whose loss node is called `method` (geodream_world's 'vsd'). Arguments left
    None are the recipe's; loss_kw: other settings of the loss (its config's names). NeRF wants
    lr 0.05. 'mvsds' makes `batch` views groups of 4. members / member_seed: the world prior over K members of
    the prompt's family (prompt: default 'a <object>'; the recipe's K, 1 for the catalogue object alone, unless
    given: mvdream_world and prolificdreamer_world ship K = 4). Half the steps render over random solid colours
    (random_background 0.5, the loss nodes' default): on the field's white alone, a white object (the snowman's
    body) matches an empty field and is never built. field_kw: options of the new field (e.g. background='mlp',
    DreamFusion's learned environment)."""
    from .priors import PromptedPrior
    from .losses.sds import MultiViewSDSLoss, SDSLoss
    from .losses.vsd import VSDLoss
    from .priors.world_prior import WorldPrior, world_noise_path

    workflow, loss_node = TEXT_TO_3D[method]
    recipe = RECIPES[recipe or workflow]
    fit, loss = recipe["fit"], dict(recipe[loss_node])
    steps = fit["steps"] if steps is None else steps
    lr = fit["learning_rate"] if lr is None else lr
    n_samples = fit["samples_per_ray"] if n_samples is None else n_samples
    resolution = int(recipe["prior"]["resolution"]) if resolution is None else resolution
    mode = recipe["prior"]["mode"] if mode is None else mode
    loss["guidance_scale"] = loss["guidance_scale"] if guidance_scale is None else guidance_scale
    noise = {k: recipe["prior"][k] for k in ("noise", "flow_shift") if k in recipe["prior"]} | (noise or {})
    members = recipe["prior"].get("members", 1) if members is None else members
    member_seed = recipe["prior"].get("member_seed", 0) if member_seed is None else member_seed
    prior = PromptedPrior(WorldPrior(resolution, mode, device=device, path=world_noise_path(**noise),
                                     members=members, member_seed=member_seed), prompt or f"a {obj.name}")
    cams = cameras_of({k: v for k, v in recipe["cams"].items() if k != "views"})
    if method == "mvsds":
        batch = loss["views"] * loss["groups_per_step"] if batch is None else batch
        loss["groups_per_step"] = batch // loss["views"]
        terms = [MultiViewSDSLoss(prior, cams, **(loss | loss_kw))]
    else:
        loss["views_per_step"] = loss["views_per_step"] if batch is None else batch
        terms = [{"sds": SDSLoss, "vsd": VSDLoss}[method](prior, cams, **(loss | loss_kw))]
    return _optimize_new_field(kind, terms, recipe["eik"]["weight"], field, field_kw, steps, lr, seed, n_samples,
                               on_progress, device)


_GD = RECIPES["geodream_world"]


def sampled_views(obj, views: int = _GD["sampler"]["views"], elevation: float = _GD["sampler"]["elevation"],
                  resolution: int = int(_GD["mv_prior"]["resolution"]), steps: int = _GD["sampler"]["steps"],
                  guidance_scale: float = _GD["sampler"]["guidance_scale"], seed: int = _GD["sampler"]["seed"],
                  device="cpu", members: int = 1, member_seed: int = 0, prompt: str | None = None,
                  cameras=None):
    """(images [N,R,R,3], cameras): the Multi-View Sampler's views of 'a <object>' (or `prompt`) on the world prior
    in multi-view mode (MVDream's setting, over K family `members`), as the geodream_world workflow samples them:
    `views` around one elevation, or the given `cameras` denoised as one group (elevations from the prior's grid,
    e.g. Zero123++'s six alternating 20° / -10°)."""
    from .cameras import orbit
    from .priors import PromptedPrior
    from .priors.sampler import ddim_sample
    from .priors.world_prior import WorldPrior
    cams = orbit(views, elevation, 1.8, 40.0) if cameras is None else cameras
    prior = PromptedPrior(WorldPrior(resolution, "multi-view", views=len(cams), device=device, members=members,
                                     member_seed=member_seed), prompt or f"a {obj.name}")
    with torch.no_grad():
        images = ddim_sample(prior, cams, steps=steps, guidance_scale=guidance_scale, seed=seed, device=device)
    return images.cpu(), cams


def geodream_on_world(obj, volume=None, steps: int | None = None, volume_lr: float = _GD["field"]["volume_lr"],
                      volume_decay: float = _GD["field"]["volume_decay"],
                      residual_lr: float = _GD["field"]["residual_lr"], seed: int = 0, device="cpu", **kw):
    """GeoDream's refinement on the world: a cost-volume NeuS (`volume`, a core.costvolume.CostVolume) refined
    by VSD against the world prior, the geodream_world workflow's recipe."""
    from .fields import make_field
    torch.manual_seed(seed)
    field = make_field("costvolume-neus", cost_volume=volume, volume_lr=volume_lr, volume_decay=volume_decay,
                       residual_lr=residual_lr, device=device)
    return dreamfusion_on_world(obj, steps=steps, method="vsd", recipe="geodream_world", seed=seed, device=device,
                                field=field, **kw)


#: the recipes of the shipped world text-to-3D workflows (dreamfusion_world, mvdream_world, prolificdreamer_world)
WORLD_RECIPES = {method: dict(method=method) for method in TEXT_TO_3D}


def judge_on_world(name: str, method: str = "sds", **kw) -> dict:
    """One world recipe on one catalogue object, judged: evaluate_field's figures + seconds, steps and the run's
    stop reason. The prior knows that one object (members 1, unless kw says otherwise; judge_family_on_world judges
    a run over a family)."""
    from .world import get_object
    obj = get_object(name)
    res = dreamfusion_on_world(obj, **(WORLD_RECIPES[method] | {"members": 1} | kw))
    return evaluate_field(res.field, obj, resolution=32) | {"seconds": res.seconds, "steps": res.steps_done,
                                                             "stopped": res.stopped}


def judge_family_on_world(name: str, method: str = "sds", members: int = WORLD_FAMILY["members"],
                          member_seed: int = WORLD_FAMILY["member_seed"], prompt: str | None = None, **kw) -> dict:
    """One world recipe with the world prior over K members of the prompt's family (default 'a <name>'), judged
    against those members (core.evaluate.judge_family) + the Janus probe against the nearest member + seconds."""
    from .evaluate import janus_probe, judge_family
    from .world import get_object
    from .world.families import parse_family_prompt
    obj = get_object(name)
    prompt = prompt or f"a {obj.name}"
    res = dreamfusion_on_world(obj, members=members, member_seed=member_seed, prompt=prompt,
                               **(WORLD_RECIPES[method] | kw))
    objects = parse_family_prompt(prompt).member_objects(members, member_seed)
    judged = judge_family(res.field, objects)
    return judged | janus_probe(res.field, objects[judged["nearest"]]) | {"seconds": res.seconds,
                                                                        "steps": res.steps_done}


def world_reference(obj, elevation: float = 15.0, size: int = 128, distance: float = 1.8, fov: float = 40.0):
    """The exact reference view of a world object: its front (azimuth 0) at `elevation`, as a Reference (fill 0:
    as seen from that camera, which is what the world image prior compares with), with its true normal map (what a
    normal estimator would give)."""
    from .reference import prepare_reference
    from .world import render_object
    cam = Cameras.from_spherical([elevation], [0.0], [distance], [fov])
    rec = render_object(obj, cam, size, shading="albedo")
    cam_normal = torch.einsum("nji,nhwj->nhwi", cam.c2w[:, :3, :3], rec.normal)  # world -> camera space
    return prepare_reference(rec.rgb, rec.alpha, normal=cam_normal * 0.5 + 0.5, size=size, fill=0.0,
                             elevation=elevation, distance=distance, fov=fov)


_DC = RECIPES["dreamcraft3d_world"]


def dreamcraft3d_on_world(obj, kind: str = "neus", steps: int = _DC["coarse"]["steps"],
                          lr: float = _DC["coarse"]["learning_rate"], elevation: float = _DC["ref"]["elevation"],
                          resolution: int = int(_DC["text_prior"]["resolution"]),
                          batch: int = _DC["hybrid"]["views_per_step"],
                          n_samples: int = _DC["coarse"]["samples_per_ray"], seed: int = 0,
                          guidance_3d: float = _DC["hybrid"]["guidance_3d"],
                          guidance_2d: float = _DC["hybrid"]["guidance_2d"], weight_3d: float = 1.0,
                          weight_2d: float = 1.0, text_mode: str = _DC["text_prior"]["mode"],
                          progressive_until: float = _DC["hybrid"]["progressive_until"],
                          anneal_until: float = _DC["hybrid"]["anneal_until"],
                          random_background: float = _DC["hybrid"]["random_background"], reference_losses: bool = True,
                          rgb_weight: float = _DC["ref_loss"]["rgb_weight"],
                          mask_weight: float = _DC["ref_loss"]["mask_weight"],
                          reference_rays: int = _DC["ref_loss"]["rays_per_step"], on_progress=None, device="cpu",
                          field=None, field_kw: dict | None = None, members: int = 1, member_seed: int = 0,
                          prompt: str | None = None, reference=None, **hybrid_kw):
    """The reference image-to-3D run (DreamCraft3D's geometry sculpting, coarse stage) on the world: one exact
    reference view of `obj` (front, `elevation`), hybrid SDS with the world image prior (3D-aware, Zero123's role)
    and the world text prior 'a <object>' (2D), progressive views and DreamCraft3D's timestep annealing, plus the
    reference losses (masked RGB, mask) on the reference view. The recipe of the dreamcraft3d_world workflow
    (its coarse stage; RECIPES).
    Random backgrounds half the time, as the text recipes: over white alone a near-white part costs the hybrid
    nothing to leave out (the house's cream walls vanished: IoU 0.431 against text-only's 0.717; with them 0.746).
    Ablations: weight_3d=0 (no 3D-aware term), progressive_until=0, reference_losses=False.
    members: both priors over K family members (the image prior matches the reference against K members of every
    family; the text prior is `prompt`'s family, default 'a <object>'). reference: another picture of it (a
    core.reference.Reference, e.g. a user's picture prepared by prepare_reference) instead of the exact view. The
    text term keeps the world's own object where the picture frames it otherwise: asking it for the object placed as
    the picture shows it (the image prior's placing) lost shape (the duck moved 10 px: IoU 0.756 -> 0.549; at fill
    0.85: 0.770 -> 0.632), as its camera-blind renders of an off-centre or larger object disagree with each other.
    Instead the hybrid's cameras move with the placing (HybridSDSConfig.cameras_follow_placing): on 6 objects x 4
    framings (bench_image_framing --fit), mean IoU 0.501 -> 0.534 and F 0.498 -> 0.571 (seed 0), higher in 27 of
    36 runs over two seeds."""
    from .priors import PromptedPrior
    from .losses.hybrid import HybridSDSLoss
    from .priors.world_prior import WorldImagePrior, WorldPrior
    from .losses.reference import ReferenceViewsLoss

    ref = world_reference(obj, elevation) if reference is None else reference
    family = dict(members=members, member_seed=member_seed)
    image_prior = WorldImagePrior(ref, resolution, tolerance=_DC["image_prior"]["tolerance"], device=device,
                                  **family)
    prior_3d = PromptedPrior(image_prior, conditioning=image_prior.conditioning())
    prior_2d = PromptedPrior(WorldPrior(resolution, text_mode, device=device, **family), prompt or f"a {obj.name}")
    cams = cameras_of(_DC["cams"], progressive_until=progressive_until, start_elevation=elevation)
    terms = [HybridSDSLoss(prior_3d, prior_2d, cams, views_per_step=batch, guidance_3d=guidance_3d,
                           guidance_2d=guidance_2d, weight_3d=weight_3d, weight_2d=weight_2d,
                           anneal_until=anneal_until, random_background=random_background, **hybrid_kw)]
    if reference_losses:
        terms.append(ReferenceViewsLoss(ref.image[None], ref.camera, masks=ref.mask[None],
                                        rays_per_step=reference_rays, rgb_weight=rgb_weight, mask_weight=mask_weight))
    return _optimize_new_field(kind, terms, _DC["eik"]["weight"], field, field_kw, steps, lr, seed, n_samples,
                               on_progress, device)


def dreamcraft3d_geometry_on_world(obj, field, steps: int = 80, lr: float = 0.01, grid: int = 48,
                                   elevation: float = 15.0, resolution: int = 32, batch: int = 4,
                                   guidance_scale: float = 10.0, text_mode: str = "view-aware",
                                   t_range=(0.02, 0.5), mask_weight: float = 1.0, normal_weight: float = 1.0,
                                   rgb_weight: float = 1.0, seed: int = 0, on_progress=None, device="cpu"):
    """DreamCraft3D's geometry stage on the world: the coarse field (NeuS / NeRF) converted to a DMTet surface and
    refined by SDS on *normal renders* judged by the world text prior's normal-map mode, plus the reference losses
    (mask, normal, RGB) on the reference view. Returns the optimizer's result (result.field is the DMTet)."""
    from .cameras import CameraDistribution
    from .fields.dmtet import DMTetField
    from .priors import PromptedPrior
    from .losses.sds import SDSLoss
    from .priors.world_prior import WorldPrior
    from .losses.reference import ReferenceViewsLoss
    from .optimize import optimize

    ref = world_reference(obj, elevation)
    prior = PromptedPrior(WorldPrior(resolution, text_mode, shading="normal", device=device), f"a {obj.name}")
    cams = CameraDistribution((-10.0, 45.0), (-180.0, 180.0), (1.8, 1.8), (40.0, 40.0))
    terms = [SDSLoss(prior, cams, views_per_step=batch, guidance_scale=guidance_scale, t_min=t_range[0],
                     t_max=t_range[1], shading="normal", view_dependent_prompts=False),
             ReferenceViewsLoss(ref.image[None], ref.camera, masks=ref.mask[None], normals=ref.normal[None],
                                rgb_weight=rgb_weight, mask_weight=mask_weight, normal_weight=normal_weight)]
    dmtet = DMTetField.from_field(field, grid)
    return optimize(dmtet, terms, steps, lr=lr, seed=seed, lr_schedule="constant", on_progress=on_progress,
                    device=device)


TEXTURE_METHODS = ("sds", "vsd", "bsd")


def texture_on_world(obj, method: str = "bsd", geometry=None, steps: int = 120, lr: float = 0.05,
                     resolution: int = 64, batch: int = 4, guidance_scale: float = 7.5, texture: str = "densegrid",
                     mode: str = "view-aware", seed: int = 0, on_progress=None, device="cpu", members: int = 1,
                     member_seed: int = 0, prompt: str | None = None, **loss_kw):
    """The texture stage on the world: geometry frozen (`geometry`: a field or mesh; default the object's true
    mesh), a texture optimized by SDS, VSD or BSD against the world text prior at `resolution` (64: twice the
    geometry stage's), over white. mode '2D': the prior is blind to the camera, as Stable Diffusion is (BSD's boost
    of it sees the camera, as DreamCraft3D's camera-conditioned DreamBooth does). Returns the optimizer's result
    (result.field: a TexturedMeshField). members: the prior over K members of `prompt`'s family (default
    'a <object>')."""
    from .cameras import CameraDistribution
    from .fields.textured import TexturedMeshField
    from .priors import PromptedPrior
    from .losses.bsd import BSDLoss
    from .losses.sds import SDSLoss
    from .losses.vsd import VSDLoss
    from .priors.world_prior import WorldPrior
    from .optimize import optimize
    from .world import true_mesh

    if method not in TEXTURE_METHODS:
        raise ValueError(f"texture method must be one of {', '.join(TEXTURE_METHODS)}, got '{method}'")
    source = true_mesh(obj, 96) if geometry is None else geometry
    field = TexturedMeshField.from_source(source, texture, seed=seed).to(device)
    prior = PromptedPrior(WorldPrior(resolution, mode, device=device, members=members, member_seed=member_seed),
                          prompt or f"a {obj.name}")
    cams = CameraDistribution((-10.0, 45.0), (-180.0, 180.0), (1.8, 1.8), (40.0, 40.0))
    cls = {"sds": SDSLoss, "vsd": VSDLoss, "bsd": BSDLoss}[method]
    kw = dict(t_min=0.02, t_max=0.98, t_max_end=0.5) | loss_kw
    term = cls(prior, cams, views_per_step=batch, guidance_scale=guidance_scale, **kw)
    return optimize(field, [term], steps, lr=lr, seed=seed, lr_schedule="constant", on_progress=on_progress,
                    device=device)
