#!/usr/bin/env python3
"""The seed papers' claims on a world of many answers: the world prior over K members of each object's family
(core.world.families), results judged against the members (core.evaluate.judge_family, seed_diversity).

    .host/venv/bin/python bench/bench_families.py scaling                 # seconds and memory per query vs K
    .host/venv/bin/python bench/bench_families.py k1                      # K = 1 is the catalogue prior, all 16
    .host/venv/bin/python bench/bench_families.py prolificdreamer         # SDS at CFG 100 vs VSD, 4 seeds
    .host/venv/bin/python bench/bench_families.py mvdream                 # 2D vs view-aware vs multi-view
    .host/venv/bin/python bench/bench_families.py dreamcraft3d            # image vs text member; BSD vs VSD texture
    ... dreamcraft3d --rows vsd "bsd warm" --texture-steps 80                # the texture rows alone
    .host/venv/bin/python bench/bench_families.py diffusiongan3d --steps 60   # 'a red mug' over K=1 vs K members
    .host/venv/bin/python bench/bench_families.py geodream --members 4     # the cost volume vs the member shown
    ... [--families duck mug] [--members 8] [--steps 150] [--seeds 4] [--workers 2]

prolificdreamer: per family, SDS at guidance 100 (DreamFusion's) and VSD at 7.5 (ProlificDreamer's), both on the
view-aware prior over K members, NeuS, the world recipe's cameras and fit for --steps; each seed is a different
optimization seed (the members stay fixed: member_seed 0). Columns: nearest-member IoU / PSNR / texture PSNR,
IoU with the family's average object, saturation against the members', and seed diversity (1 - IoU between seeds'
shapes, RMS colour between their renders, distinct nearest members).
mvdream: per family, SDS (guidance 10) with the 2D, view-aware and multi-view priors over K members, one seed:
cross-view member agreement (the share of 8 held-out views matching the commonest member), views matching
another member, and the Janus probe's azimuth error against the nearest member.
dreamcraft3d: per family, the reference shows drawn member 1 (front, elevation 15): hybrid image-to-3D (the World
Image Prior over K members of every family + the text prior over the family) against text-only SDS: which member
each result is nearest, and its IoU with the reference's member; then the texture stage on member 1's true mesh
with VSD and with BSD (text prior over the family): texture PSNR against member 1.
geodream: 4 views sampled over K members, the member they show, and the learned cost volume's IoU with it.
diffusiongan3d: 'a red mug' adaptation of the shipped mug GAN with the prior over K = 1 and over K red mugs.
Runs go to --workers processes of one torch thread each; a JSON of every run goes to out/bench/.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _init():
    import torch
    torch.set_num_threads(1)


def run_one(job: dict) -> dict:
    from core.recipes import judge_family_on_world
    kw = {k: v for k, v in job.items() if k not in ("family", "row")}
    out = judge_family_on_world(job["family"], **kw)
    return job | out


def scaling(args):
    """Seconds and peak memory of one posterior query (4 views) against K."""
    import torch
    from core.cameras import Cameras
    from core.priors.world_prior import WorldPrior
    torch.set_num_threads(1)
    cams = Cameras.from_spherical([15.0] * 4, [10.0, 100.0, 190.0, 280.0], 1.8, 40.0)
    x, t = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.tensor([100, 400, 700, 900])
    print(f"{'K':>3} {'data MiB':>9} {'ms/query':>9} {'ms/query/K':>11}")
    for k in args.ks:
        wp = WorldPrior(32, "view-aware", members=k)
        c, _ = wp.condition(f"a {args.families[0]}")
        st = wp._stack(c)
        mib = sum(v.numel() * v.element_size() for v in st.values()) / 2 ** 20
        wp.predict_eps(x, t, c, cams)
        t0 = time.perf_counter()
        for _ in range(10):
            wp.predict_eps(x, t, c, cams)
        ms = (time.perf_counter() - t0) / 10 * 1000
        print(f"{k:>3} {mib:>9.1f} {ms:>9.2f} {ms / k:>11.2f}")


def k1(args):
    """K = 1 is the catalogue prior, figure for figure: every catalogue object (now its family's catalogue member)
    hashes as it did before families existed (tests/core/test_families.py records the hashes), and the K = 1
    prior asks for exactly that object, in every mode."""
    import torch
    from tests.core.test_families import BEFORE_FAMILIES, _hash
    from core.cameras import Cameras
    from core.priors.world_prior import WorldPrior
    from core.world import CATALOGUE
    g = torch.Generator().manual_seed(0)
    cams = Cameras.from_spherical([15.0] * 4, [15.0, 105.0, 195.0, 285.0], 1.8, 40.0)
    same = [n for n in CATALOGUE if _hash(CATALOGUE[n]) == BEFORE_FAMILIES[n]]
    print(f"catalogue objects bit-identical to before families: {len(same)}/{len(CATALOGUE)}")
    worst = 0.0
    for mode in ("view-aware", "2D", "multi-view"):
        wp = WorldPrior(32, mode, members=1)
        for name in CATALOGUE:
            cond, uncond = wp.condition(f"a {name}")
            assert cond == (name,) and uncond == tuple(CATALOGUE), (cond, uncond)
            x, t = torch.randn(4, 3, 32, 32, generator=g), torch.tensor([100, 400, 700, 900])
            worst = max(worst, float((wp.predict_eps(x, t, cond, cams) - wp.predict_eps(x, t, (name,), cams))
                                     .abs().max()))
    print(f"K=1 on all {len(CATALOGUE)} objects x 3 modes: conditioning = the catalogue object's, eps max diff {worst}")


def prerender(job: tuple[str, int]) -> str:
    """Render (and cache on disk) the members one family's runs will use."""
    from core.priors.world_prior import WorldPrior
    wp = WorldPrior(32, members=job[1])
    for name in wp.condition(f"a {job[0]}")[0]:
        wp.layers(name)
    return job[0]


def _run(jobs, workers):
    out = []
    with ProcessPoolExecutor(workers, initializer=_init) as pool:
        list(pool.map(prerender, sorted({(j["family"], j["members"]) for j in jobs})))
        for r in pool.map(run_one, jobs):
            print(f"  {r['family']:9s} {r['row']:16s} seed {r.get('seed', 0)}: IoU {r['iou']:.3f} F {r['fscore']:.3f} "
                  f"member {r['nearest']} "
                  f"agree {r['agreement']:.2f} {r['seconds']:.0f}s", flush=True)
            out.append(r)
    return out


def _save(name, rows):
    os.makedirs(os.path.join(ROOT, "out", "bench"), exist_ok=True)
    path = os.path.join(ROOT, "out", "bench", f"families_{name}.json")
    keep = [{k: v for k, v in r.items() if k not in ("voxels", "renders")} for r in rows]
    with open(path, "w") as f:
        json.dump(keep, f, indent=1)
    print(f"runs written to {path}")


def prolificdreamer(args):
    from core.evaluate import seed_diversity
    rows = {"SDS cfg 100": dict(method="sds", guidance_scale=100.0), "VSD cfg 7.5": dict(method="vsd",
                                                                                          guidance_scale=7.5)}
    jobs = [dict(family=f, row=r, members=args.members, steps=args.steps, seed=s, **kw)
            for f in args.families for r, kw in rows.items() for s in range(args.seeds)]
    runs = _run(jobs, args.workers)
    _save("prolificdreamer", runs)
    print(f"\nProlificDreamer on families (K={args.members}, {args.steps} steps, {args.seeds} seeds; means over seeds)")
    print(f"{'family':9s} {'row':12s} {'IoU':>6} {'F@.02':>6} {'PSNR':>6} {'texPSNR':>7} {'avgIoU':>6} {'sat':>5} {'mSat':>5} "
          f"{'divShape':>8} {'divRGB':>6} {'members':>7}")
    totals = {r: [] for r in rows}
    for f in args.families:
        for r in rows:
            rs = [x for x in runs if x["family"] == f and x["row"] == r]
            d = seed_diversity(rs)
            m = {k: sum(x[k] for x in rs) / len(rs) for k in ("iou", "fscore", "psnr", "texture_psnr", "average_iou",
                                                              "saturation", "member_saturation")}
            totals[r].append(m | {f"div_{k}": v for k, v in d.items()})
            print(f"{f:9s} {r:12s} {m['iou']:6.3f} {m['fscore']:6.3f} {m['psnr']:6.2f} {m['texture_psnr']:7.2f} {m['average_iou']:6.3f} "
                  f"{m['saturation']:5.2f} {m['member_saturation']:5.2f} {d['shape']:8.3f} {d['colour']:6.3f} "
                  f"{d['distinct_members']:>7}")
    for r, ms in totals.items():
        mean = {k: sum(m[k] for m in ms) / len(ms) for k in ms[0]}
        print(f"{'mean':9s} {r:12s} {mean['iou']:6.3f} {mean['fscore']:6.3f} {mean['psnr']:6.2f} {mean['texture_psnr']:7.2f} "
              f"{mean['average_iou']:6.3f} {mean['saturation']:5.2f} {mean['member_saturation']:5.2f} "
              f"{mean['div_shape']:8.3f} {mean['div_colour']:6.3f} {mean['div_distinct_members']:7.2f}")


def mvdream(args):
    rows = {m: dict(method="mvsds" if m == "multi-view" else "sds", mode=None if m == "multi-view" else m)
            for m in ("2D", "view-aware", "multi-view")}
    jobs = [dict(family=f, row=r, members=args.members, steps=args.steps, **{k: v for k, v in kw.items() if v})
            for f in args.families for r, kw in rows.items()]
    runs = _run(jobs, args.workers)
    _save("mvdream", runs)
    print(f"\nMVDream on families (K={args.members}, {args.steps} steps, seed 0)")
    print(f"{'family':9s} {'prior':11s} {'IoU':>6} {'F@.02':>6} {'agree':>6} {'others':>6} {'azErr':>6} {'janus':>6}")
    totals = {r: [] for r in rows}
    for f in args.families:
        for r in rows:
            x = next(x for x in runs if x["family"] == f and x["row"] == r)
            others = len(set(x["view_members"])) - 1
            totals[r].append((x["iou"], x["fscore"], x["agreement"], others, x["azimuth_error"], x["janus_fraction"]))
            print(f"{f:9s} {r:11s} {x['iou']:6.3f} {x['fscore']:6.3f} {x['agreement']:6.2f} {others:6d} {x['azimuth_error']:6.1f} "
                  f"{x['janus_fraction']:6.2f}")
    for r, ms in totals.items():
        mean = [sum(v) / len(v) for v in zip(*ms)]
        print(f"{'mean':9s} {r:11s} {mean[0]:6.3f} {mean[1]:6.3f} {mean[2]:6.2f} {mean[3]:6.2f} {mean[4]:6.1f} "
              f"{mean[5]:6.2f}")


REFERENCE_MEMBER = 1  # the member a DreamCraft3D reference shows: a drawn one, not the catalogue's


#: the texture stage's rows: the texture starts grey (a fresh densegrid), so 'bsd warm' spends its first fifth as
#: VSD, as DreamCraft3D's texture stage starts from the geometry stage's colours (BSDConfig.warmup)
TEXTURE_ROWS = {"vsd": ("vsd", {}), "bsd": ("bsd", {}), "bsd warm": ("bsd", {"warmup": 0.2})}


def run_dreamcraft3d(job: dict) -> dict:
    """One DreamCraft3D-claim run: 'image' (hybrid image-to-3D from the reference member's front view), 'text'
    (text-only SDS), or a texture method ('vsd' / 'bsd') on the reference member's true mesh."""
    from core.evaluate import judge_family, judge_surface, judge_texture
    from core.mesh.extract import field_mesh
    from core.recipes import dreamcraft3d_on_world, dreamfusion_on_world, texture_on_world
    from core.world.families import parse_family_prompt
    prompt, k = f"a {job['family']}", job["members"]
    members = parse_family_prompt(prompt).member_objects(k, 0)
    ref = members[REFERENCE_MEMBER]
    fam = dict(members=k, prompt=prompt)
    if job["row"] in ("image", "text"):
        run = dreamcraft3d_on_world(ref, steps=job["steps"], **fam) if job["row"] == "image" else \
            dreamfusion_on_world(ref, steps=job["steps"], **fam)
        j = judge_family(run.field, members)
        out = {k2: v for k2, v in j.items() if k2 not in ("voxels", "renders")}
        return job | out | {"reference_iou": j["ious"][REFERENCE_MEMBER], "seconds": run.seconds,
                            "reference_fscore": judge_surface(field_mesh(run.field, 64), ref)["fscore"]}
    method, kw = TEXTURE_ROWS[job["row"]]
    run = texture_on_world(ref, method, steps=job["texture_steps"], **fam, **kw)
    return job | judge_texture(run.field, ref) | {"seconds": run.seconds}


def dreamcraft3d(args):
    rows = args.rows or ["image", "text", *TEXTURE_ROWS]
    jobs = [dict(family=f, row=r, members=args.members, steps=args.steps, texture_steps=args.texture_steps)
            for f in args.families for r in rows]
    with ProcessPoolExecutor(args.workers, initializer=_init) as pool:
        list(pool.map(prerender, sorted({(j["family"], j["members"]) for j in jobs})))
        runs = []
        for r in pool.map(run_dreamcraft3d, jobs):
            print(f"  {r['family']:9s} {r['row']:8s} " + (f"nearest {r['nearest']} IoU ref {r['reference_iou']:.3f} "
                                                          f"F ref {r['reference_fscore']:.3f}"
                  if r["row"] in ("image", "text") else f"texture PSNR {r['psnr']:.2f}") + f" {r['seconds']:.0f}s",
                  flush=True)
            runs.append(r)
    _save("dreamcraft3d", runs)
    print(f"\nDreamCraft3D on families (K={args.members}; the reference shows member {REFERENCE_MEMBER}; "
          f"{args.steps} steps, texture {args.texture_steps})")
    tex = [r for r in TEXTURE_ROWS if r in rows]
    print(f"{'family':9s}" + (f" {'image: member':>13} {'IoU ref':>7} {'F ref':>6} {'text: member':>12} {'IoU ref':>7}"
                               f" {'F ref':>6}"
                               if "image" in rows and "text" in rows else "")
          + "".join(f" {r + ' tex PSNR':>17}" for r in tex))
    hits, wins = 0, {r: 0 for r in tex if r != "vsd"}
    for f in args.families:
        r = {x["row"]: x for x in runs if x["family"] == f}
        line = f"{f:9s}"
        if "image" in r and "text" in r:
            hits += r["image"]["nearest"] == REFERENCE_MEMBER
            line += (f" {r['image']['nearest']:>13} {r['image']['reference_iou']:>7.3f} "
                     f"{r['image']['reference_fscore']:>6.3f} {r['text']['nearest']:>12} "
                     f"{r['text']['reference_iou']:>7.3f} {r['text']['reference_fscore']:>6.3f}")
        for t in tex:
            line += f" {r[t]['psnr']:>17.2f}"
            if t in wins and "vsd" in r:
                wins[t] += r[t]["psnr"] >= r["vsd"]["psnr"]
        print(line)
    if "image" in rows:
        print(f"image-to-3D reproduces the reference's member on {hits}/{len(args.families)}")
    for t, n in wins.items() if "vsd" in rows else ():
        print(f"{t}'s texture at least as close as VSD's on {n}/{len(args.families)}")


def geodream(args):
    """Per family: 4 views sampled by the multi-view prior over K members (32², the world's MVDream setting), the
    member they show (each view's nearest true render at its camera, the majority), the learned cost volume built
    from them, and its IoU with that member and with the others."""
    import torch
    from core.costvolume import build_cost_volume, volume_mesh
    from core.evaluate import judge_surface
    from core.costvolume.learned import CostVolumeNet, default_weights
    from core.recipes import sampled_views
    from core.world import get_object, grid_points, occupancy, render_object
    from core.world.families import parse_family_prompt
    from core.metrics import iou
    torch.set_num_threads(2)
    net = CostVolumeNet.from_file(default_weights())
    pts = grid_points(48).reshape(-1, 3)
    print(f"{'family':9s} {'views show':>10} {'agree':>5} {'volume nearest':>14} {'IoU shown':>9} {'F shown':>7} {'IoU best other':>14}")
    hits = 0
    for f in args.families:
        members = parse_family_prompt(f"a {f}").member_objects(args.members, 0)
        rgb, cams = sampled_views(get_object(f), resolution=32, members=args.members)
        mse = torch.stack([((render_object(m, cams, 32, shading="albedo").rgb - rgb) ** 2).flatten(1).mean(-1)
                           for m in members])  # [K, views]
        picks = mse.argmin(0)
        shown = int(picks.mode().values)
        try:
            vol = build_cost_volume(rgb, cams, net=net)
        except ValueError as e:
            print(f"{f:9s} refused: {str(e)[:80]}")
            continue
        with torch.no_grad():
            pred = vol.sdf(pts) < 0
        ious = [iou(pred, occupancy(m, pts)) for m in members]
        near = max(range(len(ious)), key=lambda i: ious[i])
        hits += near == shown
        other = max(x for i, x in enumerate(ious) if i != shown)
        f_shown = judge_surface(volume_mesh(vol, 96), members[shown])["fscore"]
        print(f"{f:9s} {shown:>10} {float((picks == shown).float().mean()):>5.2f} {near:>14} {ious[shown]:>9.3f} "
              f"{f_shown:>7.3f} {other:>14.3f}", flush=True)
    print(f"the volume is nearest the member its views show on {hits}/{len(args.families)}")


def diffusiongan3d(args):
    """'a red mug': the pack's mug generator adapted with the world prior over K = 1 (the one catalogue mug,
    repainted) and K members of the red mug sub-family; judged on 8 fixed latents against the red sub-family's
    members (the same K for both rows): redness, each sample's IoU with its nearest red member and with the
    catalogue mug, render diversity kept (after / before); then the avatar (8 candidates, SDS fine-tune) judged
    against the members."""
    import torch
    from core.evaluate import judge_family
    from core.gan.avatar import make_avatar
    from core.gan.adapt import adapt_generator
    from core.gan.eg3d import seed_latents
    from core.gan.evaluate import compare_generators, sample_occupancy
    from core.gan.world import default_generator
    from core.metrics import iou
    from core.priors import PromptedPrior
    from core.priors.world_prior import WorldPrior
    from core.world import CATALOGUE, grid_points, occupancy
    from core.world.families import parse_family_prompt
    torch.set_num_threads(2)
    g = default_generator()
    z = seed_latents(range(100, 108), g.z_dim)
    red = parse_family_prompt("a red mug").member_objects(args.members, 0)
    pts = grid_points(32).reshape(-1, 3)
    red_occ = [occupancy(m, pts) for m in red]
    cat_occ = occupancy(CATALOGUE["mug"], pts)
    print(f"{'prior':>12} {'redness':>16} {'IoU nearest red':>15} {'IoU catalogue':>13} {'diversity kept':>14} "
          f"{'s':>5}")
    for k in (1, args.members):
        prior = PromptedPrior(WorldPrior(32, members=k), "a red mug")
        t0 = time.perf_counter()
        res = adapt_generator(g, prior, steps=args.steps, batch=4, guidance_scale=10.0, seed=0)
        r = compare_generators(g, res.generator, z)
        occ = sample_occupancy(res.generator, z, 32)
        near = [max(iou(o, m) for m in red_occ) for o in occ]
        cat = [iou(o, cat_occ) for o in occ]
        print(f"{'K=' + str(k):>12} {r['redness_before']:>7.3f} -> {r['redness_after']:>6.3f} "
              f"{sum(near) / len(near):>15.3f} {sum(cat) / len(cat):>13.3f} {r['render_diversity']:>14.3f} "
              f"{time.perf_counter() - t0:>5.0f}", flush=True)
    for k in (1, args.members):
        prior = PromptedPrior(WorldPrior(32, members=k), "a red mug")
        field, seed, _, _ = make_avatar(g, prior, candidates=8, seed=0, steps=args.steps, batch=4,
                                        guidance_scale=10.0, n_samples=32)
        j = judge_family(field, red)
        print(f"avatar K={k}: seed {seed}, nearest red member {j['nearest']} (IoU {j['iou']:.3f}, F@.02 {j['fscore']:.3f}, texture PSNR "
              f"{j['texture_psnr']:.2f}), agreement {j['agreement']:.2f}, IoU with each member "
              f"{[round(x, 3) for x in j['ious']]}", flush=True)


def main():
    from core.world import CATALOGUE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("claim", choices=["scaling", "k1", "prolificdreamer", "mvdream", "dreamcraft3d",
                                      "diffusiongan3d", "geodream"])
    ap.add_argument("--families", nargs="+", default=list(CATALOGUE))
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--texture-steps", type=int, default=120)
    ap.add_argument("--rows", nargs="+", choices=["image", "text", *TEXTURE_ROWS],
                    help="dreamcraft3d: the rows to run (default all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    args = ap.parse_args()
    t0 = time.time()
    {"scaling": scaling, "k1": k1, "prolificdreamer": prolificdreamer, "mvdream": mvdream,
     "dreamcraft3d": dreamcraft3d, "diffusiongan3d": diffusiongan3d, "geodream": geodream}[args.claim](args)
    print(f"[bench_families] {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
