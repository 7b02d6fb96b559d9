"""Values in, runs inside: optimize() starts a run of every loss term and never changes the terms it is given
(node outputs that ComfyUI caches and may hand to several nodes and prompts), so reusing terms gives exactly the
result of fresh ones. The host-side check (one loss in two Optimize Field nodes, a cached loss queued again) is
tests/host/test_runs_host.py."""
import torch

from core.cameras import CameraDistribution
from core.recipes import world_reference
from core.fields import make_field
from core.fields.textured import TexturedMeshField
from core.priors import PromptedPrior
from core.losses.bsd import BSDLoss
from core.losses.hybrid import HybridSDSLoss
from core.losses.vsd import VSDLoss
from core.priors.world_prior import WorldImagePrior, WorldPrior
from core.losses.reference import ReferenceViewsLoss
from core.losses.regularizers import EikonalLoss, RenderRegularizer
from core.optimize import optimize, run_of
from core.texture import paint_mesh
from core.texture.painters import WorldPainter
from core.world import get_object, true_mesh

CAMS = CameraDistribution((-10.0, 45.0), (-180.0, 180.0), (1.8, 1.8), (40.0, 40.0))


def _state(term) -> dict:
    """Every attribute of a term (and of its inner terms) by identity, tensors also by value."""
    out = {}
    for k, v in vars(term).items():
        out[k] = (id(v), v.clone() if torch.is_tensor(v) else None)
        if k == "terms":
            out[k] = (id(v), [(_state(t) if hasattr(t, "loss") else t) for _, t, _ in v])
    return out


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        (ia, ta), (ib, tb) = a[k], b[k]
        if ia != ib:
            return False
        if isinstance(ta, list):
            if not all(_same(x, y) for x, y in zip(ta, tb)):
                return False
        elif ta is not None and not torch.equal(ta, tb):
            return False
    return True


def _params(field) -> list[torch.Tensor]:
    return [p.detach().clone() for p in field.parameters()]


def _geometry_terms():
    duck = get_object("duck")
    ref = world_reference(duck, 15.0)
    image_prior = WorldImagePrior(ref, 32)
    hybrid = HybridSDSLoss(PromptedPrior(image_prior, conditioning=image_prior.conditioning()),
                           PromptedPrior(WorldPrior(32, "2D"), "a duck"), CAMS, views_per_step=2)
    return [VSDLoss(PromptedPrior(WorldPrior(32), "a duck"), CAMS, views_per_step=2, random_background=0.5),
            hybrid, ReferenceViewsLoss(ref.image[None], ref.camera, masks=ref.mask[None], rays_per_step=128),
            EikonalLoss(0.1), RenderRegularizer(sparsity=0.01)]


def test_reused_terms_are_unchanged_and_give_what_fresh_terms_give():
    torch.manual_seed(0)
    start = make_field("neus")
    terms = _geometry_terms()
    before = [_state(t) for t in terms]
    runs = [optimize(start.clone(), terms, 6, lr=0.02, n_samples=16) for _ in range(2)]
    fresh = optimize(start.clone(), _geometry_terms(), 6, lr=0.02, n_samples=16)
    assert all(_same(b, _state(t)) for b, t in zip(before, terms)), "a loss term was changed by being used"
    for r in runs:
        assert r.stopped is None
        assert all(torch.equal(a, b) for a, b in zip(_params(r.field), _params(fresh.field)))
        assert [h["loss"] for h in r.history] == [h["loss"] for h in fresh.history]
    assert runs[0].runs[0] is not terms[0] and runs[0].runs[0].origin is terms[0]
    assert runs[0].runs[0].estimator is None  # the run's estimator was dropped when it finished


def test_bsd_boosts_in_its_run_and_the_run_is_found_by_its_field():
    duck = get_object("duck")
    field = TexturedMeshField.from_source(true_mesh(duck, 32), "densegrid")
    bsd = BSDLoss(PromptedPrior(WorldPrior(32), "a duck"), CAMS, views_per_step=1, augment_every=2, sdedit_steps=1,
                  estimator_steps=1)
    before = _state(bsd)
    res = [optimize(field.clone(), [bsd], 4, lr=0.05, lr_schedule="constant") for _ in range(2)]
    assert _same(before, _state(bsd)) and bsd.booster is None and bsd.rounds_done == 0
    assert all(torch.equal(a, b) for a, b in zip(_params(res[0].field), _params(res[1].field)))
    run = run_of(res[1].field, bsd)
    assert run is res[1].runs[0] and run.rounds_done == 2 and run.booster.ready
    assert run_of(res[1].field, BSDLoss(PromptedPrior(WorldPrior(32), "a duck"), CAMS)) is None


def test_a_painter_paints_the_same_however_often_it_is_used():
    duck = get_object("duck")
    mesh = true_mesh(duck, 24)
    painter = WorldPainter(duck, brightness_jitter=0.2, seed=3)
    a = paint_mesh(mesh, painter, texture_size=64, resolution=32)
    b = paint_mesh(mesh, painter, texture_size=64, resolution=32)
    c = paint_mesh(mesh, WorldPainter(duck, brightness_jitter=0.2, seed=3), texture_size=64, resolution=32)
    assert torch.equal(a.views, b.views) and torch.equal(a.views, c.views)
    assert painter.generator is None
