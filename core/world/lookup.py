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
