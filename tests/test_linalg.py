"""ag.linalg: values against numpy, first and second derivatives against finite differences (always) and
PyTorch float64 (when installed), batches, size-0 batches, dtypes, degenerate points and bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import autograd_mini as ag

RNG = np.random.default_rng(7)


def _spd(*batch: int, n: int = 3) -> np.ndarray:
    x = RNG.standard_normal(batch + (n, n))
    return x @ x.swapaxes(-1, -2) + n * np.eye(n)


def _well(*shape: int) -> np.ndarray:
    """Random matrices away from singular: a shifted diagonal."""
    a = RNG.standard_normal(shape)
    return a + 3 * np.eye(shape[-2], shape[-1])


def _sym(L: Any, x: Any) -> Any:
    return x + x.swapaxes(-1, -2)


# name -> (formula over L (ag or torch, under the same names), inputs). Formulas on U, V are invariant under the
# sign of each singular/eigen vector (their squares, U_k Vh_k), so they compare across LAPACK builds.
CASES: dict[str, tuple[Callable[..., Any], Callable[[], list[np.ndarray]]]] = {
    "inv": (lambda L, a: L.linalg.inv(a), lambda: [_well(3, 3)]),
    "inv_batch": (lambda L, a: L.linalg.inv(a), lambda: [_well(2, 3, 3)]),
    "det": (lambda L, a: L.linalg.det(a), lambda: [_well(2, 3, 3)]),
    "det_1x1": (lambda L, a: L.linalg.det(a), lambda: [RNG.standard_normal((2, 1, 1))]),
    "det_singular": (lambda L, a: L.linalg.det(a), lambda: [np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0],
                                                                      [0.5, -1.0, 2.0]])]),
    "det_mixed_batch": (lambda L, a: L.linalg.det(a), lambda: [np.stack([_well(3, 3), np.array(
        [[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [1.0, 0.0, 1.0]])])]),
    "det_rank1": (lambda L, a: L.linalg.det(a), lambda: [np.outer([1.0, 2.0, -1.0], [0.5, 1.0, 3.0])]),
    "slogdet": (lambda L, a: L.linalg.slogdet(a).logabsdet, lambda: [_well(2, 3, 3)]),
    "solve": (lambda L, a, b: L.linalg.solve(a, b), lambda: [_well(3, 3), RNG.standard_normal((3, 2))]),
    "solve_vector": (lambda L, a, b: L.linalg.solve(a, b), lambda: [_well(2, 3, 3), RNG.standard_normal((2, 3))]),
    "solve_broadcast": (lambda L, a, b: L.linalg.solve(a, b), lambda: [_well(3, 3), RNG.standard_normal((2, 3, 2))]),
    "solve_right": (lambda L, a, b: L.linalg.solve(a, b, left=False), lambda: [_well(3, 3),
                                                                              RNG.standard_normal((2, 3))]),
    "cholesky": (lambda L, a: L.linalg.cholesky(a), lambda: [_spd(2)]),
    "cholesky_upper": (lambda L, a: L.linalg.cholesky(a, upper=True), lambda: [_spd()]),
    "qr_tall": (lambda L, a: _qr(L, a), lambda: [RNG.standard_normal((2, 4, 3))]),
    "qr_square": (lambda L, a: _qr(L, a), lambda: [RNG.standard_normal((3, 3))]),
    "qr_wide": (lambda L, a: _qr(L, a), lambda: [RNG.standard_normal((3, 5))]),
    "qr_R_only": (lambda L, a: L.linalg.qr(a).R, lambda: [RNG.standard_normal((4, 3))]),
    "qr_Q_only": (lambda L, a: L.linalg.qr(a).Q, lambda: [RNG.standard_normal((4, 3))]),
    "svd_tall": (lambda L, a: _svd(L, a), lambda: [RNG.standard_normal((2, 4, 3))]),
    "svd_wide": (lambda L, a: _svd(L, a), lambda: [RNG.standard_normal((3, 5))]),
    "svd_square": (lambda L, a: _svd(L, a), lambda: [RNG.standard_normal((3, 3))]),
    "svd_U": (lambda L, a: L.linalg.svd(a, full_matrices=False).U ** 2, lambda: [RNG.standard_normal((4, 3))]),
    "svd_Vh": (lambda L, a: L.linalg.svd(a, full_matrices=False).Vh ** 2, lambda: [RNG.standard_normal((3, 4))]),
    "svd_full": (lambda L, a: L.linalg.svd(a).S, lambda: [RNG.standard_normal((4, 2))]),
    "svdvals": (lambda L, a: L.linalg.svdvals(a), lambda: [RNG.standard_normal((2, 3, 4))]),
    "svdvals_identity": (lambda L, a: L.linalg.svdvals(a), lambda: [np.eye(3)]),
    "eigh": (lambda L, a: _eigh(L, _sym(L, a)), lambda: [RNG.standard_normal((2, 3, 3))]),
    "eigh_raw": (lambda L, a: L.linalg.eigh(a).eigenvectors ** 2, lambda: [_spd()]),
    "eigh_upper": (lambda L, a: L.linalg.eigh(a, UPLO="U").eigenvalues, lambda: [RNG.standard_normal((3, 3))]),
    "eigvalsh": (lambda L, a: L.linalg.eigvalsh(_sym(L, a)), lambda: [RNG.standard_normal((2, 4, 4))]),
    "eigvalsh_repeated": (lambda L, a: L.linalg.eigvalsh(a), lambda: [np.eye(3) * 2.0]),
    "pinv_tall": (lambda L, a: L.linalg.pinv(a), lambda: [RNG.standard_normal((2, 4, 3))]),
    "pinv_wide": (lambda L, a: L.linalg.pinv(a), lambda: [RNG.standard_normal((3, 5))]),
    "pinv_square": (lambda L, a: L.linalg.pinv(a), lambda: [_well(3, 3)]),
    "matrix_power_3": (lambda L, a: L.linalg.matrix_power(a, 3), lambda: [RNG.standard_normal((2, 3, 3)) / 2]),
    "matrix_power_5": (lambda L, a: L.linalg.matrix_power(a, 5), lambda: [RNG.standard_normal((3, 3)) / 2]),
    "matrix_power_neg": (lambda L, a: L.linalg.matrix_power(a, -2), lambda: [_well(3, 3)]),
    "lstsq": (lambda L, a, b: L.linalg.lstsq(a, b).solution, lambda: [RNG.standard_normal((5, 3)),
                                                                       RNG.standard_normal((5, 2))]),
    "lstsq_vector": (lambda L, a, b: L.linalg.lstsq(a, b).solution, lambda: [RNG.standard_normal((2, 4, 3)),
                                                                              RNG.standard_normal((2, 4))]),
    "vector_norm_2": (lambda L, x: L.linalg.vector_norm(x), lambda: [RNG.standard_normal((3, 4))]),
    "vector_norm_dim": (lambda L, x: L.linalg.vector_norm(x, 2, dim=1, keepdim=True), lambda: [
        RNG.standard_normal((3, 4))]),
    "vector_norm_1": (lambda L, x: L.linalg.vector_norm(x, 1, dim=(0, 2)), lambda: [RNG.standard_normal((2, 3, 2))]),
    "vector_norm_3": (lambda L, x: L.linalg.vector_norm(x, 3, dim=-1), lambda: [RNG.standard_normal((3, 4))]),
    "vector_norm_1.5": (lambda L, x: L.linalg.vector_norm(x, 1.5), lambda: [RNG.standard_normal(5)]),
    "vector_norm_0.5": (lambda L, x: L.linalg.vector_norm(x, 0.5), lambda: [RNG.standard_normal(5)]),
    "vector_norm_inf": (lambda L, x: L.linalg.vector_norm(x, float("inf"), dim=0), lambda: [
        RNG.standard_normal((4, 3))]),
    "vector_norm_-inf": (lambda L, x: L.linalg.vector_norm(x, -float("inf")), lambda: [RNG.standard_normal(6)]),
    "vector_norm_0": (lambda L, x: L.linalg.vector_norm(x, 0) + x.sum(), lambda: [np.array([0.0, 1.0, -2.0])]),
    "matrix_norm_fro": (lambda L, a: L.linalg.matrix_norm(a), lambda: [RNG.standard_normal((2, 3, 4))]),
    "matrix_norm_nuc": (lambda L, a: L.linalg.matrix_norm(a, "nuc"), lambda: [RNG.standard_normal((2, 3, 4))]),
    "matrix_norm_2": (lambda L, a: L.linalg.matrix_norm(a, 2), lambda: [RNG.standard_normal((4, 3))]),
    "matrix_norm_-2": (lambda L, a: L.linalg.matrix_norm(a, -2), lambda: [RNG.standard_normal((4, 3))]),
    "matrix_norm_1": (lambda L, a: L.linalg.matrix_norm(a, 1), lambda: [RNG.standard_normal((3, 4))]),
    "matrix_norm_-1": (lambda L, a: L.linalg.matrix_norm(a, -1), lambda: [RNG.standard_normal((3, 4))]),
    "matrix_norm_inf": (lambda L, a: L.linalg.matrix_norm(a, float("inf"), dim=(0, 2), keepdim=True), lambda: [
        RNG.standard_normal((3, 2, 4))]),
    "matrix_norm_-inf": (lambda L, a: L.linalg.matrix_norm(a, -float("inf")), lambda: [RNG.standard_normal((3, 4))]),
    "norm_flat": (lambda L, a: L.linalg.norm(a), lambda: [RNG.standard_normal((2, 3, 2))]),
    "norm_vector": (lambda L, a: L.linalg.norm(a, 3, dim=1), lambda: [RNG.standard_normal((2, 3))]),
    "norm_matrix": (lambda L, a: L.linalg.norm(a, "nuc"), lambda: [RNG.standard_normal((3, 3))]),
    "diagonal": (lambda L, a: L.diagonal(a, 1, 0, 2), lambda: [RNG.standard_normal((3, 2, 4))]),
    "diagonal_neg": (lambda L, a: L.linalg.diagonal(a, offset=-1), lambda: [RNG.standard_normal((2, 4, 3))]),
    "trace": (lambda L, a: L.trace(a), lambda: [RNG.standard_normal((3, 4))]),
}


def _qr(L: Any, a: Any) -> Any:
    q, r = L.linalg.qr(a)
    return (q * q).sum() + (r ** 3).sum() + (q @ r[..., :, :1]).sum()


def _svd(L: Any, a: Any) -> Any:
    u, s, vh = L.linalg.svd(a, full_matrices=False)
    return (u ** 2 * s[..., None, :]).sum() + (vh[..., :1, :] ** 2).sum() + (u[..., :, :2] @ vh[..., :2, :]).sum()


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
except ImportError:  # PyTorch is optional: the finite-difference checks below always run
    torch = None


@pytest.mark.parametrize("name", sorted(CASES))
def test_first_and_second_order_match_pytorch(name: str) -> None:
    if torch is None:
        pytest.skip("PyTorch is not installed (pip install torch==2.13.0); finite differences still check these")
    fn, make = CASES[name]
    xs = make()
    w, vs = _weights(fn, xs)
    with np.errstate(all="ignore"):  # degenerate cases (repeated eigenvalues) give nan, as PyTorch's
        value, first, second = _ag_derivatives(fn, xs, w, vs)
    leaves = [torch.tensor(x, requires_grad=True) for x in xs]
    out = fn(torch, *leaves)
    t_first = torch.autograd.grad(_project(out, w, torch), leaves, create_graph=True, allow_unused=True)
    t_first = [torch.zeros_like(x) if g is None else g for g, x in zip(t_first, leaves)]
    total = sum((g * torch.as_tensor(v)).sum() for g, v in zip(t_first, vs))
    t_second = torch.autograd.grad(total, leaves, allow_unused=True) if total.requires_grad else [None] * len(xs)
    tol = dict(rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(value, out.detach().numpy(), **tol, err_msg="value")
    for g, tg in zip(first, t_first):
        np.testing.assert_allclose(g, tg.detach().numpy(), **tol, err_msg="first derivative")
    for s, ts in zip(second, t_second):
        np.testing.assert_allclose(s, np.zeros_like(s) if ts is None else ts.numpy(force=True), **tol,
                                   err_msg="second derivative")


SMOOTH = sorted(k for k in CASES if not k.startswith(("det_singular", "det_mixed", "det_rank1", "svdvals_identity",
                                                      "eigvalsh_repeated", "eigh_raw", "eigh_upper", "cholesky",
                                                      "vector_norm_inf", "vector_norm_-inf", "vector_norm_0",
                                                      "matrix_norm_1", "matrix_norm_-1", "matrix_norm_inf",
                                                      "matrix_norm_-inf", "vector_norm_1", "vector_norm_0.5")))


@pytest.mark.parametrize("name", SMOOTH)
def test_first_and_second_order_match_finite_differences(name: str) -> None:
    fn, make = CASES[name]
    xs = [ag.tensor(x, requires_grad=True) for x in make()]
    assert ag.gradcheck(lambda *a: fn(ag, *a), xs)
    assert ag.gradgradcheck(lambda *a: fn(ag, *a), xs)
