"""Central finite differences in float64, for the engine's own property tests."""

from __future__ import annotations

import numpy as np

import autograd_mini as ag


def numeric_grads(f, arrays, w, eps=1e-6):
    """d<w, f(*arrays)>/d arrays[i] for each float input, by central differences."""
    grads = []
    for a in arrays:
        if a.dtype.kind != "f":
            grads.append(None)
            continue
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            orig = a[idx]
            a[idx] = orig + eps
            plus = np.sum(w * np.asarray(f(*[ag.tensor(x) for x in arrays])))
            a[idx] = orig - eps
            minus = np.sum(w * np.asarray(f(*[ag.tensor(x) for x in arrays])))
            a[idx] = orig
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
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
    x = np.array(x, dtype=np.float64)
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
