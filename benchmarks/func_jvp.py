"""What forward mode costs in ``ag.func``: ``jvp`` (the VJP of a VJP) against one ``vjp`` of the same function,
beside ``torch.func``'s ratio (true forward mode) when PyTorch is installed; and the Jacobian/Hessian routes.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/func_jvp.py [--repeats 30]

Each figure is the median of ``--repeats`` timings of one call after a warm-up call, in process CPU time (robust
on a shared machine), the implementations interleaved call by call so that every ratio compares timings taken
under the same load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import autograd_mini as ag  # noqa: E402
from autograd_mini import func  # noqa: E402

try:
    import torch
except ImportError:
    torch = None


def _median_ms(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.process_time()
            f()
            times[k].append(time.process_time() - t0)
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def mlp(lib: object, batch: int = 64) -> tuple[Callable, tuple, tuple, object]:
    """784-128-64-10 tanh MLP, float64: the output as a function of the input batch; weights are constants."""
    rng = np.random.default_rng(0)
    shapes = [(784, 128), (128, 64), (64, 10)]
    Ws = [lib.tensor(rng.standard_normal(s) / np.sqrt(s[0])) for s in shapes]
    x = lib.tensor(rng.standard_normal((batch, 784)))

    def f(x):
        for W in Ws[:-1]:
            x = (x @ W).tanh()
        return x @ Ws[-1]

    return f, (x,), (lib.tensor(rng.standard_normal(x.shape)),), lib.tensor(rng.standard_normal((batch, 10)))


def chain(lib: object, n: int = 300, size: int = 1000) -> tuple[Callable, tuple, tuple, object]:
    """``n`` elementwise ops (sin, *, + alternating) on a vector of ``size``."""
    rng = np.random.default_rng(1)
    x, v, u = (lib.tensor(rng.standard_normal(size)) for _ in range(3))

    def f(x):
        for _ in range(n // 3):
            x = (x.sin() * 0.9) + 0.1
        return x

    return f, (x,), (v,), u


def bench(F: object, lib: object, make: Callable, repeats: int) -> dict[str, float]:
    f, primals, tangents, cotangent = make(lib)
    nograd = ag.no_grad if lib is ag else torch.no_grad
    fns = {
        "forward": lambda: nograd()(f)(*primals),
        "vjp": lambda: F.vjp(f, *primals)[1](cotangent),
        "jvp": lambda: F.jvp(f, primals, tangents),
    }
    return _median_ms(fns, repeats)


def xor_hessian(repeats: int) -> dict[str, float]:
    """The article's XOR loss (300 points, 2-3-2 sigmoid, no biases) as a function of its two weight matrices."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 2)
    Y = np.eye(2)[np.logical_xor(X[:, 0] > 0, X[:, 1] > 0).astype(int)]
    w = (ag.tensor(rng.randn(2, 3)), ag.tensor(rng.randn(3, 2)))

    def loss(W1, W2):
        h2 = ((ag.tensor(X) @ W1).sigmoid() @ W2).sigmoid()
        return ((ag.tensor(Y) - h2) ** 2).sum() / 600 + 1e-4 * ((W1 ** 2).sum() + (W2 ** 2).sum()) / 600

    return _median_ms({
        "jacfwd(jacrev) (torch.func's hessian)": lambda: func.jacfwd(func.jacrev(loss, (0, 1)), (0, 1))(*w),
        "jacrev(jacrev) (ag.func.hessian)": lambda: func.hessian(loss, (0, 1))(*w),
    }, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    ag.set_default_dtype(np.float64)
    if torch is not None:
        torch.set_default_dtype(torch.float64)
        torch.set_num_threads(1)
    print("| function | library | forward (ms) | vjp (ms) | jvp (ms) | jvp / vjp |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, make in (("MLP 784-128-64-10 tanh, batch 64", mlp), ("chain of 300 elementwise ops on (1000,)", chain)):
        for label, F, lib in (("autograd-mini", func, ag), ("torch.func", torch and torch.func, torch)):
            if lib is None:
                continue
            r = bench(F, lib, make, args.repeats)
            print(f"| {name} | {label} | {r['forward']:.3g} | {r['vjp']:.3g} | {r['jvp']:.3g} | "
                  f"{r['jvp'] / r['vjp']:.2f} |")
    print()
    for k, v in xor_hessian(args.repeats).items():
        print(f"XOR loss Hessian (12 x 12), {k}: {v:.3g} ms")


if __name__ == "__main__":
    main()
