"""cumprod's gradient where the input has zeros: first order and a Hessian-vector product, by length.

    PYTHONPATH=. python benchmarks/cumprod_zeros.py   # from a checkout's root: times that checkout's autograd_mini

Each figure is the median of 5 runs (wall clock, after one warm-up) of forward + backward of
``(cumprod(x) * w).sum()`` over a (4, n) tensor with zeros at n/3 and 2n/3 of each row, and of the
same with ``create_graph`` and a second backward (a Hessian-vector product); PyTorch CPU eager beside it
(its second order at n = 10000 is skipped: O(n^2), minutes). Run it with the checkout first on the path:
``PYTHONPATH=. python benchmarks/cumprod_zeros.py`` (a script's own folder comes first otherwise).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import autograd_mini as ag

try:
    import torch
except ImportError:
    torch = None


def _median(f, repeats: int = 5) -> float:
    f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _ours(x: np.ndarray, w: np.ndarray, second: bool) -> None:
    t = ag.tensor(x, requires_grad=True)
    (g,) = ag.grad_of((ag.cumprod(t, 1) * ag.tensor(w)).sum(), [t], create_graph=second)
    if second:
        ag.grad_of((g * ag.tensor(w)).sum(), [t])


def _theirs(x: np.ndarray, w: np.ndarray, second: bool) -> None:
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad((torch.cumprod(t, 1) * torch.tensor(w)).sum(), [t], create_graph=second)
    if second:
        torch.autograd.grad((g * torch.tensor(w)).sum(), [t])


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'n':>7} {'order':>5} {'ours ms':>9} {'torch ms':>9}")
    for n in (100, 1000, 10000):
        x, w = rng.uniform(0.9, 1.1, (4, n)), rng.standard_normal((4, n))
        x[:, [n // 3, 2 * n // 3]] = 0.0
        for second in (False, True):
            try:
                ours = _median(lambda x=x, w=w, second=second: _ours(x, w, second)) * 1e3
            except MemoryError:  # an O(n^2)-per-row derivative (autograd-mini before #27's cumprod)
                ours = float("inf")
            slow = second and n > 1000  # PyTorch's create_graph derivative at zeros is O(n^2): minutes at 10000
            theirs = float("nan")
            if torch is not None and not slow:
                theirs = _median(lambda x=x, w=w, second=second: _theirs(x, w, second)) * 1e3
            print(f"{n:>7} {2 if second else 1:>5} {ours:>9.2f} {theirs:>9.2f}")


if __name__ == "__main__":
    main()
