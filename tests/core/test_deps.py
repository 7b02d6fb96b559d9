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
    from core.priors.diffusers_prior import DiffusersPrior
    from core.priors.mvdream import MVDreamPrior
    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(MissingDependency, match="The Diffusers Prior needs"):
        DiffusersPrior(str(tmp_path))
    with pytest.raises(MissingDependency, match="The MVDream Prior needs"):
        MVDreamPrior(str(tmp_path / "x.safetensors"))


def test_an_installed_package_is_returned():
    import numpy
    assert require("numpy", "anything") is numpy


def test_an_old_diffusers_names_the_version_needed_and_the_upgrade_command(monkeypatch):
    """Bad input: an importable diffusers older than the pack needs (as another pack pinned it): the error names both
    versions and the pip command that upgrades diffusers alone, not install.py (which keeps installed packages)."""
    import types

    from core.deps import DIFFUSERS_MIN, older_than_needed
    monkeypatch.setitem(sys.modules, "diffusers", types.SimpleNamespace(__version__="0.27.2"))
    with pytest.raises(MissingDependency) as e:
        require("diffusers", "The Diffusers Prior")
    msg = str(e.value)
    assert f"The Diffusers Prior needs diffusers >= {DIFFUSERS_MIN}; this environment has diffusers 0.27.2" in msg
    assert f'Fix: run `{sys.executable} -m pip install --upgrade "diffusers>={DIFFUSERS_MIN}" -c ' in msg, msg
    assert older_than_needed("0.28.2") and not older_than_needed(DIFFUSERS_MIN) and not older_than_needed("0.42.1")
