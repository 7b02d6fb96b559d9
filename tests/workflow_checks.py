"""What each shipped workflow must show when it has run (shared by tests/host, which runs them through /prompt,
and tests/browser, which queues the longest one from the page and checks that very run), and how the GPU-sized
ones are cut down to CPU size."""
import io
import re
import uuid

import numpy as np
import torch

from core.mesh.export import load_mesh
from core.metrics import mesh_iou
from core.world import get_object, occupancy

from hostutil import (find_node, input_picture, random_clip_l, random_controlnet, random_flux, random_sd3, random_sd15,
                      random_vae16, random_zero123, tiny_eg3d, tiny_mvdream)

def _check_world_views(host, api, entry, files):
    from PIL import Image
    obj = get_object(api[find_node(api, "Distill3DWorldObject")]["inputs"]["object"])
    n_views = api[find_node(api, "Distill3DOrbitCameras")]["inputs"]["views"]
    res = api[find_node(api, "Distill3DRenderWorldViews")]["inputs"]["resolution"]
    saved = [f for f in files if f["node"] == find_node(api, "SaveImage")]
    assert len(saved) == n_views
    img = Image.open(io.BytesIO(host.view(saved[0])))
    assert img.size == (res, res)
    # the views show the object on a white background
    px = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32)) / 255
    assert torch.allclose(px[0, 0], torch.ones(3)) and (px.sum(-1) < 2.9).float().mean() > 0.05
    glbs = [f for f in files if f["filename"].endswith(".glb")]
    assert len(glbs) == 1
    mesh = load_mesh(host.view(glbs[0]), "glb")
    assert mesh_iou(mesh, lambda p: occupancy(obj, p), 128) >= 0.95
    # Preview3D got the path of that same file, relative to the output folder
    preview = entry["outputs"][find_node(api, "Preview3D")]["result"][0]
    assert preview == f"{glbs[0]['subfolder']}/{glbs[0]['filename']}"


def _check_world_random_views(host, api, entry, files):
    """The object comes from the prompt; the seeded cameras give the same images when run again."""
    from PIL import Image
    views = [f for f in files if f["node"] == find_node(api, "SaveImage")]
    n = api[find_node(api, "Distill3DRandomCameras")]["inputs"]["views"]
    assert len(views) == n
    # textureless shading: the object is drawn in grays only
    px = np.asarray(Image.open(io.BytesIO(host.view(views[0]))).convert("RGB"), dtype=np.float32) / 255
    assert np.abs(px - px.mean(-1, keepdims=True)).max() < 0.02 and (px.mean(-1) < 0.95).mean() > 0.03
    plys = [f for f in files if f["filename"].endswith(".ply")]
    mesh = load_mesh(host.output_path(plys[0]))
    prompt = api[find_node(api, "Distill3DWorldObject")]["inputs"]["prompt"]
    from core.world import find_in_prompt
    obj = find_in_prompt(prompt)
    assert mesh_iou(mesh, lambda p: occupancy(obj, p), 96) >= 0.95
    assert mesh_iou(mesh, lambda p: occupancy(get_object("sphere"), p), 96) < 0.7  # it is not just any blob


def _check_reconstruct_from_views(host, api, entry, files):
    """The fitted NeuS surface, saved as GLB, has the object's shape; the optimizer's losses went down."""
    obj = get_object(api[find_node(api, "Distill3DWorldObject")]["inputs"]["object"])
    glbs = [f for f in files if f["filename"].endswith(".glb")]
    mesh = load_mesh(host.view(glbs[0]), "glb")
    value = mesh_iou(mesh, lambda p: occupancy(obj, p), 96)
    print(f"RECONSTRUCT {obj.name} IoU {value:.3f}")
    assert value >= 0.85
    assert mesh.textured and mesh.texture.shape[0] == 512
    from core.evaluate import held_out_views
    from core.metrics import psnr
    from core.render.raster import render_mesh
    from core.world import render_object
    views = held_out_views()
    glb_psnr = psnr(render_mesh(mesh, views, 64).rgb, render_object(obj, views, 64, shading="albedo").rgb)
    print(f"RECONSTRUCT {obj.name} textured GLB PSNR {glb_psnr:.2f} dB")
    assert glb_psnr >= 22
    from core.video import decode_frame_count
    (video,) = [f for f in files if f["filename"].endswith(".mp4")]
    assert decode_frame_count(host.view(video)) == api[find_node(api, "Distill3DRenderTurntable")]["inputs"]["frames"]
    fits = [k for k, v in api.items() if v["class_type"] == "Distill3DOptimizeField"]
    assert len(fits) == 2  # NeuS fit, then DMTet refinement
    log = entry["outputs"][fits[0]]["text"][0]
    assert "STOPPED" not in log
    first, last = map(float, re.search(r"reference/rgb: ([\d.]+) -> ([\d.]+)", log).groups())
    assert last < 0.35 * first, log
    assert "STOPPED" not in entry["outputs"][fits[1]]["text"][0]
    assert entry["outputs"][find_node(api, "Preview3D")]["result"][0].endswith(glbs[0]["filename"])


def _optimize_log(api, entry) -> str:
    (fit,) = [k for k, v in api.items() if v["class_type"] == "Distill3DOptimizeField"]
    return entry["outputs"][fit]["text"][0]


def _prior_members(api) -> list:
    """The objects the graph's World Prior knows: K members of its prompt's family (K = 1: the catalogue object)."""
    from core.world.families import parse_family_prompt
    inputs = api[find_node(api, "Distill3DWorldPrior")]["inputs"]
    return parse_family_prompt(inputs["prompt"]).member_objects(inputs.get("members", 1), inputs.get("member_seed", 0))


def _judge_world_glb(host, api, entry, files, label: str) -> tuple:
    """(mesh, nearest member, its IoU, view agreement) of the graph's GLB against the World Prior's members: the
    member whose shape it has, and the share of 8 held-out views whose render matches that member's best (printed
    only: the GLB's vertex colours blur members of near colours, 0.25-0.5 where the field's own renders give 1.0;
    core's judge_family asserts agreement on the field)."""
    from core.evaluate import held_out_views
    from core.render.raster import render_mesh
    from core.world import render_object
    members = _prior_members(api)
    (glb,) = [f for f in files if f["filename"].endswith(".glb")]
    mesh = load_mesh(host.view(glb), "glb")
    ious = [mesh_iou(mesh, lambda p, m=m: occupancy(m, p), 96) for m in members]
    k = max(range(len(members)), key=lambda i: ious[i])
    views = held_out_views()
    rgb = render_mesh(mesh, views, 32).rgb
    mse = torch.stack([((render_object(m, views, 32, shading="albedo").rgb - rgb) ** 2).flatten(1).mean(-1)
                       for m in members])
    agreement = float((mse.argmin(0) == k).float().mean())
    print(f"{label} {members[0].name}: nearest of {len(members)} members {k}, GLB IoU {ious[k]:.3f} "
          f"(each {[round(x, 3) for x in ious]}), views agreeing {agreement:.2f}")
    assert mesh_iou(mesh, lambda p: occupancy(get_object("sphere"), p), 96) < ious[k]  # not just any blob
    assert entry["outputs"][find_node(api, "Preview3D")]["result"][0].endswith(glb["filename"])
    return mesh, k, ious[k], agreement


def _check_dreamfusion_world(host, api, entry, files, label: str = "DREAMFUSION_WORLD") -> tuple:
    """Text -> 3D on the world prior: the GLB has the shape of the object (or, over a family, of one member) the
    prompt names, the SDS loss fell, the preview shows renders over targets, the turntable has its frames.
    Returns (IoU with the nearest member, view agreement)."""
    _, _, value, agreement = _judge_world_glb(host, api, entry, files, label)
    assert value >= 0.6
    log = _optimize_log(api, entry)
    assert "STOPPED" not in log, log
    first, last = map(float, re.search(r"sds/sds: ([\d.]+) -> ([\d.]+)", log).groups())
    assert last < first, log
    from core.video import decode_frame_count
    (video,) = [f for f in files if f["filename"].endswith(".mp4")]
    assert decode_frame_count(host.view(video)) == api[find_node(api, "Distill3DRenderTurntable")]["inputs"]["frames"]
    return value, agreement


def _check_mvdream_world(host, api, entry, files):
    """Multi-view SDS over 4 members of the duck family: everything dreamfusion_world shows, driven by the
    multi-view loss, and the GLB close to one member (measured 0.945, as in core)."""
    assert "mvsds/sds" in _optimize_log(api, entry)
    value, _ = _check_dreamfusion_world(host, api, entry, files, "MVDREAM_WORLD")
    assert value >= 0.85


def _check_mvdream_sampler(host, api, entry, files):
    """Text -> 4 views offline: each saved view matches the true render at the camera the sampler returned
    (shown beside them by the graph) to 20 dB or better."""
    from PIL import Image
    from core.metrics import psnr

    def images(node):
        return [torch.from_numpy(np.asarray(Image.open(io.BytesIO(host.view(f))).convert("RGB"), dtype=np.float32))
                / 255 for f in files if f["node"] == find_node(api, node)]
    views, truth = images("SaveImage"), images("PreviewImage")
    assert len(views) == len(truth) == api[find_node(api, "Distill3DMultiViewSampler")]["inputs"]["views"]
    scores = [psnr(v[None], t[None]) for v, t in zip(views, truth)]
    print("MVDREAM_SAMPLER PSNR per view", [round(x, 1) for x in scores])
    assert min(scores) >= 20.0


def _check_prolificdreamer_world(host, api, entry, files):
    """VSD over 4 members of the duck family in the host: the estimator's own loss fell; the GLB is one crisp
    member (measured 0.816, as in core, where every held-out view of the field matches that member)."""
    _, _, value, _ = _judge_world_glb(host, api, entry, files, "PROLIFICDREAMER_WORLD")
    assert value >= 0.72
    log = _optimize_log(api, entry)
    assert "STOPPED" not in log, log
    first, last = map(float, re.search(r"vsd/estimator: ([\d.]+) -> ([\d.]+)", log).groups())
    assert last < first, log


def _cpu_sized_field_tail(api):
    """A GPU text-to-3D graph's optimization and outputs at CPU size: 3 steps, small mesh and turntable."""
    fit = api[find_node(api, "Distill3DOptimizeField")]["inputs"]
    fit.update(steps=3, samples_per_ray=32, preview_every=1, preview_resolution=32)
    api[find_node(api, "Distill3DExtractMesh")]["inputs"]["resolution"] = 48
    api[find_node(api, "Distill3DRenderTurntable")]["inputs"].update(frames=4, resolution=64)


def _check_field_moved(api, entry, files, loss: str, label: str):
    """A few distillation steps with a model prior: no stop, the field's parameters moved, the loss was logged,
    a GLB came out."""
    log = _optimize_log(api, entry)
    print(label, log.replace("\n", " | "))
    assert "STOPPED" not in log, log
    assert float(re.search(r"parameter change: ([\d.e+-]+)", log).group(1)) > 1e-4, log
    assert re.search(rf"{loss}: [\d.]+ -> [\d.]+", log), log
    assert [f for f in files if f["filename"].endswith(".glb")]


def _cpu_sized_staged_tail(api):
    """A GPU graph's fields -> DMTet -> textured mesh stages at CPU size: 2 steps each, small grids and outputs."""
    for k in [k for k, v in api.items() if v["class_type"] == "Distill3DOptimizeField"]:
        api[k]["inputs"].update(steps=2, samples_per_ray=16, preview_every=1, preview_resolution=32)
    api[find_node(api, "Distill3DConvertToDMTet")]["inputs"]["resolution"] = 16
    api[find_node(api, "Distill3DExtractMesh")]["inputs"]["resolution"] = 48
    api[find_node(api, "Distill3DBakeTexture")]["inputs"]["texture_size"] = 64
    api[find_node(api, "Distill3DRenderTurntable")]["inputs"].update(frames=4, resolution=64)


def _cpu_sized_dreamfusion_sd(host, api):
    """The GPU graph as is, on the random checkpoint: 64² renders (8² latents), 3 steps, small outputs."""
    api[find_node(api, "CheckpointLoaderSimple")]["inputs"]["ckpt_name"] = random_sd15(host)
    api[find_node(api, "Distill3DCheckpointPrior")]["inputs"]["resolution"] = 64
    _cpu_sized_field_tail(api)


def _check_dreamfusion_sd(host, api, entry, files):
    """Load Checkpoint's MODEL/VAE/CONDITIONING drive SDS: finite losses and the field moved (gradients arrived
    through the differentiable VAE encoder); the preview decodes the targets through the VAE."""
    _check_field_moved(api, entry, files, "sds/sds", "DREAMFUSION_SD")


def _cpu_sized_mvdream_sd21(host, api):
    """The GPU graph as is, on a tiny random MVDream checkpoint in the original layout: 64² renders, a few steps."""
    prior = api[find_node(api, "Distill3DMVDreamPrior")]["inputs"]
    prior.update(ckpt_name=tiny_mvdream(host), resolution=64)
    api[find_node(api, "Distill3DMultiViewSampler")]["inputs"]["steps"] = 3
    _cpu_sized_field_tail(api)


def _check_mvdream_sd21(host, api, entry, files):
    """An MVDream checkpoint from models/mvdream, text through its own OpenCLIP: the sampler saved 4 views at the
    prior's size, multi-view SDS moved the field, a GLB came out."""
    from PIL import Image
    views = [Image.open(io.BytesIO(host.view(f))) for f in files if f["node"] == find_node(api, "SaveImage")]
    assert [v.size for v in views] == [(64, 64)] * 4
    _check_field_moved(api, entry, files, "mvsds/sds", "MVDREAM_SD21")


def _optimize_logs(api, entry) -> dict:
    """Each Optimize Field's log, by the node's id, in the graph's order."""
    return {k: entry["outputs"][k]["text"][0] for k, v in api.items() if v["class_type"] == "Distill3DOptimizeField"}


def _check_dreamcraft3d_world(host, api, entry, files):
    """One view -> 3D in the host: the textured GLB has the duck's shape, and seen from its sides (never in the
    reference) each side matches the truth's own side, not the mirror one (signs end to end, through the node
    graph and the 2D text prior, which knows no orientation); both stages' logs show their losses."""
    from core.cameras import Cameras
    from core.metrics import psnr
    from core.render.raster import render_mesh
    from core.world import render_object
    obj = get_object(api[find_node(api, "Distill3DWorldObject")]["inputs"]["object"])
    (glb,) = [f for f in files if f["filename"].endswith(".glb")]
    mesh = load_mesh(host.view(glb), "glb")
    value = mesh_iou(mesh, lambda p: occupancy(obj, p), 96)
    sides = Cameras.from_spherical([15.0, 15.0], [90.0, -90.0], [1.8, 1.8], [40.0, 40.0])
    r = render_mesh(mesh, sides, 64).rgb
    t = render_object(obj, sides, 64, shading="albedo").rgb
    own = [psnr(r[i:i + 1], t[i:i + 1]) for i in (0, 1)]
    mirror = [psnr(r[i:i + 1], t[1 - i:2 - i]) for i in (0, 1)]
    print(f"DREAMCRAFT3D_WORLD {obj.name} GLB IoU {value:.3f}; sides PSNR own {own} mirror {mirror}")
    assert value >= 0.75
    assert all(o > m + 4 for o, m in zip(own, mirror)), (own, mirror)
    coarse, refine, boost = _optimize_logs(api, entry).values()
    assert "STOPPED" not in coarse + refine + boost
    assert "hybrid/sds_3d" in coarse and "hybrid/sds_2d" in coarse and "reference/rgb" in coarse, coarse
    assert "sds/sds" in refine and "reference/normal" in refine, refine
    assert "bsd/bsd" in boost and "bsd/estimator" in boost, boost  # the texture stage ran BSD
    assert entry["outputs"][find_node(api, "Preview3D")]["result"][0].endswith(glb["filename"])


def _cpu_sized_dreamcraft3d_sd(host, api):
    """The GPU graph as is, on random Stable Zero123 and SD 1.5 checkpoints and a cut-out picture (RGBA:
    Load Image's mask is 1 - alpha): 64² renders, a few steps, small outputs."""
    api[find_node(api, "LoadImage")]["inputs"]["image"] = input_picture(host, "distill3d_test_duck_rgba.png")
    api[find_node(api, "ImageOnlyCheckpointLoader")]["inputs"]["ckpt_name"] = random_zero123(host)
    api[find_node(api, "CheckpointLoaderSimple")]["inputs"]["ckpt_name"] = random_sd15(host)
    api[find_node(api, "Distill3DZero123Prior")]["inputs"]["resolution"] = 64
    for k in [k for k, v in api.items() if v["class_type"] == "Distill3DCheckpointTextPrior"]:
        api[k]["inputs"]["resolution"] = 64
    api[find_node(api, "Distill3DBSDLoss")]["inputs"].update(augment_views=2, sdedit_steps=1,
                                                            estimator="prior + residual")
    api[find_node(api, "Distill3DSaveBoostedLoRA")]["inputs"]["name"] = f"distill3d_test/{uuid.uuid4().hex[:8]}"
    _cpu_sized_staged_tail(api)


def _check_dreamcraft3d_sd(host, api, entry, files):
    """Load Image's MASK (1 where transparent) is read the right way round: the prepared reference shows the duck
    centred, filling 85% of the frame; Zero123 + the checkpoint drive hybrid SDS and the normal-render stage, and
    both fields moved; a GLB came out."""
    from PIL import Image
    (ref,) = [f for f in files if f["node"] == find_node(api, "PreviewImage")]
    px = np.asarray(Image.open(io.BytesIO(host.view(ref))).convert("RGB"), dtype=np.float32) / 255
    ys, xs = np.nonzero(px.min(-1) < 0.9)
    side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    print("DREAMCRAFT3D_SD reference object spans", side, "of", px.shape[0])
    assert abs(side / px.shape[0] - 0.85) < 0.05
    coarse, refine, boost = _optimize_logs(api, entry).values()
    for log, loss in ((coarse, "hybrid/sds_3d"), (refine, "sds/sds"), (boost, "bsd/bsd")):
        assert "STOPPED" not in log, log
        assert float(re.search(r"parameter change: ([\d.e+-]+)", log).group(1)) > 1e-4, log
        assert loss in log, log
    assert [f for f in files if f["filename"].endswith(".glb")]
    lora = entry["outputs"][find_node(api, "Distill3DSaveBoostedLoRA")]["text"][0]
    bsd = api[find_node(api, "Distill3DBSDLoss")]["inputs"]
    trigger = f"a {bsd['token']} {bsd['class_word']}"  # the workflow's own: "a sks object"
    assert lora.endswith(f": {trigger}"), (lora, trigger)  # the boosted model, saved with its trigger prompt


def _check_geodream_world(host, api, entry, files):
    """Sampled views -> cost volume -> refinement -> DMTet in the host: the builder's own mesh (the geometry prior
    alone, from 4 sampled views of an object never trained on) already has the duck's shape; the refined, textured
    GLB keeps it; VSD and the normal-render stage ran."""
    from core.world import find_in_prompt
    obj = find_in_prompt(api[find_node(api, "Distill3DWorldPrior")]["inputs"]["prompt"])
    glbs = {f["filename"]: f for f in files if f["filename"].endswith(".glb")}
    (prior,) = [f for n, f in glbs.items() if "_prior" in n]
    (final,) = [f for n, f in glbs.items() if "_prior" not in n]
    iou = {k: mesh_iou(load_mesh(host.view(f), "glb"), lambda p: occupancy(obj, p), 96)
           for k, f in (("prior", prior), ("final", final))}
    print(f"GEODREAM_WORLD {obj.name} IoU prior alone {iou['prior']:.3f}, refined GLB {iou['final']:.3f}")
    assert iou["prior"] >= 0.6 and iou["final"] >= 0.7, iou
    fit, refine = _optimize_logs(api, entry).values()
    assert "STOPPED" not in fit + refine
    assert "vsd/vsd" in fit and "vsd/estimator" in fit, fit
    assert "sds/sds" in refine, refine
    assert entry["outputs"][find_node(api, "Preview3D")]["result"][0].endswith(final["filename"])


def _cpu_sized_geodream_mvdream(host, api):
    """The GPU graph as is, on a tiny random MVDream checkpoint: 64² views and renders, a few steps, small grids.
    A random model's views are noise with no background to read a mask off (the builder refuses them), so a full
    mask (ComfyUI's Solid Mask) is connected: the volume is then the views' shared frustum, enough to drive the
    graph."""
    for k in [k for k, v in api.items() if v["class_type"] == "Distill3DMVDreamPrior"]:
        api[k]["inputs"].update(ckpt_name=tiny_mvdream(host), resolution=64)
    api[find_node(api, "Distill3DMultiViewSampler")]["inputs"]["steps"] = 3
    api["full_mask"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 64}}
    api[find_node(api, "Distill3DCostVolumeBuilder")]["inputs"].update(grid_size=32, mask=["full_mask", 0])
    _cpu_sized_staged_tail(api)


def _check_geodream_mvdream(host, api, entry, files):
    """An MVDream checkpoint's sampled views build the cost volume; VSD with the same model in 2D mode and the
    normal-render stage moved both fields; the prior's mesh and the final GLB came out."""
    fit, refine = _optimize_logs(api, entry).values()
    for log, loss in ((fit, "vsd/vsd"), (refine, "sds/sds")):
        assert "STOPPED" not in log, log
        assert float(re.search(r"parameter change: ([\d.e+-]+)", log).group(1)) > 1e-4, log
        assert loss in log, log
    assert len([f for f in files if f["filename"].endswith(".glb")]) == 2


def _check_texture_paint_world(host, api, entry, files):
    """The painted GLB, read back as a user's viewer would, renders like the true object at held-out views
    (issue 16's floor 28 dB); the truth's GLB sits beside it; every view was painted and previewed."""
    from core.evaluate import held_out_views
    from core.metrics import psnr
    from core.render.raster import render_mesh
    from core.world import render_object
    obj = get_object(api[find_node(api, "Distill3DWorldObject")]["inputs"]["object"])
    glbs = {f["filename"]: f for f in files if f["filename"].endswith(".glb")}
    (painted,) = [f for n, f in glbs.items() if "_truth" not in n]
    assert [n for n in glbs if "_truth" in n]
    mesh = load_mesh(host.view(painted), "glb")
    assert mesh.textured and mesh.texture.shape[:2] == (512, 512)
    views = held_out_views()
    got = psnr(render_mesh(mesh, views, 128).rgb, render_object(obj, views, 128, shading="albedo").rgb)
    print(f"TEXTURE_PAINT_WORLD {obj.name}: held-out PSNR of the painted GLB {got:.2f} dB")
    assert got >= 28.0, got
    n_views = api[find_node(api, "Distill3DPaintViewSequence")]["inputs"]["views"]
    previews = [f for f in files if f["node"] == find_node(api, "PreviewImage")]
    assert len(previews) >= n_views
    assert entry["outputs"][find_node(api, "Preview3D")]["result"][0].endswith(painted["filename"])


def _input_mesh(host, name: str, obj: str = "duck", texture_size: int = 0) -> str:
    """A world object's true mesh as a GLB in the host's input folder (written once, atomically): bare, or with
    its albedo baked into a texture_size² texture on an xatlas layout."""
    import os
    from core.mesh import Mesh
    from core.mesh.export import encode
    from core.mesh.texture import bake, unwrap
    from core.world import true_mesh
    path = os.path.join(host.base, "input", name)
    if not os.path.exists(path):
        o = get_object(obj)
        m = true_mesh(o, 64)
        m = Mesh(m.vertices, m.faces)
        if texture_size:
            m = unwrap(m)
            m = bake(Mesh(m.vertices, m.faces, None, m.uv, torch.zeros(1, 1, 3)), color_fn=lambda p: o.shape(p)[1],
                     size=texture_size)
        tmp = f"{path}.{os.getpid()}.partial"
        with open(tmp, "wb") as f:
            f.write(encode(m, "glb"))
        os.replace(tmp, path)
    return name


def _cpu_sized_texture_paint_sd(host, api):
    """The GPU graph on the random SD 1.5 and a random ControlNet in its real layout (one depth hint per view), the
    duck's mesh with its albedo texture as the input file: 3 views of 64² (8² latents), 2 sampler steps, a 128²
    texture (the input's size, so that kept texels can be compared one to one)."""
    api[find_node(api, "CheckpointLoaderSimple")]["inputs"]["ckpt_name"] = random_sd15(host)
    api[find_node(api, "ControlNetLoader")]["inputs"]["control_net_name"] = random_controlnet(host)
    api[find_node(api, "Distill3DLoadMeshFile")]["inputs"]["file"] = _input_mesh(
        host, "distill3d_test_duck_textured.glb", texture_size=128)
    api[find_node(api, "Distill3DPaintViewSequence")]["inputs"]["views"] = 3
    api[find_node(api, "Distill3DPaintGuides")]["inputs"]["resolution"] = 64
    api[find_node(api, "Distill3DCheckpointPainter")]["inputs"]["steps"] = 2
    api[find_node(api, "Distill3DPaintTexture")]["inputs"].update(texture_size=128, resolution=64)


def _check_texture_paint_sd(host, api, entry, files):
    """Views painted through ComfyUI's sampler with per-view ControlNet hints, folded into a textured GLB that
    Preview3D gets: the random model's paint is far from the input texture where the views saw the mesh, and every
    texel no view saw keeps the input's colour exactly (up to 8-bit rounding)."""
    from core.mesh.texture import sample_texture
    from core.texture import coverage_sequence, texel_visibility
    glbs = [f for f in files if f["filename"].endswith(".glb")]
    assert len(glbs) == 1
    mesh = load_mesh(host.view(glbs[0]), "glb")
    assert mesh.textured and mesh.texture.shape[:2] == (128, 128)
    log = entry["outputs"][find_node(api, "Distill3DPaintTexture")]["text"][0]
    assert log.startswith("painted 3 views"), log
    assert entry["outputs"][find_node(api, "Preview3D")]["result"][0].endswith(glbs[0]["filename"])
    import os
    start = load_mesh(os.path.join(host.base, "input", api[find_node(api, "Distill3DLoadMeshFile")]["inputs"]["file"]))
    seq = api[find_node(api, "Distill3DPaintViewSequence")]["inputs"]
    assert seq["order"] == "coverage"
    cams = coverage_sequence(start, seq["views"], seq["distance"], seq["fov"], first_elevation=seq["elevation"])
    surface, seen, _ = texel_visibility(start, cams, 128, 64)
    before = sample_texture(start.texture, surface.uv())
    after = sample_texture(mesh.texture, surface.uv())
    change = (after - before).abs().amax(-1)
    unseen = ~seen.any(0)
    print(f"TEXTURE_PAINT_SD: {int(unseen.sum())} of {unseen.numel()} texels unseen, their largest change "
          f"{float(change[unseen].max()):.4f}; seen texels' mean change {float(change[~unseen].mean()):.3f}")
    assert unseen.float().mean() > 0.05 and float(change[unseen].max()) <= 1.5 / 255
    assert float(change[~unseen].mean()) > 0.05  # painted, not the texture it started from


def _check_flow_world(host, api, entry, files):
    """The flow path in the host (the World Prior's flow form, RFDS): all that dreamfusion_world shows."""
    prior = api[find_node(api, "Distill3DWorldPrior")]["inputs"]
    loss = api[find_node(api, "Distill3DSDSLoss")]["inputs"]
    assert prior["noise"] == "flow" and loss["form"] == "rfds" and loss["weighting"] == "rfds"
    _check_dreamfusion_world(host, api, entry, files, "FLOW_WORLD")


def _clip_l_loader(host, api, loader_class: str, clip_type: str):
    """Replace a Flux / SD3 text-encoder loader by CLIPLoader with the test CLIP-L alone (T5-XXL is 4.7B values at
    ComfyUI's fixed configuration: no test can make one): 768-wide for Flux's test model, SD3's 4096 / 2048 via
    CLIPLoader's sd3 type."""
    key = find_node(api, loader_class)
    api[key] = {"class_type": "CLIPLoader", "inputs": {"clip_name": random_clip_l(host), "type": clip_type}}


def _cpu_sized_dreamfusion_flux(host, api):
    """Load Diffusion Model with the random Flux.1-dev, Load VAE with the random 16-channel VAE, CLIP-L for the
    text: 64² renders (8² latents, 4² patches), 3 steps."""
    api[find_node(api, "UNETLoader")]["inputs"]["unet_name"] = random_flux(host)
    api[find_node(api, "VAELoader")]["inputs"]["vae_name"] = random_vae16(host)
    _clip_l_loader(host, api, "DualCLIPLoader", "stable_diffusion")
    api[find_node(api, "Distill3DCheckpointTextPrior")]["inputs"]["resolution"] = 64
    _cpu_sized_field_tail(api)


def _cpu_sized_dreamfusion_sd35(host, api):
    """Load Checkpoint with the random SD3 (MMDiT + VAE), CLIP-L (sd3 type) for the text: 64² renders, 3 steps."""
    api[find_node(api, "CheckpointLoaderSimple")]["inputs"]["ckpt_name"] = random_sd3(host)
    _clip_l_loader(host, api, "TripleCLIPLoader", "sd3")
    api[find_node(api, "Distill3DCheckpointTextPrior")]["inputs"]["resolution"] = 64
    _cpu_sized_field_tail(api)


def _check_dreamfusion_flux(host, api, entry, files):
    """Flux's loaders and its distilled guidance drive RFDS through ComfyUI: the field moved, a GLB came out."""
    assert api[find_node(api, "Distill3DCheckpointTextPrior")]["inputs"]["flux_guidance"] == 3.5
    _check_field_moved(api, entry, files, "sds/sds", "DREAMFUSION_FLUX")


def _check_dreamfusion_sd35(host, api, entry, files):
    _check_field_moved(api, entry, files, "sds/sds", "DREAMFUSION_SD35")


CPU_SIZED = {"dreamfusion_sd": _cpu_sized_dreamfusion_sd, "mvdream_sd21": _cpu_sized_mvdream_sd21,
             "dreamcraft3d_sd": _cpu_sized_dreamcraft3d_sd, "geodream_mvdream": _cpu_sized_geodream_mvdream,
             "texture_paint_sd": _cpu_sized_texture_paint_sd, "dreamfusion_flux": _cpu_sized_dreamfusion_flux,
             "dreamfusion_sd35": _cpu_sized_dreamfusion_sd35}
CHECKS = {"world_views": _check_world_views, "world_random_views": _check_world_random_views,
          "reconstruct_from_views": _check_reconstruct_from_views, "dreamfusion_world": _check_dreamfusion_world,
          "dreamfusion_sd": _check_dreamfusion_sd, "prolificdreamer_world": _check_prolificdreamer_world,
          "mvdream_world": _check_mvdream_world, "mvdream_sampler": _check_mvdream_sampler,
          "mvdream_sd21": _check_mvdream_sd21, "dreamcraft3d_world": _check_dreamcraft3d_world,
          "dreamcraft3d_sd": _check_dreamcraft3d_sd, "geodream_world": _check_geodream_world,
          "geodream_mvdream": _check_geodream_mvdream, "texture_paint_world": _check_texture_paint_world,
          "texture_paint_sd": _check_texture_paint_sd, "flow_world": _check_flow_world,
          "dreamfusion_flux": _check_dreamfusion_flux, "dreamfusion_sd35": _check_dreamfusion_sd35}


def _grid_pixels(host, api, files, grid_key: str):
    from PIL import Image
    prev = [k for k, v in api.items() if v["class_type"] == "PreviewImage" and v["inputs"]["images"][0] == grid_key]
    (f,) = [f for f in files if f["node"] == prev[0]]
    return torch.from_numpy(np.asarray(Image.open(io.BytesIO(host.view(f))).convert("RGB"), dtype=np.float32) / 255)


def _object_redness(px: torch.Tensor) -> float:
    """Red minus the mean of green and blue over the pixels that are not the white background."""
    fg = px.sum(-1) < 2.7
    c = px[fg].mean(0)
    return float(c[0] - (c[1] + c[2]) / 2)


def _check_diffusiongan3d_adapt_world(host, api, entry, files):
    """The adaptation ran every step with its relative distance loss and moved the generator; the samples after
    it are redder than before (same seeds, same camera); one adapted sample came out as a GLB that Preview3D got."""
    adapt = find_node(api, "Distill3DAdaptGenerator")
    log = entry["outputs"][adapt]["text"][0]
    steps = api[adapt]["inputs"]["steps"]
    assert log.startswith(f"{steps}/{steps} steps") and "STOPPED" not in log, log
    assert "relative_distance/kl" in log and float(re.search(r"parameter change: ([\d.e+-]+)", log).group(1)) > 1e-4
    grids = [k for k, v in api.items() if v["class_type"] == "Distill3DGeneratorGrid"]
    before, after = (_grid_pixels(host, api, files, k) for k in sorted(
        grids, key=lambda k: api[k]["inputs"]["generator"][0] == adapt))
    r0, r1 = _object_redness(before), _object_redness(after)
    print(f"DIFFUSIONGAN3D_ADAPT_WORLD: redness of the samples {r0:.3f} -> {r1:.3f}")
    assert r1 > r0 + 0.05, (r0, r1)
    glbs = [f for f in files if f["filename"].endswith(".glb")]
    assert len(glbs) == 1
    mesh = load_mesh(host.view(glbs[0]), "glb")
    assert mesh.faces.shape[0] > 100
    assert entry["outputs"][find_node(api, "Preview3D")]["result"][0].endswith(glbs[0]["filename"])


def _check_diffusiongan3d_avatar_world(host, api, entry, files):
    """The latent search scored every candidate and the chosen seed is the best-scored; the fine-tuned avatar's
    GLB has the prompt's object's shape (a floor; bench/bench_gan.py has the full-size figures)."""
    from core.world import find_in_prompt
    node = find_node(api, "Distill3DTextToAvatar")
    log = entry["outputs"][node]["text"][0]
    k = api[node]["inputs"]["candidates"]
    scores = [float(x) for x in re.findall(r"\d+: ([\d.]+)", log.split("\n")[0])]
    assert len(scores) == k and scores == sorted(scores), log
    assert "STOPPED" not in log and float(re.search(r"parameter change: ([\d.e+-]+)", log).group(1)) > 1e-4, log
    obj = find_in_prompt(api[find_node(api, "Distill3DWorldPrior")]["inputs"]["prompt"])
    glbs = [f for f in files if f["filename"].endswith(".glb")]
    mesh = load_mesh(host.view(glbs[0]), "glb")
    got = mesh_iou(mesh, lambda p: occupancy(obj, p), 64)
    print(f"DIFFUSIONGAN3D_AVATAR_WORLD: the avatar's IoU with the {obj.name}: {got:.3f}")
    assert got >= AVATAR_IOU_FLOOR, got


def _cpu_sized_diffusiongan3d_adapt_eg3d(host, api):
    """EG3D's generator at the parity tests' tiny size in place of ffhq512-128.pkl (the .pkl route is the snapshot
    tests'), the random SD 1.5 as the prior at 64², 2 steps of 3 latents, small grids and mesh (its surface at a
    level that random planes reach)."""
    api[find_node(api, "Distill3DLoadGenerator")]["inputs"]["generator_name"] = tiny_eg3d(host)
    api[find_node(api, "CheckpointLoaderSimple")]["inputs"]["ckpt_name"] = random_sd15(host)
    api[find_node(api, "Distill3DCheckpointPrior")]["inputs"]["resolution"] = 64
    api[find_node(api, "Distill3DAdaptGenerator")]["inputs"].update(steps=2, batch=3, samples_per_ray=16,
                                                                     preview_every=1)
    for k, v in api.items():
        if v["class_type"] == "Distill3DGeneratorGrid":
            v["inputs"]["count"] = 2
    # the random tiny generator's densities lie around 0.3-1 (a trained one's are in the tens): the surface at 0.6
    api[find_node(api, "Distill3DExtractMesh")]["inputs"].update(resolution=32, level=0.6)


def _check_diffusiongan3d_adapt_eg3d(host, api, entry, files):
    """An EG3D generator adapted by a checkpoint prior through ComfyUI's model: both steps ran and moved it; the
    grids and the GLB came out."""
    log = entry["outputs"][find_node(api, "Distill3DAdaptGenerator")]["text"][0]
    assert log.startswith("2/2 steps") and "STOPPED" not in log, log
    assert float(re.search(r"parameter change: ([\d.e+-]+)", log).group(1)) > 0, log
    assert len([f for f in files if f["filename"].endswith(".glb")]) == 1


#: the avatar's IoU floor at the workflow's CPU size (20 steps; the mug is hollow, so its thin walls make IoU harsh:
#: tests/core/test_gan_adapt.py measured 0.47 against DreamFusion-world's 0.18 at that budget)
AVATAR_IOU_FLOOR = 0.35
CPU_SIZED["diffusiongan3d_adapt_eg3d"] = _cpu_sized_diffusiongan3d_adapt_eg3d
CHECKS.update(diffusiongan3d_adapt_world=_check_diffusiongan3d_adapt_world,
              diffusiongan3d_avatar_world=_check_diffusiongan3d_avatar_world,
              diffusiongan3d_adapt_eg3d=_check_diffusiongan3d_adapt_eg3d)
