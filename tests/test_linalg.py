"""ag.linalg: values against numpy, first and second derivatives against finite differences (always) and
PyTorch float64 (its recorded answers when it is not installed: tests/_oracle.py), batches, size-0 batches,
dtypes, degenerate points and bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autograd_mini as ag
from tests._oracle import case_rng, oracle

RNG = np.random.default_rng(7)


def _spd(rng: np.random.Generator, *batch: int, n: int = 3) -> np.ndarray:
    x = rng.standard_normal(batch + (n, n))
    return x @ x.swapaxes(-1, -2) + n * np.eye(n)


def _well(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Random matrices away from singular: a shifted diagonal."""
    a = rng.standard_normal(shape)
    return a + 3 * np.eye(shape[-2], shape[-1])


def _sym(L: Any, x: Any) -> Any:
    return x + x.swapaxes(-1, -2)


# name -> (formula over L (ag or torch, under the same names), inputs from a generator). Formulas on U, V are
# invariant under the sign of each singular/eigen vector (their squares, U_k Vh_k): they compare across LAPACK builds.
CASES: dict[str, tuple[Callable[..., Any], Callable[[np.random.Generator], list[np.ndarray]]]] = {
    "inv": (lambda L, a: L.linalg.inv(a), lambda r: [_well(r, 3, 3)]),
    "inv_batch": (lambda L, a: L.linalg.inv(a), lambda r: [_well(r, 2, 3, 3)]),
    "det": (lambda L, a: L.linalg.det(a), lambda r: [_well(r, 2, 3, 3)]),
    "det_1x1": (lambda L, a: L.linalg.det(a), lambda r: [r.standard_normal((2, 1, 1))]),
    "det_singular": (lambda L, a: L.linalg.det(a), lambda r: [np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0],
                                                                      [0.5, -1.0, 2.0]])]),
    "det_mixed_batch": (lambda L, a: L.linalg.det(a), lambda r: [np.stack([_well(r, 3, 3), np.array(
        [[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [1.0, 0.0, 1.0]])])]),
    "det_rank1": (lambda L, a: L.linalg.det(a), lambda r: [np.outer([1.0, 2.0, -1.0], [0.5, 1.0, 3.0])]),
    "slogdet": (lambda L, a: L.linalg.slogdet(a).logabsdet, lambda r: [_well(r, 2, 3, 3)]),
    "solve": (lambda L, a, b: L.linalg.solve(a, b), lambda r: [_well(r, 3, 3), r.standard_normal((3, 2))]),
    "solve_vector": (lambda L, a, b: L.linalg.solve(a, b), lambda r: [_well(r, 2, 3, 3), r.standard_normal((2, 3))]),
    "solve_broadcast": (lambda L, a, b: L.linalg.solve(a, b), lambda r: [_well(r, 3, 3), r.standard_normal((2, 3, 2))]),
    "solve_right": (lambda L, a, b: L.linalg.solve(a, b, left=False), lambda r: [_well(r, 3, 3),
                                                                              r.standard_normal((2, 3))]),
    **{f"solve_triangular_{'upper' if up else 'lower'}{'_unit' if unit else ''}{'' if left else '_right'}": (
        lambda L, a, b, up=up, unit=unit, left=left: L.linalg.solve_triangular(a, b, upper=up, left=left,
                                                                               unitriangular=unit),
        lambda r, left=left: [_well(r, 2, 3, 3), r.standard_normal((3, 2) if left else (2, 3))])
       for up in (True, False) for unit in (True, False) for left in (True, False)},
    "matrix_exp": (lambda L, a: L.linalg.matrix_exp(a), lambda r: [r.standard_normal((2, 3, 3))]),
    "matrix_exp_scaled": (lambda L, a: L.linalg.matrix_exp(a), lambda r: [8 * r.standard_normal((3, 3))]),
    "matrix_exp_small": (lambda L, a: L.linalg.matrix_exp(a), lambda r: [1e-3 * r.standard_normal((4, 4))]),
    **{f"cond_{p}": (lambda L, a, p=p: L.linalg.cond(a, p), lambda r: [_well(r, 2, 3, 3)])
       for p in (None, -2, "nuc")},  # PyTorch's cond in the other norms has no gradient: below
    "cond_wide": (lambda L, a: L.linalg.cond(a), lambda r: [r.standard_normal((3, 5))]),
    "cholesky": (lambda L, a: L.linalg.cholesky(a), lambda r: [_spd(r, 2)]),
    "cholesky_upper": (lambda L, a: L.linalg.cholesky(a, upper=True), lambda r: [_spd(r, )]),
    "qr_tall": (lambda L, a: _qr(L, a), lambda r: [r.standard_normal((2, 4, 3))]),
    "qr_square": (lambda L, a: _qr(L, a), lambda r: [r.standard_normal((3, 3))]),
    "qr_wide": (lambda L, a: _qr(L, a), lambda r: [r.standard_normal((3, 5))]),
    "qr_R_only": (lambda L, a: L.linalg.qr(a).R, lambda r: [r.standard_normal((4, 3))]),
    "qr_Q_only": (lambda L, a: L.linalg.qr(a).Q, lambda r: [r.standard_normal((4, 3))]),
    "svd_tall": (lambda L, a: _svd(L, a), lambda r: [r.standard_normal((2, 4, 3))]),
    "svd_wide": (lambda L, a: _svd(L, a), lambda r: [r.standard_normal((3, 5))]),
    "svd_square": (lambda L, a: _svd(L, a), lambda r: [r.standard_normal((3, 3))]),
    "svd_U": (lambda L, a: L.linalg.svd(a, full_matrices=False).U ** 2, lambda r: [r.standard_normal((4, 3))]),
    "svd_Vh": (lambda L, a: L.linalg.svd(a, full_matrices=False).Vh ** 2, lambda r: [r.standard_normal((3, 4))]),
    "svd_full": (lambda L, a: L.linalg.svd(a).S, lambda r: [r.standard_normal((4, 2))]),
    "svd_full_UV": (lambda L, a: _svd_full(L, a), lambda r: [r.standard_normal((2, 5, 3))]),
    "svd_full_wide": (lambda L, a: _svd_full(L, a.swapaxes(-1, -2)), lambda r: [r.standard_normal((5, 3))]),
    "svdvals": (lambda L, a: L.linalg.svdvals(a), lambda r: [r.standard_normal((2, 3, 4))]),
    "svdvals_identity": (lambda L, a: L.linalg.svdvals(a), lambda r: [np.eye(3)]),
    "eigh": (lambda L, a: _eigh(L, _sym(L, a)), lambda r: [r.standard_normal((2, 3, 3))]),
    "eigh_raw": (lambda L, a: L.linalg.eigh(a).eigenvectors ** 2, lambda r: [_spd(r, )]),
    "eigh_upper": (lambda L, a: L.linalg.eigh(a, UPLO="U").eigenvalues, lambda r: [r.standard_normal((3, 3))]),
    "eigvalsh": (lambda L, a: L.linalg.eigvalsh(_sym(L, a)), lambda r: [r.standard_normal((2, 4, 4))]),
    "eigvalsh_repeated": (lambda L, a: L.linalg.eigvalsh(a), lambda r: [np.eye(3) * 2.0]),
    "pinv_tall": (lambda L, a: L.linalg.pinv(a), lambda r: [r.standard_normal((2, 4, 3))]),
    "pinv_wide": (lambda L, a: L.linalg.pinv(a), lambda r: [r.standard_normal((3, 5))]),
    "pinv_square": (lambda L, a: L.linalg.pinv(a), lambda r: [_well(r, 3, 3)]),
    "pinv_hermitian": (lambda L, a: L.linalg.pinv(_sym(L, a), hermitian=True),
                       lambda r: [r.standard_normal((2, 3, 3))]),
    "pinv_rank_deficient": (lambda L, a: L.linalg.pinv(a @ a.swapaxes(-1, -2)), lambda r: [
        r.standard_normal((4, 2))]),
    "matrix_power_3": (lambda L, a: L.linalg.matrix_power(a, 3), lambda r: [r.standard_normal((2, 3, 3)) / 2]),
    "matrix_power_5": (lambda L, a: L.linalg.matrix_power(a, 5), lambda r: [r.standard_normal((3, 3)) / 2]),
    "matrix_power_neg": (lambda L, a: L.linalg.matrix_power(a, -2), lambda r: [_well(r, 3, 3)]),
    "lstsq": (lambda L, a, b: L.linalg.lstsq(a, b).solution, lambda r: [r.standard_normal((5, 3)),
                                                                       r.standard_normal((5, 2))]),
    "lstsq_vector": (lambda L, a, b: L.linalg.lstsq(a, b).solution, lambda r: [r.standard_normal((2, 4, 3)),
                                                                              r.standard_normal((2, 4))]),
    "vector_norm_2": (lambda L, x: L.linalg.vector_norm(x), lambda r: [r.standard_normal((3, 4))]),
    "vector_norm_dim": (lambda L, x: L.linalg.vector_norm(x, 2, dim=1, keepdim=True), lambda r: [
        r.standard_normal((3, 4))]),
    "vector_norm_1": (lambda L, x: L.linalg.vector_norm(x, 1, dim=(0, 2)), lambda r: [r.standard_normal((2, 3, 2))]),
    "vector_norm_3": (lambda L, x: L.linalg.vector_norm(x, 3, dim=-1), lambda r: [r.standard_normal((3, 4))]),
    "vector_norm_1.5": (lambda L, x: L.linalg.vector_norm(x, 1.5), lambda r: [r.standard_normal(5)]),
    "vector_norm_0.5": (lambda L, x: L.linalg.vector_norm(x, 0.5), lambda r: [r.standard_normal(5)]),
    "vector_norm_inf": (lambda L, x: L.linalg.vector_norm(x, float("inf"), dim=0), lambda r: [
        r.standard_normal((4, 3))]),
    "vector_norm_-inf": (lambda L, x: L.linalg.vector_norm(x, -float("inf")), lambda r: [r.standard_normal(6)]),
    "vector_norm_0": (lambda L, x: L.linalg.vector_norm(x, 0) + x.sum(), lambda r: [np.array([0.0, 1.0, -2.0])]),
    "matrix_norm_fro": (lambda L, a: L.linalg.matrix_norm(a), lambda r: [r.standard_normal((2, 3, 4))]),
    "matrix_norm_nuc": (lambda L, a: L.linalg.matrix_norm(a, "nuc"), lambda r: [r.standard_normal((2, 3, 4))]),
    "matrix_norm_2": (lambda L, a: L.linalg.matrix_norm(a, 2), lambda r: [r.standard_normal((4, 3))]),
    "matrix_norm_-2": (lambda L, a: L.linalg.matrix_norm(a, -2), lambda r: [r.standard_normal((4, 3))]),
    "matrix_norm_1": (lambda L, a: L.linalg.matrix_norm(a, 1), lambda r: [r.standard_normal((3, 4))]),
    "matrix_norm_-1": (lambda L, a: L.linalg.matrix_norm(a, -1), lambda r: [r.standard_normal((3, 4))]),
    "matrix_norm_inf": (lambda L, a: L.linalg.matrix_norm(a, float("inf"), dim=(0, 2), keepdim=True), lambda r: [
        r.standard_normal((3, 2, 4))]),
    "matrix_norm_-inf": (lambda L, a: L.linalg.matrix_norm(a, -float("inf")), lambda r: [r.standard_normal((3, 4))]),
    "norm_flat": (lambda L, a: L.linalg.norm(a), lambda r: [r.standard_normal((2, 3, 2))]),
    "norm_vector": (lambda L, a: L.linalg.norm(a, 3, dim=1), lambda r: [r.standard_normal((2, 3))]),
    "norm_matrix": (lambda L, a: L.linalg.norm(a, "nuc"), lambda r: [r.standard_normal((3, 3))]),
    "diagonal": (lambda L, a: L.diagonal(a, 1, 0, 2), lambda r: [r.standard_normal((3, 2, 4))]),
    "diagonal_neg": (lambda L, a: L.linalg.diagonal(a, offset=-1), lambda r: [r.standard_normal((2, 4, 3))]),
    "trace": (lambda L, a: L.trace(a), lambda r: [r.standard_normal((3, 4))]),
}


def _qr(L: Any, a: Any) -> Any:
    q, r = L.linalg.qr(a)
    return (q * q).sum() + (r ** 3).sum() + (q @ r[..., :, :1]).sum()


def _svd(L: Any, a: Any) -> Any:
    u, s, vh = L.linalg.svd(a, full_matrices=False)
    return (u ** 2 * s[..., None, :]).sum() + (vh[..., :1, :] ** 2).sum() + (u[..., :, :2] @ vh[..., :2, :]).sum()


def _svd_full(L: Any, a: Any) -> Any:  # the first k columns of U (rows of Vh) carry gradients, the rest none
    u, s, vh = L.linalg.svd(a)
    k = s.shape[-1]
    return (u[..., :, :k] @ vh[..., :k, :]).sum() + (u[..., :, :k] ** 2 * s[..., None, :]).sum() + (vh ** 2).sum()


def _eigh(L: Any, a: Any) -> Any:
    w, v = L.linalg.eigh(a)
    return (w ** 2).sum() + ((v ** 2) * w[..., None, :]).sum() + (v[..., :, :1] ** 4).sum()


def _project(out: Any, w: np.ndarray, L: Any) -> Any:
    return (out * (ag.tensor(w) if L is ag else torch.as_tensor(w))).sum()


def _ag_derivatives(fn: Callable, xs: list[np.ndarray], w: np.ndarray, vs: list[np.ndarray]) -> tuple:
    leaves = [ag.tensor(x, requires_grad=True) for x in xs]
    out = fn(ag, *leaves)
    loss = _project(out, w, ag)
    grads = ag.grad_of(loss, leaves, create_graph=True, allow_unused=True)
    grads = [ag.zeros_like(x) if g is None else g for g, x in zip(grads, leaves)]
    total = sum((g * v).sum() for g, v in zip(grads, vs))
    second = ag.grad_of(total, leaves, allow_unused=True) if total.requires_grad else [None] * len(xs)
    return (out.numpy(), [g.numpy() for g in grads],
            [np.zeros_like(x.numpy()) if s is None else s.numpy() for s, x in zip(second, leaves)])


def _weights(fn: Callable, xs: list[np.ndarray]) -> tuple:
    out = fn(ag, *[ag.tensor(x) for x in xs])
    w = np.cos(np.arange(out.size) + 0.3).reshape(out.shape)
    vs = [np.sin(np.arange(x.size) + 0.1).reshape(x.shape) for x in xs]
    return w, vs


try:
    import torch
except ImportError:  # the comparisons with PyTorch read its recorded answers
    torch = None


@pytest.mark.parametrize("name", sorted(CASES))
def test_first_and_second_order_match_pytorch(name: str) -> None:
    fn, make = CASES[name]
    xs = make(case_rng())
    w, vs = _weights(fn, xs)
    with np.errstate(all="ignore"):  # degenerate cases (repeated eigenvalues) give nan, as PyTorch's
        value, first, second = _ag_derivatives(fn, xs, w, vs)

    def theirs() -> tuple:
        leaves = [torch.tensor(x, requires_grad=True) for x in xs]
        out = fn(torch, *leaves)
        t_first = torch.autograd.grad(_project(out, w, torch), leaves, create_graph=True, allow_unused=True)
        t_first = [torch.zeros_like(x) if g is None else g for g, x in zip(t_first, leaves)]
        total = sum((g * torch.as_tensor(v)).sum() for g, v in zip(t_first, vs))
        t_second = torch.autograd.grad(total, leaves, allow_unused=True) if total.requires_grad else [None] * len(xs)
        return out, t_first, [None if t is None else t.numpy(force=True) for t in t_second]  # ZeroTensors

    out, t_first, t_second = oracle(theirs)
    tol = dict(rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(value, out, **tol, err_msg="value")
    for g, tg in zip(first, t_first):
        np.testing.assert_allclose(g, tg, **tol, err_msg="first derivative")
    for s, ts in zip(second, t_second):
        np.testing.assert_allclose(s, np.zeros_like(s) if ts is None else ts, **tol, err_msg="second derivative")


SMOOTH = sorted(k for k in CASES if not k.startswith(("det_singular", "det_mixed", "det_rank1", "svdvals_identity",
                                                      "eigvalsh_repeated", "eigh_raw", "eigh_upper", "cholesky",
                                                      "vector_norm_inf", "vector_norm_-inf", "vector_norm_0",
                                                      "matrix_norm_1", "matrix_norm_-1", "matrix_norm_inf",
                                                      "matrix_norm_-inf", "vector_norm_1", "vector_norm_0.5")))


@pytest.mark.parametrize("name", SMOOTH)
def test_first_and_second_order_match_finite_differences(name: str) -> None:
    fn, make = CASES[name]
    xs = [ag.tensor(x, requires_grad=True) for x in make(case_rng())]
    assert ag.gradcheck(lambda *a: fn(ag, *a), xs)
    assert ag.gradgradcheck(lambda *a: fn(ag, *a), xs)


# ---- values against numpy, batches, dtypes ------------------------------------------------------------
NUMPY = {  # ag call -> numpy's, on a batch (2, 3, 3) of well-conditioned matrices
    "inv": (lambda a: ag.linalg.inv(a), np.linalg.inv),
    "det": (lambda a: ag.linalg.det(a), np.linalg.det),
    "slogdet": (lambda a: ag.linalg.slogdet(a).logabsdet, lambda a: np.linalg.slogdet(a)[1]),
    "sign": (lambda a: ag.linalg.slogdet(-a).sign, lambda a: np.linalg.slogdet(-a)[0]),
    "cholesky": (lambda a: ag.linalg.cholesky(a @ a.swapaxes(-1, -2)), lambda a: np.linalg.cholesky(
        a @ a.swapaxes(-1, -2))),
    "svdvals": (lambda a: ag.linalg.svdvals(a), lambda a: np.linalg.svd(a, compute_uv=False)),
    "eigvalsh": (lambda a: ag.linalg.eigvalsh(a), np.linalg.eigvalsh),
    "pinv": (lambda a: ag.linalg.pinv(a[..., :2]), lambda a: np.linalg.pinv(a[..., :2])),
    "matrix_power": (lambda a: ag.linalg.matrix_power(a, 6), lambda a: np.linalg.matrix_power(a, 6)),
    "matrix_power_neg": (lambda a: ag.linalg.matrix_power(a, -3), lambda a: np.linalg.matrix_power(a, -3)),
    "solve": (lambda a: ag.linalg.solve(a, a[..., :2]), lambda a: np.linalg.solve(a, a[..., :2])),
    "lstsq": (lambda a: ag.linalg.lstsq(a[..., :2], a[..., 2]).solution,
              lambda a: np.stack([np.linalg.lstsq(m[:, :2], m[:, 2], rcond=None)[0] for m in a])),
    "norm": (lambda a: ag.linalg.norm(a, axis=-1), lambda a: np.linalg.norm(a, axis=-1)),
    "norm_nuc": (lambda a: ag.linalg.norm(a, "nuc", axis=(-2, -1)), lambda a: np.linalg.norm(a, "nuc", (-2, -1))),
    "norm_2": (lambda a: ag.linalg.matrix_norm(a, 2), lambda a: np.linalg.norm(a, 2, (-2, -1))),
    "norm_inf": (lambda a: ag.linalg.matrix_norm(a, float("inf")), lambda a: np.linalg.norm(a, np.inf, (-2, -1))),
    "vector_norm_keepdims": (lambda a: ag.linalg.vector_norm(a, 0.5, axis=(0, 2), keepdims=True),
                             lambda a: np.sum(np.abs(a) ** 0.5, axis=(0, 2), keepdims=True) ** 2),
    "trace": (lambda a: ag.trace(a, 1, 1, 2), lambda a: np.trace(a, 1, 1, 2)),
    "linalg.trace": (lambda a: ag.linalg.trace(a, offset=-1), lambda a: np.trace(a, -1, -2, -1)),
    "diagonal": (lambda a: a.diagonal(-1, 0, 2), lambda a: np.diagonal(a, -1, 0, 2)),
}


@pytest.mark.parametrize("name", sorted(NUMPY))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_match_numpy_batched_with_the_input_dtype(name: str, dtype: Any) -> None:
    f, ref = NUMPY[name]
    a = _well(RNG, 2, 3, 3).astype(dtype)
    got = f(ag.tensor(a, dtype=dtype))
    assert got.dtype == dtype
    np.testing.assert_allclose(got.numpy(), ref(a), rtol=1e-10 if dtype == np.float64 else 1e-4, atol=1e-12)


def test_decompositions_reconstruct_their_input() -> None:
    a = RNG.standard_normal((2, 4, 3))
    for full in (False, True):
        u, s, vh = ag.linalg.svd(a, full_matrices=full)
        k = s.shape[-1]
        np.testing.assert_allclose((u.numpy()[..., :k] * s.numpy()[..., None, :]) @ vh.numpy()[..., :k, :], a,
                                   atol=1e-12)
    q, r = ag.linalg.qr(a)
    np.testing.assert_allclose(q.numpy() @ r.numpy(), a, atol=1e-12)
    assert ag.linalg.qr(a, mode="complete").Q.shape == (2, 4, 4)
    np.testing.assert_allclose(ag.linalg.qr(a, mode="r").R.numpy(), np.linalg.qr(a, mode="r"))
    s = a @ a.swapaxes(-1, -2)
    w, v = ag.linalg.eigh(s)
    np.testing.assert_allclose((v.numpy() * w.numpy()[..., None, :]) @ v.numpy().swapaxes(-1, -2), s, atol=1e-12)
    res = ag.linalg.lstsq(a, a[..., :1] + 1.0)
    want = np.linalg.lstsq(a[0], a[0, :, :1] + 1.0, rcond=None)
    np.testing.assert_allclose(res.residuals.numpy()[0], want[1])
    assert int(res.rank.numpy()[0]) == want[2]


def test_integer_input_is_promoted_to_the_default_float() -> None:
    a = np.array([[2, 1], [1, 3]])
    for f in (ag.linalg.inv, ag.linalg.det, ag.linalg.cholesky, ag.linalg.svdvals, ag.linalg.eigvalsh, ag.linalg.pinv,
              ag.linalg.norm, lambda x: ag.linalg.solve(x, x), lambda x: ag.linalg.matrix_norm(x, "nuc")):
        out = f(a)
        assert out.dtype == ag.get_default_dtype(), f
    np.testing.assert_allclose(ag.linalg.det(a).numpy(), 5.0)
    assert ag.trace(a).numpy() == 5 and ag.trace(a).dtype.kind == "i"  # as numpy's and torch.trace's


@pytest.mark.parametrize("f", [ag.linalg.inv, ag.linalg.det, ag.linalg.svdvals, ag.linalg.eigvalsh, ag.linalg.pinv,
                               lambda a: ag.linalg.slogdet(a).logabsdet, lambda a: ag.linalg.matrix_norm(a, "nuc"),
                               lambda a: ag.linalg.solve(a, a), lambda a: ag.linalg.cholesky(a + 0 * a),
                               lambda a: ag.linalg.qr(a).R, lambda a: ag.linalg.matrix_power(a, 3)])
def test_size_0_batches(f: Callable) -> None:
    a = ag.tensor(np.zeros((0, 3, 3)), requires_grad=True)
    out = f(a)
    assert out.shape[0] == 0
    out.sum().backward()
    assert a.grad.shape == (0, 3, 3)


def test_empty_matrices_follow_numpy() -> None:
    assert ag.linalg.det(np.zeros((0, 0))).numpy() == 1.0  # the empty product
    assert ag.linalg.inv(np.zeros((2, 0, 0))).shape == (2, 0, 0)
    assert ag.linalg.vector_norm(np.zeros((0, 3))).numpy() == 0.0
    with pytest.raises(ValueError, match="empty"):
        ag.linalg.vector_norm(np.zeros((0, 3)), float("inf"))


# ---- degenerate points: PyTorch's answers, or the documented ones -----------------------------------------
def test_vector_norm_at_zero_has_zero_gradient_as_pytorch() -> None:
    x = ag.tensor(np.zeros(3), requires_grad=True)
    ag.linalg.vector_norm(x).backward()
    assert np.array_equal(x.grad.numpy(), np.zeros(3))
    x = ag.tensor(np.zeros((2, 3)), requires_grad=True)
    ag.linalg.matrix_norm(x).backward()
    assert np.array_equal(x.grad.numpy(), np.zeros((2, 3)))


def test_det_gradient_at_singular_matrices_is_the_cofactor_matrix() -> None:
    a = np.array([[1.0, 2.0], [2.0, 4.0]])  # cofactors of [[a, b], [c, d]]: [[d, -c], [-b, a]]
    x = ag.tensor(a, requires_grad=True)
    ag.linalg.det(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)
    z = ag.tensor(np.zeros((3, 3)), requires_grad=True)
    ag.linalg.det(z).backward()
    np.testing.assert_allclose(z.grad.numpy(), np.zeros((3, 3)), atol=1e-15)


def test_repeated_values_keep_finite_gradients_where_pytorch_does() -> None:
    eye = ag.tensor(np.eye(3), requires_grad=True)
    ag.linalg.svdvals(eye).sum().backward()  # only S is used: U diag(g) Vh, no 1/(s_j^2 - s_i^2)
    np.testing.assert_allclose(eye.grad.numpy(), np.eye(3))
    eye.grad = None
    ag.linalg.svd(eye).S.sum().backward()  # svd's unused U and Vh never enter the derivative
    np.testing.assert_allclose(eye.grad.numpy(), np.eye(3))
    eye.grad = None
    ag.linalg.eigvalsh(eye * 2.0).sum().backward()
    np.testing.assert_allclose(eye.grad.numpy(), 2 * np.eye(3))


def test_repeated_values_give_nan_eigenvector_gradients_as_pytorch() -> None:
    eye = ag.tensor(np.eye(3), requires_grad=True)
    with np.errstate(all="ignore"):
        (ag.linalg.eigh(eye).eigenvectors ** 3).sum().backward()
    assert np.isnan(eye.grad.numpy()).any()


# ---- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("f,name", [(ag.linalg.inv, "inv"), (ag.linalg.det, "det"), (ag.linalg.cholesky, "cholesky"),
                                    (ag.linalg.eigh, "eigh"), (lambda a: ag.linalg.slogdet(a), "slogdet"),
                                    (lambda a: ag.linalg.matrix_power(a, 2), "matrix_power"),
                                    (lambda a: ag.linalg.solve(a, a), "solve")])
def test_non_square_input_is_a_value_error_naming_op_and_shape(f: Callable, name: str) -> None:
    with pytest.raises(ValueError, match=rf"linalg\.{name}: expected square matrices .*\(2, 3\)"):
        f(np.ones((2, 3)))


@pytest.mark.parametrize("f", [ag.linalg.inv, ag.linalg.det, ag.linalg.svd, ag.linalg.qr, ag.linalg.pinv])
def test_vectors_are_refused_with_the_reshape_fix(f: Callable) -> None:
    with pytest.raises(ValueError, match="reshape"):
        f(np.ones(3))


def test_singular_and_indefinite_matrices_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"linalg\.inv.*singular.*pinv"):
        ag.linalg.inv(np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"linalg\.solve.*singular.*lstsq"):
        ag.linalg.solve(np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match=r"linalg\.cholesky.*positive-definite"):
        ag.linalg.cholesky(-np.eye(2))
    with pytest.raises(ValueError, match=r"linalg\.cholesky.*nan"):
        ag.linalg.cholesky(np.full((2, 2), np.nan))
    x = ag.tensor(np.ones((2, 2)), requires_grad=True)
    logabsdet = ag.linalg.slogdet(x).logabsdet
    assert logabsdet.numpy() == -np.inf
    with pytest.raises(ValueError, match=r"linalg\.slogdet.*unbounded"):
        logabsdet.backward()


def test_complex_input_is_refused() -> None:
    for f in (ag.linalg.inv, ag.linalg.svd, ag.linalg.vector_norm):
        with pytest.raises(TypeError, match="complex"):
            f(np.eye(2) * (1 + 1j))


def test_argument_errors() -> None:
    a = np.eye(3)
    with pytest.raises(ValueError, match=r"linalg\.solve: A of shape \(3, 3\) needs B"):
        ag.linalg.solve(a, np.ones(4))
    with pytest.raises(ValueError, match="ord must be"):
        ag.linalg.matrix_norm(a, 3)
    with pytest.raises(TypeError, match="matrix norms"):
        ag.linalg.vector_norm(a, "fro")
    with pytest.raises(TypeError, match="not both"):
        ag.linalg.norm(a, dim=0, axis=0)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        ag.linalg.norm(np.ones((2, 2, 2)), 2)
    with pytest.raises(ValueError, match="UPLO"):
        ag.linalg.eigh(a, "X")
    with pytest.raises(ValueError, match="mode"):
        ag.linalg.qr(a, "full")
    with pytest.raises(TypeError, match="n must be an int"):
        ag.linalg.matrix_power(a, 1.5)
    with pytest.raises(IndexError, match="diagonal: axis 3 is out of range"):
        ag.diagonal(a, 0, 0, 3)
    with pytest.raises(ValueError, match="diagonal: axis1 and axis2"):
        ag.diagonal(a, 0, 1, -1)


def test_matrix_power_zero_is_the_identity_and_matches_repeated_products() -> None:
    a = RNG.standard_normal((2, 3, 3))
    np.testing.assert_array_equal(ag.linalg.matrix_power(a, 0).numpy(), np.broadcast_to(np.eye(3), (2, 3, 3)))
    for n in range(1, 9):
        np.testing.assert_allclose(ag.linalg.matrix_power(a, n).numpy(), np.linalg.matrix_power(a, n), rtol=1e-10)


def test_a_decomposition_node_run_again_on_other_values_decomposes_them() -> None:
    """gradcheck's localisation re-runs a node on perturbed inputs: its factors must follow them."""
    a = ag.tensor(RNG.standard_normal((3, 3)), requires_grad=True)
    b = a.numpy() + 1.0
    fresh = {"SvdPart": np.linalg.svd(b, compute_uv=False), "EighPart": np.linalg.eigh(b)[0],
             "QrPart": np.linalg.qr(b)[1]}
    for out in (ag.linalg.svdvals(a), ag.linalg.eigh(a).eigenvalues, ag.linalg.qr(a).R):
        node = out.grad_fn
        np.testing.assert_allclose(node.fn.apply(ag.tensor(b), **node.params).numpy(), fresh[node.name], atol=1e-12)


def test_gradcheck_localisation_does_not_blame_linalg_ops() -> None:
    class Wrong(ag.Function):
        formula = "d wrong(x)/dx = 2 (deliberately wrong: the truth is 1)"

        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    a = ag.tensor(RNG.standard_normal((3, 3)), requires_grad=True)
    with pytest.raises(ag.GradcheckError) as err:
        ag.gradcheck(lambda x: Wrong.apply(ag.linalg.svdvals(x) + ag.linalg.qr(x).R[0]), [a])
    message = str(err.value)
    assert "`Wrong`" in message and "SvdPart" not in message and "QrPart" not in message, message


@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "solve", "cholesky", "qr_tall", "svd_tall", "eigh",
                                  "pinv_wide", "vector_norm_3"])
def test_third_order_matches_pytorch(name: str) -> None:
    """Each derivative is written in the vocabulary, so it is differentiable again: a third derivative too."""
    fn, make = CASES[name]
    xs = make(case_rng())
    w, vs = _weights(fn, xs)

    def third(L: Any, leaves: list, grad: Callable) -> list:
        g = grad(_project(fn(L, *leaves), w, L), leaves)
        h = grad(sum((gi * (ag.tensor(v) if L is ag else torch.as_tensor(v))).sum() for gi, v in zip(g, vs)), leaves)
        return grad(sum((hi * hi).sum() for hi in h), leaves)

    ours = third(ag, [ag.tensor(x, requires_grad=True) for x in xs],
                 lambda y, ls: ag.grad_of(y, ls, create_graph=True))
    theirs = oracle(lambda: third(torch, [torch.tensor(x, requires_grad=True) for x in xs],
                                  lambda y, ls: torch.autograd.grad(y, ls, create_graph=True)))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-8, atol=1e-9)


def test_matrix_rank_and_cond_at_singular_matrices_match_pytorch() -> None:
    a = _well(case_rng(), 4, 4, 4)
    a[1] = np.outer([1.0, 2.0, 3.0, 4.0], [1.0, 0.0, 1.0, 0.0])  # rank 1
    a[2, :, 3] = a[2, :, 0] + a[2, :, 1]  # rank 3
    a[3] = 0.0
    calls = {"rank": lambda L, m: L.linalg.matrix_rank(m), "rank_atol": lambda L, m: L.linalg.matrix_rank(
        m, atol=1.0, rtol=0.1), "rank_hermitian": lambda L, m: L.linalg.matrix_rank(m @ m.swapaxes(-1, -2),
                                                                                   hermitian=True),
             "rank_wide": lambda L, m: L.linalg.matrix_rank(m[..., :2, :]),
             **{f"cond_{p}": lambda L, m, p=p: L.linalg.cond(m[:3], p) for p in (None, 1, float("inf"), "fro", "nuc")}}
    for name, f in calls.items():
        ours = f(ag, ag.tensor(a)).numpy()
        theirs = oracle(lambda f=f: f(torch, torch.tensor(a)), key=name)
        assert ours.dtype == theirs.dtype, name
        if name.startswith("cond"):  # a rank-deficient matrix: 1 / (a singular value of rounding noise), or inf
            assert np.all((ours[1:] > 1e15) & (theirs[1:] > 1e15)), (name, ours, theirs)
            ours, theirs = ours[:1], theirs[:1]
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, err_msg=name)  # rank: int64, no gradient
    assert not ag.linalg.matrix_rank(ag.tensor(a, requires_grad=True)).requires_grad


@pytest.mark.parametrize("p", ["fro", 1, -1, float("inf"), -float("inf")], ids=str)
def test_cond_in_the_norms_of_the_inverse(p: Any) -> None:
    # PyTorch's value; its backward raises here (an in-place fill of the inverse), ours differentiates
    a = _well(case_rng(), 2, 3, 3)
    np.testing.assert_allclose(ag.linalg.cond(a, p).numpy(), oracle(lambda: torch.linalg.cond(torch.tensor(a), p)),
                               rtol=1e-12)
    x = ag.tensor(a, requires_grad=True)
    smooth = p == "fro"  # the max/min norms have kinks; away from ties one-sided differences agree
    assert ag.gradcheck(lambda t: ag.linalg.cond(t, p), [x])
    assert not smooth or ag.gradgradcheck(lambda t: ag.linalg.cond(t, p), [x])


def test_solve_triangular_reads_one_triangle_and_divides_by_zero_as_pytorch() -> None:
    rng = case_rng()
    a, b = _well(rng, 3, 3), rng.standard_normal((3, 2))
    junk = a + np.tril(rng.standard_normal((3, 3)), -1) * 100  # the other triangle is never read
    np.testing.assert_array_equal(ag.linalg.solve_triangular(junk, b, upper=True).numpy(),
                                  ag.linalg.solve_triangular(a, b, upper=True).numpy())
    zero = np.triu(a)
    zero[1, 1] = 0.0
    got = ag.linalg.solve_triangular(zero, b, upper=True).numpy()
    want = oracle(lambda: torch.linalg.solve_triangular(torch.tensor(zero), torch.tensor(b), upper=True))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    with pytest.raises(TypeError, match="linalg.solve_triangular: upper must be True or False"):
        ag.linalg.solve_triangular(a, b, upper=None)
    with pytest.raises(ValueError, match=r"linalg.solve_triangular: A of shape \(3, 3\) needs B of shape "
                                         r"\(\.\.\., k, 3\) \(left=False\), got \(3, 2\)"):
        ag.linalg.solve_triangular(a, b, upper=False, left=False)


def test_matrix_exp_of_inf_or_nan_is_nan_and_of_empty_is_empty() -> None:
    a = np.stack([np.eye(2), [[np.inf, 0.0], [0.0, 1.0]]])
    got = ag.linalg.matrix_exp(a).numpy()
    np.testing.assert_allclose(got[0], np.diag([np.e, np.e]), rtol=1e-15)
    assert np.isnan(got[1]).all()
    assert ag.linalg.matrix_exp(np.zeros((2, 0, 0))).shape == (2, 0, 0)


def test_pytorch_tensor_methods() -> None:
    a = ag.tensor(_well(RNG, 2, 3, 3))
    np.testing.assert_array_equal(a.det().numpy(), ag.linalg.det(a).numpy())
    np.testing.assert_array_equal(a.inverse().numpy(), ag.linalg.inv(a).numpy())
    np.testing.assert_array_equal(a.slogdet().logabsdet.numpy(), ag.linalg.slogdet(a).logabsdet.numpy())
    np.testing.assert_array_equal(a.matrix_power(3).numpy(), ag.linalg.matrix_power(a, 3).numpy())
    np.testing.assert_array_equal(a.pinverse().numpy(), ag.linalg.pinv(a).numpy())
    np.testing.assert_array_equal(a.trace().numpy(), np.trace(a.numpy()))
    np.testing.assert_array_equal(a.diagonal(dim1=1, dim2=2).numpy(), np.diagonal(a.numpy(), 0, 1, 2))


def test_qr_derivatives_that_do_not_exist_are_errors() -> None:
    a = ag.tensor(RNG.standard_normal((4, 2)), requires_grad=True)
    with pytest.raises(ValueError, match="mode='complete'.*m > n"):
        ag.linalg.qr(a, mode="complete").Q.sum().backward()
    with pytest.raises(ValueError, match="mode='r' computes no Q"):
        ag.linalg.qr(a, mode="r").R.sum().backward()
    dependent = ag.tensor(np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]), requires_grad=True)  # R[1, 1] = 0
    with pytest.raises(ValueError, match="columns of A to be independent"):
        ag.linalg.qr(dependent).R.sum().backward()
    wide = ag.tensor(RNG.standard_normal((2, 4)), requires_grad=True)
    ag.linalg.qr(wide, mode="complete").R.sum().backward()  # m <= n: complete is reduced
    assert wide.grad.shape == (2, 4)


def test_vector_norm_neither_underflows_nor_overflows() -> None:
    np.testing.assert_allclose(ag.linalg.vector_norm(np.array([3e-200, 4e-200])).numpy(), 5e-200)
    np.testing.assert_allclose(ag.linalg.vector_norm(np.array([3e200, 4e200])).numpy(), 5e200)
    np.testing.assert_allclose(ag.linalg.vector_norm(np.array([3e200, 4e200]), 3).numpy(), (27 + 64) ** (1 / 3) * 1e200)
    x = ag.tensor(np.array([3e-200, 4e-200]), requires_grad=True)
    ag.linalg.vector_norm(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.6, 0.8])
