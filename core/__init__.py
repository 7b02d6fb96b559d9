"""Distill3D's library: pure torch (+ numpy, trimesh, scikit-image), importable without ComfyUI.

Every module uses relative imports so the pack works both as ComfyUI's `custom_nodes.<folder>` package and as a
plain `core` package in the tests.
"""
