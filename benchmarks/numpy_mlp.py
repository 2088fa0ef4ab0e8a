"""The hand-written numpy reference: one SGD step of a 784-128-64-10 ReLU MLP, backprop by hand.

Written the way the seed articles do it: forward keeping the activations, a stable softmax
cross-entropy, the chain rule spelled out layer by layer, an in-place SGD update. float32
throughout. This is the "zero autodiff overhead" baseline the engine is measured against.
"""

from __future__ import annotations

import numpy as np

SIZES = (784, 128, 64, 10)


def init_params(seed: int = 0, dtype=np.float32) -> list[np.ndarray]:
    """[W1, b1, W2, b2, W3, b3], weights stored (in, out) so that y = x @ W + b; He-uniform init."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        bound = np.sqrt(6.0 / n_in)
        params.append(rng.uniform(-bound, bound, size=(n_in, n_out)).astype(dtype))
        params.append(np.zeros(n_out, dtype=dtype))
    return params


def step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """Forward, loss, backward and SGD update (in place) for one batch; returns the loss."""
    loss, grads, _ = mlp_with_loss(params, x, y)
    for p, g in zip(params, grads):  # SGD, in place
        p -= lr * g
    return loss


def mlp_with_loss(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, input_grad: bool = False) -> tuple:
    """The 3-layer ReLU MLP and its mean softmax cross-entropy, forward and backward by hand:
    ``(loss, [dW1, db1, dW2, db2, dW3, db3], d loss / d x or None)``. The CNN reference's dense head too."""
    W1, b1, W2, b2, W3, b3 = params
    n = x.shape[0]
    # forward
    h1 = x @ W1 + b1
    a1 = np.maximum(h1, 0)
    h2 = a1 @ W2 + b2
    a2 = np.maximum(h2, 0)
    logits = a2 @ W3 + b3
    # softmax cross-entropy, shifted by the row max so exp never overflows
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(s[:, 0]) - shifted[rows, y]))
    # backward: d loss / d logits = (softmax - onehot) / n
    d = e / s
    d[rows, y] -= 1
    d /= n
    dW3 = a2.T @ d
    db3 = d.sum(axis=0)
    d = (d @ W3.T) * (h2 > 0)
    dW2 = a1.T @ d
    db2 = d.sum(axis=0)
    d = (d @ W2.T) * (h1 > 0)
    dW1 = x.T @ d
    db1 = d.sum(axis=0)
    return loss, [dW1, db1, dW2, db2, dW3, db3], (d @ W1.T if input_grad else None)


def gemms(params: list[np.ndarray], x: np.ndarray, acts: tuple) -> None:
    """Only the eight matrix products of ``step`` (3 forward, 5 backward): the step's floor."""
    W1, _, W2, _, W3, _ = params
    a1, a2, d3, d2, d1 = acts
    x @ W1
    a1 @ W2
    a2 @ W3
    a2.T @ d3
    d3 @ W3.T
    a1.T @ d2
    d2 @ W2.T
    x.T @ d1


def gemm_operands(params: list[np.ndarray], x: np.ndarray) -> tuple:
    """Arrays of the shapes ``gemms`` needs (activations and layer gradients of one batch)."""
    n = x.shape[0]
    rng = np.random.default_rng(1)
    a1, a2, d3, d2, d1 = (rng.standard_normal((n, k)).astype(x.dtype) for k in (128, 64, 10, 64, 128))
    return a1, a2, d3, d2, d1


# ---- the micrograd-sized MLP: 2-16-16-1 ReLU, mean squared error, 100 samples (micrograd's demo size) ------
TINY = (2, 16, 16, 1)


def tiny_params(seed: int = 0, dtype=np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out in zip(TINY[:-1], TINY[1:]):
        bound = 1 / np.sqrt(n_in)
        out += [rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype), np.zeros(n_out, dtype)]
    return out


def tiny_step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """Forward, MSE, backward and SGD (in place) by hand for the 2-16-16-1 ReLU MLP."""
    W1, b1, W2, b2, W3, b3 = params
    h1 = x @ W1 + b1
    a1 = np.maximum(h1, 0)
    h2 = a1 @ W2 + b2
    a2 = np.maximum(h2, 0)
    out = a2 @ W3 + b3
    diff = out - y
    loss = float(np.mean(diff * diff))
    d3 = diff * (2 / diff.size)
    dW3, db3 = a2.T @ d3, d3.sum(axis=0)
    d2 = (d3 @ W3.T) * (h2 > 0)
    dW2, db2 = a1.T @ d2, d2.sum(axis=0)
    d1 = (d2 @ W2.T) * (h1 > 0)
    dW1, db1 = x.T @ d1, d1.sum(axis=0)
    for p, g in zip(params, (dW1, db1, dW2, db2, dW3, db3)):
        p -= lr * g
    return loss
