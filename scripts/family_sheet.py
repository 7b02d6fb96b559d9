#!/usr/bin/env python3
"""A contact sheet of the world's families (core.world.families): one row per family, its catalogue member first
and then members drawn by a seed, each rendered exactly from one front three-quarter view.

    .host/venv/bin/python scripts/family_sheet.py                    # docs/families.jpg, 6 members, seed 0
    .host/venv/bin/python scripts/family_sheet.py --members 8 --prompt-words tall --out /tmp/tall.jpg
"""
from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    import torch
    from PIL import Image, ImageDraw

    from core.cameras import Cameras
    from core.world import render_object
    from core.world.families import FAMILIES, FamilyWordError, parse_family_prompt

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--prompt-words", default="", help="words before each family's name, e.g. 'red' or 'tall'")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "families.jpg"))
    args = ap.parse_args()

    cam = Cameras.from_spherical([20.0], [35.0], 1.8, 40.0)
    label_w, s = 150, args.size
    sheet = Image.new("RGB", (label_w + s * args.members, s * len(FAMILIES)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(FAMILIES):
        prompt = f"a {args.prompt_words} {name}".replace("  ", " ")
        try:
            objects = parse_family_prompt(prompt).member_objects(args.members, args.seed)
        except FamilyWordError as e:
            draw.text((4, row * s + 4), f"{name}: {e}"[:60], fill="black")
            continue
        draw.text((6, row * s + s // 2 - 12), name, fill="black")
        draw.text((6, row * s + s // 2 + 2), f"{FAMILIES[name].size} parameters", fill="gray")
        for col, obj in enumerate(objects):
            rgb = render_object(obj, cam, s, shading="lambertian").rgb[0]
            img = Image.fromarray((rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy())
            sheet.paste(img, (label_w + col * s, row * s))
        print(f"{name}: {', '.join(o.name for o in objects)}", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".partial.jpg"
    sheet.save(tmp, quality=88)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
