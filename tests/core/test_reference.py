"""The reference image of image-to-3D: mask conventions, framing, the camera, Zero123's relative pose."""
import math

import pytest
import torch

from core.cameras import Cameras, to_zero123, zero123_camera_terms
from core.reference import object_mask, prepare_reference
from core.world import get_object, render_object
from posed_views import user_picture as _picture


def _disc(size=64, r=0.25, cx=0.5, cy=0.5):
    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    return (((xs - cx) ** 2 + (ys - cy) ** 2) < r * r).float()


def test_object_mask_reads_both_conventions_and_says_when_it_inverted():
    disc = _disc()
    same, note = object_mask(disc)
    assert torch.equal(same, disc) and note is None
    flipped, note = object_mask(1 - disc)  # Load Image's MASK: 1 - alpha, 1 where transparent
    assert torch.equal(flipped, disc) and "inverted" in note and "Load Image" in note


def test_object_mask_refuses_ambiguous_and_empty_masks_with_what_it_saw():
    half = torch.zeros(64, 64)
    half[:, :32] = 1  # the object touches half the border: neither convention
    with pytest.raises(ValueError, match=r"ambiguous.*border it is 0\.\d\d"):
        object_mask(half, "mask")
    with pytest.raises(ValueError, match="covers no pixels.*64x64.*without an alpha"):
        object_mask(torch.zeros(64, 64))  # Load Image of a picture without alpha


def test_prepare_reference_centres_and_scales_the_object_to_the_fill_fraction():
    img = torch.ones(1, 100, 140, 3)
    m = torch.zeros(100, 140)
    m[10:30, 20:60] = 1  # a 40 x 20 box off-centre in a non-square picture
    img[0][m > 0] = torch.tensor([0.8, 0.1, 0.1])
    ref = prepare_reference(img, 1 - m, size=64, fill=0.8)  # given in Load Image's convention
    assert any("inverted" in n for n in ref.notes)
    ys, xs = torch.nonzero(ref.mask > 0.5, as_tuple=True)
    width = int(xs.max() - xs.min() + 1)
    assert abs(width - 0.8 * 64) <= 2  # the longer side fills 80% of the frame
    assert abs(float(xs.float().mean()) - 31.5) < 1.5 and abs(float(ys.float().mean()) - 31.5) < 1.5
    assert torch.allclose(ref.image[32, 32], torch.tensor([0.8, 0.1, 0.1]), atol=1e-3)
    assert ref.image.shape == (64, 64, 3) and ref.camera.azimuth.abs().item() < 1e-4


def test_prepare_reference_without_mask_needs_a_uniform_background():
    img = torch.full((1, 64, 64, 3), 0.9)
    img[0][_disc() > 0] = torch.tensor([0.2, 0.5, 0.2])
    ref = prepare_reference(img, size=64, fill=0.0)
    assert abs(float(ref.mask.sum()) - float(_disc().sum())) < 0.05 * float(_disc().sum())
    assert any("uniform background" in n for n in ref.notes)
    noisy = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="background-removal node"):
        prepare_reference(noisy, size=64)


def test_prepare_reference_says_what_it_did_to_odd_inputs():
    img = torch.ones(2, 48, 64, 3)
    img[:, 14:34, 22:42] = 0.3
    depth = torch.rand(1, 24, 32, 3)
    ref = prepare_reference(img, depth=depth, size=32, fill=0.0)
    text = " ".join(ref.notes)
    assert "first one is used" in text and "padded to 64x64" in text and "depth map is 32x24" in text
    assert ref.depth.shape == (32, 32)


def _zero123_reference_formula(cams: Cameras, ref: Cameras) -> torch.Tensor:
    """Zero-1-to-3's own definition, in its z-up world: polar = angle from +z, azimuth = atan2(y, x); ComfyUI's
    'elevation' is minus the polar difference. Our +Y-up world maps onto it by a proper rotation (y -> z, z -> -y)."""
    def spherical(p):
        x, y, z = p[:, 0], -p[:, 2], p[:, 1]
        polar = torch.atan2(torch.sqrt(x * x + y * y), z)
        return polar, torch.atan2(y, x)
    pol, az = spherical(cams.position)
    pol0, az0 = spherical(ref.position.expand_as(cams.position))
    d_az = torch.rad2deg(torch.remainder(az - az0 + math.pi, 2 * math.pi) - math.pi)
    return torch.stack([-torch.rad2deg(pol - pol0), d_az], -1)


def test_zero123_relative_pose_matches_zero123s_own_definition():
    g = torch.Generator().manual_seed(3)
    ref = Cameras.from_spherical([15.0], [0.0], [1.8], [40.0])
    cams = Cameras.from_spherical(torch.rand(64, generator=g) * 100 - 10, torch.rand(64, generator=g) * 360 - 180,
                                  torch.rand(64, generator=g) + 1.5, 40.0)
    assert torch.allclose(to_zero123(cams, ref), _zero123_reference_formula(cams, ref), atol=1e-3)
    # and a reference that is not at azimuth 0
    ref2 = Cameras.from_spherical([30.0], [70.0], [2.0], [30.0])
    assert torch.allclose(to_zero123(cams, ref2), _zero123_reference_formula(cams, ref2), atol=1e-3)
    # the signs, in words: higher is positive; +90 is a right-handed quarter turn about up (+Z front -> +X side)
    side = Cameras.from_spherical([25.0], [90.0], [1.8], [40.0])
    assert torch.allclose(to_zero123(side, ref), torch.tensor([[10.0, 90.0]]), atol=1e-3)


def test_zero123_camera_terms_are_comfyuis():
    rel = torch.tensor([[10.0, 90.0], [-5.0, 180.0]])
    terms = zero123_camera_terms(rel)
    expect = torch.tensor([[math.radians(-10), 1.0, 0.0, math.pi / 2], [math.radians(5), 0.0, -1.0, math.pi / 2]])
    assert torch.allclose(terms, expect, atol=1e-6)


def _world_reference(name, azimuth=0.0, elevation=15.0, size=64):
    cam = Cameras.from_spherical([elevation], [azimuth], [1.8], [40.0])
    rec = render_object(get_object(name), cam, size, shading="albedo")
    return prepare_reference(rec.rgb, rec.alpha, fill=0.0, size=size, elevation=elevation, distance=1.8, fov=40.0)


def test_world_image_prior_recognizes_the_object_and_how_it_is_turned():
    from core.priors.world_prior import WorldImagePrior
    p = WorldImagePrior(_world_reference("duck"))
    name, turn, logw = p.components[0]
    assert (name, turn) == ("duck", 0.0) and math.exp(logw) > 0.9, p.describe()
    q = WorldImagePrior(_world_reference("duck", azimuth=90.0))
    assert q.components[0][:2] == ("duck", 90.0), q.describe()


def test_world_image_prior_denoises_the_novel_view_relative_to_the_reference():
    """A reference of the duck turned 90°: the view 60° further round (relative azimuth +60, 5° higher) is the
    duck's render at world azimuth 150, elevation 20; at small t the prior's x0 is that render, not the mirror."""
    from core.priors.world_prior import WorldImagePrior
    p = WorldImagePrior(_world_reference("duck", azimuth=90.0))
    cond, _ = p.conditioning()
    query = Cameras.from_spherical([20.0], [60.0], [1.8], [40.0])  # pack cameras: relative to the reference's az 0
    truth = p.render_set("duck")[p.grid["elevations"].index(20.0) * 24 + 10]  # az 150
    mirror = p.render_set("duck")[p.grid["elevations"].index(20.0) * 24 + 2]  # az 30: a sign error's view
    assert (truth - mirror).abs().mean() > 0.02
    t = torch.tensor([50])
    a = p.alphas_cumprod[50]
    eps = torch.randn(1, *truth.shape, generator=torch.Generator().manual_seed(0))
    x_t = a.sqrt() * truth[None] + (1 - a).sqrt() * eps
    x0 = p.posterior_mean(x_t, t, cond, query)
    assert (x0[0] - truth).abs().mean() < 0.005 < (x0[0] - mirror).abs().mean()


def test_load_images_empty_mask_of_a_picture_without_alpha_is_read_as_no_mask():
    """Load Image gives an RGB picture an all-zero 64x64 MASK: the reference ignores it (saying so) and reads the
    object from the uniform background, as with no mask; a real 64x64 picture's empty mask is still refused."""
    img = torch.ones(1, 96, 96, 3)
    disc = _disc(96)
    img[0][disc > 0] = torch.tensor([0.9, 0.5, 0.1])
    ref = prepare_reference(img, torch.zeros(1, 64, 64), size=96, fill=0.0)
    assert any("placeholder" in n and "no alpha" in n for n in ref.notes), ref.notes
    assert abs(float((ref.mask > 0.5).sum()) - float(disc.sum())) < 0.05 * float(disc.sum())
    with pytest.raises(ValueError, match="covers no pixels.*64x64.*without an alpha"):
        prepare_reference(torch.ones(1, 64, 64, 3), torch.zeros(1, 64, 64), size=64)


def test_a_reference_weight_without_its_map_is_named_not_skipped_silently():
    from core.losses.reference import ReferenceViewsLoss
    obj = get_object("duck")
    cams = Cameras.from_spherical([15.0], [0.0], 1.8, 40.0)
    rec = render_object(obj, cams, 32, shading="albedo")
    term = ReferenceViewsLoss(rec.rgb, cams, masks=rec.alpha, depth_weight=0.05, normal_weight=1.0)
    assert len(term.notes) == 2
    assert "depth_weight is 0.05 but no depth map" in term.notes[0] and "set depth_weight to 0" in term.notes[0]
    assert "normal_weight is 1 but no normal map" in term.notes[1]
    assert ReferenceViewsLoss(rec.rgb, cams, masks=rec.alpha, depths=rec.depth, depth_weight=0.05).notes == []


def test_the_world_image_prior_reads_a_picture_whatever_its_framing():
    """The issue's user pictures: the duck moved 10 px, and prepared with Reference Image's default fill 0.85,
    once read backwards or refused, are the duck's front, placed as the picture frames it (the placed duck's
    silhouette is the picture's), with no warning; an exact view is taken as seen (no placing)."""
    from core.priors.world_prior import WorldImagePrior
    from core.recipes import world_reference
    duck = get_object("duck")
    exact = WorldImagePrior(world_reference(duck, size=128), 32)
    assert exact.placement is None and exact.components[0][:2] == ("duck", 0.0) and exact.match_warnings() == []
    for shift, fill in (((0, 10), 0.0), ((0, 0), 0.85)):
        ref = prepare_reference(*_picture(duck, shift=shift), size=128, fill=fill)
        prior = WorldImagePrior(ref, 32)
        name, turn, logw = prior.components[0]
        assert name.startswith("duck@") and turn == 0.0 and math.exp(logw) > 0.9, prior.describe()
        assert prior.match_warnings() == [], prior.match_warnings()
        assert "the picture frames it at" in prior.describe()
        shown = render_object(prior.shown_object(), ref.camera, 128, shading="albedo").alpha[0] > 0.5
        iou = float((shown & (ref.mask > 0.5)).sum() / (shown | (ref.mask > 0.5)).sum())
        assert iou > 0.93, (shift, fill, iou)


def test_the_world_image_prior_warns_on_an_ambiguous_or_unknown_picture():
    """A small off-centre duck is read front-first but the back is nearly as likely: the user is told, with both
    readings; a picture of no world object is said to be poorly explained, naming the best match. A symmetric
    object's back (the table turned 180°) is the same object: no warning."""
    from core.priors.world_prior import WorldImagePrior
    from core.world.procedural import random_object
    small = WorldImagePrior(prepare_reference(*_picture(get_object("duck"), 0.7, (15, -20)), size=128, fill=0.0), 32)
    warned = small.match_warnings()
    assert len(warned) == 1 and "ambiguous" in warned[0] and "turned 180°" in warned[0], warned
    table = WorldImagePrior(prepare_reference(*_picture(get_object("table"), 0.8, (5, 12)), size=128, fill=0.0), 32)
    assert table.match_warnings() == [], (table.describe(), table.match_warnings())
    unknown = WorldImagePrior(prepare_reference(*_picture(random_object(2)), size=128, fill=0.0), 32)
    warned = unknown.match_warnings()
    assert warned and "poorly explained" in warned[0] and "its best match" in warned[0], warned


def test_a_carving_view_set_that_cannot_see_a_hole_says_so():
    """Issue 30's bad input: views that carve (masks, free_space_weight) all from one height cannot see a hole that
    faces up (a nut lying flat seen from its side): the loss's notes say so and what to add; views above and below
    say nothing."""
    from core.cameras import alternating_orbit
    from core.losses.reference import ReferenceViewsLoss
    obj = get_object("torus")
    ring = Cameras.from_spherical([0.0] * 6, [60.0 * i for i in range(6)], 1.8, 40.0)
    rec = render_object(obj, ring, 32, shading="albedo")
    (note,) = ReferenceViewsLoss(rec.rgb, ring, masks=rec.alpha, free_space_weight=1.0).notes
    assert "within 0° of elevation 0°" in note and "a hole facing up" in note and "above and below" in note, note
    mixed = alternating_orbit(6, 20.0, -10.0)
    rec = render_object(obj, mixed, 32, shading="albedo")
    assert ReferenceViewsLoss(rec.rgb, mixed, masks=rec.alpha, free_space_weight=1.0).notes == []


def test_the_hybrids_cameras_follow_a_placed_picture():
    """A picture framed unlike the world's view (Reference Image's fill 0.85: the duck at about 1.5x) is placed by
    the image prior; the hybrid then renders the field from cameras moved with the placing, which see the placed
    duck exactly as the drawn cameras see the world's own (what both priors' data show), and its 3D term weighs
    the world's own objects with the placed readings' weights. An exact view changes nothing."""
    from core.losses.hybrid import HybridSDSLoss
    from core.priors import PromptedPrior
    from core.priors.world_prior import WorldImagePrior, WorldPrior
    from core.recipes import world_reference
    from core.world import placed_object
    duck = get_object("duck")
    ref = prepare_reference(*_picture(duck, shift=(6, 10)), size=128, fill=0.85)
    image = WorldImagePrior(ref, 32)
    assert image.placement is not None and image.placement[0] > 1.3, image.describe()
    cams = Cameras.from_spherical([20.0, -5.0], [30.0, 200.0], 1.8, 40.0)
    placed = render_object(image.shown_object(), cams.placed(*image.placement), 48, shading="albedo")
    own = render_object(duck, cams, 48, shading="albedo")
    assert float((placed.alpha - own.alpha).abs().mean()) < 0.01 and float((placed.rgb - own.rgb).abs().mean()) < 0.01
    text = PromptedPrior(WorldPrior(32, "2D"), "a duck")
    hybrid = HybridSDSLoss(PromptedPrior(image, conditioning=image.conditioning()), text, cameras=cams,
                           views_per_step=2)
    req = hybrid.request(0, 10, torch.Generator().manual_seed(0))
    drawn = hybrid.terms[0][1]._cams
    assert torch.allclose(req.cameras.c2w, drawn.placed(*image.placement).c2w)
    (comp, turn, _), *_ = hybrid.terms[0][1].prior.conditions()[0][1]
    assert (comp, turn) == ("duck", 0.0) and image.components[0][0].startswith("duck@")
    assert placed_object(duck, *image.placement).name == image.components[0][0]
    exact = WorldImagePrior(world_reference(duck, size=128), 32)
    same = HybridSDSLoss(PromptedPrior(exact, conditioning=exact.conditioning()), text, cameras=cams,
                         views_per_step=2)
    assert same.orbit is None
    assert torch.equal(same.request(0, 10, torch.Generator().manual_seed(0)).cameras.c2w, same.terms[0][1]._cams.c2w)
