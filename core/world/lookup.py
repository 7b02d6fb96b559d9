"""Finding a world object by its name or by a prompt that names it."""
from __future__ import annotations

import difflib
import re

from .catalogue import CATALOGUE, WorldObject


class UnknownObjectError(ValueError):
    """A name or prompt that names no object of the primitive world."""


def _words(text: str) -> list[str]:
    words = re.findall(r"[a-z]+", text.lower())
    # crude singular so "two cubes" or "mugs" still match
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]


def object_names() -> list[str]:
    return list(CATALOGUE)


def get_object(name: str) -> WorldObject:
    """The object named `name` (its canonical name or a synonym, any case)."""
    key = " ".join(_words(name))
    for obj in CATALOGUE.values():
        if key in (" ".join(_words(n)) for n in obj.names):
            return obj
    all_names = [n for o in CATALOGUE.values() for n in o.names]
    close = difflib.get_close_matches(name.lower().strip(), all_names, n=1, cutoff=0.5)
    hint = f" The closest match is '{close[0]}'." if close else ""
    raise UnknownObjectError(
        f"Unknown world object '{name}'.{hint} Known objects: {', '.join(CATALOGUE)}.")


def mentions(prompt: str) -> list[tuple[str, int, int]]:
    """Every object a prompt mentions as (name, first word, past last word), in order; where mentions overlap the
    longer one wins ("a table lamp" mentions the lamp, not a table). Refuses a prompt that mentions none."""
    words = _words(prompt)
    spans = []  # (start, -length, name)
    for obj in CATALOGUE.values():
        for n in obj.names:
            phrase = _words(n)
            for i in range(len(words) - len(phrase) + 1):
                if words[i:i + len(phrase)] == phrase:
                    spans.append((i, -len(phrase), obj.name))
    if not spans:
        find_in_prompt(prompt)  # raises, with its hint
    taken: set[int] = set()
    out = []
    for i, neg_len, name in sorted(spans, key=lambda s: (s[1], s[0])):  # longest first
        cover = set(range(i, i - neg_len))
        if not cover & taken:
            taken |= cover
            out.append((name, i, i - neg_len))
    return sorted(out, key=lambda m: m[1])


def find_in_prompt(prompt: str) -> WorldObject:
    """The object a prompt talks about: the earliest mention, preferring the longest synonym at a position.

    "a red cube on a table" -> cube; "a DSLR photo of a rubber duck, front view" -> duck.
    """
    words = _words(prompt)
    best = None  # (position, -length, object)
    for obj in CATALOGUE.values():
        for n in obj.names:
            phrase = _words(n)
            for i in range(len(words) - len(phrase) + 1):
                if words[i:i + len(phrase)] == phrase:
                    cand = (i, -len(phrase), obj.name)
                    if best is None or cand < best:
                        best = cand
                    break
    if best is None:
        close = None
        all_names = [n for o in CATALOGUE.values() for n in o.names]
        for w in words:
            m = difflib.get_close_matches(w, all_names, n=1, cutoff=0.75)
            if m:
                close = m[0]
                break
        hint = f" Did you mean '{close}'?" if close else ""
        raise UnknownObjectError(
            f"The prompt '{prompt}' names no object of the primitive world.{hint} "
            f"Name one of: {', '.join(CATALOGUE)}.")
    return CATALOGUE[best[2]]


#: colour words a prompt may put before an object ("a red mug"), as albedo RGB
COLOUR_WORDS = {
    "red": (0.85, 0.12, 0.10), "green": (0.15, 0.65, 0.25), "blue": (0.15, 0.35, 0.85),
    "yellow": (0.95, 0.80, 0.15), "orange": (0.95, 0.50, 0.08), "purple": (0.55, 0.25, 0.75),
    "pink": (0.95, 0.55, 0.70), "brown": (0.45, 0.28, 0.14), "white": (0.93, 0.93, 0.90),
    "black": (0.06, 0.06, 0.06), "gray": (0.55, 0.56, 0.60), "grey": (0.55, 0.56, 0.60),
    "teal": (0.10, 0.55, 0.60),
}


def colour_in_prompt(prompt: str) -> str | None:
    """The colour word that paints the prompt's object ("a red mug" -> 'red'), or None: none there, or the
    object's own name carries it ("a red cube" names the catalogue's red cube). core.world.families reads it."""
    from .families import parse_family_prompt
    req = parse_family_prompt(prompt)
    return req.colour if req.repaint else None
