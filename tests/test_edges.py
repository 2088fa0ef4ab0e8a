"""Regression tests for issue #12: PyTorch's answers (numpy's for numpy-named API) at the edges.

Each expected number was taken from PyTorch 2.13 in float64 (or numpy); tests that ask PyTorch
itself skip without it, the literal ones always run.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autograd_mini as ag
import nn
import nn.functional as F
from tests._oracle import oracle

try:
    import torch
except ImportError:
    torch = None



def leaf(values, dtype=np.float64) -> ag.Tensor:
    return ag.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- grad mode ---------------------------------------------------------------------------------------
def cube_sum(t):
    return (t**3).sum()


def test_grad_transform_inside_no_grad_gives_the_true_gradient():
    x = ag.tensor([1.0, 2.0])
    with ag.no_grad():
        g = ag.grad(cube_sum)(x)
        v, g2 = ag.value_and_grad(cube_sum)(x)
        assert not ag.is_grad_enabled()
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    np.testing.assert_allclose(g2.numpy(), [3.0, 12.0])
    assert v.item() == 9.0 and not g.requires_grad and not v.requires_grad  # plain values, no outer graph

    @ag.no_grad()
    def second(t):  # a second derivative inside a no_grad function: each transform traces for itself
        return ag.grad(lambda s: ag.grad(cube_sum)(s).sum())(t)

    np.testing.assert_allclose(second(x).numpy(), [6.0, 12.0])


def test_set_grad_enabled_takes_effect_when_called():
    try:
        ag.set_grad_enabled(False)
        assert not ag.is_grad_enabled()
        assert not (ag.tensor([1.0], requires_grad=True) * 2).requires_grad
        ag.set_grad_enabled(True)
        assert ag.is_grad_enabled()
    finally:
        ag.set_grad_enabled(True)
    with ag.set_grad_enabled(False):
        assert not ag.is_grad_enabled()
        with ag.set_grad_enabled(True):
            assert ag.is_grad_enabled()
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()

    @ag.set_grad_enabled(False)
    def f():
        return ag.is_grad_enabled()

    assert ag.is_grad_enabled()  # decorating does not switch the mode outside the function
    assert f() is False and ag.is_grad_enabled()


def test_bare_decorators():
    @ag.no_grad
    def off(x):
        return x * 2

    @ag.enable_grad
    def on(x):
        return x * 2

    x = ag.tensor([1.0], requires_grad=True)
    assert not off(x).requires_grad and off.__name__ == "off"
    with ag.no_grad():
        assert on(x).requires_grad
    assert ag.is_grad_enabled()


# ---- copies and numpy scalars --------------------------------------------------------------------------
def test_tensor_copies_as_tensor_shares():
    a = np.array([1.0, 2.0], dtype=np.float32)
    t = ag.tensor(a)
    a[0] = 9
    assert t.numpy()[0] == 1.0
    u = ag.tensor(t)
    t.data[1] = 7
    assert u.numpy()[1] == 2.0 and not u.requires_grad
    s = ag.as_tensor(a)
    a[1] = 5
    assert s.numpy()[1] == 5.0
    assert ag.as_tensor(t) is t and ag.as_tensor(t, dtype=np.float64).dtype == np.float64


def test_dataloader_batches_never_alias_the_dataset():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    for shuffle in (False, True):
        for xb, yb in nn.data.DataLoader(X, y, batch_size=4, shuffle=shuffle, seed=0):
            xb.data[...] = -1
            yb.data[...] = -1
        np.testing.assert_array_equal(X, np.arange(12, dtype=np.float32).reshape(6, 2))
        np.testing.assert_array_equal(y, np.arange(6))


def test_numpy_scalars_are_python_scalars_in_expressions():
    t = ag.tensor([1.0, 4.0], requires_grad=True)
    assert t.dtype == np.float32
    for out in (t * np.float64(2), t / np.sqrt(4.0), t ** np.int64(2), np.float64(2) - t, t + np.int32(1),
                ag.maximum(t, np.float64(2)), ag.where(t > 2, t, np.float64(0)), t.clip(np.float64(1.5)),
                t ** np.float64(0.5)):
        assert out.dtype == np.float32, out
    (t ** np.int64(2)).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [2.0, 8.0])


def test_numpy_scalars_carry_their_dtype_as_data():
    assert ag.tensor(np.float64(0.1)).dtype == np.float64
    assert ag.tensor(np.float32(0.1)).dtype == np.float32
    assert ag.tensor(0.1).dtype == np.float32
    assert ag.tensor([np.float64(0.1), 1.0]).dtype == np.float64  # as torch.tensor
    assert ag.tensor([np.float32(1.0), 1.0]).dtype == np.float32
    assert ag.tensor([1, np.float64(2.0)]).dtype == np.float64
    assert ag.tensor(np.int32(3)).dtype == np.int32
    assert ag.tensor([1.0, 2.0]).dtype == np.float32


# ---- numpy-named API -------------------------------------------------------------------------------------
def test_concatenate_axis_none_flattens():
    a, b = leaf([[1.0, 2.0], [3.0, 4.0]]), leaf([5.0])
    out = ag.concatenate([a, b], axis=None)
    np.testing.assert_array_equal(out.numpy(), np.concatenate([a.numpy(), b.numpy()], axis=None))
    (out * ag.tensor(np.arange(5.0))).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0, 1], [2, 3]])
    np.testing.assert_array_equal(b.grad.numpy(), [4])


def test_softmax_axis_none_normalises_over_all_elements():
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    e = np.exp(x - x.max())
    for axis in (None, (0, 1)):
        np.testing.assert_allclose(ag.softmax(ag.tensor(x), axis=axis).numpy(), e / e.sum(), rtol=1e-12)
        np.testing.assert_allclose(ag.log_softmax(ag.tensor(x), axis=axis).numpy(), np.log(e / e.sum()), rtol=1e-12)
    t = leaf(x)
    (ag.softmax(t, axis=None) * ag.tensor(np.arange(4.0).reshape(2, 2))).sum().backward()
    p = e / e.sum()
    w = np.arange(4.0).reshape(2, 2)
    np.testing.assert_allclose(t.grad.numpy(), p * (w - (p * w).sum()), rtol=1e-12)
    assert ag.softmax(ag.tensor(3.0), axis=None).item() == 1.0


def test_split_takes_numpy_integers():
    parts = ag.split(ag.arange(4.0), np.int64(2))
    assert [p.numpy().tolist() for p in parts] == [[0.0, 1.0], [2.0, 3.0]]


def test_clip_takes_tensor_bounds():
    x = leaf([-2.0, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_array_equal(x.clip(ag.tensor(0.0), ag.tensor(1.0)).numpy(), [0, 0, 0.5, 1, 1])
    lo, hi = leaf(0.0), leaf(1.0)
    x.clip(lo, hi).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 0])  # PyTorch's clamp: bounds included
    assert lo.grad.item() == 1.0 and hi.grad.item() == 1.0


# ---- size-0 axes and empty batches ---------------------------------------------------------------------------
def test_softmax_family_over_a_size0_axis():
    x = leaf(np.zeros((2, 0)))
    np.testing.assert_array_equal(ag.logsumexp(x, axis=1).numpy(), [-np.inf, -np.inf])
    assert ag.logsumexp(leaf(np.zeros(0))).item() == -np.inf
    for f in (ag.softmax, ag.log_softmax):
        out = f(x, axis=1)
        assert out.shape == (2, 0)
        out.sum().backward()
        assert x.grad.shape == (2, 0)
    ag.logsumexp(x, axis=1).sum().backward()
    assert ag.softmax(ag.tensor(np.zeros((0, 3))), axis=0).shape == (0, 3)


def test_mean_cross_entropy_of_an_empty_batch_is_nan_with_an_empty_gradient():
    x = leaf(np.zeros((0, 3)))
    loss = F.cross_entropy(x, np.zeros(0, dtype=np.int64))
    assert np.isnan(loss.item())
    loss.backward()
    assert x.grad.shape == (0, 3)
    assert F.cross_entropy(x, np.zeros(0, dtype=np.int64), reduction="sum").item() == 0.0


# ---- derivatives at zero ------------------------------------------------------------------------------------
def test_std_gradient_is_zero_where_std_is_zero():
    x = leaf([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
    x.std(axis=1).sum().backward()
    g = x.grad.numpy()
    np.testing.assert_array_equal(g[0], [0, 0, 0])
    row = np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(g[1], (row - row.mean()) / (3 * row.std()), rtol=1e-12)
    # a layer norm written with std on a constant row: finite weight gradients
    w = leaf([1.0, 1.0, 1.0])
    h = ag.tensor(np.ones((2, 3)))
    ((h - h.mean(axis=1, keepdims=True)) / (h.std(axis=1, keepdims=True) + 1e-5) * w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0, 0.0])  # the normalised row is 0 (PyTorch: 0, not nan)


def test_integer_casts_are_not_differentiable():
    x = leaf([1.2, -2.7])
    i = (x * 2).astype(np.int64)
    assert not i.requires_grad and i.grad_fn is None
    assert not x.astype(bool).requires_grad
    (i * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -5.0])  # int(2x) is a constant
    x.grad = None
    x.astype(np.float32).sum().backward()  # a float cast stays differentiable
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_pow_at_base_zero():
    x = leaf([0.0, 1.0])
    np.testing.assert_array_equal(ag.grad(lambda t: (t**0).sum())(x).numpy(), [0, 0])
    first = ag.grad(lambda t: (t**1).sum())
    np.testing.assert_array_equal(ag.grad(lambda t: first(t).sum())(x).numpy(), [0, 0])
    a = leaf([0.0, 0.0, 0.0, 2.0, 0.0])
    b = leaf([0.0, 1.0, 2.0, 0.0, -1.0])
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        warnings.simplefilter("ignore")
        ga, gb = ag.grad_of((a**b).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [0, 1, 0, 0, -np.inf])  # PyTorch's values
    np.testing.assert_allclose(gb.numpy(), [0, 0, 0, np.log(2.0), -np.inf])


def test_focal_loss_exponent_gets_a_finite_gradient_when_p_is_one():
    p = ag.tensor([0.5, 1.0], dtype=np.float64)
    gamma = leaf(2.0)
    (-((1 - p) ** gamma * ag.log(p)).sum()).backward()
    assert gamma.grad.item() == pytest.approx(-0.25 * np.log(0.5) * np.log(0.5), rel=1e-12)  # PyTorch: -0.1201


def test_bce_with_logits_second_derivative_at_zero():
    x = leaf([0.0, 2.0, -1e4, 1e4])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    (g,) = ag.grad_of(F.binary_cross_entropy_with_logits(x, y, reduction="sum"), [x], create_graph=True)
    s = 1 / (1 + np.exp(-np.array([0.0, 2.0])))
    np.testing.assert_allclose(g.numpy(), [s[0] - 1, s[1], -1.0, 1.0], rtol=1e-12)
    (h,) = ag.grad_of(g.sum(), [x])
    np.testing.assert_allclose(h.numpy(), [0.25, s[1] * (1 - s[1]), 0.0, 0.0], rtol=1e-12)


def test_bce_gradient_at_the_clamp():
    """BCE's gradient where p (1 - p) underflows the 1e-12 clamp: (p - y) / 1e-12, as PyTorch's."""
    p = leaf([0.0, 1.0, 1e-13, 0.3])
    y = np.array([1.0, 0.0, 1.0, 1.0])
    F.binary_cross_entropy(p, y, reduction="sum").backward()
    want = [-1e12, 1e12, (1e-13 - 1) / max(1e-13 * (1 - 1e-13), 1e-12), -1 / 0.3]
    np.testing.assert_allclose(p.grad.numpy(), want, rtol=1e-12)


def _edges_in_pytorch() -> dict:
    t = torch.tensor([0.0, 1.0, 1e-13, 0.3], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.binary_cross_entropy(t, torch.tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64),
                                             reduction="sum").backward()
    x = torch.tensor([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]], dtype=torch.float64, requires_grad=True)
    x.std(dim=1, correction=0).sum().backward()
    p = torch.tensor([0.5, 1.0], dtype=torch.float64)
    gamma = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    (-((1 - p) ** gamma * torch.log(p)).sum()).backward()
    return {"bce": t.grad, "std": x.grad, "gamma": gamma.grad.item()}


def test_edges_match_pytorch():
    """The literal answers above, asked of PyTorch itself (tests/_oracle.py)."""
    want = oracle(_edges_in_pytorch)
    p = leaf([0.0, 1.0, 1e-13, 0.3])
    F.binary_cross_entropy(p, np.array([1.0, 0.0, 1.0, 1.0]), reduction="sum").backward()
    np.testing.assert_allclose(p.grad.numpy(), want["bce"], rtol=1e-8)  # PyTorch's clamp is float32(1e-12)
    xa = leaf([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
    xa.std(axis=1).sum().backward()
    np.testing.assert_allclose(xa.grad.numpy(), want["std"], rtol=1e-12)
    pa, ga = ag.tensor([0.5, 1.0], dtype=np.float64), leaf(2.0)
    (-((1 - pa) ** ga * ag.log(pa)).sum()).backward()
    assert ga.grad.item() == pytest.approx(want["gamma"], rel=1e-12)


# ---- entry points --------------------------------------------------------------------------------------------
def test_grad_of_takes_a_sequence_of_outputs():
    x = leaf([1.0, 2.0])
    (g,) = ag.grad_of([(x * x).sum(), x.sum()], [x])
    np.testing.assert_array_equal(g.numpy(), [3.0, 5.0])  # torch.autograd.grad sums over the outputs
    (g,) = ag.grad_of([x * x, x.sum()], [x], grad_outputs=[np.array([1.0, -1.0]), 2.0])
    np.testing.assert_array_equal(g.numpy(), [4.0, -2.0])
    with pytest.raises(RuntimeError, match=r"output 0 has shape \(2,\)"):
        ag.grad_of([x * x], [x])


def test_gradgradcheck_without_raising_reports_a_backward_that_cannot_differentiate_again():
    class NumpySin(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return np.sin(x)

        @staticmethod
        @ag.once_differentiable
        def backward(ctx, g, x):
            return g * np.cos(x)

    r = ag.gradgradcheck(NumpySin.apply, [leaf([0.5, 1.0])], raise_exception=False)
    assert not r and "NumpySin" in str(r)
    with pytest.raises(RuntimeError, match="NumpySin"):
        ag.gradgradcheck(NumpySin.apply, [leaf([0.5, 1.0])])


# ---- test strength: value checks for bugs that only crashed before ---------------------------------------
@pytest.mark.parametrize("shape_b", [(3,), (1, 3), (3, 1), (1, 1), (3, 1, 3), ()])
def test_unbroadcast_sums_the_broadcast_axes_by_value(shape_b):
    """Square shapes: summing the wrong axis gives the right shape and a wrong value, caught here."""
    rng = np.random.default_rng(0)
    a = leaf(rng.standard_normal((3, 3, 3)))
    b = leaf(rng.standard_normal(shape_b))
    w = rng.standard_normal((3, 3, 3))
    for name, op, d_b in (("add", lambda p, q: p + q, w), ("mul", lambda p, q: p * q, w * a.numpy()),
                          ("div", lambda p, q: q / (p * p + 1.0), w / (a.numpy() ** 2 + 1.0))):
        a.grad = b.grad = None
        (op(a, b) * ag.tensor(w)).sum().backward()
        want = d_b.sum(axis=tuple(range(3 - len(shape_b))))
        want = want.sum(axis=tuple(i for i, n in enumerate(shape_b) if n == 1), keepdims=True).reshape(shape_b)
        np.testing.assert_allclose(b.grad.numpy(), want, rtol=1e-12, err_msg=name)


def test_max_min_ties_share_the_gradient_by_value():
    """amax/amin's rule, literal: k tied maxima get 1/k each, along any axis, keepdims or not."""
    x = leaf([[1.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    w = np.array([2.0, 3.0])
    (x.max(axis=1) * ag.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 2 / 2, 2 / 2], [3 / 3, 3 / 3, 3 / 3]], rtol=1e-12)
    y = leaf([[1.0, 3.0, 2.0], [1.0, 0.0, 2.0]])
    y.min(axis=0, keepdims=True).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [[0.5, 0, 0.5], [0.5, 1, 0.5]], rtol=1e-12)
    x.grad = None
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-12)
