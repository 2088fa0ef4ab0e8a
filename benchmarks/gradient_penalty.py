"""A WGAN-GP critic step (a gradient penalty: create_graph) eager, under ag.compile, and in PyTorch eager.

    python benchmarks/gradient_penalty.py --threads 1 --clock cpu

The step: x̂ = eps real + (1 - eps) fake; g = d critic(x̂).sum() / dx̂ with create_graph; loss = critic(fake).mean()
- critic(real).mean() + 10 mean((|g| - 1)^2); backward; Adam. Critic: an MLP of ReLUs, float32. The three are
interleaved block by block (medians, with min and max, in ms per step), so the ratios compare timings taken under
the same load. Each implementation trains its own critic from the same weights.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads for numpy and torch")
p.add_argument("--clock", choices=("wall", "cpu"), default="cpu")
p.add_argument("--blocks", type=int, default=30)
p.add_argument("--smoke", action="store_true", help="a few steps (seconds)")
ARGS = p.parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import autograd_mini as ag  # noqa: E402
import nn  # noqa: E402

CLOCK = time.perf_counter if ARGS.clock == "wall" else time.process_time
CONFIGS = [(2, 64, 64), (2, 256, 256), (64, 512, 256)]  # (input width, hidden width, batch)


def _critic(d: int, h: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d, h, seed=0), nn.ReLU(), nn.Linear(h, h, seed=1), nn.ReLU(),
                         nn.Linear(h, h, seed=2), nn.ReLU(), nn.Linear(h, 1, seed=3))


def ag_step(d: int, h: int, compiled: bool):
    critic = _critic(d, h)
    opt = nn.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))

    def step(real, fake, eps):
        opt.zero_grad()
        xhat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (g,) = ag.grad_of(critic(xhat).sum(), [xhat], create_graph=True)
        gp = ((g * g).sum(axis=1).sqrt() - 1) ** 2
        loss = critic(fake).mean() - critic(real).mean() + 10.0 * gp.mean()
        loss.backward()
        opt.step()
        return loss

    run = ag.compile(step) if compiled else step
    return lambda batch: run(*(ag.tensor(a) for a in batch))


def torch_step(torch, d: int, h: int):
    layers = [m for m in _critic(d, h) if isinstance(m, nn.Linear)]
    mods = []
    for i, lin in enumerate(layers):
        t = torch.nn.Linear(lin.weight.shape[0], lin.weight.shape[1])
        with torch.no_grad():
            t.weight.copy_(torch.tensor(lin.weight.data.T))
            t.bias.copy_(torch.tensor(lin.bias.data))
        mods += [t] + ([torch.nn.ReLU()] if i < len(layers) - 1 else [])
    critic = torch.nn.Sequential(*mods)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))

    def step(batch):
        real, fake, eps = (torch.from_numpy(a) for a in batch)
        opt.zero_grad()
        xhat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(xhat).sum(), [xhat], create_graph=True)
        gp = ((g * g).sum(dim=1).sqrt() - 1) ** 2
        loss = critic(fake).mean() - critic(real).mean() + 10.0 * gp.mean()
        loss.backward()
        opt.step()
        return loss

    return step


def main() -> None:
    try:
        import torch
        torch.set_num_threads(ARGS.threads)
    except ImportError:
        torch = None
    blocks, per_block = (2, 2) if ARGS.smoke else (ARGS.blocks, 5)
    print(f"threads {ARGS.threads}, clock {ARGS.clock}, {blocks} blocks of {per_block} steps; ms per step, "
          "median [min-max]")
    print("| critic (input-hidden x3-1, batch) | eager | ag.compile | torch | compiled/eager | compiled/torch |")
    print("| --- | --- | --- | --- | --- | --- |")
    for d, h, n in CONFIGS:
        rng = np.random.default_rng(0)
        batches = [[rng.standard_normal((n, d)).astype(np.float32) + s for s in (1.0, -1.0)]
                   + [rng.random((n, 1)).astype(np.float32)] for _ in range(4)]
        fns = {"eager": ag_step(d, h, False), "compiled": ag_step(d, h, True)}
        if torch is not None:
            fns["torch"] = torch_step(torch, d, h)
        times: dict[str, list[float]] = {k: [] for k in fns}
        for f in fns.values():  # warm-up (and the trace)
            for b in batches:
                f(b)
        for i in range(blocks):
            for name, f in fns.items():
                t0 = CLOCK()
                for k in range(per_block):
                    f(batches[(i + k) % len(batches)])
                times[name].append((CLOCK() - t0) / per_block * 1e3)
        med = {k: statistics.median(v) for k, v in times.items()}
        cell = {k: f"{med[k]:.3g} [{min(v):.3g}-{max(v):.3g}]" for k, v in times.items()}
        vs_torch = f"{med['compiled'] / med['torch']:.2f}" if torch is not None else "-"
        print(f"| {d}-{h}x3-1, batch {n} | {cell['eager']} | {cell['compiled']} | {cell.get('torch', '-')} | "
              f"{med['compiled'] / med['eager']:.2f} | {vs_torch} |")


if __name__ == "__main__":
    main()
