"""The pack inside a real ComfyUI server: node registry, shipped workflows, bad input."""
import os
import re

import pytest

from core.metrics import mesh_iou
from core.mesh.export import load_mesh
from core.world import get_object, object_names, occupancy

from build_workflows import workflow_file
from hostutil import WORKFLOW_DIR, shipped_workflows
from workflow_checks import CHECKS, CPU_SIZED

DISTILLATION = ["prior", "cameras", "guidance_scale", "views_per_step", "weighting", "t_min", "t_max", "t_max_end",
                "t_schedule", "cfg_rescale", "view_dependent_prompts", "shading", "grad_clip", "weight"]
EXPECTED_NODES = {
    "Distill3DWorldObject": ["object", "prompt"],
    "Distill3DRenderWorldViews": ["object", "cameras", "resolution", "shading", "background", "supersample"],
    "Distill3DWorldTrueMesh": ["object", "resolution"],
    "Distill3DOrbitCameras": ["views", "elevation", "azimuth_start", "distance", "fov"],
    "Distill3DRandomCameras": ["views", "seed", "elevation_min", "elevation_max", "azimuth_min", "azimuth_max",
                               "distance_min", "distance_max", "fov_min", "fov_max"],
    "Distill3DSaveMesh": ["mesh", "filename_prefix", "format"],
    "Distill3DToComfyMesh": ["mesh"],
    "Distill3DCombineCameras": ["cameras_1", "cameras_2"],
    "Distill3DCreateNeRF": ["encoding", "background", "bound", "seed", "blob_density", "blob_radius"],
    "Distill3DCreateNeuS": ["encoding", "background", "bound", "seed", "init_radius"],
    "Distill3DReferenceViewsLoss": ["images", "cameras", "rays_per_step", "rgb_weight", "mask_weight",
                                    "depth_weight", "normal_weight", "weight"],
    "Distill3DEikonalLoss": ["weight", "points_per_step"],
    "Distill3DCombineLosses": ["loss_1", "loss_2"],
    "Distill3DOptimizeField": ["field", "loss", "steps", "learning_rate", "lr_schedule", "samples_per_ray", "seed",
                               "preview_every", "preview_resolution"],
    "Distill3DExtractMesh": ["field", "resolution", "level", "remove_floaters"],
    "Distill3DBakeTexture": ["mesh", "texture_size", "padding"],  # + optional field
    "Distill3DRenderTurntable": ["mesh", "frames", "resolution", "elevation", "distance", "fov", "shading", "fps",
                                 "filename_prefix"],
    "Distill3DConvertToDMTet": ["field", "resolution", "nerf_level"],
    "Distill3DCameraDistribution": ["elevation_min", "elevation_max", "azimuth_min", "azimuth_max", "distance_min",
                                    "distance_max", "fov_min", "fov_max", "uniform_sphere"],
    "Distill3DWorldPrior": ["prompt", "mode", "resolution"],  # + optional renders
    "Distill3DReferenceImage": ["image", "size", "fill", "elevation", "distance", "fov"],  # + mask, depth, normal
    "Distill3DLoadViews": ["folder", "resolution", "up_axis", "margin"],
    "Distill3DLoadMeshFile": ["file"],
    "Distill3DFromComfyMesh": ["mesh"],
    "Distill3DWorldPainter": ["object", "brightness_jitter", "seed"],
    "Distill3DPaintTexture": ["mesh", "painter", "cameras", "texture_size", "resolution", "blend",
                              "blend_band", "optimize_steps"],
    "Distill3DPaintViewSequence": ["order", "views", "elevation", "distance", "fov"],  # + optional mesh
    "Distill3DLoadGenerator": ["generator_name"],
    "Distill3DGeneratorSamples": ["generator", "seed", "count", "truncation_psi", "azimuth", "elevation", "fov",
                                  "rendering_resolution"],
    "Distill3DGeneratorGrid": ["generator", "seed", "count", "columns", "truncation_psi", "azimuth", "elevation",
                               "fov", "images"],
    "Distill3DGeneratorSampleToField": ["generator", "seed", "truncation_psi"],
    "Distill3DAdaptGenerator": ["generator", "prior", "steps", "learning_rate", "batch", "guidance_scale",
                                "relative_distance_weight", "reconstruction_weight", "source_prompt",
                                "truncation_psi", "samples_per_ray", "seed", "preview_every"],
    "Distill3DTextToAvatar": ["generator", "prior", "candidates", "seed", "steps", "learning_rate",
                              "generator_lr_scale", "tv_weight", "batch", "guidance_scale", "samples_per_ray",
                              "preview_every"],  # + optional clip_vision, clip, clip_text
    "Distill3DPaintGuides": ["mesh", "cameras", "resolution"],
    "Distill3DCheckpointPainter": ["model", "vae", "positive", "negative", "seed", "steps", "cfg", "sampler_name",
                                   "scheduler", "denoise"],
    "Distill3DCostVolumeBuilder": ["images", "cameras", "method", "grid_size", "weights", "drop_disagreeing"],  # + mask
    "Distill3DCreateCostVolumeNeuS": ["cost_volume", "volume_lr", "volume_decay", "encoding", "background",
                                      "seed"],  # + optional residual_lr
    "Distill3DWorldImagePrior": ["reference", "resolution", "tolerance"],
    "Distill3DZero123Prior": ["model", "clip_vision", "vae", "reference", "resolution"],
    "Distill3DReferenceImageLoss": ["reference", "rays_per_step", "rgb_weight", "mask_weight", "depth_weight",
                                    "normal_weight", "weight"],
    "Distill3DHybridSDSLoss": ["prior_3d", "cameras", "guidance_3d", "guidance_2d", "weight_3d", "weight_2d",
                               "views_per_step", "t_min", "t_max", "t_min_end", "t_max_end", "anneal_until",
                               "progressive_until", "shading", "random_background", "weight"],  # + prior_2d
    "Distill3DTextureStage": ["texture", "mesh_resolution", "seed"],  # + optional field, mesh
    "Distill3DBSDLoss": ["prior", "cameras", "guidance_scale", "views_per_step", "weighting", "t_min", "t_max",
                         "t_max_end", "t_schedule", "cfg_rescale", "view_dependent_prompts", "shading", "grad_clip",
                         "weight", "estimator", "estimator_lr", "estimator_steps", "augment_every", "augment_views",
                         "augment_t_start", "augment_t_end", "sdedit_steps", "finetune_fraction", "finetune_steps",
                         "finetune_lr", "token", "class_word"],  # + optional random_background
    "Distill3DSaveBoostedLoRA": ["loss", "field", "name"],
    "Distill3DCheckpointPrior": ["model", "vae", "positive", "negative", "resolution"],
    "Distill3DCheckpointTextPrior": ["model", "clip", "vae", "prompt", "negative_prompt", "resolution"],
    "Distill3DDiffusersPrior": ["model", "prompt", "negative_prompt", "resolution"],
    "Distill3DSDSLoss": DISTILLATION + ["x0_form"],
    "Distill3DVSDLoss": DISTILLATION + ["estimator", "estimator_lr", "estimator_steps"],
    "Distill3DRenderRegularizers": ["sparsity", "entropy", "orientation", "weight"],
    "Distill3DMultiViewCameraDistribution": ["views", "elevation_min", "elevation_max", "azimuth_min", "azimuth_max",
                                             "distance_min", "distance_max", "fov_min", "fov_max"],
    "Distill3DMultiViewSDSLoss": ["prior", "cameras", "guidance_scale", "views", "groups_per_step", "weighting",
                                  "t_min", "t_max", "t_max_end", "t_schedule", "cfg_rescale", "shading",
                                  "grad_clip", "weight", "x0_form"],
    "Distill3DMVDreamPrior": ["ckpt_name", "prompt", "negative_prompt", "mode", "views", "resolution"],
    "Distill3DMultiViewSampler": ["prior", "views", "elevation", "azimuth_start", "distance", "fov", "steps",
                                  "guidance_scale", "cfg_rescale", "seed"],  # + optional layout, second_elevation
}


@pytest.mark.both_hosts
def test_object_info_lists_every_node_with_its_inputs(host, object_info):
    ours = {k: v for k, v in object_info.items() if k.startswith("Distill3D")}
    print(f"NODES on ComfyUI {host.version}: {len(ours)} of Distill3D, {len(object_info)} in all")
    assert set(EXPECTED_NODES) == set(ours), "a node was added or removed: list it here with its inputs"
    for name, inputs in EXPECTED_NODES.items():
        d = ours[name]
        assert list(d["input"]["required"]) == inputs, name
        assert d["category"].startswith("Distill3D/"), d["category"]
        assert d["display_name"] and not d["display_name"].startswith("Distill3D"), name
        assert d["description"], name
    for name, d in ours.items():  # every number has a range, every node a category under Distill3D/
        for inp, spec in d["input"].get("required", {}).items():
            if spec[0] in ("INT", "FLOAT"):
                assert "min" in spec[1] and "max" in spec[1], f"{name}.{inp} has no range"
    assert ours["Distill3DWorldObject"]["input"]["required"]["object"][1]["options"] == object_names()
    assert ours["Distill3DSaveMesh"]["output_node"] is True


# Run from the page by tests/browser (queued as a user would) and checked there with the same CHECKS: running it
# here too would repeat its 2 minutes for nothing.
CHECKED_FROM_THE_PAGE = ["reconstruct_from_views"]


@pytest.mark.both_hosts
def test_the_pack_imports_without_a_warning(host, object_info):
    """The server's start-up log names the pack once, in ComfyUI's import-time list, and never in a warning, an
    error, a traceback or a Python warning (which would print the pack's path)."""
    log = open(host.log_path, errors="replace").read()
    start = log[: log.index("Starting server")] if "Starting server" in log else log
    pack = re.compile(r"custom_nodes[/\\]Distill3D|Distill3D:")  # its path in the host, or its log prefix
    ours = [line for line in start.splitlines() if pack.search(line)]
    assert len(ours) == 1 and "IMPORT FAILED" not in ours[0] and "seconds:" in ours[0], ours
    bad = [line for line in start.splitlines() if pack.search(line) and
           re.search(r"WARNING|ERROR|Traceback|Warning", line)]
    assert not bad, bad


@pytest.mark.heavy
@pytest.mark.parametrize("name", [n for n in shipped_workflows() if n not in CHECKED_FROM_THE_PAGE])
def test_shipped_workflow_runs(host, api_workflow, name):
    _run_shipped_workflow(host, api_workflow, name)


# The shipped workflows that finish within a minute on this machine's CPU: run on the newest ComfyUI too (the
# longer ones, 1.5-2 minutes each, run on 0.3.75 only to keep the suite within its time budget).
QUICK_WORKFLOWS = ["world_views", "world_random_views", "mvdream_sampler", "dreamfusion_world", "mvdream_sd21"]


@pytest.mark.heavy
@pytest.mark.newest_only
@pytest.mark.parametrize("name", QUICK_WORKFLOWS)
def test_quick_workflow_runs_on_the_newest_host(host, api_workflow, name):
    _run_shipped_workflow(host, api_workflow, name)


def test_quick_workflows_are_shipped():
    assert set(QUICK_WORKFLOWS) <= set(shipped_workflows())


def _run_shipped_workflow(host, api_workflow, name):
    import time
    t0 = time.time()
    api = api_workflow(name)
    if name in CPU_SIZED:  # a GPU-sized workflow: the same graph, with smaller widget values and test files
        CPU_SIZED[name](host, api)
    entry = host.run(api, timeout=1800)
    assert entry["status"]["status_str"] == "success", entry["status"]
    files = host.output_files(entry)
    assert files, "the workflow wrote no files"
    print(f"WORKFLOW {name} on ComfyUI {host.version}: {time.time() - t0:.1f} s")
    CHECKS[name](host, api, entry, files)


def test_every_shipped_workflow_has_a_check_and_a_thumbnail():
    """Each workflow has its checks and the .jpg the template browser asks for; the folder holds nothing else
    (a stale file would be a card of its own)."""
    expected = set()
    for name in shipped_workflows():
        assert name in CHECKS
        path = workflow_file(name)
        assert os.path.exists(path[:-5] + ".jpg"), f"{name} has no thumbnail"
        expected |= {os.path.basename(path), os.path.basename(path)[:-5] + ".jpg"}
    assert set(os.listdir(WORKFLOW_DIR)) == expected


def _mesh_prompt(name: str, prefix: str, fmt: str = "glb") -> dict:
    return {
        "1": {"class_type": "Distill3DWorldObject", "inputs": {"object": name, "prompt": ""}},
        "2": {"class_type": "Distill3DWorldTrueMesh", "inputs": {"object": ["1", 0], "resolution": 128}},
        "3": {"class_type": "Distill3DSaveMesh", "inputs": {"mesh": ["2", 0], "filename_prefix": prefix,
                                                             "format": fmt}},
    }


@pytest.mark.parametrize("name", object_names())
def test_exported_true_mesh_iou(host, name):
    entry = host.run(_mesh_prompt(name, f"tests/true_{name}"))
    assert entry["status"]["status_str"] == "success"
    (ref,) = host.output_files(entry)
    mesh = load_mesh(host.view(ref), "glb")
    value = mesh_iou(mesh, lambda p: occupancy(get_object(name), p), 128)
    print(f"IOU {name} {value:.4f}")
    assert value >= 0.95


def _node_error_text(body) -> str:
    return repr(body.get("node_errors")) + repr(body.get("error"))


def test_unknown_object_prompt_is_a_node_error_listing_the_objects(host):
    p = _mesh_prompt("snowman", "tests/bad")
    p["1"]["inputs"]["prompt"] = "a giraffe wearing a hat"
    status, body = host.queue(p)
    assert status == 400
    text = _node_error_text(body)
    assert "names no object" in text and "snowman" in text and "duck" in text


def test_out_of_range_and_inconsistent_values_are_refused(host):
    p = _mesh_prompt("cube", "tests/bad")
    p["2"]["inputs"]["resolution"] = 4
    status, body = host.queue(p)
    assert status == 400 and "smaller than min" in _node_error_text(body)
    cams = {"1": {"class_type": "Distill3DRandomCameras",
                  "inputs": {"views": 4, "seed": 0, "elevation_min": 40.0, "elevation_max": 10.0,
                             "azimuth_min": -180.0, "azimuth_max": 180.0, "distance_min": 1.5,
                             "distance_max": 2.0, "fov_min": 40.0, "fov_max": 70.0}},
            "2": {"class_type": "Distill3DWorldObject", "inputs": {"object": "cube", "prompt": ""}},
            "3": {"class_type": "Distill3DRenderWorldViews",
                  "inputs": {"object": ["2", 0], "cameras": ["1", 0], "resolution": 32, "shading": "albedo",
                             "background": "white", "supersample": 1}},
            "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}}
    status, body = host.queue(cams)
    assert status == 400 and "elevation_min (40.0) must not exceed elevation_max (10.0)" in _node_error_text(body)
    cams["1"]["inputs"].update(elevation_min=10.0, elevation_max=40.0, fov_max=400.0)
    status, body = host.queue(cams)
    assert status == 400 and "fov_max = 400.0 is bigger than its maximum" in _node_error_text(body)


def test_a_failing_save_writes_nothing_and_the_server_keeps_serving(host):
    out_root = host.output_dir
    before = set(os.listdir(out_root))
    entry = host.run(_mesh_prompt("torus", "../../escape"))
    assert entry["status"]["status_str"] == "error"
    msg = str(entry["status"]["messages"])
    assert "leaves the output folder" in msg
    assert set(os.listdir(out_root)) == before
    assert not os.path.exists(os.path.join(out_root, "..", "..", "escape_00001_.glb"))
    # still serving: the next prompt runs
    ok = host.run(_mesh_prompt("torus", "tests/after_error"))
    assert ok["status"]["status_str"] == "success"
    files = host.output_files(ok)
    assert re.fullmatch(r"after_error_\d{5}_\.glb", files[0]["filename"])


def _fit_prompt(steps: int, ref_images_node: str = "3") -> dict:
    return {
        "1": {"class_type": "Distill3DWorldObject", "inputs": {"object": "cube", "prompt": ""}},
        "2": {"class_type": "Distill3DOrbitCameras", "inputs": {"views": 4, "elevation": 15.0, "azimuth_start": 0.0,
                                                                 "distance": 1.8, "fov": 40.0}},
        "3": {"class_type": "Distill3DRenderWorldViews",
              "inputs": {"object": ["1", 0], "cameras": ["2", 0], "resolution": 32, "shading": "albedo",
                         "background": "white", "supersample": 1}},
        "4": {"class_type": "Distill3DReferenceViewsLoss",
              "inputs": {"images": [ref_images_node, 0], "cameras": ["2", 0], "mask": ["3", 1], "rays_per_step": 256,
                         "rgb_weight": 1.0, "mask_weight": 1.0, "depth_weight": 0.0, "normal_weight": 0.0,
                         "weight": 1.0}},
        "5": {"class_type": "Distill3DCreateNeuS", "inputs": {"encoding": "auto", "background": "white",
                                                               "bound": 0.6, "seed": 0, "init_radius": 0.3}},
        "6": {"class_type": "Distill3DOptimizeField",
              "inputs": {"field": ["5", 0], "loss": ["4", 0], "steps": steps, "learning_rate": 0.02,
                         "lr_schedule": "cosine", "samples_per_ray": 16, "seed": 0, "preview_every": 5,
                         "preview_resolution": 32}},
        "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 1]}},
    }


def test_mismatched_reference_views_fail_clearly(host):
    p = _fit_prompt(3)
    p["8"] = {"class_type": "Distill3DOrbitCameras", "inputs": {"views": 3, "elevation": 15.0, "azimuth_start": 0.0,
                                                                 "distance": 1.8, "fov": 40.0}}
    p["4"]["inputs"]["cameras"] = ["8", 0]
    entry = host.run(p)
    assert entry["status"]["status_str"] == "error"
    assert "4 reference images but 3 cameras" in str(entry["status"]["messages"])


def test_reference_views_loss_reads_load_images_mask_convention(host):
    """A mask in Load Image's convention (1 - alpha: 1 where transparent; here the views' mask through Invert Mask)
    fits the object, not an empty field; a mask of neither convention is refused naming what was seen."""
    import io
    import re
    import numpy as np
    from PIL import Image
    p = _fit_prompt(40)
    p["8"] = {"class_type": "InvertMask", "inputs": {"mask": ["3", 1]}}
    p["4"]["inputs"]["mask"] = ["8", 0]
    entry = host.run(p)
    assert entry["status"]["status_str"] == "success", entry["status"]
    log = entry["outputs"]["6"]["text"][0]
    first, last = map(float, re.search(r"reference/mask: ([\d.]+) -> ([\d.]+)", log).groups())
    assert last < 0.5 * first, log
    preview = [f for f in host.output_files(entry) if f["node"] == "7"][0]
    px = np.asarray(Image.open(io.BytesIO(host.view(preview))).convert("RGB"), dtype=np.float32) / 255
    assert (px.min(-1) < 0.8).mean() > 0.1  # the cube is drawn (an empty field renders white)
    p["8"] = {"class_type": "SolidMask", "inputs": {"value": 0.5, "width": 32, "height": 32}}
    entry = host.run(p)
    assert entry["status"]["status_str"] == "error"
    assert "the mask is ambiguous: along the image border it is 0.50" in str(entry["status"]["messages"])


def test_load_views_feeds_a_fit_from_a_transforms_json_folder(host):
    """A nerfstudio-style folder (z-up world, shifted and scaled, off-centre principal points, alpha masks) in the
    input folder: Load Views gives the images, masks and cameras that Reference Views Loss fits the cube from, and
    reports (its ui text) how many views made the object box; a folder outside the input folder or not in the list,
    out-of-range numbers (ComfyUI's own checks, no longer switched off) and an unlisted up_axis are refused before
    anything runs."""
    import re
    import uuid
    from core.cameras import Cameras
    from posed_views import FOV, write_scene
    folder = f"distill3d_test_views_{uuid.uuid4().hex[:8]}"
    cams = Cameras.from_spherical([15.0] * 4 + [40.0] * 2, [0, 90, 180, 270, 45, 225], 1.8, FOV)
    write_scene(os.path.join(host.base, "input", folder), get_object("cube"), cams, res=48)
    p = _fit_prompt(40)
    p["9"] = {"class_type": "Distill3DLoadViews",
              "inputs": {"folder": folder, "resolution": 32, "up_axis": "+z", "margin": 0.9}}
    p["4"]["inputs"].update(images=["9", 0], mask=["9", 1], cameras=["9", 2])
    entry = host.run(p)
    assert entry["status"]["status_str"] == "success", entry["status"]
    log = entry["outputs"]["6"]["text"][0]
    first, last = map(float, re.search(r"reference/mask: ([\d.]+) -> ([\d.]+)", log).groups())
    assert last < 0.5 * first, log
    assert entry["outputs"]["9"]["text"] == ["6 views, object box from 6"], entry["outputs"].get("9")
    p["9"]["inputs"]["folder"] = "../output"
    status, body = host.queue(p)
    assert status == 400 and "leaves ComfyUI's input folder" in _node_error_text(body), body
    for change, expected in (({"folder": "distill3d_no_such_views"}, "is not one of the folders"),
                             ({"resolution": 4}, "resolution"), ({"margin": 1.5}, "margin"),
                             ({"up_axis": "-x"}, "up_axis = '-x' is not one of its options")):
        p["9"]["inputs"] = {"folder": folder, "resolution": 32, "up_axis": "+z", "margin": 0.9, **change}
        status, body = host.queue(p)
        assert status == 400 and expected in _node_error_text(body), (change, body)


def test_cancel_stops_a_long_optimization_promptly(host):
    import time
    status, body = host.queue(_fit_prompt(100000))
    assert status == 200, body
    time.sleep(8)  # let it get into the loop
    t0 = time.time()
    host.post("/interrupt", {})
    entry = host.wait(body["prompt_id"], timeout=60)
    assert time.time() - t0 < 15
    assert entry["status"]["status_str"] == "error"
    assert "interrupt" in str(entry["status"]["messages"]).lower()
    assert host.run(_mesh_prompt("cube", "tests/after_cancel"))["status"]["status_str"] == "success"
