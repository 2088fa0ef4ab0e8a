"""Indexing, scatter, sorting, scans and reductions (#20 items 5-6): the cases the boundary table cannot say.

Repeated scatter indices, ties, zeros at second order, 0-d and size-0 inputs, PyTorch's argument names, and
the errors (op, shapes, fix). PyTorch float64 is the oracle (its recorded answers when it is not installed:
tests/_oracle.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import autograd_mini as ag
from tests._oracle import case_rng, oracle

try:
    import torch
except ImportError:  # the comparisons below read PyTorch's recorded answers
    torch = None


def _both(fn_ag, fn_th, *arrays, second=True):
    """Values, gradients and Hessian-vector products of ``fn`` in both libraries, asserted equal."""
    xs = [ag.tensor(a, requires_grad=True) for a in arrays]
    out = fn_ag(*xs)
    weights = np.random.default_rng(3)
    w = weights.standard_normal(out.shape)
    vs = [weights.standard_normal(a.shape) for a in arrays]

    def theirs():
        ts = [torch.tensor(a, requires_grad=True) for a in arrays]
        want = fn_th(*ts)
        gt = torch.autograd.grad((want * torch.tensor(w)).sum(), ts, create_graph=True, allow_unused=True)
        if not second:
            return want, list(gt), None
        ht = sum((t * torch.tensor(v)).sum() for t, v in zip(gt, vs))
        ref = torch.autograd.grad(ht, ts, allow_unused=True) if ht.requires_grad else [None] * len(ts)
        return want, list(gt), list(ref)

    want, gt, ref = oracle(theirs)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, equal_nan=True)
    gs = ag.grad_of((out * ag.tensor(w)).sum(), xs, create_graph=True, allow_unused=True)
    for g, t in zip(gs, gt):
        np.testing.assert_allclose(g.numpy(), t, rtol=1e-10, atol=1e-14)
    if second:
        h = sum((g * ag.tensor(v)).sum() for g, v in zip(gs, vs))
        got = ag.grad_of(h, xs, allow_unused=True) if h.requires_grad else [None] * len(xs)  # linear in x
        for g, t in zip(got, ref):
            g = np.zeros(1) if g is None else g.numpy()
            t = np.zeros(1) if t is None else t
            np.testing.assert_allclose(g, t, rtol=1e-10, atol=1e-14)


def test_cumprod_with_zeros_matches_pytorch_to_second_order():
    rng = case_rng()
    x = rng.standard_normal((3, 5))
    x[0, 1] = x[1, 1] = x[1, 3] = x[2, 0] = x[2, 4] = 0.0
    _both(lambda t: ag.cumprod(t, 1), lambda t: torch.cumprod(t, 1), x)
    _both(lambda t: ag.cumprod(t, dim=0), lambda t: torch.cumprod(t, 0), x)


@pytest.mark.parametrize("zeros", [[2], [1, 4], [0, 3, 5], [0, 1, 2, 3, 4, 5], [5], [0]], ids=str)
def test_cumprod_at_one_two_and_all_zeros_matches_pytorch_to_second_order(zeros):
    # one, two, three zeros per slice and all zeros: PyTorch's gradient and Hessian-vector product (its O(n^2)
    # create_graph path), ours from the O(n) scan; rows 1-2 keep the zeros at other places along axis 0
    x = case_rng().standard_normal((3, 6))
    x[0, zeros] = 0.0
    x[1, [z - 1 for z in zeros if z]] = 0.0
    _both(lambda t: ag.cumprod(t, 1), lambda t: torch.cumprod(t, 1), x)
    _both(lambda t: ag.cumprod(t, 0) ** 2, lambda t: torch.cumprod(t, 0) ** 2, x)


def test_cumprod_with_zeros_is_exact_at_third_order():
    x = ag.tensor([[1.5, 0.0, -2.0, 0.0, 0.5], [0.0, 0.0, 0.0, 1.0, 2.0]], requires_grad=True)

    def second(t):
        (g,) = ag.grad_of((ag.cumprod(t, 1) ** 2).sum(), [t], create_graph=True)
        return g

    assert ag.gradgradcheck(second, [x])


def test_scatter_reduce_prod_with_zeros_and_mean_to_second_order():
    rng = case_rng()
    x, src = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    x[0, 0] = src[0, 1] = src[1, 3] = 0.0  # PyTorch refuses the second order with 2 zeros in one group
    idx = np.array([[0, 2, 1, 0], [1, 2, 2, 0]])
    for reduce in ("prod", "mean", "sum"):
        for include_self in (True, False):
            _both(lambda a, s, r=reduce, i=include_self: ag.scatter_reduce(a, 0, idx, s, r, include_self=i) ** 2,
                  lambda a, s, r=reduce, i=include_self: torch.scatter_reduce(a, 0, torch.tensor(idx), s, r,
                                                                              include_self=i) ** 2, x, src)


def test_scatter_reduce_prod_with_two_zeros_in_a_group_to_second_order():
    x = ag.tensor([0.0, 2.0, 3.0], requires_grad=True)
    src = ag.tensor([0.0, 0.5, 0.0, 4.0], requires_grad=True)
    assert ag.gradgradcheck(lambda a, s: ag.scatter_reduce(a, 0, [0, 0, 1, 1], s, "prod").sin(), [x, src])
    out = ag.scatter_reduce(x, 0, [0, 0, 1, 1], src, "prod")
    out.sum().backward()
    np.testing.assert_array_equal(out.numpy(), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(src.grad, [0.0, 0.0, 8.0, 0.0])  # d/dsrc[2] = 2 * 4, the rest have a 0 besides


def test_scatter_reduce_amax_ties_share_the_gradient():
    x = ag.tensor([1.0, 5.0, 0.0], requires_grad=True)
    src = ag.tensor([5.0, 5.0, 2.0], requires_grad=True)
    out = ag.scatter_reduce(x, 0, [1, 1, 2], src, "amax")
    out.sum().backward()
    np.testing.assert_array_equal(out.numpy(), [1.0, 5.0, 2.0])
    np.testing.assert_allclose(x.grad, [1.0, 1 / 3, 0.0])  # x[1] ties with both 5s
    np.testing.assert_allclose(src.grad, [1 / 3, 1 / 3, 1.0])


def test_scatter_reduce_amax_without_self_gives_the_whole_gradient_to_src():
    # PyTorch 2.13 still counts the excluded x as a tie (src gets 1/2 here, and x 0): ours is the derivative
    x = ag.tensor([0.0, 2.0], requires_grad=True)
    src = ag.tensor([0.0, 5.0], requires_grad=True)
    ag.scatter_reduce(x, 0, [0, 1], src, "amax", include_self=False).sum().backward()
    np.testing.assert_array_equal(src.grad, [1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


def test_scatter_with_repeated_indices_keeps_the_last_write_and_its_gradient():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    src = ag.tensor([10.0, 20.0, 30.0], requires_grad=True)
    out = ag.scatter(x, 0, [0, 0, 2], src)
    np.testing.assert_array_equal(out.numpy(), [20.0, 2.0, 30.0])
    np.testing.assert_array_equal(out.numpy(), oracle(lambda: torch.zeros(3).scatter(0, torch.tensor([0, 0, 2]),
                                                                             torch.tensor([10.0, 20, 30])))
                                  + [0, 2, 0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(src.grad, [0.0, 1.0, 1.0])  # PyTorch's: [1, 1, 1] (the overwritten one too)


def test_scatter_add_and_index_add_accumulate_repeats():
    rng = case_rng()
    x = rng.standard_normal((3, 4))
    src = rng.standard_normal((3, 4))
    idx = np.array([[0, 0, 2, 2], [0, 1, 1, 1], [2, 2, 2, 0]])
    _both(lambda a, s: ag.scatter_add(a, 0, idx, s) ** 2,
          lambda a, s: torch.scatter_add(a, 0, torch.tensor(idx), s) ** 2, x, src)
    _both(lambda a, s: a.index_add(1, np.array([3, 3, 0]), s[:, :3], alpha=-2.0) ** 2,
          lambda a, s: a.index_add(1, torch.tensor([3, 3, 0]), s[:, :3], alpha=-2.0) ** 2, x, src)


def test_sort_is_stable_and_puts_nan_where_pytorch_does():
    x = np.array([[2.0, np.nan, 1.0, 2.0, -np.inf, 1.0]])
    for descending in (False, True):
        v, i = ag.sort(x, -1, descending)
        tv, ti = oracle(lambda d=descending: torch.sort(torch.tensor(x), dim=-1, descending=d, stable=True),
                        key=f"descending={descending}")
        np.testing.assert_array_equal(v.numpy(), tv)
        np.testing.assert_array_equal(i.numpy(), ti)
    np.testing.assert_array_equal(ag.argsort(x, axis=1).numpy(), np.argsort(x, axis=1, kind="stable"))


def test_median_is_the_lower_median_and_no_dim_shares_ties():
    rng = case_rng()
    x = ag.tensor([3.0, 1.0, 2.0, 2.0, 4.0, 2.0], requires_grad=True)
    m = ag.median(x)
    m.backward()
    assert m.item() == 2.0 == oracle(lambda: float(torch.median(torch.tensor([3.0, 1.0, 2.0, 2.0, 4.0, 2.0]))))
    np.testing.assert_allclose(x.grad, [0, 0, 1 / 3, 1 / 3, 0, 1 / 3])
    _both(lambda t: ag.median(t, 1, keepdim=True).values, lambda t: torch.median(t, 1, keepdim=True).values,
          rng.standard_normal((3, 4)))
    assert np.isnan(ag.median(ag.tensor([])).item())


def test_logcumsumexp_is_stable_far_apart_and_at_infinities():
    rng = case_rng()
    x = np.array([-1000.0, 0.0, 1000.0, -np.inf, 5.0])
    np.testing.assert_allclose(ag.logcumsumexp(x, 0).numpy(), oracle(lambda: torch.logcumsumexp(torch.tensor(x), 0)))
    _both(lambda t: ag.logcumsumexp(t, 1), lambda t: torch.logcumsumexp(t, 1), rng.standard_normal((2, 5)) * 30)
    with ag.detect_anomaly():
        ag.logcumsumexp(ag.tensor(rng.standard_normal(6), requires_grad=True), 0).sum().backward()


def test_logcumsumexp_equals_its_composite_to_second_order():
    """The primitive against each prefix's logsumexp (O(n^2), no derivative code of its own)."""
    rng = case_rng()
    x = rng.standard_normal((2, 6)) * 5
    tri = np.tri(6, dtype=bool)

    def composite(t):
        rows = ag.broadcast_to(t.reshape(2, 1, 6), (2, 6, 6))
        return ag.logsumexp(ag.where(tri, rows, -np.inf), -1)

    def first_and_second(f):
        xs = ag.tensor(x, requires_grad=True)
        g = ag.grad_of((f(xs) * ag.tensor(np.cos(np.arange(12.0)).reshape(2, 6))).sum(), [xs], create_graph=True)[0]
        return g.numpy(), ag.grad_of((g * g).sum(), [xs])[0].numpy()

    (g, h), (g_want, h_want) = first_and_second(lambda t: ag.logcumsumexp(t, 1)), first_and_second(composite)
    np.testing.assert_allclose(g, g_want, rtol=1e-12)
    np.testing.assert_allclose(h, h_want, rtol=1e-10, atol=1e-13)
    assert ag.gradgradcheck(lambda t: ag.logcumsumexp(t, 0), [ag.tensor(x, requires_grad=True)])


def test_cummax_cummin_follow_pytorch_at_ties_and_nan():
    x = np.array([1.0, 3.0, 3.0, np.nan, 2.0, np.nan, 5.0])
    for name in ("cummax", "cummin"):
        v, i = getattr(ag, name)(x, 0)
        tv, ti = oracle(lambda name=name: getattr(torch, name)(torch.tensor(x), 0), key=name)
        np.testing.assert_array_equal(v.numpy(), tv)
        np.testing.assert_array_equal(i.numpy(), ti)


def test_norms_and_their_gradient_at_zero():
    rng = case_rng()
    x = rng.standard_normal((3, 4))
    for p in (1, 2, float("inf"), -float("inf"), 3, 0.5, "fro"):
        _both(lambda t, p=p: ag.norm(t, p, dim=1), lambda t, p=p: torch.norm(t, p, 1), x, second=False)
        _both(lambda t, p=p: t.norm(p), lambda t, p=p: t.norm(p), x, second=False)
    z = ag.tensor(np.zeros(3), requires_grad=True)
    ag.norm(z).backward()
    np.testing.assert_array_equal(z.grad, [0.0, 0.0, 0.0])  # PyTorch's
    with pytest.raises(ValueError, match="matrix_norm"):
        ag.norm(x, "nuc")


def test_var_std_mean_follow_pytorch_defaults_and_no_dof_is_inf():
    rng = case_rng()
    x = rng.standard_normal((3, 4))
    for name in ("var_mean", "std_mean"):
        ours = getattr(ag, name)

        def theirs(name=name):
            f = getattr(torch, name)
            return f(torch.tensor(x), 1), f(torch.tensor(x), dim=0, correction=0, keepdim=True)

        by_dim, kept = oracle(theirs, key=name)
        for got, want in zip(ours(x, 1), by_dim):
            np.testing.assert_allclose(got.numpy(), want)
        for got, want in zip(ours(x, dim=0, correction=0, keepdim=True), kept):
            np.testing.assert_allclose(got.numpy(), want)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ag.var([1.0, 2.0], ddof=3).item() == np.inf == np.var([1.0, 2.0], ddof=3)
        assert np.isnan(ag.var([1.0], ddof=1).item()) and np.isnan(ag.std([1.0], ddof=1).item())


def test_reductions_take_axis_0_and_minus_1_on_a_0d_tensor():
    x = ag.tensor(2.5, requires_grad=True)
    for f in (ag.sum, ag.mean, ag.amax, ag.amin, ag.prod, ag.logsumexp, ag.max, ag.count_nonzero):
        for axis in (0, -1):
            assert f(x, axis).shape == () and float(f(x, axis).numpy()) == (1.0 if f is ag.count_nonzero else 2.5)
    assert ag.sum(x, dim=0, keepdim=True).shape == ()
    with pytest.raises(ValueError, match="out of bounds"):
        ag.sum(x, 1)


def test_sum_and_mean_take_a_dtype():
    x = ag.tensor([1, 2, 4])
    assert ag.sum(x, dtype=np.float32).dtype == np.float32
    assert ag.mean(x, dtype="float64").item() == pytest.approx(7 / 3)
    y = ag.tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    ag.sum(y, dtype=np.float64).backward()
    assert y.grad.dtype == np.float32


def test_pieces_of_a_tensor():
    x = np.arange(10.0).reshape(2, 5)
    assert [c.shape for c in ag.chunk(x, 3, 1)] == oracle(lambda: [tuple(c.shape) for c in
                                                                   torch.chunk(torch.tensor(x), 3, 1)])
    assert [c.shape for c in ag.chunk(np.zeros((0, 2)), 2)] == [(0, 2)]
    assert [u.numpy().tolist() for u in ag.unbind(x, 1)] == [list(c) for c in x.T]
    np.testing.assert_array_equal(ag.narrow(x, -1, -2, 2).numpy(), x[:, 3:])
    np.testing.assert_array_equal(ag.movedim(np.zeros((2, 3, 4)), 0, -1).shape, (3, 4, 2))
    np.testing.assert_array_equal(ag.tensor(x).unfold(1, 2, 2).numpy(), oracle(lambda: torch.tensor(x).unfold(1, 2, 2)))
    np.testing.assert_array_equal(ag.roll(x, (1, 2), (0, 1)).numpy(), np.roll(x, (1, 2), (0, 1)))
    np.testing.assert_array_equal(ag.flip(x, axis=1).numpy(), np.flip(x, 1))
    np.testing.assert_array_equal(ag.tensor(x).flip(0, 1).numpy(), np.flip(x))
    np.testing.assert_array_equal(ag.flip(x, [1]).numpy(), np.flip(x, 1))
    np.testing.assert_array_equal(ag.nonzero(x).numpy(), oracle(lambda: torch.nonzero(torch.tensor(x))))
    assert ag.nonzero(ag.tensor(0.0)).shape == (0, 0) and ag.nonzero(ag.tensor(3.0)).shape == (1, 0)
    np.testing.assert_array_equal(ag.one_hot(np.array([2, 0]), 3).numpy(), [[0, 0, 1], [1, 0, 0]])


def test_diagonals_match_numpy_and_pytorch():
    rng = case_rng()
    x = rng.standard_normal((3, 4, 5))
    for offset in (-3, -1, 0, 2, 6):
        np.testing.assert_array_equal(ag.diagonal(x, offset, 2, 0).numpy(), np.diagonal(x, offset, 2, 0))
        np.testing.assert_array_equal(ag.trace(x[0], offset).numpy(), np.trace(x[0], offset))
        np.testing.assert_array_equal(ag.diag(x[0, 0], offset).numpy(), np.diag(x[0, 0], offset))
    _both(lambda t: ag.diag_embed(t, 1, 0, 2) ** 2, lambda t: torch.diag_embed(t, 1, 0, 2) ** 2, x[0])


@pytest.mark.parametrize("call,error,words", [
    (lambda: ag.scatter_add(np.zeros(3), 0, [3], np.ones(1)), IndexError, "out of range for axis 0 of size 3"),
    (lambda: ag.scatter(np.zeros((2, 2)), 0, [[0, 1, 0]], np.ones((1, 3))), ValueError, "no larger than"),
    (lambda: ag.scatter(np.zeros(3), 0, [0]), TypeError, "give src"),
    (lambda: ag.scatter_reduce(np.zeros(3), 0, [0], np.ones(1), "max"), ValueError, "amax"),
    (lambda: ag.index_select(np.zeros((2, 3)), 1, [[0]]), ValueError, "vector"),
    (lambda: ag.index_select(np.zeros((2, 3)), 1, [-1]), IndexError, "out of range"),
    (lambda: ag.index_add(np.zeros((2, 3)), 1, [0], np.ones((2, 2))), ValueError, "must be (2, 1)"),
    (lambda: ag.one_hot(np.array([0.0])), TypeError, "integers"),
    (lambda: ag.one_hot(np.array([3]), 3), IndexError, "out of range"),
    (lambda: ag.narrow(np.zeros(3), 0, 4, 0), IndexError, "start 4"),
    (lambda: ag.narrow(np.zeros(3), 0, 1, 3), ValueError, "exceeds"),
    (lambda: ag.chunk(np.zeros(3), 0), ValueError, "positive"),
    (lambda: ag.unbind(ag.tensor(1.0)), ValueError, "0-d"),
    (lambda: ag.diagonal(np.zeros(3)), ValueError, "ag.diag"),
    (lambda: ag.diag(np.zeros((2, 2, 2))), ValueError, "diag_embed"),
    (lambda: ag.movedim(np.zeros((2, 3)), (0, 1), 0), ValueError, "as many"),
    (lambda: ag.roll(np.zeros(3), (1, 2), 0), ValueError, "same length"),
    (lambda: ag.tensor(np.zeros(3)).unfold(0, 4, 1), ValueError, "size 4"),
    (lambda: ag.masked_select(np.zeros(3), np.zeros(3)), TypeError, "bool"),
    (lambda: ag.masked_select(np.zeros(3), np.zeros(2, dtype=bool)), ValueError, "broadcast"),
    (lambda: ag.median(np.zeros((0, 2)), 0), IndexError, "empty"),
    (lambda: ag.norm(np.array([1, 2])), TypeError, "float"),
    (lambda: ag.norm(np.zeros(0), float("inf")), ValueError, "empty"),
    (lambda: ag.var_mean(np.zeros(3), ddof=1, correction=1), TypeError, "not both"),
])
def test_errors_name_the_op_and_the_fix(call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()
