"""Families of world objects: every catalogue object varied in its proportions, part sizes, optional parts and
colours. A family is P named parameters, each over [low, high]; a member is a value for each (or u in [0,1]^P).
The catalogue object is one member of its family (`Family.catalogue` rebuilds it; tests/core/test_families.py
checks its SDF and albedo against the catalogue's own construction).

Words narrow a family to a sub-family: a colour word ("a red duck": the main colour's hue, saturation and value
inside the colour's region, COLOUR_REGIONS) and the family's shape words ("a tall mug", "a snowman with a hat",
"a mushroom without spots"). `members(K, seed, ...)` fixes K members of a (sub-)family: member 0 is the catalogue
object where it fits the words (repainted by a colour word, as the world prior has always done), the others are
drawn uniformly from the sub-family by the seed.

The pack's own 3D GAN is trained on a family (scripts/train_world_generator.py): a latent z maps to u = Phi(z[:P])
(the normal CDF), so every latent is a member and nearby latents are similar members.

    fam = FAMILIES["mug"]
    obj = fam.object(fam.from_latent(z))       # a WorldObject: render_object / occupancy / true_mesh apply
"""
from __future__ import annotations

import colorsys
import zlib
from dataclasses import dataclass, field
from typing import Callable

import torch

from .catalogue import (BLACK, BLUE, COFFEE, CREAM, DARK_WOOD, GRAY, GREEN, ORANGE, PURPLE, RED, TEAL, WHITE, WOOD,
                        YELLOW, WorldObject)
from .sdf import Box, Capsule, Cone, Cylinder, Shape, SmoothUnion, Sphere, Subtract, Torus, Union


class FamilyWordError(ValueError):
    """A prompt asks a family for something it does not have ("a green snowman", "a tall sphere")."""


#: where each colour word lies in HSV (hue wraps: red spans 0.965..1.035): (hue, saturation, value) ranges
COLOUR_REGIONS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "red": ((-0.035, 0.035), (0.6, 1.0), (0.5, 1.0)),
    "orange": ((0.05, 0.10), (0.6, 1.0), (0.7, 1.0)),
    "yellow": ((0.11, 0.17), (0.5, 1.0), (0.7, 1.0)),
    "brown": ((0.03, 0.11), (0.5, 0.9), (0.25, 0.6)),
    "green": ((0.24, 0.44), (0.4, 1.0), (0.35, 1.0)),
    "teal": ((0.46, 0.54), (0.5, 1.0), (0.4, 0.9)),
    "blue": ((0.56, 0.68), (0.5, 1.0), (0.45, 1.0)),
    "purple": ((0.72, 0.82), (0.4, 1.0), (0.4, 1.0)),
    "pink": ((0.88, 0.98), (0.25, 0.6), (0.8, 1.0)),
    "white": ((0.0, 1.0), (0.0, 0.08), (0.85, 1.0)),
    "black": ((0.0, 1.0), (0.0, 1.0), (0.0, 0.12)),
    "gray": ((0.0, 1.0), (0.0, 0.12), (0.35, 0.75)),
    "grey": ((0.0, 1.0), (0.0, 0.12), (0.35, 0.75)),
}
MAIN_COLOUR = ("hue", "saturation", "value")  # the parameters a colour word sets
NEGATIONS = ("no", "without", "hatless")


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(h % 1.0, s, v)


def _hsv_of(rgb) -> dict:
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    return {"hue": h, "saturation": s, "value": v}


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float] | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if hi - lo > 1e-9 else None


@dataclass(frozen=True)
class Family:
    """P named parameters, each spanning [low, high]; `build` turns their values (with `constants`, values every
    member shares unless the catalogue's differ) into an SDF shape. `catalogue`: the values that rebuild the
    catalogue object; `words`: shape word -> {parameter: (low, high)}, the sub-family the word means."""

    name: str
    description: str
    parameters: tuple[tuple[str, float, float], ...]
    build: Callable[[dict], Shape]
    catalogue: dict = field(default_factory=dict)
    words: dict = field(default_factory=dict)
    constants: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.parameters)

    @property
    def ranges(self) -> dict:
        return {n: (lo, hi) for n, lo, hi in self.parameters}

    def values(self, u) -> dict:
        """The parameter values of the member u ([P] in 0..1)."""
        u = torch.as_tensor(u, dtype=torch.float32).reshape(-1)
        if u.numel() != self.size:
            raise ValueError(f"the {self.name} family has {self.size} parameters, got {u.numel()} values")
        return {n: lo + (hi - lo) * float(x) for (n, lo, hi), x in zip(self.parameters, u.clamp(0, 1))}

    def object(self, u, name: str | None = None) -> WorldObject:
        return self.object_of(self.values(u), name)

    def object_of(self, values: dict, name: str | None = None) -> WorldObject:
        """The member with these parameter values (constants filled in)."""
        shape = self.build({**self.constants, **values})
        return WorldObject(name or f"{self.name}-member", [], self.description, lambda: shape)

    def catalogue_object(self) -> WorldObject:
        return self.object_of(self.catalogue, self.name)

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """u = Phi(z[..., :P]): a standard normal latent as a member (the rest of z, if any, is not used)."""
        if z.shape[-1] < self.size:
            raise ValueError(f"the {self.name} family needs latents of at least {self.size} values, got "
                             f"{z.shape[-1]}")
        return 0.5 * (1 + torch.erf(z[..., :self.size].float() / 2 ** 0.5))

    # ---- sub-families ---------------------------------------------------------------------------------------
    @property
    def colours(self) -> tuple[str, ...]:
        """The colour words this family has a member of (its main colour's ranges meet the word's region)."""
        return tuple(w for w in COLOUR_REGIONS if self._colour_box(w) is not None)

    def _colour_box(self, colour: str) -> dict | None:
        if not all(p in self.ranges for p in MAIN_COLOUR):
            return None
        box = {}
        for p, region in zip(MAIN_COLOUR, COLOUR_REGIONS[colour]):
            rng = self.ranges[p]
            shifts = (-1.0, 0.0, 1.0) if p == "hue" else (0.0,)
            pieces = [o for s in shifts if (o := _overlap(rng, (region[0] + s, region[1] + s)))]
            if not pieces:
                return None
            box[p] = max(pieces, key=lambda o: o[1] - o[0])
        return box

    def word_box(self, word: str, negated: bool = False) -> dict:
        """{parameter: (low, high)} of a shape word (or its negation: "without a hat")."""
        if word not in self.words:
            raise FamilyWordError(self._unknown(f"'{word}'"))
        box = dict(self.words[word])
        if negated:
            if not self.optional_part(word):
                raise FamilyWordError(f"'no {word}' has no meaning for the {self.name} family: its shape words are "
                                      f"{self.describe_words()}")
            box = {p: (0.0, 0.5) for p in box}
        return box

    def optional_part(self, word: str) -> bool:
        """Whether a shape word names an optional part (a parameter over 0..1, present from 0.5): it can be
        negated ("without a hat")."""
        box = self.words.get(word, {})
        return len(box) == 1 and all(self.ranges[p] == (0.0, 1.0) and rng == (0.5, 1.0) for p, rng in box.items())

    def describe_words(self) -> str:
        neg = [w for w in self.words if self.optional_part(w)]
        shapes = ", ".join(sorted(self.words)) or "none"
        opt = f" (and 'without' / 'no' before {', '.join(sorted(neg))})" if neg else ""
        return f"{shapes}{opt}; colours: {', '.join(self.colours) or 'none (its colour is fixed)'}"

    def _unknown(self, what: str) -> str:
        return f"the {self.name} family has no {what}: its shape words are {self.describe_words()}"

    def sub_box(self, colour: str | None = None, words=()) -> dict:
        """The sub-family's {parameter: (low, high)}: the family's ranges narrowed by a colour and shape words
        (each a word or (word, negated)); refuses words the family lacks and words that contradict each other."""
        box = dict(self.ranges)
        if colour is not None:
            if colour not in COLOUR_REGIONS:
                raise FamilyWordError(f"'{colour}' is not a colour word: use one of {', '.join(COLOUR_REGIONS)}")
            cbox = self._colour_box(colour)
            if cbox is None:
                raise FamilyWordError(self._unknown(f"{colour} member"))
            box.update(cbox)
        for w in words:
            word, neg = (w, False) if isinstance(w, str) else w
            for p, rng in self.word_box(word, neg).items():
                o = _overlap(box[p], rng)
                if o is None:
                    raise FamilyWordError(f"the {self.name} family has no member that is {word} and "
                                          f"{' and '.join(str(x if isinstance(x, str) else x[0]) for x in words)}")
                box[p] = o
        return box

    def fits(self, values: dict, box: dict) -> bool:
        return all(box[p][0] - 1e-9 <= values[p] <= box[p][1] + 1e-9 for p in box if p not in MAIN_COLOUR)

    def member_values(self, k: int, seed: int, box: dict | None = None) -> dict:
        """The k-th drawn member of the sub-family `box` (default: the whole family) for `seed`: the same uniform
        draw u for every sub-family, mapped into its box, so "a tall mug" k is the tall version of "a mug" k."""
        box = box or self.ranges
        g = torch.Generator().manual_seed((int(seed) * 1_000_003 + zlib.crc32(self.name.encode())) % 2 ** 63)
        u = torch.rand(k + 1, self.size, generator=g, dtype=torch.float64)[k]
        return {n: box[n][0] + (box[n][1] - box[n][0]) * float(x) for (n, _, _), x in zip(self.parameters, u)}


def member_name(family: str, colour: str | None, words, seed: int, k: int) -> str:
    tags = "".join(f"+{'no-' if neg else ''}{w}" for w, neg in words)
    return f"{family}{tags}{'/' + colour if colour else ''}~{seed}.{k}"


def family_members(family: Family, count: int, seed: int = 0, colour: str | None = None, words=(),
                   repaint: bool = True) -> list[tuple[str, WorldObject | None]]:
    """K members of a (sub-)family as (name, object): member 0 is the catalogue object when its shape fits the
    words (object None: the world prior's own layers, repainted by `colour` where `repaint`, as before families
    existed), then members drawn by `seed`. words: (word, negated) pairs."""
    if not 1 <= count <= MAX_MEMBERS:
        raise ValueError(f"the number of family members must be 1..{MAX_MEMBERS}, got {count}")
    words = tuple((w, False) if isinstance(w, str) else tuple(w) for w in words)
    box = family.sub_box(colour, words)
    out: list[tuple[str, WorldObject | None]] = []
    if family.fits({**family.constants, **family.catalogue}, box):
        out.append((f"{family.name}|{colour}" if colour and repaint else family.name, None))
    k = 1
    while len(out) < count:
        name = member_name(family.name, colour, words, seed, k)
        out.append((name, family.object_of(family.member_values(k, seed, box), name)))
        k += 1
    return out


MAX_MEMBERS = 64
#: shape words as a prompt's "with ..." phrase says them (after the crude singular: "spots" -> "spot")
WORD_ALIASES = {"spot": "spotted"}
_FILLERS = ("coffee", "rubber", "wooden", "table", "desk", "and", "very")  # adjectives the run may hold


@dataclass(frozen=True)
class FamilyRequest:
    """What a prompt asks of the world: a family, a colour word (repaint: False where the object's own name
    carries it, "a red cube"), and shape words as (word, negated) pairs."""

    family: Family
    colour: str | None = None
    repaint: bool = True
    words: tuple = ()

    def members(self, count: int, seed: int = 0) -> list[tuple[str, WorldObject | None]]:
        return family_members(self.family, count, seed, self.colour, self.words, self.repaint)

    def member_objects(self, count: int, seed: int = 0) -> list[WorldObject]:
        """The same members as objects, to judge results against: the catalogue member as itself, or rebuilt with
        the colour word's colour as its main colour where the prior repaints it."""
        from .lookup import COLOUR_WORDS
        out = []
        for name, obj in self.members(count, seed):
            if obj is None:
                values = dict(self.family.catalogue)
                if "|" in name:
                    values.update(_hsv_of(COLOUR_WORDS[self.colour]))
                obj = self.family.object_of(values, name)
            out.append(obj)
        return out


def parse_family_prompt(prompt: str) -> FamilyRequest:
    """The family a prompt names and the words that narrow it: the colour and shape words right before the object
    ("a tall red mug") and a "with / without" phrase right after it ("a snowman with a hat and a scarf", "a
    mushroom without spots"). Other words are the prompt's own ("studio light", "low angle") and are left alone.
    Refuses a prompt naming two objects, and words the family does not have, naming the family's words."""
    from .lookup import COLOUR_WORDS, UnknownObjectError, _words, mentions

    found = mentions(prompt)
    names = list(dict.fromkeys(n for n, _, _ in found))
    if len(names) > 1:
        raise UnknownObjectError(f"the prompt '{prompt}' names {len(names)} objects ({', '.join(names)}); the world "
                                 f"prior draws one object per prompt: name one of them")
    name, start, end = found[0]
    family = FAMILIES[name]
    words = _words(prompt)
    colour, repaint = None, True
    own = [w for w in words[start:end] if w in COLOUR_WORDS]
    if own:
        colour, repaint = own[0], False
    shape: list[tuple[str, bool]] = []
    j = start - 1
    while j >= 0 and (words[j] in COLOUR_WORDS or words[j] in SHAPE_WORDS or words[j] in _FILLERS):
        if words[j] in SHAPE_WORDS:
            shape.append((words[j], False))
        elif words[j] in COLOUR_WORDS and colour is None:
            colour = words[j]
        j -= 1
    j = end
    if j < len(words) and words[j] in ("with", "without"):
        negated = words[j] == "without"
        j += 1
        while j < len(words) and (words[j] in ("a", "an", "the", "and", "no", "with", "without") or
                                  words[j] in COLOUR_WORDS or WORD_ALIASES.get(words[j], words[j]) in SHAPE_WORDS):
            w = WORD_ALIASES.get(words[j], words[j])
            if words[j] in ("no", "without"):
                negated = True
            elif words[j] == "with":
                negated = False
            elif w in SHAPE_WORDS:
                shape.append((w, negated))
            j += 1
    for w, _ in shape:
        if w not in family.words:
            raise FamilyWordError(f"'{prompt}': {family._unknown(repr(w))}")
    if colour is not None and colour not in family.colours:
        raise FamilyWordError(f"'{prompt}': {family._unknown(f'{colour} member')}")
    return FamilyRequest(family, colour, repaint, tuple(dict.fromkeys(shape)))


# ---- the families -------------------------------------------------------------------------------------------
def _sphere(p):
    return Sphere(color=_hsv(p["hue"], p["saturation"], p["value"]), radius=p["radius"])


def _cube(p):
    return Box(color=_hsv(p["hue"], p["saturation"], p["value"]), half=(p["width"], p["height"], p["depth"]),
               rounding=p["rounding"])


def _cylinder(p):
    return Cylinder(color=_hsv(p["hue"], p["saturation"], p["value"]), radius=p["radius"],
                    half_height=p["half_height"])


def _cone(p):
    c, h = _hsv(p["hue"], p["saturation"], p["value"]), p["half_height"]
    parts = [Cone(color=c, bottom_radius=p["bottom_radius"], top_radius=p["top_radius"], half_height=h,
                  offset=(0, -0.36 + h, 0))]
    if p["base"] >= 0.5:
        b = p["base_half"]
        parts.append(Box(color=c, half=(b, 0.03, b), offset=(0, -0.39, 0), rounding=0.01))
    return Union(parts)


def _torus(p):
    return Torus(color=_hsv(p["hue"], p["saturation"], p["value"]), major=p["major"], minor=p["minor"],
                 rotation=(90, 0, 0))


def _capsule(p):
    L = p["half_length"]
    return Capsule(color=_hsv(p["hue"], p["saturation"], p["value"]), a=(0, -L, 0), b=(0, L, 0), radius=p["radius"])


def _mug(p: dict) -> Shape:
    """The catalogue mug's construction and placement (body on the Y axis, 0.08 below the centre; a torus handle
    on +X; a cavity with coffee-coloured inner faces) with its proportions, handle and colours free: the catalogue's
    mug is the member radius 0.26, half height 0.3, wall 0.045, handle 0.13 / 0.035 at 0.0667 of the height, with
    its own cavity floor and coffee colour (constants every drawn member shares)."""
    r, h, wall = p["radius"], p["half_height"], p["wall"]
    body_colour = _hsv(p["hue"], p["saturation"], p["value"])
    handle_colour = tuple(c + (1 - c) * p["handle_pale"] for c in body_colour)
    inner = _hsv(p["inner_hue"], p["inner_saturation"], p["inner_value"])
    major, minor = p["handle_major"], p["handle_minor"]
    y = -0.08
    body = Cylinder(color=body_colour, radius=r, half_height=h, offset=(0, y, 0))
    handle = Torus(color=handle_colour, major=major, minor=minor, rotation=(90, 0, 0),
                   offset=(r + 0.01, y + p["handle_height"] * h, 0))
    cavity = Cylinder(color=inner, radius=r - wall, half_height=h, offset=(0, y + wall + p["floor"], 0))
    return Subtract(Union([body, handle]), cavity, cut_color=inner)


def _snowman(p):
    rb, rm, rh = p["bottom_radius"], p["middle_radius"], p["head_radius"]
    yb = -0.46 + rb
    ym = yb + rb + rm - 0.09
    yh = ym + rm + rh - 0.05
    white = _hsv(p["hue"], p["saturation"], p["value"])
    bottom = Sphere(color=white, radius=rb, offset=(0, yb, 0))
    middle = Sphere(color=white, radius=rm, offset=(0, ym, 0))
    head = Sphere(color=white, radius=rh, offset=(0, yh, 0))
    body = SmoothUnion(SmoothUnion(bottom, middle, 0.04), head, 0.03)
    nose = Cone(color=ORANGE, bottom_radius=0.045, top_radius=0.0, half_height=p["nose"], rotation=(90, 0, 0),
                offset=(0, yh, rh + 0.07))
    eyes = [Sphere(color=BLACK, radius=0.026, offset=(x, yh + 0.04, rh - 0.025)) for x in (-0.045, 0.045)]
    buttons = [Sphere(color=BLACK, radius=0.03, offset=(0, ym + dy, rm - 0.01)) for dy in (0.05, -0.04)] + \
        [Sphere(color=BLACK, radius=0.03, offset=(0, yb + 0.06, rb - 0.01))]
    parts = [body, nose, *eyes, *buttons]
    if p["scarf"] >= 0.5:
        scarf_colour = _hsv(p["scarf_hue"], p["scarf_saturation"], p["scarf_value"])
        ys = ym + rm - 0.035
        parts += [Torus(color=scarf_colour, major=0.1, minor=0.03, offset=(0, ys, 0)),
                  Box(color=scarf_colour, half=(0.035, 0.09, 0.015), offset=(0.06, ys - 0.085, rm - 0.02),
                      rotation=(20, 0, 10))]
    if p["hat"] >= 0.5:
        hh = p["hat_height"]
        parts.append(Union([Cylinder(color=BLACK, radius=0.075, half_height=hh, offset=(0, yh + 0.09 + hh, 0)),
                            Cylinder(color=BLACK, radius=0.12, half_height=0.012, offset=(0, yh + 0.09, 0))]))
    return Union(parts)


def _chair(p):
    s, leg, back, w = p["seat_half"], p["leg_half"], p["back_half"], p["leg_width"]
    seat_y = -0.02
    seat = Box(color=_hsv(p["hue"], p["saturation"], p["value"]), half=(s, 0.03, s), offset=(0, seat_y, 0),
               rounding=0.01)
    legs = [Box(color=WOOD, half=(w, leg, w), offset=(x, seat_y - 0.03 - leg, z)) for x in (-(s - 0.03), s - 0.03)
            for z in (-(s - 0.03), s - 0.03)]
    backrest = Box(color=WOOD, half=(s, back, 0.025), offset=(0, seat_y + 0.03 + back, -(s - 0.025)), rounding=0.01)
    return Union([seat, *legs, backrest])


def _arrow(p):
    L, hh, fin = p["shaft_half"], p["head_half"], p["fin_half"]
    fins = _hsv(p["hue"], p["saturation"], p["value"])
    shaft = Cylinder(color=WOOD, radius=p["shaft_radius"], half_height=L, rotation=(0, 0, 90), offset=(-0.36 + L, 0, 0))
    head = Cone(color=GRAY, bottom_radius=p["head_radius"], top_radius=0.0, half_height=hh, rotation=(0, 0, -90),
                offset=(-0.36 + 2 * L - 0.02 + hh, 0, 0))
    vanes = [Box(color=fins, half=(0.07, fin, 0.008), offset=(-0.31, 0, 0), rotation=(a, 0, 0)) for a in (0, 90)]
    return Union([shaft, head, *vanes])


def _duck(p):
    c = _hsv(p["hue"], p["saturation"], p["value"])
    rb, rh = p["body_radius"], p["head_radius"]
    body = SmoothUnion(Sphere(color=c, radius=rb, offset=(0, -0.17, 0.02)),
                       Sphere(color=c, radius=p["rear_radius"], offset=(0, -0.12, -0.2)), 0.08)
    tail = Cone(color=c, bottom_radius=0.08, top_radius=0.0, half_height=0.08, rotation=(-50, 0, 0),
                offset=(0, -0.02, -0.36))
    head = Sphere(color=c, radius=rh, offset=(0, 0.17, 0.1))
    beak = Cone(color=ORANGE, bottom_radius=0.08, top_radius=0.02, half_height=p["beak"], rotation=(90, 0, 0),
                offset=(0, 0.15, 0.1 + rh + 0.06))
    eyes = [Sphere(color=BLACK, radius=0.03, offset=(x, 0.22, 0.1 + rh - 0.04)) for x in (-0.065, 0.065)]
    return Union([SmoothUnion(SmoothUnion(body, tail, 0.04), head, 0.06), beak, *eyes])


def _table(p):
    tx, tz, leg, r = p["top_half_x"], p["top_half_z"], p["leg_half"], p["leg_radius"]
    top = Box(color=_hsv(p["hue"], p["saturation"], p["value"]), half=(tx, 0.025, tz),
              offset=(0, -0.44 + 2 * leg + 0.02, 0), rounding=0.01)
    legs = [Cylinder(color=DARK_WOOD, radius=r, half_height=leg, offset=(x, -0.44 + leg, z))
            for x in (-(tx - 0.06), tx - 0.06) for z in (-(tz - 0.06), tz - 0.06)]
    return Union([top, *legs])


_SPOTS = ((0.0, 0.34, 0.0), (0.19, 0.26, 0.1), (-0.16, 0.27, 0.12), (0.05, 0.25, -0.2), (-0.12, 0.23, -0.17))


def _mushroom(p):
    r, drop, sh = p["cap_radius"], p["cap_drop"], p["stem_half"]
    stem = Cylinder(color=CREAM, radius=p["stem_radius"], half_height=sh, offset=(0, -sh, 0))
    cap_c = _hsv(p["hue"], p["saturation"], p["value"])
    cap = Subtract(Sphere(color=cap_c, radius=r, offset=(0, -drop, 0)),
                   Box(color=cap_c, half=(0.5, 0.3, 0.5), offset=(0, -0.3, 0)))
    parts = [SmoothUnion(stem, cap, 0.03)]
    if p["spots"] >= 0.5:
        s = r / 0.34  # the catalogue's spots, on this cap
        parts += [Sphere(color=WHITE, radius=0.045, offset=(x * s, y * s - drop, z * s)) for x, y, z in _SPOTS]
    return Union(parts)


def _house(p):
    wx, wy, wz, rr = p["wall_half_x"], p["wall_half_y"], p["wall_half_z"], p["roof"]
    wall_y, roof_y = -0.45 + wy, -0.45 + 2 * wy
    roof_c = _hsv(p["roof_hue"], p["roof_saturation"], p["roof_value"])
    walls = Box(color=_hsv(p["hue"], p["saturation"], p["value"]), half=(wx, wy, wz), offset=(0, wall_y, 0))
    roof = Subtract(Box(color=roof_c, half=(rr, rr, wz + 0.04), rotation=(0, 0, 45), offset=(0, roof_y, 0)),
                    Box(color=roof_c, half=(0.5, 0.3, 0.5), offset=(0, roof_y - 0.3, 0)))
    door = Box(color=DARK_WOOD, half=(0.06, 0.1, 0.012), offset=(0, -0.35, wz + 0.005))
    windows = [Box(color=BLUE, half=(0.05, 0.05, 0.012), offset=(x, wall_y + 0.05, wz + 0.005))
               for x in (-(wx - 0.12), wx - 0.12)]
    parts = [walls, roof, door, *windows]
    if p["chimney"] >= 0.5:
        parts.append(Box(color=GRAY, half=(0.04, 0.1, 0.04), offset=(0.16 * (wx / 0.3), roof_y + 0.21, -0.05)))
    return Union(parts)


def _dumbbell(p):
    L = p["bar_half"]
    bar = Capsule(color=GRAY, a=(-L, 0, 0), b=(L, 0, 0), radius=p["bar_radius"])
    weights = [Cylinder(color=_hsv(p["hue"], p["saturation"], p["value"]), radius=p["plate_radius"],
                        half_height=p["plate_half"], rotation=(0, 0, 90), offset=(x, 0, 0)) for x in (-L, L)]
    return Union([bar, *weights])


def _lamp(p):
    ph, sb, st, sh = p["pole_half"], p["shade_bottom"], p["shade_top"], p["shade_half"]
    top = -0.41 + 2 * ph
    shade_c = _hsv(p["hue"], p["saturation"], p["value"])
    base = Cylinder(color=GRAY, radius=p["base_radius"], half_height=0.025, offset=(0, -0.42, 0))
    pole = Cylinder(color=GRAY, radius=0.02, half_height=ph, offset=(0, -0.41 + ph, 0))
    shade = Subtract(Cone(color=shade_c, bottom_radius=sb, top_radius=st, half_height=sh, offset=(0, top + 0.11, 0)),
                     Cone(color=shade_c, bottom_radius=sb - 0.02, top_radius=st - 0.02, half_height=sh + 0.01,
                          offset=(0, top + 0.11, 0)),
                     cut_color=WHITE)
    bulb = Sphere(color=WHITE, radius=0.06, offset=(0, top + 0.03, 0))
    return Union([base, pole, shade, bulb])


ANY_COLOUR = (("hue", 0.0, 1.0), ("saturation", 0.0, 0.95), ("value", 0.1, 0.95))


def _family(name, description, parameters, build, catalogue, words=None, colour=None, constants=None):
    """A family whose catalogue member has the main colour `colour` (RGB; its HSV joins `catalogue`)."""
    cat = dict(catalogue, **(_hsv_of(colour) if colour else {}))
    return Family(name, description, tuple(parameters), build, cat, words or {}, constants or {})


FAMILIES: dict[str, Family] = {f.name: f for f in [
    _family("sphere", "balls of any size and colour", (("radius", 0.25, 0.45), *ANY_COLOUR), _sphere,
            {"radius": 0.4}, {"big": {"radius": (0.38, 0.45)}, "small": {"radius": (0.25, 0.32)}}, BLUE),
    _family("cube", "boxes of any proportion, rounding and colour",
            (("width", 0.2, 0.36), ("height", 0.12, 0.38), ("depth", 0.2, 0.36), ("rounding", 0.0, 0.06),
             *ANY_COLOUR), _cube, {"width": 0.3, "height": 0.3, "depth": 0.3, "rounding": 0.03},
            {"tall": {"height": (0.33, 0.38), "width": (0.2, 0.28)}, "flat": {"height": (0.12, 0.2)}}, RED),
    _family("cylinder", "cans and drums of any proportion and colour",
            (("radius", 0.15, 0.35), ("half_height", 0.2, 0.42), *ANY_COLOUR), _cylinder,
            {"radius": 0.28, "half_height": 0.36},
            {"tall": {"half_height": (0.36, 0.42), "radius": (0.15, 0.25)}, "short": {"half_height": (0.2, 0.28)}},
            GREEN),
    _family("cone", "cones, pointed or cut, on a square base or without one",
            (("bottom_radius", 0.24, 0.4), ("top_radius", 0.0, 0.08), ("half_height", 0.25, 0.42),
             ("base", 0.0, 1.0), ("base_half", 0.3, 0.45), *ANY_COLOUR), _cone,
            {"bottom_radius": 0.34, "top_radius": 0.02, "half_height": 0.38, "base": 1.0, "base_half": 0.4},
            {"tall": {"half_height": (0.36, 0.42), "bottom_radius": (0.24, 0.3)},
             "short": {"half_height": (0.25, 0.3)}, "base": {"base": (0.5, 1.0)}}, ORANGE),
    _family("torus", "rings and donuts, thin to thick", (("major", 0.22, 0.34), ("minor", 0.06, 0.16), *ANY_COLOUR),
            _torus, {"major": 0.3, "minor": 0.12},
            {"thin": {"minor": (0.06, 0.09)}, "thick": {"minor": (0.13, 0.16)}}, YELLOW),
    _family("capsule", "pills, long and short", (("half_length", 0.08, 0.28), ("radius", 0.12, 0.22), *ANY_COLOUR),
            _capsule, {"half_length": 0.22, "radius": 0.2},
            {"long": {"half_length": (0.22, 0.28)}, "short": {"half_length": (0.08, 0.14)}}, PURPLE),
    Family("mug", "mugs of many proportions, handles and colours (the catalogue's mug, varied)",
           (("radius", 0.17, 0.27), ("half_height", 0.15, 0.30), ("wall", 0.035, 0.06),
            ("handle_major", 0.08, 0.13), ("handle_minor", 0.028, 0.045), ("handle_height", -0.15, 0.3),
            ("hue", 0.0, 1.0), ("saturation", 0.2, 0.85), ("value", 0.45, 0.95), ("handle_pale", 0.0, 0.5),
            ("inner_value", 0.2, 0.55)),
           _mug,
           dict(radius=0.26, half_height=0.3, wall=0.045, handle_major=0.13, handle_minor=0.035,
                handle_height=0.02 / 0.3, handle_pale=0.0, floor=0.035, **_hsv_of(TEAL),
                **{"inner_" + k: v for k, v in _hsv_of(COFFEE).items()}),
           {"tall": {"half_height": (0.25, 0.30), "radius": (0.17, 0.22)}, "short": {"half_height": (0.15, 0.2)},
            "wide": {"radius": (0.24, 0.27)}},
           dict(floor=0.002, inner_hue=0.07, inner_saturation=0.65)),
    _family("snowman", "snowmen of three balls, with or without a hat and a scarf",
            (("bottom_radius", 0.17, 0.21), ("middle_radius", 0.12, 0.16), ("head_radius", 0.09, 0.12),
             ("nose", 0.06, 0.12), ("hat", 0.0, 1.0), ("hat_height", 0.04, 0.07), ("scarf", 0.0, 1.0),
             ("scarf_hue", 0.0, 1.0), ("hue", 0.0, 1.0), ("saturation", 0.0, 0.06), ("value", 0.88, 0.98)),
            _snowman,
            {"bottom_radius": 0.2, "middle_radius": 0.15, "head_radius": 0.11, "nose": 0.09, "hat": 1.0,
             "hat_height": 0.06, "scarf": 1.0, **{"scarf_" + k: v for k, v in _hsv_of(RED).items()}},
            {"hat": {"hat": (0.5, 1.0)}, "scarf": {"scarf": (0.5, 1.0)}, "fat": {"bottom_radius": (0.2, 0.21),
                                                                                 "middle_radius": (0.15, 0.16)}},
            WHITE, {"scarf_saturation": 0.85, "scarf_value": 0.85}),
    _family("chair", "chairs with low or high backs, thin or thick legs",
            (("seat_half", 0.18, 0.24), ("leg_half", 0.15, 0.22), ("back_half", 0.12, 0.24),
             ("leg_width", 0.018, 0.035), *ANY_COLOUR), _chair,
            {"seat_half": 0.22, "leg_half": 0.2, "back_half": 0.22, "leg_width": 0.025},
            {"tall": {"back_half": (0.2, 0.24)}, "low": {"back_half": (0.12, 0.16)}}, RED),
    _family("arrow", "arrows, long or short, their fletching in any colour",
            (("shaft_half", 0.2, 0.3), ("shaft_radius", 0.03, 0.06), ("head_radius", 0.09, 0.16),
             ("head_half", 0.08, 0.14), ("fin_half", 0.06, 0.12), *ANY_COLOUR), _arrow,
            {"shaft_half": 0.27, "shaft_radius": 0.045, "head_radius": 0.13, "head_half": 0.12, "fin_half": 0.1},
            {"long": {"shaft_half": (0.26, 0.3)}, "short": {"shaft_half": (0.2, 0.23)}}, RED),
    _family("duck", "rubber ducks, slim or fat, of any bright colour",
            (("body_radius", 0.21, 0.28), ("rear_radius", 0.13, 0.19), ("head_radius", 0.12, 0.17),
             ("beak", 0.05, 0.1), ("hue", 0.0, 1.0), ("saturation", 0.45, 0.95), ("value", 0.55, 0.98)), _duck,
            {"body_radius": 0.25, "rear_radius": 0.17, "head_radius": 0.15, "beak": 0.08},
            {"fat": {"body_radius": (0.26, 0.28)}, "slim": {"body_radius": (0.21, 0.23)}}, YELLOW),
    _family("table", "tables, long or square, low or tall, their tops in any colour",
            (("top_half_x", 0.3, 0.46), ("top_half_z", 0.22, 0.34), ("leg_half", 0.18, 0.3),
             ("leg_radius", 0.02, 0.045), *ANY_COLOUR), _table,
            {"top_half_x": 0.44, "top_half_z": 0.3, "leg_half": 0.27, "leg_radius": 0.03},
            {"long": {"top_half_x": (0.4, 0.46), "top_half_z": (0.22, 0.28)}, "low": {"leg_half": (0.18, 0.22)},
             "tall": {"leg_half": (0.26, 0.3)}}, WOOD),
    _family("mushroom", "mushrooms, tall or squat, domed or flat caps, spotted or plain",
            (("stem_radius", 0.06, 0.12), ("stem_half", 0.16, 0.24), ("cap_radius", 0.26, 0.38),
             ("cap_drop", 0.02, 0.2), ("spots", 0.0, 1.0), *ANY_COLOUR), _mushroom,
            {"stem_radius": 0.09, "stem_half": 0.22, "cap_radius": 0.34, "cap_drop": 0.1, "spots": 1.0},
            {"tall": {"stem_half": (0.2, 0.24)}, "flat": {"cap_drop": (0.14, 0.2)}, "spotted": {"spots": (0.5, 1.0)}},
            RED),
    _family("house", "small houses, wide or narrow, with or without a chimney, their walls in any colour",
            (("wall_half_x", 0.22, 0.34), ("wall_half_y", 0.12, 0.22), ("wall_half_z", 0.18, 0.28), ("roof", 0.2, 0.3),
             ("chimney", 0.0, 1.0), ("roof_hue", 0.0, 1.0), ("hue", 0.0, 1.0), ("saturation", 0.0, 0.8),
             ("value", 0.5, 0.98)), _house,
            {"wall_half_x": 0.3, "wall_half_y": 0.18, "wall_half_z": 0.24, "roof": 0.25, "chimney": 1.0,
             **{"roof_" + k: v for k, v in _hsv_of(RED).items()}},
            {"tall": {"wall_half_y": (0.19, 0.22)}, "wide": {"wall_half_x": (0.3, 0.34)},
             "chimney": {"chimney": (0.5, 1.0)}}, CREAM, {"roof_saturation": 0.85, "roof_value": 0.85}),
    _family("dumbbell", "dumbbells, light or heavy, their plates in any colour",
            (("bar_half", 0.22, 0.32), ("bar_radius", 0.03, 0.05), ("plate_radius", 0.1, 0.2), ("plate_half", 0.04, 0.08),
             ("hue", 0.0, 1.0), ("saturation", 0.0, 0.9), ("value", 0.04, 0.9)), _dumbbell,
            {"bar_half": 0.3, "bar_radius": 0.04, "plate_radius": 0.16, "plate_half": 0.06},
            {"heavy": {"plate_radius": (0.17, 0.2), "plate_half": (0.065, 0.08)},
             "light": {"plate_radius": (0.1, 0.13)}}, BLACK),
    _family("lamp", "table lamps, tall or short, wide or narrow shades of any colour",
            (("base_radius", 0.1, 0.2), ("pole_half", 0.18, 0.28), ("shade_bottom", 0.2, 0.32), ("shade_top", 0.08, 0.18),
             ("shade_half", 0.1, 0.17), ("hue", 0.0, 1.0), ("saturation", 0.0, 0.9), ("value", 0.5, 0.98)), _lamp,
            {"base_radius": 0.16, "pole_half": 0.25, "shade_bottom": 0.28, "shade_top": 0.14, "shade_half": 0.14},
            {"tall": {"pole_half": (0.24, 0.28)}, "wide": {"shade_bottom": (0.28, 0.32)}}, YELLOW),
]}
#: every shape word of every family (a word another family has is refused by name, not ignored)
SHAPE_WORDS = frozenset(w for f in FAMILIES.values() for w in f.words)

__all__ = ["Family", "FAMILIES", "FamilyWordError", "FamilyRequest", "parse_family_prompt", "COLOUR_REGIONS", "SHAPE_WORDS", "family_members", "MAX_MEMBERS"]
