"""einsum, cumsum, prod, repeat/tile, take_along_axis/gather, masked_fill, argmax, topk, erf:
the hard cases (zeros in prod, ties, repeated indices, size-0 axes), against numpy, float64 finite
differences, and PyTorch float64 (its recorded answers when it is not installed: tests/_oracle.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd_mini as ag
from tests._fd import check_grads
from tests._oracle import case_rng, oracle

try:
    import torch
except ImportError:  # the comparisons below read PyTorch's recorded answers
    torch = None

RNG = np.random.default_rng(0)


def grads_and_hessian_row(fn, x, w):
    """(first derivative of <w, fn(x)>, and the derivative of its sum) by our engine."""
    t = ag.tensor(x, requires_grad=True)
    (g,) = ag.grad_of((fn(t) * ag.tensor(w)).sum(), [t], create_graph=True)
    (h,) = ag.grad_of(g.sum(), [t])
    return np.asarray(g), np.asarray(h)


def torch_grads_and_hessian_row(fn, x, w):
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad((fn(t) * torch.tensor(w)).sum(), t, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), t, allow_unused=True)
    return g.detach().numpy(), (np.zeros_like(x) if h is None else h.numpy())


# ---- prod --------------------------------------------------------------------------------------------
PROD_CASES = {
    "no zero": [[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]],
    "one zero": [[1.5, 0.0, 3.0], [0.5, 4.0, -1.0]],
    "two zeros": [[0.0, 2.0, 0.0], [0.5, 0.0, -1.0]],
    "all zeros": [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
}


@pytest.mark.parametrize("case", sorted(PROD_CASES))
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_prod_zeros_first_and_second_order(case, axis):
    x = np.array(PROD_CASES[case])
    w = case_rng().standard_normal(np.prod(x, axis=axis).shape)
    np.testing.assert_array_equal(np.asarray(ag.prod(ag.tensor(x), axis=axis)), np.prod(x, axis=axis))
    g, h = grads_and_hessian_row(lambda t: t.prod(axis=axis), x, w)
    check_grads(lambda t: t.prod(axis=axis), [x.copy()], np.random.default_rng(1))
    dims = tuple(range(x.ndim)) if axis is None else axis
    tg, th = oracle(lambda: torch_grads_and_hessian_row(lambda t: _torch_prod(t, dims), x, w))
    np.testing.assert_allclose(g, tg, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, th, rtol=1e-12, atol=1e-12)


def _torch_prod(t, dims):
    for d in sorted(np.atleast_1d(dims), reverse=True):
        t = t.prod(dim=int(d))
    return t


def test_prod_gradient_with_one_and_two_zeros_closed_form():
    x = ag.tensor([2.0, 0.0, 3.0], requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [0.0, 6.0, 0.0])
    y = ag.tensor([2.0, 0.0, 0.0, 5.0], requires_grad=True)
    y.prod().backward()
    np.testing.assert_array_equal(np.asarray(y.grad), [0.0, 0.0, 0.0, 0.0])
    # second order at two zeros: d2/dx1 dx2 = 2 * 5, the only nonzero mixed derivative
    z = ag.tensor([2.0, 0.0, 0.0, 5.0], requires_grad=True)
    (g,) = ag.grad_of(z.prod(), [z], create_graph=True)
    (h,) = ag.grad_of(g[1], [z])
    np.testing.assert_array_equal(np.asarray(h), [0.0, 0.0, 10.0, 0.0])


def test_prod_size0_and_0d_and_int():
    e = ag.tensor(np.zeros((2, 0)), requires_grad=True)
    p = e.prod(axis=1)
    np.testing.assert_array_equal(np.asarray(p), [1.0, 1.0])
    p.sum().backward()
    assert e.grad.shape == (2, 0)
    s = ag.tensor(3.0, requires_grad=True, dtype=np.float64)
    s.prod().backward()
    assert s.grad.item() == 1.0
    assert ag.prod(ag.tensor([2, 3, 4])).item() == 24


# ---- cumsum ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,axis", [((0,), 0), ((3, 0), 1), ((0, 3), 0), ((0, 3), 1), ((), 0), ((), -1),
                                        ((2, 3), None), ((2, 3, 4), -2)])
def test_cumsum_shapes_and_size0(shape, axis):
    x = case_rng().standard_normal(shape)
    out = ag.cumsum(ag.tensor(x), axis=axis)
    want = x if shape == () else np.cumsum(x, axis=axis)
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-14)
    t = ag.tensor(x, requires_grad=True)
    (ag.cumsum(t, axis=axis) * 2.0).sum().backward()
    assert t.grad.shape == shape
    if shape != () and axis is not None:  # PyTorch's cumsum needs a dim and a dimension

        def in_pytorch():
            tt = torch.tensor(x, requires_grad=True)
            (torch.cumsum(tt, dim=axis) * 2.0).sum().backward()
            return tt.grad

        np.testing.assert_allclose(np.asarray(t.grad), oracle(in_pytorch), rtol=1e-14)


def test_cumsum_bad_axis():
    with pytest.raises(ValueError, match="cumsum: axis 2 is out of bounds"):
        ag.cumsum(ag.tensor([[1.0]]), axis=2)


# ---- take_along_axis / gather --------------------------------------------------------------------------
def test_gather_repeated_indices_accumulate_like_torch():
    rng = case_rng()
    x = rng.standard_normal((3, 4))
    idx = np.array([[0, 0, 3], [1, 1, 1], [2, 0, 2]])
    t = ag.tensor(x, requires_grad=True)
    out = t.gather(1, idx)
    np.testing.assert_array_equal(np.asarray(out), np.take_along_axis(x, idx, 1))
    w = rng.standard_normal(idx.shape)
    (out * ag.tensor(w)).sum().backward()
    want = np.zeros_like(x)
    np.add.at(want, (np.arange(3)[:, None], idx), w)
    np.testing.assert_allclose(np.asarray(t.grad), want, rtol=1e-14)

    def in_pytorch():
        tt = torch.tensor(x, requires_grad=True)
        (tt.gather(1, torch.tensor(idx)) * torch.tensor(w)).sum().backward()
        return tt.grad

    np.testing.assert_allclose(np.asarray(t.grad), oracle(in_pytorch), rtol=1e-14)


def test_gather_smaller_index_and_dim0():
    x = RNG.standard_normal((4, 3))
    idx = np.array([[3, 0], [1, 2]])  # smaller than x off dim 0: allowed, as in PyTorch
    out = ag.gather(ag.tensor(x), 0, idx)
    np.testing.assert_array_equal(np.asarray(out), np.array([[x[3, 0], x[0, 1]], [x[1, 0], x[2, 1]]]))
    check_grads(lambda t: ag.gather(t, 0, idx), [x], RNG)


def test_take_along_axis_broadcasts_and_negative_indices():
    x = RNG.standard_normal((1, 5))
    idx = np.array([[-1], [0], [2]])
    out = ag.take_along_axis(ag.tensor(x), idx, axis=1)
    np.testing.assert_array_equal(np.asarray(out), np.take_along_axis(x, idx, 1))
    check_grads(lambda t: ag.take_along_axis(t, idx, 1), [x], RNG)
    flat = ag.take_along_axis(ag.tensor(x), np.array([4, 4, 0]), None)
    np.testing.assert_array_equal(np.asarray(flat), np.take_along_axis(x, np.array([4, 4, 0]), None))


@pytest.mark.parametrize("call,match", [
    (lambda: ag.gather(ag.tensor(np.ones((2, 3))), 1, np.array([[0, 3]])), r"gather: index \[3\] out of range"),
    (lambda: ag.gather(ag.tensor(np.ones((2, 3))), 1, np.array([[-1]])), r"gather: index \[-1\] out of range"),
    (lambda: ag.gather(ag.tensor(np.ones((2, 3))), 1, np.array([0])), "as many axes"),
    (lambda: ag.gather(ag.tensor(np.ones((2, 3))), 1, np.array([[0.5]])), "must be integers"),
    (lambda: ag.gather(ag.tensor(np.ones((2, 3))), 1, np.zeros((3, 1), int)), "larger than input"),
    (lambda: ag.take_along_axis(ag.tensor(np.ones((2, 3))), np.zeros((3, 1), int), 1), "do not broadcast"),
])
def test_gather_errors(call, match):
    with pytest.raises((ValueError, IndexError, TypeError), match=match):
        call()


# ---- masked_fill, repeat, tile ---------------------------------------------------------------------------
def test_masked_fill_values_and_gradient():
    x = RNG.standard_normal((2, 3))
    mask = np.array([True, False, True])
    t = ag.tensor(x, requires_grad=True)
    out = t.masked_fill(mask, -np.inf)
    np.testing.assert_array_equal(np.asarray(out), np.where(mask, -np.inf, x))
    ag.where(np.isfinite(np.asarray(out)), out, 0.0).sum().backward()
    np.testing.assert_array_equal(np.asarray(t.grad), np.where(mask, 0.0, 1.0) * np.ones((2, 3)))
    v = ag.tensor(2.0, requires_grad=True, dtype=np.float64)  # a 0-d tensor value gets the masked positions' sum
    ag.masked_fill(ag.tensor(x), mask, v).sum().backward()
    assert v.grad.item() == 4.0
    assert ag.tensor(np.ones(3, np.float32)).masked_fill(mask, 5.0).dtype == np.float32
    with pytest.raises(ValueError, match="does not broadcast"):
        t.masked_fill(np.ones((3, 2), bool), 0.0)
    with pytest.raises(TypeError, match="mask must be bool"):
        t.masked_fill(np.ones(3), 0.0)


@pytest.mark.parametrize("reps", [2, (2,), (2, 1), (1, 3), (2, 2, 2), (0, 2)])
def test_tile_matches_numpy_and_torch_repeat(reps):
    x = case_rng().standard_normal((2, 3))
    np.testing.assert_array_equal(np.asarray(ag.tile(ag.tensor(x), reps)), np.tile(x, reps))
    check_grads(lambda t: t.tile(reps), [x], RNG)
    if not isinstance(reps, int) and len(reps) >= 2:  # torch's repeat needs a count for every dimension
        np.testing.assert_array_equal(np.asarray(ag.tile(ag.tensor(x), reps)),
                                      oracle(lambda: torch.tensor(x).repeat(*reps)))


@pytest.mark.parametrize("repeats,axis", [(2, None), (3, 0), (2, 1), (0, 1), (np.array([1, 0, 2]), 1), (2, -1)])
def test_repeat_matches_numpy(repeats, axis):
    x = case_rng().standard_normal((2, 3))
    np.testing.assert_array_equal(np.asarray(ag.repeat(ag.tensor(x), repeats, axis)), np.repeat(x, repeats, axis))
    check_grads(lambda t: ag.repeat(t, repeats, axis), [x], RNG)

    def in_pytorch():
        r = torch.tensor(repeats) if isinstance(repeats, np.ndarray) else repeats
        return torch.repeat_interleave(torch.tensor(x), r, dim=axis)

    np.testing.assert_array_equal(np.asarray(ag.repeat_interleave(ag.tensor(x), repeats, axis)), oracle(in_pytorch))


# ---- argmax, topk ------------------------------------------------------------------------------------
def test_argmax_argmin_ties_nan_and_no_gradient():
    x = ag.tensor([[1.0, 3.0, 3.0], [np.nan, 0.0, 5.0]], requires_grad=True)
    a = x.argmax(axis=1)
    assert a.dtype == np.int64 and not a.requires_grad
    np.testing.assert_array_equal(np.asarray(a), [1, 0])  # first of the ties; nan is the largest
    np.testing.assert_array_equal(np.asarray(ag.argmin(x, axis=1, keepdims=True)), [[0], [0]])
    assert x.argmax().item() == 3
    assert ag.argmax(ag.tensor(7.0)).item() == 0
    with pytest.raises(ValueError, match="argmax: empty input"):
        ag.argmax(ag.tensor(np.zeros((2, 0))), axis=1)
    np.testing.assert_array_equal(np.asarray(a), oracle(lambda: torch.tensor(np.asarray(x)).argmax(dim=1)))


def test_topk_values_indices_ties_and_gradient():
    x = np.array([[1.0, 5.0, 5.0, 2.0, 5.0], [3.0, -1.0, 4.0, 4.0, 0.0]])
    t = ag.tensor(x, requires_grad=True)
    v, i = t.topk(3, axis=1)
    np.testing.assert_array_equal(np.asarray(v), [[5, 5, 5], [4, 4, 3]])
    np.testing.assert_array_equal(np.asarray(i), [[1, 2, 4], [2, 3, 0]])  # ties: lower index first
    assert i.dtype == np.int64
    v.sum().backward()
    np.testing.assert_array_equal(np.asarray(t.grad), [[0, 1, 1, 0, 1], [1, 0, 1, 1, 0]])
    small = ag.topk(ag.tensor(x), 2, axis=1, largest=False)
    np.testing.assert_array_equal(np.asarray(small.values), [[1, 2], [-1, 0]])
    # PyTorch's values agree always; its indices where there is no tie
    largest, smallest = oracle(lambda: (torch.tensor(x).topk(3, dim=1)[0], torch.tensor(x).topk(2, dim=1,
                                                                                              largest=False)[1]))
    np.testing.assert_array_equal(np.asarray(v), largest)
    np.testing.assert_array_equal(np.asarray(small.indices), smallest)


def test_topk_nan_is_largest_and_edge_k():
    x = ag.tensor([1.0, np.nan, 3.0, np.inf])
    v, i = x.topk(2)
    assert np.isnan(np.asarray(v)[0]) and np.asarray(v)[1] == np.inf
    np.testing.assert_array_equal(np.asarray(i), [1, 3])
    v, i = x.topk(2, largest=False)
    np.testing.assert_array_equal(np.asarray(i), [0, 2])
    np.testing.assert_array_equal(oracle(lambda: torch.tensor(np.asarray(x)).topk(2)[1]), [1, 3])
    assert x.topk(0).values.shape == (0,)
    with pytest.raises(ValueError, match="topk: k=5"):
        x.topk(5)
    assert ag.tensor([3, 1, 2]).topk(2).values.tolist() == [3, 2]


# ---- einsum ------------------------------------------------------------------------------------------
EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("ij->", [(2, 3)]), ("ij->ji", [(2, 3)]), ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(2,), (3,)]), ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]), ("i...->...", [(2, 3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("iij->j", [(2, 2, 3)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]), ("i,->i", [(3,), ()]), ("ij,kl->", [(2, 1), (1, 2)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM)
def test_einsum_matches_numpy_and_finite_differences(eq, shapes):
    rng = case_rng()
    arrays = [rng.standard_normal(s) for s in shapes]
    out = ag.einsum(eq, *[ag.tensor(a) for a in arrays])
    np.testing.assert_allclose(np.asarray(out), np.einsum(eq, *arrays), rtol=1e-12, atol=1e-12)
    check_grads(lambda *ts: ag.einsum(eq, *ts), [a.copy() for a in arrays], rng)
    w = rng.standard_normal(np.shape(np.asarray(out)))

    def in_pytorch():
        tt = [torch.tensor(a, requires_grad=True) for a in arrays]
        (torch.einsum(eq, *tt) * torch.tensor(w)).sum().backward()
        return [t.grad for t in tt]

    ts = [ag.tensor(a, requires_grad=True) for a in arrays]
    (ag.einsum(eq, *ts) * ag.tensor(w)).sum().backward()
    for a, b in zip(ts, oracle(in_pytorch)):
        np.testing.assert_allclose(np.asarray(a.grad), b, rtol=1e-12, atol=1e-12)


def test_einsum_second_order_and_size1_broadcast():
    a = RNG.standard_normal((3, 3))
    assert ag.gradgradcheck(lambda t, u: ag.einsum("ii,ij->j", t, u * u), [
        ag.tensor(a, requires_grad=True), ag.tensor(RNG.standard_normal((3, 2)), requires_grad=True)])
    x = ag.tensor(RNG.standard_normal((1, 3)), requires_grad=True)  # size-1 axes broadcast, as in PyTorch
    ag.einsum("ij,ij->ij", x, ag.tensor(np.ones((4, 3)))).sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad), np.full((1, 3), 4.0))


@pytest.mark.parametrize("eq,shapes,match", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "has sizes 3 and 4"), ("ij->ik", [(2, 3)], "name one no operand has"),
    ("ij,jk", [(2, 3)], "name 2 operand"), ("i$->i", [(2, 3)], "invalid subscripts"), ("ijk", [(2, 3)], "do not fit"),
    ("ii->i", [(2, 3)], "repeated in 'ii'"),
])
def test_einsum_errors(eq, shapes, match):
    with pytest.raises(ValueError, match=match):
        ag.einsum(eq, *[ag.tensor(np.ones(s)) for s in shapes])


# ---- erf ---------------------------------------------------------------------------------------------
def test_erf_accuracy_against_math_erf():
    x = np.concatenate([np.linspace(-7, 7, 40001), [0.0, -0.0, 1e-300, 1 - 1e-16, 1.0, 2.5, 4.0, 6.0, 5.999999]])
    got = np.asarray(ag.erf(ag.tensor(x)))
    want = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)) < 5e-16
    special = np.asarray(ag.erf(ag.tensor([np.inf, -np.inf, np.nan])))
    assert special[0] == 1 and special[1] == -1 and np.isnan(special[2])
    assert ag.erf(ag.tensor(np.ones(2, np.float32))).dtype == np.float32
    every = slice(None, None, 40)  # PyTorch's answers at 1,001 of the points (math.erf checked them all)
    np.testing.assert_allclose(got[every], oracle(lambda: torch.erf(torch.tensor(x[every]))), rtol=5e-16, atol=1e-300)
