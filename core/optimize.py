"""The one optimization loop of every method: ask each loss term for renders, render, sum, step.

    result = optimize(field.clone(), terms, steps=500, lr=1e-2, seed=0, device="cpu",
                      on_progress=lambda s, n, logs: ..., check_cancel=lambda: ...)

The loop seeds everything it samples, refreshes an occupancy grid for empty-space skipping, stops on a
non-finite loss before the bad step is applied (so the field stays the last good one) and reports why. It starts a
run of every term (core.losses.LossTerm.start) and uses only the runs: the terms it is given, node outputs that
ComfyUI caches, are never changed, so the same terms give the same result however often they are used.
"""
from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field as dc_field

import torch

from .losses import SHARED_VIEWS, RayRequest, ViewRequest
from .render.occupancy import OccupancyGrid


@dataclass
class OptimizeResult:
    field: object
    steps_done: int
    history: list = dc_field(default_factory=list)  # per step: {"loss": ..., "<term>": ...}
    stopped: str | None = None                        # why the loop stopped early, if it did
    seconds: float = 0.0
    param_change: float = 0.0                         # ||theta - theta_0|| / ||theta_0||: did gradients arrive?
    runs: list = dc_field(default_factory=list)       # the terms' runs, as they ended (previews, a boosted model)

    def summary(self, steps: int, where: str = "") -> list[str]:
        """The log lines a node shows: steps and time, the parameter change, each figure's mean over the first and
        the last few steps (single SDS steps are noisy), and why the run stopped early, if it did."""
        lines = [f"{self.steps_done}/{steps} steps in {self.seconds:.1f} s{f' on {where}' if where else ''}",
                 f"parameter change: {self.param_change:.4g} (relative to the start)"]
        if self.history:
            n = max(1, min(20, len(self.history) // 5))
            head, tail = self.history[:n], self.history[-n:]
            lines.append(f"mean of the first {n} steps -> mean of the last {n}:")
            lines += [f"{k}: {sum(h[k] for h in head) / n:.5f} -> {sum(h[k] for h in tail) / n:.5f}"
                      for k in tail[-1] if all(k in h for h in head + tail)]
        if self.stopped:
            lines.append("STOPPED: " + self.stopped)
        return lines


#: each optimized field -> the runs that made it (for what a run produced besides the field: a boosted model)
_MADE_BY: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def run_of(field, term):
    """The run of `term` that made `field` (optimize's result), or None."""
    return next((r for r in _MADE_BY.get(field, ()) if r.origin is term), None)


def lr_factor(schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """Multiplier of the base learning rate: 'constant', 'cosine' (to 10%) or 'exponential' (to 10%)."""
    w = min(1.0, (step + 1) / warmup) if warmup else 1.0
    x = step / max(total - 1, 1)
    if schedule == "constant":
        return w
    if schedule == "cosine":
        return w * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * x)))
    if schedule == "exponential":
        return w * 0.1 ** x
    raise ValueError(f"unknown learning-rate schedule '{schedule}'; choose constant, cosine or exponential")


def set_learning_rates(opt, factor: float, x: float) -> None:
    """Each group's rate at fraction x of the run: its base rate times the schedule's factor and its own "decay"
    (its extra factor at the end of the run) to the power x."""
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * factor * g.get("decay", 1.0) ** x


@torch.no_grad()
def relative_change(params, start) -> float:
    """||theta - theta_0|| / ||theta_0||: did gradients arrive?"""
    moved = sum(float((p - q).pow(2).sum()) for p, q in zip(params, start))
    scale = sum(float(q.pow(2).sum()) for q in start)
    return (moved / max(scale, 1e-30)) ** 0.5


def requests_of(runs, step: int, steps: int, generator, field) -> list:
    """Every run's request for this step; views are rendered with normals when a term regularizing the shared views
    wants them."""
    requests = [run.request(step, steps, generator, field) for run in runs]
    shared = [t for t, r in zip(runs, requests) if r is SHARED_VIEWS]
    if shared and any(t.wants_normals for t in shared):
        for r in requests:
            if isinstance(r, ViewRequest):
                r.want_normals = True
    return requests


def render_request(field, req, generator, n_samples: int, grid):
    """The field's render of a RayRequest or ViewRequest (None for anything else)."""
    if isinstance(req, RayRequest):
        return field.render_rays(req.origins, req.dirs, n_samples=n_samples, generator=generator,
                                 shading=req.shading, light_dirs=req.light_dirs, want_normals=req.want_normals,
                                 occupancy=grid, depth_scale=req.depth_scale)
    if isinstance(req, ViewRequest):
        return field.render_views(req.cameras, req.height, req.width, n_samples=n_samples, generator=generator,
                                  shading=req.shading, want_normals=req.want_normals, light_dirs=req.light_dirs,
                                  occupancy=grid, chunk=1 << 30, background=req.background)
    return None


def optimize(field, terms, steps: int, lr: float = 1e-2, seed: int = 0, device="cpu", n_samples: int = 64,
             lr_schedule: str = "cosine", warmup: int = 0, occupancy: bool = True, occupancy_every: int = 16,
             on_progress=None, check_cancel=None, grad_clip: float | None = None, on_start=None) -> OptimizeResult:
    """Optimize `field` (modified in place: pass a clone) against the loss `terms` for `steps` steps.
    on_start(runs): called once the terms' runs have started (what a live preview reads)."""
    if not terms:
        raise ValueError("nothing to optimize against: connect at least one loss")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    field = field.to(device).train()
    terms = [t.start(device) for t in terms]
    groups = field.param_groups(lr)
    for g in groups:
        g["base_lr"] = g["lr"]
    opt = torch.optim.Adam(groups, betas=(0.9, 0.99), eps=1e-15)
    grid = OccupancyGrid(field.bound, 64, device=device) if occupancy and field.supports_rays else None
    step_size = 2 * field.bound * 1.7320508 / n_samples
    result = OptimizeResult(field=field, steps_done=0, runs=terms)
    if on_start is not None:
        on_start(terms)
    start = [p.detach().clone() for p in field.parameters()]
    t0 = time.perf_counter()
    try:
        for step in range(steps):
            if check_cancel is not None:
                check_cancel()
            if grid is not None and step % occupancy_every == 0 and step >= occupancy_every:
                grid.update(field, step_size, generator=gen)
            field.anneal(step, steps)
            set_learning_rates(opt, lr_factor(lr_schedule, step, steps, warmup), step / max(steps - 1, 1))
            total = torch.zeros((), device=device)
            logs = {}
            requests = requests_of(terms, step, steps, gen, field)
            views = None
            for term, req in sorted(zip(terms, requests), key=lambda tr: tr[1] is SHARED_VIEWS):
                rec = render_request(field, req, gen, n_samples, grid)
                if isinstance(req, ViewRequest):
                    views = (req, rec) if views is None else views
                elif req is SHARED_VIEWS:
                    if views is None:
                        raise ValueError(f"the '{term.name}' loss regularizes the renders of another loss: combine it "
                                         f"with a loss that renders whole views (SDS, VSD)")
                    rec = views
                value, term_logs = term.loss(field, rec, step, steps)
                weight = term.weight_at(step, steps)
                if not torch.isfinite(value):
                    result.stopped = (f"step {step}: the '{term.name}' loss is {float(value.detach())}; stopped and "
                                      f"kept the field of step {step - 1}")
                    break
                total = total + weight * value
                logs.update({f"{term.name}/{k}": v for k, v in term_logs.items()})
            if result.stopped:
                break
            opt.zero_grad(set_to_none=True)
            total.backward()
            bad = [g["name"] for g in opt.param_groups for p in g["params"]
                   if p.grad is not None and not torch.isfinite(p.grad).all()]
            if bad:
                result.stopped = (f"step {step}: non-finite gradients in {', '.join(sorted(set(bad)))}; stopped and "
                                  f"kept the field of step {step - 1}")
                break
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(field.parameters(), grad_clip)
            opt.step()
            logs["loss"] = float(total.detach())
            result.history.append(logs)
            result.steps_done = step + 1
            if on_progress is not None:
                on_progress(step + 1, steps, logs)
    finally:
        field.anneal(steps, steps)
        for term in terms:
            term.finish()
    result.seconds = time.perf_counter() - t0
    result.param_change = relative_change(field.parameters(), start)
    field.eval()
    _MADE_BY[field] = tuple(terms)
    return result
