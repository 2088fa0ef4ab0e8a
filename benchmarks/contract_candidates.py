"""The measurement behind the op contract (docs/core.md, "The contract"): backward time per node when
derivatives run on arrays (the chosen design: what backward reads arrives by position, as arrays in a plain
backward, written with operators and ``autograd_mini.numpy``) against candidate B, where backward always
receives Tensors (the same code, one type) and runs with recording off.

    python benchmarks/contract_candidates.py        # CPU time, 1,000-node chain of (16,) mul/add
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import autograd_mini as ag  # noqa: E402
from autograd_mini import Tensor  # noqa: E402
from autograd_mini.ops import primitives as P  # noqa: E402
from autograd_mini.ops import reductions as R  # noqa: E402

N = 1000


def chain() -> Tensor:
    x = ag.Tensor(np.ones(16, np.float32), requires_grad=True)
    w, b = ag.Tensor(np.full(16, 1.01, np.float32)), ag.Tensor(np.full(16, 0.1, np.float32))
    y = x
    for _ in range(N // 2):
        y = y * w
        y = y + b
    return y.sum()


def backward_us_per_node(repeats: int = 40) -> float:
    samples = []
    for _ in range(repeats):
        root = chain()
        t0 = time.process_time()
        root.backward()
        samples.append(time.process_time() - t0)
    return float(np.median(samples)) / (N + 1) * 1e6


def tensors_always() -> None:
    """Candidate B: g and what backward reads reach every derivative as Tensors."""
    def wrap(v):
        return Tensor._wrap(v) if isinstance(v, np.ndarray) else v

    for cls in (P.Mul, P.Add, R.Sum):
        f = cls.backward
        cls.backward = staticmethod(lambda ctx, g, *reads, f=f: f(ctx, wrap(g), *map(wrap, reads)))


if __name__ == "__main__":
    arrays = backward_us_per_node()
    tensors_always()
    tensors = backward_us_per_node()
    print(f"backward per node: arrays {arrays:.2f} us, Tensors always {tensors:.2f} us ({tensors / arrays:.1f}x)")
