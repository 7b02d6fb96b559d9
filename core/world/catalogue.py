"""The primitive world's catalogue: named objects built from analytic SDF parts, each with prompt synonyms. Each
is the catalogue member of its family (core.world.families, where the constructions live).

All objects fit inside the unit cube [-0.5, 0.5]^3 and face +Z (see core.cameras). Several are deliberately
asymmetric, front/back or left/right, so that the Janus problem can be measured on them.
"""
from __future__ import annotations

from .sdf import Placed, Shape

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


def _catalogue_shape(name: str) -> Shape:
    """The catalogue object: its family's catalogue member (core.world.families holds every construction)."""
    from .families import FAMILIES
    return FAMILIES[name].catalogue_object().shape


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


def placed_object(obj: WorldObject, scale: float, offset, name: str | None = None) -> WorldObject:
    """`obj` scaled about the origin and moved (see sdf.Placed), under a name that says how."""
    name = f"{name or obj.name}@{scale:.3f}({', '.join(f'{o:+.3f}' for o in offset)})"
    shape = Placed(obj.shape, float(scale), tuple(float(o) for o in offset))
    return WorldObject(name, [], obj.description, lambda: shape, asymmetry=obj.asymmetry, has_cavity=obj.has_cavity)


def _entry(name: str, synonyms: list[str], description: str, **kw) -> WorldObject:
    return WorldObject(name, synonyms, description, lambda: _catalogue_shape(name), **kw)


CATALOGUE: dict[str, WorldObject] = {o.name: o for o in [
    _entry("sphere", ["ball", "orb", "blue ball", "blue sphere"], "a blue sphere"),
    _entry("cube", ["box", "block", "red cube", "red box"], "a red cube with rounded edges"),
    _entry("cylinder", ["can", "drum", "green cylinder", "green can"], "a green cylinder"),
    _entry("cone", ["traffic cone", "orange cone", "pylon"], "an orange traffic cone on a square base"),
    _entry("torus", ["donut", "doughnut", "ring", "yellow donut"], "a yellow torus standing upright"),
    _entry("capsule", ["pill", "purple pill", "purple capsule"], "a purple capsule"),
    _entry("mug", ["cup", "coffee mug", "teal mug"], "a teal mug, its handle on its left (+X) side",
           asymmetry="left/right", has_cavity=True),
    _entry("snowman", ["snow man", "frosty"], "a snowman with a black hat, its carrot nose facing front",
           asymmetry="front/back"),
    _entry("chair", ["wooden chair", "seat"], "a wooden chair with a red seat, its backrest at the back",
           asymmetry="front/back"),
    _entry("arrow", ["dart"], "an arrow pointing to the left (+X) side", asymmetry="left/right"),
    _entry("duck", ["rubber duck", "duckie", "yellow duck"], "a yellow rubber duck facing front",
           asymmetry="front/back"),
    _entry("table", ["wooden table", "desk"], "a wooden table"),
    _entry("mushroom", ["toadstool", "red mushroom"], "a red mushroom with white spots"),
    _entry("house", ["cottage", "hut", "home"], "a small house, its door at the front, chimney on the left",
           asymmetry="front/back and left/right"),
    _entry("dumbbell", ["barbell", "weight"], "a dumbbell lying along the X axis"),
    _entry("lamp", ["table lamp", "desk lamp"], "a table lamp with a yellow shade"),
]}
