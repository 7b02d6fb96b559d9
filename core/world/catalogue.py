"""The primitive world's catalogue: named objects built from analytic SDF parts, each with prompt synonyms.

All objects fit inside the unit cube [-0.5, 0.5]^3 and face +Z (see core.cameras). Several are deliberately
asymmetric, front/back or left/right, so that the Janus problem can be measured on them.
"""
from __future__ import annotations

from .sdf import Box, Capsule, Cone, Cylinder, Intersect, Shape, SmoothUnion, Sphere, Subtract, Torus, Union

RED = (0.85, 0.12, 0.10)
BLUE = (0.15, 0.35, 0.85)
GREEN = (0.15, 0.65, 0.25)
ORANGE = (0.95, 0.50, 0.08)
YELLOW = (0.95, 0.80, 0.15)
PURPLE = (0.55, 0.25, 0.75)
WHITE = (0.93, 0.93, 0.90)
BLACK = (0.06, 0.06, 0.06)
WOOD = (0.58, 0.38, 0.20)
DARK_WOOD = (0.35, 0.20, 0.10)
GRAY = (0.55, 0.56, 0.60)
CREAM = (0.92, 0.86, 0.72)
TEAL = (0.10, 0.55, 0.60)
COFFEE = (0.30, 0.18, 0.10)


def _sphere():
    return Sphere(color=BLUE, radius=0.4)


def _cube():
    return Box(color=RED, half=(0.3, 0.3, 0.3), rounding=0.03)


def _cylinder():
    return Cylinder(color=GREEN, radius=0.28, half_height=0.36)


def _cone():
    return Union([Cone(color=ORANGE, bottom_radius=0.34, top_radius=0.02, half_height=0.38, offset=(0, 0.02, 0)),
                  Box(color=ORANGE, half=(0.4, 0.03, 0.4), offset=(0, -0.39, 0), rounding=0.01)])


def _torus():
    return Torus(color=YELLOW, major=0.3, minor=0.12, rotation=(90, 0, 0))


def _capsule():
    return Capsule(color=PURPLE, a=(0, -0.22, 0), b=(0, 0.22, 0), radius=0.2)


def _mug():
    body = Cylinder(color=TEAL, radius=0.26, half_height=0.3, offset=(0, -0.08, 0))
    handle = Torus(color=TEAL, major=0.13, minor=0.035, rotation=(90, 0, 0), offset=(0.27, -0.06, 0))
    cavity = Cylinder(color=COFFEE, radius=0.215, half_height=0.3, offset=(0, -0.02 + 0.02, 0))
    return Subtract(Union([body, handle]), cavity, cut_color=COFFEE)


def _snowman():
    bottom = Sphere(color=WHITE, radius=0.2, offset=(0, -0.26, 0))
    middle = Sphere(color=WHITE, radius=0.15, offset=(0, 0.0, 0))
    head = Sphere(color=WHITE, radius=0.11, offset=(0, 0.21, 0))
    body = SmoothUnion(SmoothUnion(bottom, middle, 0.04), head, 0.03)
    nose = Cone(color=ORANGE, bottom_radius=0.045, top_radius=0.0, half_height=0.09, rotation=(90, 0, 0),
                offset=(0, 0.21, 0.18))
    eyes = [Sphere(color=BLACK, radius=0.026, offset=(x, 0.25, 0.085)) for x in (-0.045, 0.045)]
    buttons = [Sphere(color=BLACK, radius=0.03, offset=(0, y, 0.14)) for y in (0.05, -0.04)] + \
        [Sphere(color=BLACK, radius=0.03, offset=(0, -0.2, 0.19))]
    scarf = Torus(color=RED, major=0.1, minor=0.03, offset=(0, 0.115, 0))
    scarf_end = Box(color=RED, half=(0.035, 0.09, 0.015), offset=(0.06, 0.03, 0.13), rotation=(20, 0, 10))
    hat = Union([Cylinder(color=BLACK, radius=0.075, half_height=0.06, offset=(0, 0.36, 0)),
                 Cylinder(color=BLACK, radius=0.12, half_height=0.012, offset=(0, 0.3, 0))])
    return Union([body, nose, *eyes, *buttons, scarf, scarf_end, hat])


def _chair():
    seat = Box(color=RED, half=(0.22, 0.03, 0.22), offset=(0, -0.02, 0), rounding=0.01)
    legs = [Box(color=WOOD, half=(0.025, 0.2, 0.025), offset=(x, -0.25, z)) for x in (-0.19, 0.19)
            for z in (-0.19, 0.19)]
    back = Box(color=WOOD, half=(0.22, 0.22, 0.025), offset=(0, 0.23, -0.195), rounding=0.01)
    return Union([seat, *legs, back])


def _arrow():
    shaft = Cylinder(color=WOOD, radius=0.045, half_height=0.27, rotation=(0, 0, 90), offset=(-0.09, 0, 0))
    head = Cone(color=GRAY, bottom_radius=0.13, top_radius=0.0, half_height=0.12, rotation=(0, 0, -90),
                offset=(0.28, 0, 0))
    fins = [Box(color=RED, half=(0.07, 0.1, 0.008), offset=(-0.31, 0, 0), rotation=(a, 0, 0)) for a in (0, 90)]
    return Union([shaft, head, *fins])


def _duck():
    body = SmoothUnion(Sphere(color=YELLOW, radius=0.25, offset=(0, -0.17, 0.02)),
                       Sphere(color=YELLOW, radius=0.17, offset=(0, -0.12, -0.2)), 0.08)
    tail = Cone(color=YELLOW, bottom_radius=0.08, top_radius=0.0, half_height=0.08, rotation=(-50, 0, 0),
                offset=(0, -0.02, -0.36))
    head = Sphere(color=YELLOW, radius=0.15, offset=(0, 0.17, 0.1))
    beak = Cone(color=ORANGE, bottom_radius=0.08, top_radius=0.02, half_height=0.08, rotation=(90, 0, 0),
                offset=(0, 0.15, 0.31))
    eyes = [Sphere(color=BLACK, radius=0.03, offset=(x, 0.22, 0.21)) for x in (-0.065, 0.065)]
    return Union([SmoothUnion(SmoothUnion(body, tail, 0.04), head, 0.06), beak, *eyes])


def _table():
    top = Box(color=WOOD, half=(0.44, 0.025, 0.3), offset=(0, 0.12, 0), rounding=0.01)
    legs = [Cylinder(color=DARK_WOOD, radius=0.03, half_height=0.27, offset=(x, -0.17, z)) for x in (-0.38, 0.38)
            for z in (-0.24, 0.24)]
    return Union([top, *legs])


def _mushroom():
    stem = Cylinder(color=CREAM, radius=0.09, half_height=0.22, offset=(0, -0.22, 0))
    cap = Subtract(Sphere(color=RED, radius=0.34, offset=(0, -0.1, 0)),
                   Box(color=RED, half=(0.5, 0.3, 0.5), offset=(0, -0.3, 0)))
    spots = [Sphere(color=WHITE, radius=0.045, offset=(x, y, z)) for x, y, z in
             ((0.0, 0.24, 0.0), (0.19, 0.16, 0.1), (-0.16, 0.17, 0.12), (0.05, 0.15, -0.2), (-0.12, 0.13, -0.17))]
    return Union([SmoothUnion(stem, cap, 0.03), *spots])


def _house():
    walls = Box(color=CREAM, half=(0.3, 0.18, 0.24), offset=(0, -0.27, 0))
    roof = Subtract(Box(color=RED, half=(0.25, 0.25, 0.28), rotation=(0, 0, 45), offset=(0, -0.09, 0)),
                    Box(color=RED, half=(0.5, 0.3, 0.5), offset=(0, -0.39, 0)))
    door = Box(color=DARK_WOOD, half=(0.06, 0.1, 0.012), offset=(0, -0.35, 0.245))
    windows = [Box(color=BLUE, half=(0.05, 0.05, 0.012), offset=(x, -0.22, 0.245)) for x in (-0.18, 0.18)]
    chimney = Box(color=GRAY, half=(0.04, 0.1, 0.04), offset=(0.16, 0.12, -0.05))
    return Union([walls, roof, door, *windows, chimney])


def _dumbbell():
    bar = Capsule(color=GRAY, a=(-0.3, 0, 0), b=(0.3, 0, 0), radius=0.04)
    weights = [Cylinder(color=BLACK, radius=0.16, half_height=0.06, rotation=(0, 0, 90), offset=(x, 0, 0))
               for x in (-0.3, 0.3)]
    return Union([bar, *weights])


def _lamp():
    base = Cylinder(color=GRAY, radius=0.16, half_height=0.025, offset=(0, -0.42, 0))
    pole = Cylinder(color=GRAY, radius=0.02, half_height=0.25, offset=(0, -0.16, 0))
    shade = Subtract(Cone(color=YELLOW, bottom_radius=0.28, top_radius=0.14, half_height=0.14, offset=(0, 0.2, 0)),
                     Cone(color=YELLOW, bottom_radius=0.26, top_radius=0.12, half_height=0.15, offset=(0, 0.2, 0)),
                     cut_color=WHITE)
    bulb = Sphere(color=WHITE, radius=0.06, offset=(0, 0.12, 0))
    return Union([base, pole, shade, bulb])


class WorldObject:
    """A named object of the primitive world: its SDF tree, prompt synonyms and what makes it asymmetric."""

    def __init__(self, name: str, synonyms: list[str], description: str, build, asymmetry: str | None = None,
                 has_cavity: bool = False):
        self.name = name
        self.synonyms = synonyms
        self.description = description
        self.asymmetry = asymmetry
        self.has_cavity = has_cavity
        self._build = build
        self._shape: Shape | None = None

    @property
    def shape(self) -> Shape:
        if self._shape is None:
            self._shape = self._build()
        return self._shape

    @property
    def names(self) -> list[str]:
        return [self.name, *self.synonyms]

    def __repr__(self):
        return f"WorldObject({self.name!r})"


CATALOGUE: dict[str, WorldObject] = {o.name: o for o in [
    WorldObject("sphere", ["ball", "orb", "blue ball", "blue sphere"], "a blue sphere", _sphere),
    WorldObject("cube", ["box", "block", "red cube", "red box"], "a red cube with rounded edges", _cube),
    WorldObject("cylinder", ["can", "drum", "green cylinder", "green can"], "a green cylinder", _cylinder),
    WorldObject("cone", ["traffic cone", "orange cone", "pylon"], "an orange traffic cone on a square base", _cone),
    WorldObject("torus", ["donut", "doughnut", "ring", "yellow donut"], "a yellow torus standing upright", _torus),
    WorldObject("capsule", ["pill", "purple pill", "purple capsule"], "a purple capsule", _capsule),
    WorldObject("mug", ["cup", "coffee mug", "teal mug"], "a teal mug, its handle on its left (+X) side", _mug,
                asymmetry="left/right", has_cavity=True),
    WorldObject("snowman", ["snow man", "frosty"], "a snowman with a black hat, its carrot nose facing front",
                _snowman, asymmetry="front/back"),
    WorldObject("chair", ["wooden chair", "seat"], "a wooden chair with a red seat, its backrest at the back",
                _chair, asymmetry="front/back"),
    WorldObject("arrow", ["dart"], "an arrow pointing to the left (+X) side", _arrow, asymmetry="left/right"),
    WorldObject("duck", ["rubber duck", "duckie", "yellow duck"], "a yellow rubber duck facing front", _duck,
                asymmetry="front/back"),
    WorldObject("table", ["wooden table", "desk"], "a wooden table", _table),
    WorldObject("mushroom", ["toadstool", "red mushroom"], "a red mushroom with white spots", _mushroom),
    WorldObject("house", ["cottage", "hut", "home"], "a small house, its door at the front, chimney on the left",
                _house, asymmetry="front/back and left/right"),
    WorldObject("dumbbell", ["barbell", "weight"], "a dumbbell lying along the X axis", _dumbbell),
    WorldObject("lamp", ["table lamp", "desk lamp"], "a table lamp with a yellow shade", _lamp),
]}
