"""Optional packages: a missing or broken one is named by the feature that needs it, with the fix."""
import sys

import pytest

from core.deps import MissingDependency, require


def test_a_missing_package_names_the_feature_and_the_install_script(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers now raises ImportError
    with pytest.raises(MissingDependency) as e:
        require("diffusers", "The Diffusers Prior")
    msg = str(e.value)
    assert "The Diffusers Prior needs the Python package 'diffusers'" in msg
    assert "install.py" in msg and "huggingface-hub" in msg


def test_the_priors_that_need_diffusers_say_so_before_reading_any_file(monkeypatch, tmp_path):
    from core.guidance.diffusers_prior import DiffusersPrior
    from core.guidance.mvdream import MVDreamPrior
    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(MissingDependency, match="The Diffusers Prior needs"):
        DiffusersPrior(str(tmp_path))
    with pytest.raises(MissingDependency, match="The MVDream Prior needs"):
        MVDreamPrior(str(tmp_path / "x.safetensors"))


def test_an_installed_package_is_returned():
    import numpy
    assert require("numpy", "anything") is numpy
