"""The names PyTorch users type (#20): Tensor.view/permute/unsqueeze/flatten/expand/repeat/size/dim/numel/mT,
``dim=``/``keepdim=`` beside ``axis=``/``keepdims=``, creation functions, tests and logic, tril/triu/meshgrid.

Values and gradients against PyTorch float64 (the ``PAIRS`` table: one formula per library; PyTorch's answers live
when it is installed, else recorded: tests/_oracle.py); the literal expectations always run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autograd_mini as ag
from tests._oracle import oracle

try:
    import torch
except ImportError:
    torch = None

X = np.arange(24.0).reshape(2, 3, 4) - 11.5
ABOVE = np.triu(np.ones((3, 4), dtype=bool), 1)


# ---- the same expression in both libraries: name -> (ours, PyTorch's), each on a float64 leaf shaped like X ----
PAIRS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "view": (lambda t: t.view(4, -1), lambda t: t.view(4, -1)),
    "permute": (lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    "permute_tuple": (lambda t: ag.permute(t, (1, 2, 0)), lambda t: torch.permute(t, (1, 2, 0))),
    "unsqueeze": (lambda t: t.unsqueeze(-1), lambda t: t.unsqueeze(-1)),
    "flatten_range": (lambda t: t.flatten(1), lambda t: t.flatten(1)),
    "flatten_middle": (lambda t: t.flatten(0, 1), lambda t: t.flatten(0, 1)),
    "expand": (lambda t: t[:, :1].expand(5, -1, 3, -1), lambda t: t[:, :1].expand(5, -1, 3, -1)),
    "repeat": (lambda t: t.repeat(2, 1, 1, 2), lambda t: t.repeat(2, 1, 1, 2)),
    "repeat_interleave": (lambda t: t.repeat_interleave(2, dim=1), lambda t: t.repeat_interleave(2, dim=1)),
    "mT": (lambda t: t.mT, lambda t: t.mT),
    "cat": (lambda t: ag.cat([t, t * 2], dim=-1), lambda t: torch.cat([t, t * 2], dim=-1)),
    "clamp": (lambda t: ag.clamp(t, -3.5, 4.5), lambda t: torch.clamp(t, -3.5, 4.5)),
    "clamp_method": (lambda t: t.clamp(min=0.5), lambda t: t.clamp(min=0.5)),
    "sum_dim": (lambda t: t.sum(dim=1, keepdim=True), lambda t: t.sum(dim=1, keepdim=True)),
    "mean_dims": (lambda t: ag.mean(t, dim=(0, 2)), lambda t: torch.mean(t, dim=(0, 2))),
    "amax_dim": (lambda t: t.max(dim=-1), lambda t: t.amax(dim=-1)),
    "var_correction": (lambda t: t.var(dim=1, correction=1), lambda t: t.var(dim=1, correction=1)),
    "std_correction0": (lambda t: ag.std(t, dim=2, correction=0), lambda t: torch.std(t, dim=2, correction=0)),
    "logsumexp_dim": (lambda t: t.logsumexp(dim=0), lambda t: t.logsumexp(dim=0)),
    "softmax_dim": (lambda t: ag.softmax(t / 10, dim=1), lambda t: torch.softmax(t / 10, dim=1)),
    "cumsum_dim": (lambda t: t.cumsum(dim=2), lambda t: t.cumsum(dim=2)),
    "tril": (lambda t: t.tril(1), lambda t: t.tril(1)),
    "triu_batched": (lambda t: ag.triu(t, -1), lambda t: torch.triu(t, -1)),
    "tril_inf_above": (lambda t: ag.tril(ag.where(ABOVE, np.inf, t)), lambda t: torch.tril(torch.where(
        torch.tensor(ABOVE), np.inf, t))),  # zeros above the diagonal, not inf * 0 = nan
    "meshgrid_ij": (lambda t: ag.meshgrid(t[0, 0], t[1, :, 0], indexing="ij")[0] *
                    ag.meshgrid(t[0, 0], t[1, :, 0], indexing="ij")[1],
                    lambda t: torch.meshgrid(t[0, 0], t[1, :, 0], indexing="ij")[0] *
                    torch.meshgrid(t[0, 0], t[1, :, 0], indexing="ij")[1]),
    "meshgrid_xy": (lambda t: ag.stack(ag.meshgrid(t[0, 0], t[1, :, 1], t[0, 1, :2], indexing="xy")),
                    lambda t: torch.stack(torch.meshgrid(t[0, 0], t[1, :, 1], t[0, 1, :2], indexing="xy"))),
    "where_scalar": (lambda t: ag.where(t > 0, t, 0.5), lambda t: torch.where(t > 0, t, 0.5)),
    "where_method": (lambda t: t.where(t < 0, -t * 2), lambda t: t.where(t < 0, -t * 2)),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_pytorch_spelling_matches_pytorch_to_second_order(name: str) -> None:
    ours, theirs = PAIRS[name]
    a = ag.tensor(X, requires_grad=True)
    got = ours(a)
    w = np.cos(np.arange(got.size)).reshape(got.shape)
    v = np.sin(np.arange(X.size)).reshape(X.shape)

    def torch_side() -> tuple:
        """PyTorch's value, gradient of a projection, and that gradient's gradient (None when it is constant)."""
        t = torch.tensor(X, requires_grad=True)
        want = theirs(t)
        (gt,) = torch.autograd.grad((want * torch.tensor(w)).sum(), [t], create_graph=True)
        if not gt.requires_grad:
            return want, gt, None
        (ht,) = torch.autograd.grad((gt * torch.tensor(v)).sum(), [t], allow_unused=True)
        return want, gt, 0.0 if ht is None else ht

    want, gt, ht = oracle(torch_side)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    (ga,) = ag.grad_of((got * ag.tensor(w)).sum(), [a], create_graph=True)
    np.testing.assert_allclose(ga.numpy(), gt, rtol=1e-12, equal_nan=True)
    if ht is not None:  # second order: the softmax/logsumexp/var ones are not linear
        (ha,) = ag.grad_of((ga * ag.tensor(v)).sum(), [a], allow_unused=True)
        np.testing.assert_allclose(0 if ha is None else ha.numpy(), ht, rtol=1e-10, atol=1e-14)


# ---- the Tensor's sizes --------------------------------------------------------------------------------
def test_size_is_numpys_count_and_pytorchs_call() -> None:
    t = ag.zeros(2, 3)
    assert t.size == 6 and isinstance(t.size, int)
    assert t.size() == (2, 3) and t.size(-1) == 3 and t.size(0) == 2
    assert t.dim() == t.ndim == 2 and t.numel() == 6
    with pytest.raises(IndexError, match=r"dim 2 is out of range for shape \(2, 3\)"):
        t.size(2)
    assert ag.tensor(1.0).size() == () and ag.tensor(1.0).numel() == 1


# ---- numpy's names next to PyTorch's, where they mean different things ------------------------------
def test_repeat_is_pytorchs_on_tensors_and_numpys_as_a_function() -> None:
    t = ag.tensor([1, 2])
    assert t.repeat(2).tolist() == [1, 2, 1, 2]                           # PyTorch: tile
    assert ag.repeat(t, 2).tolist() == [1, 1, 2, 2]                       # numpy's np.repeat
    assert t.repeat_interleave(2).tolist() == [1, 1, 2, 2]                # PyTorch's name for numpy's repeat
    assert ag.tile(t, 2).tolist() == t.repeat(2).tolist()
    with pytest.raises(ValueError, match=r"needs one per axis \(2\), or use ag.tile\(x, \(3,\)\)"):
        ag.zeros(2, 2).repeat(3)
    assert ag.zeros(2).repeat(3, 1).shape == (3, 2)                       # new leading axes, as PyTorch


def test_dim_keepdim_beside_axis_keepdims() -> None:
    t = ag.tensor(X)
    assert ag.sum(t, dim=1, keepdim=True).shape == ag.sum(t, axis=1, keepdims=True).shape == (2, 1, 4)
    assert t.argmax(dim=2).shape == (2, 3) and t.any(dim=0).shape == (3, 4)
    assert t.topk(2, dim=0).values.shape == (2, 3, 4)
    assert ag.stack([t, t], dim=1).shape == (2, 2, 3, 4) and ag.concatenate([t, t], dim=0).shape == (4, 3, 4)
    with pytest.raises(TypeError, match="give axis= or dim=, not both"):
        t.sum(axis=0, dim=1)
    # and the other way: PyTorch's cat takes numpy's axis= too
    np.testing.assert_array_equal(ag.cat([t, t], axis=1).numpy(), np.concatenate([X, X], axis=1))
    np.testing.assert_array_equal(ag.cat([t, t], axis=-1).numpy(), ag.cat([t, t], -1).numpy())
    assert ag.cat([t, t]).shape == ag.cat([t, t], dim=0).shape == (4, 3, 4)
    with pytest.raises(TypeError, match="cat: give dim= or axis=, not both"):
        ag.cat([t, t], 1, axis=1)


@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_with_dim_ask_which_estimate(op: str) -> None:
    t = ag.tensor(X)
    with pytest.raises(TypeError, match=r"unbiased estimate \(correction=1\).*ddof=0"):
        getattr(t, op)(dim=1)
    np.testing.assert_allclose(getattr(t, op)(dim=1, correction=1).numpy(), getattr(X, op)(axis=1, ddof=1))
    np.testing.assert_allclose(getattr(ag, op)(t, dim=1, ddof=0).numpy(), getattr(X, op)(axis=1))


def test_split_with_dim_names_the_difference() -> None:
    with pytest.raises(TypeError, match="pieces of size 2"):
        ag.split(ag.zeros(4), 2, dim=0)


def test_shape_errors_name_the_op_shapes_and_fix() -> None:
    t = ag.zeros(2, 3)
    with pytest.raises(ValueError, match=r"permute: 1 dims \(1,\) for a tensor of shape \(2, 3\)"):
        t.permute(1)
    with pytest.raises(ValueError, match="permutation"):
        t.permute(0, 0)
    with pytest.raises(ValueError, match="-1 is not allowed for the new leading axes"):
        t.expand(-1, 2, 3)
    with pytest.raises(ValueError, match="give at least 2"):
        t.expand(3)
    with pytest.raises(ValueError):
        t.expand(4, 3)
    with pytest.raises(ValueError, match="start_dim 1 comes after end_dim 0"):
        t.flatten(1, 0)
    with pytest.raises(ValueError, match="out of bounds"):
        t.unsqueeze(3)
    with pytest.raises(ValueError, match=r"mT: needs at least 2 dims"):
        _ = ag.zeros(3).mT
    with pytest.raises(ValueError, match=r"tril: needs a matrix"):
        ag.tril(ag.zeros(3))


def test_flatten_of_0d_and_view_shares_memory_like_reshape() -> None:
    assert ag.tensor(2.0).flatten().shape == (1,) and ag.flatten(ag.tensor(2.0), 0, -1).shape == (1,)
    assert ag.zeros(2, 0, 3).flatten(1).shape == (2, 0)
    t = ag.arange(6.0)
    assert np.shares_memory(t.view(2, 3).numpy(), t.numpy())


# ---- creation ----------------------------------------------------------------------------------------
def test_full_takes_its_dtype_from_the_value_as_pytorch() -> None:
    assert ag.full((2,), 3).dtype == np.int64 and ag.full((2,), 1.5).dtype == ag.get_default_dtype()
    assert ag.full(2, True).dtype == bool and ag.full((2, 2), 7, dtype="float64").dtype == np.float64
    assert ag.full_like(ag.zeros(2, dtype="int64"), 3).tolist() == [3, 3]
    assert ag.empty(2, 3).tolist() == [[0.0] * 3] * 2 and ag.empty_like(ag.ones(2)).tolist() == [0.0, 0.0]
    with pytest.raises(TypeError, match="fill_value must be a number"):
        ag.full(2, "a")


@pytest.mark.parametrize("args", [(0, 1, 5), (-2.0, 3.0, 7), (1, 1, 1), (0, 1, 0), (3, -1, 4)])
def test_linspace_and_logspace_match_pytorch(args: tuple) -> None:
    lin, log = oracle(lambda: (torch.linspace(*args, dtype=torch.float64),
                               torch.logspace(*args, base=2.0, dtype=torch.float64)))
    np.testing.assert_allclose(ag.linspace(*args, dtype="float64").numpy(), lin, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(ag.logspace(*args, base=2.0, dtype="float64").numpy(), log, rtol=1e-14)
    assert ag.linspace(*args).dtype == ag.get_default_dtype()


def test_eye_randint_like_and_indices() -> None:
    assert ag.eye(2, 3).tolist() == [[1, 0, 0], [0, 1, 0]] and ag.eye(0).shape == (0, 0)
    with pytest.raises(ValueError, match="eye: n must be a non-negative int"):
        ag.eye(-1)
    r = ag.randint(3, 7, (1000,), seed=0)
    assert r.dtype == np.int64 and r.numpy().min() == 3 and r.numpy().max() == 6
    assert ag.randint(5, (2, 3), seed=1).shape == (2, 3)
    assert ag.randint(5, size=(4,), seed=2).tolist() == ag.randint(0, 5, (4,), seed=2).tolist()
    with pytest.raises(ValueError, match="high"):
        ag.randint(3, 3, (2,))
    with pytest.raises(TypeError, match=r"randint\(low, high, size\)"):
        ag.randint(3)
    x = ag.zeros(2, 3, dtype="float64")
    assert ag.rand_like(x, seed=0).dtype == np.float64 and ag.randn_like(x, seed=0).shape == (2, 3)
    with pytest.raises(TypeError, match="needs a floating tensor"):
        ag.rand_like(ag.zeros(2, dtype="int64"))


@pytest.mark.parametrize("rc", [(3, 4, 0), (3, 4, 1), (4, 3, -1), (0, 0, 0), (1, 5, -3), (5, 2, 10)])
def test_tril_triu_indices_match_pytorch(rc: tuple) -> None:
    wants = oracle(lambda: (torch.tril_indices(*rc), torch.triu_indices(*rc)))
    for ours, want in zip((ag.tril_indices, ag.triu_indices), wants):
        got = ours(*rc)
        assert got.shape == want.shape and got.dtype == np.int64
        np.testing.assert_array_equal(got.numpy(), want)


def test_meshgrid_asks_for_the_indexing() -> None:
    with pytest.raises(TypeError, match="indexing='ij'.*indexing='xy'"):
        ag.meshgrid(ag.zeros(2), ag.zeros(3))
    (g,) = ag.meshgrid(ag.arange(3))
    assert g.tolist() == [0, 1, 2]
    gx, gy = ag.meshgrid(ag.arange(2), ag.arange(3), indexing="xy")
    nx, ny = np.meshgrid(np.arange(2), np.arange(3))
    assert gx.tolist() == nx.tolist() and gy.tolist() == ny.tolist()
    with pytest.raises(ValueError, match="0-d or 1-d"):
        ag.meshgrid(ag.zeros((2, 2)), indexing="ij")


# ---- tests and logic ------------------------------------------------------------------------------------
def test_logic_results_are_constants() -> None:
    x = ag.tensor([np.nan, np.inf, -1.0, 0.0], requires_grad=True)
    for out in (ag.isnan(x), x.isinf(), x.isfinite(), ag.isclose(x, 0.0), x.any(), ag.all(x, dim=0),
                ag.logical_not(x), ag.logical_and(x, x > 0)):
        assert out.dtype == bool and not out.requires_grad
    assert ag.isnan(x).tolist() == [True, False, False, False] and ag.isfinite(x).tolist() == [False, False, True, True]
    assert ag.isclose(x, x, equal_nan=True).tolist() == [True] * 4 and ag.allclose(x, x, equal_nan=True) is True
    assert ag.any(ag.zeros(0)).item() is False and ag.all(ag.zeros(0)).item() is True
    assert ag.any(ag.tensor(1.0), dim=0).item() is True
    with pytest.raises(ValueError, match="out of bounds"):
        ag.all(ag.tensor(1.0), dim=1)


def test_bitwise_operators_on_integer_and_bool_tensors() -> None:
    a, b = ag.tensor([12, 10, -3]), ag.tensor([10, 6, 1])
    assert (a & b).tolist() == [8, 2, 1] and (a | b).tolist() == [14, 14, -3] and (a ^ b).tolist() == [6, 12, -4]
    assert (~a).tolist() == [-13, -11, 2] and (a << 1).tolist() == [24, 20, -6] and (a >> 1).tolist() == [6, 5, -2]
    assert (3 & a).tolist() == [0, 2, 1] and (1 << b).tolist() == [1024, 64, 2]
    assert a.bitwise_xor(b).tolist() == (a ^ b).tolist() and a.bitwise_not().tolist() == (~a).tolist()
    assert a.bitwise_left_shift(b).tolist() == (a << b).tolist() and a.bitwise_right_shift(1).tolist() == [6, 5, -2]
    m = ag.tensor([True, False])
    assert (~m).tolist() == [False, True] and (m | ~m).tolist() == [True, True] and (m & 1).dtype == np.int64
    with pytest.raises(TypeError, match=r"bitwise_and: needs integer or bool tensors, got dtype float32"):
        ag.ones(2) & 1
    with pytest.raises(ValueError, match=r"bitwise_or: shapes \[\(2,\), \(3,\)\]"):
        ag.tensor([1, 2]) | ag.tensor([1, 2, 3])


def test_where_with_two_python_numbers_has_pytorchs_dtype() -> None:
    c = np.array([True, False])
    for a, b in [(1.0, 0.0), (1, 0), (2, 0.5), (True, 2.5)]:
        got, want = ag.where(c, a, b), oracle(lambda a=a, b=b: torch.where(torch.tensor(c), a, b), key=f"{a!r},{b!r}")
        assert got.dtype == want.dtype, (a, b)
        np.testing.assert_array_equal(got.numpy(), want)
