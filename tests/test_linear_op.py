"""``ag.linear``: the fused x @ w + b primitive (promoted for speed) against its composite oracle."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_mini as ag
from tests._fd import check_grads

SHAPES = [((2, 3), (3, 4)), ((1, 3), (3, 1)), ((5, 2, 3), (3, 4)), ((2, 1, 2, 3), (3, 2)), ((0, 3), (3, 2))]


@pytest.mark.parametrize("sx,sw", SHAPES)
def test_forward_and_gradients_match_the_composite(sx, sw):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(sx), rng.standard_normal(sw), rng.standard_normal(sw[-1:])
    y = ag.linear(ag.tensor(x), ag.tensor(w), ag.tensor(b))
    assert y.grad_fn is None or y.grad_fn.name == "Linear"
    np.testing.assert_allclose(np.asarray(y), x @ w + b, rtol=1e-12)
    check_grads(lambda x, w, b: ag.linear(x, w, b), [x, w, b], rng)

    ts = [ag.tensor(a, requires_grad=True) for a in (x, w, b)]
    ag.linear(*ts).sum().backward()
    cs = [ag.tensor(a, requires_grad=True) for a in (x, w, b)]
    (cs[0] @ cs[1] + cs[2]).sum().backward()
    for t, c in zip(ts, cs):
        np.testing.assert_allclose(np.asarray(t.grad), np.asarray(c.grad), rtol=1e-12, atol=1e-12)


def test_only_needed_gradients_are_computed():
    x = ag.tensor(np.ones((4, 3)))
    w = ag.tensor(np.ones((3, 2)), requires_grad=True)
    b = ag.tensor(np.ones(2))
    y = ag.linear(x, w, b)
    assert y.grad_fn.needs_input_grad == (False, True, False)
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(w.grad), np.full((3, 2), 4.0))
    assert x.grad is None and b.grad is None


def test_second_derivatives_match_the_composite():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 2)), rng.standard_normal((2, 4)), rng.standard_normal(4)

    def f(lin):
        def inner(x, w, b):
            return (lin(x, w, b).tanh() ** 2).sum()
        return inner

    def second(lin):  # d/dx of sum(d f / d w)
        return ag.grad(lambda x, w, b: (ag.grad(f(lin), argnums=1)(x, w, b) ** 2).sum(), argnums=0)

    args = [ag.tensor(a, requires_grad=True) for a in (x, w, b)]
    fused, composite = second(ag.linear)(*args), second(lambda x, w, b: x @ w + b)(*args)
    assert np.abs(np.asarray(composite)).max() > 1e-3
    np.testing.assert_allclose(np.asarray(fused), np.asarray(composite), rtol=1e-10)


def test_shapes_the_primitive_does_not_take_are_composed():
    x, w = ag.tensor(np.ones(3)), ag.tensor(np.ones((3, 2)))
    assert ag.linear(x, w, ag.tensor(np.ones(2))).grad_fn is None  # 1-D x: composed (no grad here anyway)
    xg = ag.tensor(np.ones((4, 3)), requires_grad=True)
    assert ag.linear(xg, w).grad_fn.name == "MatMul"                      # no bias
    assert ag.linear(xg, w, np.ones((1, 2))).grad_fn.name == "Add"        # a 2-D bias broadcasts
    np.testing.assert_allclose(np.asarray(ag.linear(x, w, 1.0)), np.full(2, 4.0))


def test_float32_stays_float32():
    x = ag.tensor(np.ones((2, 3), np.float32))
    w = ag.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    b = ag.tensor(np.ones(2, np.float32), requires_grad=True)
    y = ag.linear(x, w, b)
    y.sum().backward()
    assert y.dtype == w.grad.dtype == b.grad.dtype == np.float32
