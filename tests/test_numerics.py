"""Numerical edge cases: the stable ops at +-1e4 in float32 and float64, and the conventions at 0.

pyproject turns every RuntimeWarning into an error, and each test here also runs under
``np.errstate(all="raise")``-free ``warnings.simplefilter("error")``: a stable path that
overflows, divides by zero or makes a nan internally fails the test even if the final
number looks right. References are computed independently in float64 with ``math``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np
import pytest

import autograd_mini as ag
import nn

DTYPES = [np.float32, np.float64]
BIG = 1e4
ROW = [BIG, -BIG, 0.0, 1.0, -1.0]  # one row mixing both extremes with ordinary values


@pytest.fixture(autouse=True)
def _warnings_are_errors() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def leaf(values, dtype) -> ag.Tensor:
    return ag.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def tol(dtype) -> dict:
    return dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)


def ref_logsumexp(row: list[float]) -> float:
    m = max(row)
    return m + math.log(math.fsum(math.exp(v - m) for v in row))


def ref_softmax(row: list[float]) -> list[float]:
    lse = ref_logsumexp(row)
    return [math.exp(v - lse) for v in row]


def ref_sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def finite_result(out: ag.Tensor, x: ag.Tensor, dtype) -> None:
    """The value keeps the input dtype and is finite; so is the gradient."""
    assert out.dtype == dtype, f"{out.dtype} output for {np.dtype(dtype)} input"
    assert np.all(np.isfinite(out.numpy())), out
    assert x.grad is not None and x.grad.dtype == dtype
    assert np.all(np.isfinite(x.grad.numpy())), x.grad


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_extremes(dtype) -> None:
    x = leaf(ROW, dtype)
    out = x.sigmoid()
    out.sum().backward()
    finite_result(out, x, dtype)
    np.testing.assert_allclose(out.numpy(), [ref_sigmoid(v) for v in ROW], **tol(dtype))
    s = np.array([ref_sigmoid(v) for v in ROW])
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s), **tol(dtype))
    assert out.numpy()[0] == 1.0 and out.numpy()[1] == 0.0  # saturated exactly, no 1 + inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_extremes(dtype) -> None:
    x = leaf(ROW, dtype)
    out = x.tanh()
    out.sum().backward()
    finite_result(out, x, dtype)
    np.testing.assert_allclose(out.numpy(), [math.tanh(v) for v in ROW], **tol(dtype))
    np.testing.assert_allclose(x.grad.numpy(), [1 - math.tanh(v) ** 2 for v in ROW], **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", [ROW, [BIG, BIG, BIG], [-BIG, -BIG, 0.0], [-BIG, -BIG, -BIG]])
def test_softmax_and_log_softmax_extremes(dtype, row) -> None:
    g = np.linspace(-1, 1, len(row))  # a non-uniform upstream gradient exercises the whole Jacobian
    x = leaf([row, [0.5] * len(row)], dtype)
    out = x.softmax(axis=1)
    out.backward(np.stack([g, g]).astype(dtype))
    finite_result(out, x, dtype)
    p = np.array(ref_softmax(row))
    np.testing.assert_allclose(out.numpy()[0], p, **tol(dtype))
    np.testing.assert_allclose(x.grad.numpy()[0], p * (g - (g * p).sum()), **tol(dtype))

    x = leaf([row], dtype)
    out = x.log_softmax(axis=-1)
    out.backward(g[None].astype(dtype))
    finite_result(out, x, dtype)
    lse = ref_logsumexp(row)
    np.testing.assert_allclose(out.numpy()[0], [v - lse for v in row], **tol(dtype))
    np.testing.assert_allclose(x.grad.numpy()[0], g - p * g.sum(), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", [ROW, [BIG, BIG], [-BIG, -BIG, -BIG]])
def test_logsumexp_extremes(dtype, row) -> None:
    x = leaf(row, dtype)
    out = x.logsumexp()
    out.backward()
    finite_result(out, x, dtype)
    np.testing.assert_allclose(out.item(), ref_logsumexp(row), rtol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(x.grad.numpy(), ref_softmax(row), **tol(dtype))


def test_logsumexp_of_all_minus_inf_is_minus_inf() -> None:
    out = ag.tensor([-np.inf, -np.inf], dtype=np.float64).logsumexp()
    assert out.item() == -np.inf


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_extremes(dtype, reduction) -> None:
    rows = [ROW, [-BIG, BIG, 0.0, 0.0, 0.0], [BIG] * 5]
    targets = [1, 1, 3]  # the -1e4 logit (loss 2e4), the winning logit (loss 0), a tie
    x = leaf(rows, dtype)
    out = nn.functional.cross_entropy(x, np.array(targets), reduction=reduction)
    out.sum().backward()
    finite_result(out, x, dtype)
    losses = np.array([ref_logsumexp([v - r[t] for v in r]) for r, t in zip(rows, targets)])
    want = {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-6 if dtype == np.float32 else 1e-13)
    onehot = np.eye(5)[targets]
    grad = np.array([ref_softmax(r) for r in rows]) - onehot
    np.testing.assert_allclose(x.grad.numpy(), grad / (3 if reduction == "mean" else 1), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_with_probability_targets_extremes(dtype) -> None:
    x = leaf([ROW], dtype)
    target = np.array([[0.5, 0.0, 0.5, 0.0, 0.0]], dtype=dtype)
    out = nn.functional.cross_entropy(x, target)
    out.backward()
    finite_result(out, x, dtype)
    lse = ref_logsumexp(ROW)
    np.testing.assert_allclose(out.item(), 0.5 * (lse - BIG) + 0.5 * (lse - 0.0), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_extremes(dtype) -> None:
    logits = [BIG, BIG, -BIG, -BIG, 0.0, 3.0]
    target = np.array([1, 0, 1, 0, 1, 0.25], dtype=dtype)
    x = leaf(logits, dtype)
    out = nn.functional.binary_cross_entropy_with_logits(x, target, reduction="none")
    out.sum().backward()
    finite_result(out, x, dtype)
    want = [max(v, 0) - v * y + math.log1p(math.exp(-abs(v))) for v, y in zip(logits, target.tolist())]
    np.testing.assert_allclose(out.numpy(), want, **tol(dtype))
    np.testing.assert_allclose(x.grad.numpy(), [ref_sigmoid(v) - y for v, y in zip(logits, target.tolist())],
                               **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_at_zero_is_minus_inf_with_gradient_plus_inf(dtype) -> None:
    x = leaf([0.0, 1.0], dtype)
    out = x.log()
    out.sum().backward()
    assert out.numpy()[0] == -np.inf and out.numpy()[1] == 0.0
    assert x.grad.numpy()[0] == np.inf and x.grad.numpy()[1] == 1.0
    assert out.dtype == dtype and x.grad.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_sqrt_at_zero_is_zero_with_gradient_plus_inf(dtype) -> None:
    x = leaf([0.0, 4.0], dtype)
    out = x.sqrt()
    out.sum().backward()
    assert out.numpy().tolist() == [0.0, 2.0]
    assert x.grad.numpy()[0] == np.inf and x.grad.numpy()[1] == 0.25
    assert out.dtype == dtype and x.grad.dtype == dtype


def test_relu_and_abs_at_zero_have_gradient_zero() -> None:
    x = leaf([0.0, 0.0], np.float64)
    (x.relu() + abs(x)).sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 0.0]


def test_nan_propagates_through_stable_ops_without_warnings() -> None:
    """A nan input gives a nan output (never a silent finite number) and no warning is raised."""
    for f in (ag.sigmoid, ag.tanh, ag.exp, ag.relu, ag.softmax, ag.log_softmax, ag.logsumexp):
        x = leaf([np.nan, 1.0], np.float64)
        out = f(x)
        out.sum().backward()
        assert np.isnan(out.numpy().ravel()[0]), f
        if f is ag.relu:  # relu's mask (out > 0) is False at nan: gradient 0, as in PyTorch
            assert x.grad.numpy().tolist() == [0.0, 1.0]
        else:
            assert np.isnan(x.grad.numpy()[0]), f


@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp_logits_of_1e4_train_without_nan(dtype) -> None:
    """A whole loss -> backward -> step cycle on saturated logits keeps every parameter finite."""
    model = nn.Linear(5, 3, seed=0, dtype=dtype)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    x = ag.tensor(np.array([ROW, ROW[::-1]], dtype=dtype))
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(x), np.array([0, 2]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(np.all(np.isfinite(p.numpy())) for p in model.parameters())
