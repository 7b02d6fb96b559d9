import pytest
import torch

from core.cameras import Cameras, orbit
from core.metrics import mesh_iou, psnr
from core.world import CATALOGUE, UnknownObjectError, find_in_prompt, get_object, grid_points, occupancy, \
    render_object, sdf, true_mesh
from core.world.render import render_shape
from core.world.sdf import Box, Cone, Cylinder, Sphere, Torus


def test_catalogue_size_and_asymmetric_objects():
    assert len(CATALOGUE) >= 12
    asym = [o for o in CATALOGUE.values() if o.asymmetry]
    assert len(asym) >= 4


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_every_object_fits_the_unit_cube_and_is_solid(name):
    obj = get_object(name)
    pts = grid_points(48, bounds=(-0.6, 0.6)).reshape(-1, 3)
    inside = occupancy(obj, pts)
    assert inside.sum() > 100, "the object has volume"
    assert (pts[inside].abs() <= 0.5 + 1e-6).all(), "nothing leaves the unit cube"


def test_primitive_sdfs_are_exact_distances():
    p = torch.tensor([[0.9, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.7, 0.0]])
    assert torch.allclose(Sphere(color=(1, 1, 1), radius=0.5).sdf(p), torch.tensor([0.4, -0.5, 0.2]), atol=1e-6)
    box = Box(color=(1, 1, 1), half=(0.3, 0.3, 0.3))
    assert torch.allclose(box.sdf(torch.tensor([[0.5, 0.5, 0.0]])), torch.tensor([0.2 * 2 ** 0.5]), atol=1e-6)
    cyl = Cylinder(color=(1, 1, 1), radius=0.2, half_height=0.3)
    assert torch.allclose(cyl.sdf(torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])), torch.tensor([0.3, 0.2]))
    tor = Torus(color=(1, 1, 1), major=0.3, minor=0.1)
    assert torch.allclose(tor.sdf(torch.tensor([[0.3, 0.0, 0.0], [0.0, 0.0, 0.0]])), torch.tensor([-0.1, 0.2]))
    # a cone's SDF: the apex, the base center, a point beside the slanted side
    cone = Cone(color=(1, 1, 1), bottom_radius=0.3, top_radius=0.0, half_height=0.4)
    d = cone.sdf(torch.tensor([[0.0, 0.5, 0.0], [0.0, -0.5, 0.0], [0.0, -0.3, 0.0]]))
    assert torch.allclose(d, torch.tensor([0.1, 0.1, -0.1]), atol=1e-5)
    # placement: rotation and uniform scale keep distances exact
    moved = Sphere(color=(1, 1, 1), radius=0.5, offset=(0.1, 0.2, 0.3), rotation=(30, 40, 50), scale=0.5)
    assert torch.allclose(moved.sdf(torch.tensor([[0.1, 0.2, 0.3]])), torch.tensor([-0.25]), atol=1e-6)


def test_lookup_by_name_synonym_and_prompt():
    assert get_object("Rubber Duck").name == "duck"
    assert find_in_prompt("a DSLR photo of a red cube on a table").name == "cube"
    assert find_in_prompt("two coffee mugs, front view").name == "mug"
    with pytest.raises(UnknownObjectError) as e:
        get_object("snowmen man")
    assert "snowman" in str(e.value) and "Known objects" in str(e.value)
    with pytest.raises(UnknownObjectError) as e:
        find_in_prompt("a photo of a giraffe")
    assert "duck" in str(e.value)


def test_render_sphere_matches_analytic_silhouette_depth_and_normals():
    shape = Sphere(color=(0.2, 0.4, 0.6), radius=0.4)
    cam = Cameras.from_spherical(0.0, 0.0, 2.0, 40.0)
    rec = render_shape(shape, cam, 64, shading="albedo", supersample=1)
    # silhouette radius on screen: angular radius asin(r/d)
    f = cam.focal(64)[0]
    import math
    r_px = f * math.tan(math.asin(0.4 / 2.0))
    expected_area = math.pi * r_px ** 2
    assert abs(rec.alpha.sum().item() - expected_area) / expected_area < 0.03
    # the center pixel's depth is d - r, its normal faces the camera, its color is the albedo
    assert abs(rec.depth[0, 32, 32].item() - 1.6) < 2e-3
    assert torch.allclose(rec.normal[0, 32, 32], torch.tensor([0.0, 0.0, 1.0]), atol=0.03)
    assert torch.allclose(rec.rgb[0, 32, 32], torch.tensor([0.2, 0.4, 0.6]), atol=1e-5)
    # background stays the background color
    assert torch.allclose(rec.rgb[0, 0, 0], torch.ones(3))


def test_lambertian_shading_darkens_surfaces_turned_from_the_light():
    obj = get_object("sphere")
    cam = Cameras.from_spherical(0.0, 0.0, 2.0, 40.0)
    lit = render_object(obj, cam, 64, shading="lambertian", light_dirs=torch.tensor([1.0, 0.0, 0.0]))
    left, right = lit.rgb[0, 32, 20], lit.rgb[0, 32, 44]
    assert right.sum() > left.sum() + 0.3  # the light comes from +X (image right)
    tl = render_object(obj, cam, 32, shading="textureless")
    assert (tl.rgb[0, 16, 16] - tl.rgb[0, 16, 16].mean()).abs().max() < 1e-5  # gray: no albedo


def test_asymmetric_objects_tell_their_azimuth_and_symmetric_ones_do_not():
    """The Janus probe later asks which azimuth a view was taken from: asymmetric objects must answer it."""
    for name in ("snowman", "mug", "duck", "chair", "arrow", "house"):
        rec = render_object(get_object(name), orbit(2, elevation=10, azimuth_start=0), 48, shading="albedo")
        assert psnr(rec.rgb[0], rec.rgb[1]) < 27, f"{name}: front and back views look alike"
    for name in ("sphere", "cylinder", "capsule"):
        rec = render_object(get_object(name), orbit(2, elevation=10, azimuth_start=0), 48, shading="albedo")
        assert psnr(rec.rgb[0], rec.rgb[1]) > 35, f"{name}: a symmetric object should look the same"


@pytest.mark.parametrize("name", ["sphere", "cube", "torus", "mug", "snowman", "chair"])
def test_true_mesh_iou(name):
    obj = get_object(name)
    mesh = true_mesh(obj, 96)
    assert mesh.vertex_colors is not None
    assert mesh_iou(mesh, lambda p: occupancy(obj, p), 96) > 0.97


def test_true_mesh_renders_like_the_object():
    # the mesh's silhouette from an orbit matches the sphere-traced alpha
    from core.metrics import iou
    from core.mesh.occupancy import voxelize
    obj = get_object("duck")
    mesh = true_mesh(obj, 96)
    occ = voxelize(mesh, 64)
    truth = occupancy(obj, grid_points(64).reshape(-1, 3)).reshape(64, 64, 64)
    assert iou(occ, truth) > 0.95
    assert (sdf(obj, mesh.vertices).abs() < 0.02).all()


def test_depth_image_maps_near_to_bright_per_view():
    from core.world.render import depth_image
    depth = torch.tensor([[[1.0, 2.0], [3.0, 0.0]]])
    alpha = torch.tensor([[[1.0, 1.0], [1.0, 0.0]]])
    img = depth_image(depth, alpha)
    assert torch.allclose(img, torch.tensor([[[1.0, 0.6], [0.2, 0.0]]]))
