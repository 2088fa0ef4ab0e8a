"""Loss values against numpy, the fused cross entropy against its composed twin, stability and errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
import nn
import nn.functional as F
from tests._fd import float64


def _composed_ce(x, y, reduction):
    """The oracle: log_softmax, integer-array indexing, reduction."""
    losses = -ag.log_softmax(x, -1)[ag.arange(x.shape[0]), y]
    return {"mean": losses.mean, "sum": losses.sum, "none": lambda: losses}[reduction]()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(n=st.integers(1, 6), c=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_fused_cross_entropy_matches_composed(reduction, n, c, seed):
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal((n, c)) * 4
    y = rng.integers(0, c, n)
    v = rng.standard_normal((n, c))
    results = []
    for fn in (F.cross_entropy, _composed_ce):
        x = ag.tensor(xa, requires_grad=True)
        out = fn(x, y, reduction=reduction)
        w = np.ones(out.shape)
        (gx,) = ag.grad_of((out * w).sum(), [x], create_graph=True)
        (hv,) = ag.grad_of((gx * v).sum(), [x])  # Hessian-vector product: second derivative
        results.append((out.data, gx.data, hv.data))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_cross_entropy_values_and_targets():
    x = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]])
    y = np.array([2, 0])
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    ref = -logp[[0, 1], y]
    with float64():
        assert nn.CrossEntropyLoss()(ag.tensor(x), y).item() == pytest.approx(ref.mean())
        assert nn.CrossEntropyLoss(reduction="sum")(ag.tensor(x), ag.tensor(y)).item() == pytest.approx(ref.sum())
        np.testing.assert_allclose(nn.CrossEntropyLoss(reduction="none")(ag.tensor(x), y).data, ref)
        onehot = np.eye(3)[y]
        assert nn.CrossEntropyLoss()(ag.tensor(x), onehot).item() == pytest.approx(ref.mean())
        assert nn.CrossEntropyLoss()(ag.tensor(x), y.astype(float)).item() == pytest.approx(ref.mean())
        # unbatched: logits (C,) and a scalar class index
        assert nn.CrossEntropyLoss()(ag.tensor(x[0]), 2).item() == pytest.approx(ref[0])
        # NLL of log-probabilities is the same number
        assert nn.NLLLoss()(ag.tensor(logp), y).item() == pytest.approx(ref.mean())


def test_default_dtype_losses_stay_float32():
    x = ag.randn(4, 3, seed=0, requires_grad=True)
    for loss in (nn.CrossEntropyLoss()(x, np.array([0, 1, 2, 0])), nn.MSELoss()(x, np.zeros((4, 3))),
                 nn.BCEWithLogitsLoss()(x, np.ones((4, 3))), nn.BCELoss()(x.sigmoid(), np.ones((4, 3)))):
        assert loss.dtype == np.float32
        loss.backward()
        assert x.grad.dtype == np.float32


def test_losses_stable_for_huge_logits():
    x = ag.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], requires_grad=True)
    ce = nn.CrossEntropyLoss()(x, [1, 2])
    ce.backward()
    assert ce.item() == pytest.approx(2e4 / 2)
    # (softmax - onehot) / N: row 0 puts all mass on class 0 (target 1), row 1 on class 2 (its target)
    np.testing.assert_allclose(x.grad.data, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)
    z = ag.tensor([1e4, -1e4, 1e4, -1e4], requires_grad=True)
    bce = nn.BCEWithLogitsLoss(reduction="none")(z, [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(bce.data, [0, 0, 1e4, 1e4])
    bce.sum().backward()
    np.testing.assert_allclose(z.grad.data, [0, 0, 1, -1])


def test_bce_values_and_clamping():
    p = np.array([0.2, 0.7, 0.0, 1.0])
    y = np.array([0.0, 1.0, 0.0, 0.0])
    with float64():
        t = ag.tensor(p, requires_grad=True)
        out = nn.BCELoss(reduction="none")(t, y)
        np.testing.assert_allclose(out.data, [-np.log(0.8), -np.log(0.7), 0.0, 100.0])
        out.sum().backward()
        # (p - y) / max(p (1 - p), 1e-12), PyTorch's clamp: at p = 0 (y = 0) exactly 0, at p = 1 (y = 0) 1e12
        np.testing.assert_allclose(t.grad.data, [0.2 / 0.16, -0.3 / 0.21, 0.0, 1e12], rtol=1e-12)
        z = ag.tensor(np.array([-1.0, 0.5]))
        expected = nn.BCELoss()(z.sigmoid(), [1.0, 0.0]).item()
        assert nn.BCEWithLogitsLoss()(z, [1.0, 0.0]).item() == pytest.approx(expected)


def test_mse_and_reduction_errors():
    x = ag.tensor([[1.0, 2.0]])
    assert nn.MSELoss()(x, [[0.0, 0.0]]).item() == pytest.approx(2.5)
    with pytest.raises(ValueError, match=r"\(1, 2\).*\(2,\)"):
        nn.MSELoss()(x, [0.0, 0.0])
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match=r"\(1, 2\).*\(2, 1\)"):
        nn.BCEWithLogitsLoss()(x, [[0.0], [1.0]])
    with pytest.raises(ValueError, match="probabilities"):
        nn.BCELoss()(ag.tensor([1.5]), [1.0])


def test_cross_entropy_errors_name_shapes_and_values():
    x = ag.zeros(3, 4)
    with pytest.raises(IndexError, match=r"\[4\].*4 classes.*\(3, 4\)"):
        nn.CrossEntropyLoss()(x, [0, 4, 1])
    with pytest.raises(IndexError, match=r"\[-1\]"):
        nn.CrossEntropyLoss()(x, [0, -1, 1])
    with pytest.raises(ValueError, match=r"\(2,\).*\(3, 4\)"):
        nn.CrossEntropyLoss()(x, [0, 1])
    with pytest.raises(ValueError, match="whole numbers"):
        nn.CrossEntropyLoss()(x, [0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        nn.NLLLoss()(ag.zeros(2, 3, 4), np.zeros((2, 3), dtype=int))
