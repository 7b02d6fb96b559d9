"""The World Prior's family inputs in a real host: a prompt's words over K members run; words the family lacks,
two objects in one prompt and K out of range are node errors that say what works, and the host keeps serving."""
from hostutil import world_vsd_nodes


def _graph(prompt: str, members: int) -> dict:
    return world_vsd_nodes(prompt=prompt, members=members, member_seed=3) | {
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
