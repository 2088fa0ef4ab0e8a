"""Central finite differences in float64: the one finite-difference helper of the test suite (engine and nn)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np

import autograd_mini as ag


def numeric_grads(f, arrays, w, eps=1e-6):
    """d<w, f(*arrays)>/d arrays[i] for each float input, by central differences."""
    grads = []
    for i, a in enumerate(arrays):
        if a.dtype.kind != "f":
            grads.append(None)
            continue

        def projected(x, i=i):
            args = [x if k == i else v for k, v in enumerate(arrays)]
            return np.sum(w * np.asarray(f(*[ag.tensor(v) for v in args])))

        grads.append(grad_fd(projected, a, eps))
    return grads


def analytic_grads(f, arrays, w, create_graph=False):
    ts = [ag.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = f(*ts)
    out.backward(np.asarray(w, dtype=out.dtype), create_graph=create_graph)
    return [None if t.grad is None else np.asarray(t.grad) for t in ts], ts


def check_grads(f, arrays, rng, rtol=1e-5, atol=1e-6):
    """Assert backward() matches finite differences for a random output projection."""
    out = np.asarray(f(*[ag.tensor(a) for a in arrays]))
    w = rng.standard_normal(out.shape)
    expected = numeric_grads(f, [a.copy() for a in arrays], w)
    got, _ = analytic_grads(f, arrays, w)
    for i, (e, g) in enumerate(zip(expected, got)):
        if e is None:
            continue
        assert g is not None, f"input {i}: no gradient"
        assert g.shape == arrays[i].shape, f"input {i}: gradient shape {g.shape} != {arrays[i].shape}"
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"input {i}")


def grad_fd(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f(x) / dx by central differences, for ``f`` from a float64 array to a float64 array of any shape:
    shape ``f(x).shape + x.shape``. Used on first derivatives to check second ones."""
    x = np.array(x)
    out = np.asarray(f(x), dtype=np.float64)
    jac = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(x.shape):
        xp_, xm = x.copy(), x.copy()
        xp_[idx] += eps
        xm[idx] -= eps
        jac[(...,) + idx] = (np.asarray(f(xp_)) - np.asarray(f(xm))) / (2 * eps)
    return jac


def hessian(f, x: np.ndarray) -> np.ndarray:
    """The Hessian of scalar ``f`` at ``x`` from the engine: each row a backward through a ``create_graph`` gradient."""
    t = ag.tensor(np.array(x, dtype=np.float64), requires_grad=True)
    (g,) = ag.grad_of(f(t).reshape(()), [t], create_graph=True)
    rows = []
    for idx in np.ndindex(t.shape):
        if g.requires_grad:
            (h,) = ag.grad_of(g[idx], [t], retain_graph=True, allow_unused=True)
        else:
            h = None
        rows.append(np.zeros(t.shape) if h is None else np.asarray(h))
    return np.array(rows).reshape(t.shape + t.shape)


def hessian_fd(f, x: np.ndarray) -> np.ndarray:
    """The Hessian of scalar ``f`` by central differences of the engine's first derivative (float64)."""
    def first(a):
        t = ag.tensor(a, requires_grad=True)
        (g,) = ag.grad_of(f(t).reshape(()), [t], allow_unused=True)
        return np.zeros(a.shape) if g is None else np.asarray(g)

    return grad_fd(first, x)


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


def check_tensor_grads(forward: Callable[[], ag.Tensor], tensors: Sequence[ag.Tensor], seed: int = 0,
                       eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Assert that backward() of ``<u, forward()>`` (u random) matches central differences.

    ``forward`` closes over ``tensors`` (float64 leaves requiring grad: inputs or parameters); each
    is perturbed by assigning ``t.data`` and restored.
    """
    out = forward()
    u = np.random.default_rng(seed).standard_normal(out.shape)
    for t in tensors:
        t.grad = None
    (out * u).sum().backward()
    for k, t in enumerate(tensors):
        assert t.dtype == np.float64, f"tensor {k} is {t.dtype}: finite differences need float64"
        analytic = np.zeros(t.shape) if t.grad is None else np.asarray(t.grad.data)
        base = t.data

        def projected(a, t=t):
            t.data = a
            with ag.no_grad():
                return np.sum(u * forward().data)

        numeric = grad_fd(projected, base, eps)
        t.data = base
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of tensor {k} (shape {t.shape})")
