"""Every layer and loss: gradients w.r.t. inputs and parameters against central differences (float64)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
import nn
import nn.functional as F
from tests._fd import away_from_zero, float64
from tests._fd import check_tensor_grads as check_grads

sizes = st.integers(1, 4)
seeds = st.integers(0, 2**16)
REDUCTIONS = ["mean", "sum", "none"]


def _leaf(a):
    return ag.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


LAYERS = {
    "Linear": lambda d, rng: nn.Linear(d, 3, seed=rng),
    "Linear-nobias": lambda d, rng: nn.Linear(d, 2, bias=False, seed=rng),
    "Identity": lambda d, rng: nn.Identity(),
    "Flatten": lambda d, rng: nn.Flatten(),
    "Sigmoid": lambda d, rng: nn.Sigmoid(),
    "ReLU": lambda d, rng: nn.ReLU(),
    "LeakyReLU": lambda d, rng: nn.LeakyReLU(0.2),
    "Tanh": lambda d, rng: nn.Tanh(),
    "Softmax": lambda d, rng: nn.Softmax(),
    "LogSoftmax": lambda d, rng: nn.LogSoftmax(axis=-1),
    "Softmax-axis0": lambda d, rng: nn.Softmax(axis=0),
    "Dropout-eval": lambda d, rng: nn.Dropout(0.5).eval(),
    "MLP": lambda d, rng: nn.Sequential(nn.Linear(d, 4, seed=rng), nn.Tanh(), nn.Linear(4, 2, seed=rng)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@given(n=sizes, d=sizes, seed=seeds)
def test_layer_gradients(name, n, d, seed):
    rng = np.random.default_rng(seed)
    with float64():
        layer = LAYERS[name](d, rng)
    shape = (n, d, 2) if name == "Flatten" else (n, d)
    x = _leaf(away_from_zero(rng.standard_normal(shape)))
    params = list(layer.parameters())
    assert all(p.dtype == np.float64 for p in params)
    check_grads(lambda: layer(x), [x, *params], seed=seed)


@given(n=sizes, d=sizes, seed=seeds, p=st.sampled_from([0.0, 0.3, 0.5, 0.9]))
def test_dropout_gradients(n, d, seed, p):
    x = _leaf(np.random.default_rng(seed).standard_normal((n, d)))
    check_grads(lambda: F.dropout(x, p, training=True, seed=seed), [x], seed=seed)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=sizes, d=sizes, seed=seeds)
def test_mse_gradients(reduction, n, d, seed):
    rng = np.random.default_rng(seed)
    x, y = _leaf(rng.standard_normal((n, d))), _leaf(rng.standard_normal((n, d)))
    loss = nn.MSELoss(reduction)
    check_grads(lambda: loss(x, y), [x, y], seed=seed)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=sizes, c=st.integers(1, 5), seed=seeds)
def test_cross_entropy_index_gradients(reduction, n, c, seed):
    rng = np.random.default_rng(seed)
    x = _leaf(rng.standard_normal((n, c)) * 3)
    y = rng.integers(0, c, n)
    loss = nn.CrossEntropyLoss(reduction=reduction)
    check_grads(lambda: loss(x, y), [x], seed=seed)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=sizes, c=st.integers(1, 5), seed=seeds)
def test_cross_entropy_probability_gradients(reduction, n, c, seed):
    rng = np.random.default_rng(seed)
    x = _leaf(rng.standard_normal((n, c)))
    q = rng.random((n, c)) + 0.1
    t = _leaf(q / q.sum(axis=1, keepdims=True))
    loss = nn.CrossEntropyLoss(reduction=reduction)
    check_grads(lambda: loss(x, t), [x, t], seed=seed)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=sizes, c=st.integers(1, 5), seed=seeds)
def test_nll_gradients(reduction, n, c, seed):
    rng = np.random.default_rng(seed)
    with float64():
        model = nn.Sequential(nn.Linear(c, c, seed=rng), nn.LogSoftmax())
    x = _leaf(rng.standard_normal((n, c)))
    y = rng.integers(0, c, n)
    loss = nn.NLLLoss(reduction=reduction)
    check_grads(lambda: loss(model(x), y), [x, *model.parameters()], seed=seed)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=sizes, d=sizes, seed=seeds)
def test_bce_gradients(reduction, n, d, seed):
    rng = np.random.default_rng(seed)
    p = _leaf(rng.uniform(0.05, 0.95, (n, d)))
    y = _leaf(rng.random((n, d)))
    loss = nn.BCELoss(reduction=reduction)
    check_grads(lambda: loss(p, y), [p, y], seed=seed, rtol=1e-4)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(n=sizes, d=sizes, seed=seeds)
def test_bce_with_logits_gradients(reduction, n, d, seed):
    rng = np.random.default_rng(seed)
    with float64():
        layer = nn.Linear(d, 1, seed=rng)
    x = _leaf(away_from_zero(rng.standard_normal((n, d)) * 3))
    y = _leaf(rng.random((n, 1)))
    loss = nn.BCEWithLogitsLoss(reduction=reduction)
    check_grads(lambda: loss(layer(x), y), [x, y, *layer.parameters()], seed=seed)


@given(d=sizes, seed=seeds, weight=st.floats(0.0, 2.0))
def test_l2_penalty_gradients(d, seed, weight):
    rng = np.random.default_rng(seed)
    with float64():
        model = nn.Sequential(nn.Linear(d, 3, seed=rng), nn.ReLU(), nn.Linear(3, 1, seed=rng))
    pen = nn.L2Penalty(weight)
    check_grads(lambda: pen(model), list(model.parameters()), seed=seed)
    expected = weight / 2 * sum(float(np.sum(p.data ** 2)) for p in model.parameters())
    assert pen(model.parameters()).item() == pytest.approx(expected)
