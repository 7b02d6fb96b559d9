"""The shipped world workflows and core.recipes.RECIPES, the settings the benches and tests run, agree: every
value a recipe gives a node is that node's input in the shipped file (so a bench row is the shipped graph's
result)."""
import pytest

from build_workflows import node_ids
from core.recipes import RECIPES


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_shipped_workflow_follows_its_recipe(name, api_workflow):
    api, ids = api_workflow(name), node_ids(name)
    for key, inputs in RECIPES[name].items():
        node = api[str(ids[key])]["inputs"]
        for inp, value in inputs.items():
            if inp not in node and inp in ("size", "elevation", "distance", "fov"):
                continue  # the reference's camera: set on its own node (checked below for dreamcraft3d_world)
            assert inp in node, f"{name}: node '{key}' has no input {inp}"
            assert node[inp] == value, f"{name}: node '{key}' {inp} is {node[inp]!r}, its recipe says {value!r}"
    if name == "dreamcraft3d_world":
        ref = api[str(ids["ref"])]["inputs"]
        assert {k: ref[k] for k in RECIPES[name]["ref"]} == RECIPES[name]["ref"]
