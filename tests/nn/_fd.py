"""Central finite differences in float64 for the nn property tests (independent of the engine's helpers)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np

import autograd_mini as ag


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Make float64 the default dtype inside the block (layers built there get float64 parameters)."""
    prev = ag.get_default_dtype()
    ag.set_default_dtype(np.float64)
    try:
        yield
    finally:
        ag.set_default_dtype(prev)


def away_from_zero(a: np.ndarray, margin: float = 1e-2) -> np.ndarray:
    """Move values off the kink at 0 (relu, leaky relu, abs) so central differences are valid."""
    return np.where(np.abs(a) < margin, np.where(a < 0, -0.5, 0.5), a)


def check_grads(forward: Callable[[], ag.Tensor], tensors: Sequence[ag.Tensor], seed: int = 0,
                eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Assert that backward() of ``<u, forward()>`` (u random) matches central differences.

    ``forward`` closes over ``tensors`` (float64 leaves requiring grad: inputs or parameters);
    each element is perturbed through ``t.data`` and restored.
    """
    out = forward()
    u = np.random.default_rng(seed).standard_normal(out.shape)
    for t in tensors:
        t.grad = None
    (out * u).sum().backward()
    for k, t in enumerate(tensors):
        assert t.dtype == np.float64, f"tensor {k} is {t.dtype}: finite differences need float64"
        analytic = np.zeros(t.shape) if t.grad is None else np.asarray(t.grad.data)
        base = t.data.copy()
        numeric = np.zeros_like(base)
        with ag.no_grad():
            for idx in np.ndindex(base.shape):
                x = base.copy()
                x[idx] += eps
                t.data = x
                plus = np.sum(u * forward().data)
                x = base.copy()
                x[idx] -= eps
                t.data = x
                minus = np.sum(u * forward().data)
                numeric[idx] = (plus - minus) / (2 * eps)
        t.data = base
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of tensor {k} (shape {t.shape})")
