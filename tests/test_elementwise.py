"""The elementwise math of ops/elementwise.py at second order: at the boundary inputs (zeros, ties, +-inf,
nan, 0-d) the Hessian-vector products equal PyTorch's (float64; live when installed, else recorded:
tests/_oracle.py); the Python operators ``//`` and ``%``;
the zero gradient of the piecewise-constant ops; ``div``'s rounding modes on integers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autograd_mini as ag
from tests._oracle import oracle
from tests.op_tables import elementwise as table

try:
    import torch
except ImportError:
    torch = None

KINDS = {
    "zero": ([np.zeros(3)], [np.zeros(3), np.zeros(3)]),
    "tie": ([np.array([1.0, 1.0, -1.0, -1.0])], [np.array([1.0, -1.0, 0.0]), np.array([1.0, -1.0, 0.0])]),
    "inf": ([np.array([np.inf, -np.inf, 0.5])], [np.array([np.inf, -np.inf, 0.5, np.inf]),
                                                  np.array([np.inf, 1.0, -np.inf, -np.inf])]),
    "nan": ([np.array([np.nan, 0.5, -1.0])], [np.array([np.nan, 0.5, np.nan]), np.array([1.0, np.nan, np.nan])]),
    "0d": ([np.array(0.7)], [np.array(0.7), np.array(-1.3)]),
    "inside": ([np.array([0.3, -0.6, 0.9])], [np.array([0.3, -0.6, 2.5]), np.array([1.7, 0.4, -0.8])]),
}


def _second_order(L, grad, leaf, e, xs):
    """f, the gradient of sum(w * f) and the gradient of sum(v * that gradient), every input."""
    leaves = [leaf(x) for x in xs]
    out = e.fn(L, *leaves)
    th = grad is _th_grad
    as_t = (lambda a: torch.as_tensor(a, dtype=out.dtype)) if th else (lambda a: ag.tensor(a, dtype=out.dtype))
    g = grad((out * as_t(_weights(np.cos, out.shape))).sum(), leaves)
    total = sum((gi * as_t(_weights(np.sin, gi.shape))).sum() for gi in g if gi is not None and gi.requires_grad)
    h = grad(total, leaves) if getattr(total, "requires_grad", False) else [None] * len(leaves)
    value = out.detach().numpy() if th else out.numpy()
    arrays = [None if t is None else np.asarray(t.detach() if th else t) for t in (*g, *h)]
    return value, arrays


def _weights(f, shape) -> np.ndarray:
    """A fixed projection without accidental symmetry."""
    return f(np.arange(1, int(np.prod(tuple(shape))) + 1)).reshape(tuple(shape))


def _th_grad(y, xs): return torch.autograd.grad(y, xs, create_graph=True, allow_unused=True)
def _ag_grad(y, xs): return ag.grad_of(y, xs, create_graph=True, allow_unused=True)


SECOND = sorted(name for name in table.EDGES if name not in ("floor_divide",))  # PyTorch: no derivative


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("name", SECOND)
def test_second_order_matches_pytorch_at_the_edges(name: str, kind: str) -> None:
    e = table.EDGES[name]
    if kind in e.skip:
        pytest.skip(e.skip[kind])
    xs = KINDS[kind][e.arity - 1]

    def theirs():
        TH = type("TH", (), {"__getattr__": lambda self, n: table.TORCH.get(n) or getattr(torch, n)})()
        return _second_order(TH, _th_grad, lambda x: torch.tensor(x, requires_grad=True), e, xs)

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want, t_grads = oracle(theirs)
        got, a_grads = _second_order(ag, _ag_grad, lambda x: ag.tensor(x, requires_grad=True), e, xs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300, equal_nan=True)
    for i, (a, t) in enumerate(zip(a_grads, t_grads)):
        a = np.zeros_like(t) if a is None and t is not None else a
        t = np.zeros_like(a) if t is None and a is not None else t
        if a is not None:
            np.testing.assert_allclose(a, t, rtol=1e-10, atol=1e-14, equal_nan=True, err_msg=f"{name} output {i}")


def test_floor_divide_and_remainder_operators_follow_python() -> None:
    a, b = ag.tensor([5.5, -5.5, 7.0, -7.0]), ag.tensor([2.0, 2.0, -2.0, -2.0])
    assert (a // b).tolist() == [5.5 // 2, -5.5 // 2, 7.0 // -2, -7.0 // -2]
    assert (a % b).tolist() == [5.5 % 2, -5.5 % 2, 7.0 % -2, -7.0 % -2]
    assert (7 // ag.tensor([2, -2])).tolist() == [3, -4] and (7 % ag.tensor([2, -2])).tolist() == [1, -1]
    assert ag.fmod(ag.tensor([-7, 7]), 2).tolist() == [-1, 1]


def test_rounding_modes_keep_integers_exact() -> None:
    big = ag.tensor([2**62 + 1, -(2**62) - 1, -7, 7])
    assert ag.div(big, 2, rounding_mode="trunc").tolist() == [(2**62 + 1) // 2, -((2**62 + 1) // 2), -3, 3]
    assert ag.div(big, 2, rounding_mode="floor").tolist() == [(2**62 + 1) // 2, (-(2**62) - 1) // 2, -4, 3]
    assert ag.div(big, 2, rounding_mode="floor").dtype == np.int64
    with pytest.raises(ValueError, match="rounding_mode must be None, 'trunc' or 'floor'"):
        ag.div(big, 2, rounding_mode="round")


@pytest.mark.parametrize("f", [ag.sign, ag.floor, ag.ceil, ag.trunc, ag.round, lambda t: t // 0.3])
def test_a_loss_that_depends_only_on_a_rounded_value_has_zero_gradient(f) -> None:
    for x in (ag.tensor(0.7, requires_grad=True), ag.tensor([-1.5, 0.0, 2.5], requires_grad=True)):
        f(x).sum().backward()
        assert x.grad.shape == x.shape and not np.any(x.grad.numpy())


@pytest.mark.parametrize("f", [lambda a, b: a // b, lambda a, b: a % b, ag.fmod,
                               lambda a, b: ag.div(a, b, rounding_mode="trunc")])
def test_integer_division_by_zero_raises_as_pytorch(f) -> None:
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        f(ag.tensor([3, 4]), ag.tensor([1, 0]))
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        f(ag.tensor([3, 4]), 0)
    with np.errstate(all="ignore"):
        assert not np.isfinite(f(ag.tensor([3.0]), 0.0).numpy()).any()  # floats: inf or nan, as PyTorch's
