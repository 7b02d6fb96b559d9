"""The World Prior's family inputs in a real host: a prompt's words over K members run; words the family lacks,
two objects in one prompt and K out of range are node errors that say what works, and the host keeps serving."""


def _graph(prompt: str, members: int) -> dict:
    return {
        "1": {"class_type": "Distill3DWorldPrior", "inputs": {"prompt": prompt, "mode": "view-aware",
                                                              "resolution": "32", "members": members,
                                                              "member_seed": 3}},
        "2": {"class_type": "Distill3DCameraDistribution",
              "inputs": {"elevation_min": -10.0, "elevation_max": 60.0, "azimuth_min": -180.0, "azimuth_max": 180.0,
                         "distance_min": 1.8, "distance_max": 1.8, "fov_min": 40.0, "fov_max": 40.0,
                         "uniform_sphere": False}},
        "4": {"class_type": "Distill3DVSDLoss",
              "inputs": {"prior": ["1", 0], "cameras": ["2", 0], "guidance_scale": 7.5, "views_per_step": 2,
                         "weighting": "sds", "t_min": 0.02, "t_max": 0.98, "t_max_end": 0.5, "t_schedule": "linear",
                         "cfg_rescale": 0.0, "view_dependent_prompts": True, "shading": "albedo", "grad_clip": 0.0,
                         "random_background": 0.5, "weight": 1.0, "estimator": "auto", "estimator_lr": 1e-3,
                         "estimator_steps": 0}},
        "5": {"class_type": "Distill3DCreateNeuS", "inputs": {"encoding": "auto", "background": "white",
                                                               "bound": 0.6, "seed": 0, "init_radius": 0.3}},
        "6": {"class_type": "Distill3DOptimizeField",
              "inputs": {"field": ["5", 0], "loss": ["4", 0], "steps": 3, "learning_rate": 0.02,
                         "lr_schedule": "cosine", "samples_per_ray": 16, "seed": 0, "preview_every": 0,
                         "preview_resolution": 32}},
        "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 1]}},
    }


def _errors(body) -> str:
    return repr(body.get("node_errors")) + repr(body.get("error"))


def test_family_prompts_run_and_bad_words_are_node_errors(host):
    entry = host.run(_graph("a tall red mug", 3))
    assert entry["status"]["status_str"] == "success", entry["status"]
    for prompt, members, expected in [
            ("a green snowman", 2, ["snowman family has no green member", "colours: white"]),
            ("a tall sphere", 2, ["sphere family has no 'tall'", "big, small"]),
            ("a duck on a table", 2, ["names 2 objects (duck, table)"]),
            ("a duck", 0, ["smaller than min"])]:
        status, body = host.queue(_graph(prompt, members))
        assert status == 400, (prompt, body)
        text = _errors(body)
        assert all(e in text for e in expected), (prompt, text)
    assert host.run(_graph("a duck", 1))["status"]["status_str"] == "success"
