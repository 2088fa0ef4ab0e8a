"""The hand-written numpy reference for the CNN benchmark: one SGD step of LeNet, backprop by hand.

conv(1->6, 5x5, pad 2) - ReLU - maxpool 2 - conv(6->16, 5x5) - ReLU - maxpool 2 - 400-120-84-10 on
(N, 1, 28, 28) float32 images. Convolutions are im2col (a window view copied once) and one GEMM; their
input gradient is a GEMM and a col2im over the 25 kernel offsets. Pooling is a reshape (2x2 windows do not
overlap). Dense weights are stored (in, out). This is the "no autodiff overhead" baseline.
"""

from __future__ import annotations

import numpy as np
import numpy_mlp  # beside this file: the dense head is the MLP reference's
from numpy.lib.stride_tricks import sliding_window_view

SHAPES = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (400, 120), (120,), (120, 84), (84,), (84, 10), (10,)]
FAN_IN = [25, 25, 150, 150, 400, 400, 120, 120, 84, 84]


def init_params(seed: int = 0, dtype=np.float32) -> list[np.ndarray]:
    """[conv1 w, b, conv2 w, b, fc1 W, b, fc2 W, b, fc3 W, b], PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1 / np.sqrt(f), 1 / np.sqrt(f), s).astype(dtype) for s, f in zip(SHAPES, FAN_IN)]


def _im2col(x: np.ndarray, k: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C*k*k, Ho*Wo)."""
    n, c, h, w = x.shape
    win = sliding_window_view(x, (k, k), axis=(2, 3))  # (N, C, Ho, Wo, k, k)
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * k * k, -1)


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, _, h, wd = x.shape
    o, _, k, _ = w.shape
    cols = _im2col(x, k)
    out = (w.reshape(o, -1) @ cols + b.reshape(1, o, 1)).reshape(n, o, h - k + 1, wd - k + 1)
    return out, cols


def _conv_backward(d: np.ndarray, cols: np.ndarray, w: np.ndarray, x_shape: tuple | None):
    """Gradients of weight, bias and (when ``x_shape`` is given) the input."""
    n, o, ho, wo = d.shape
    d2 = d.reshape(n, o, -1)
    dw = (d2 @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    db = d2.sum(axis=(0, 2))
    if x_shape is None:
        return dw, db, None
    k = w.shape[2]
    dcols = (w.reshape(o, -1).T @ d2).reshape(n, x_shape[1], k, k, ho, wo)
    dx = np.zeros(x_shape, d.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + ho, j:j + wo] += dcols[:, :, i, j]
    return dw, db, dx


def _pool(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def _pool_backward(d: np.ndarray, x: np.ndarray, out: np.ndarray) -> np.ndarray:
    up = out.repeat(2, axis=2).repeat(2, axis=3)
    return (x == up) * d.repeat(2, axis=2).repeat(2, axis=3)  # ties (rare in float data) all get the gradient


def step(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float) -> float:
    """Forward, loss, backward and SGD update (in place) for one batch; returns the loss."""
    cw1, cb1, cw2, cb2, W1, b1, W2, b2, W3, b3 = params
    n = x.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    z1, cols1 = _conv(xp, cw1, cb1)
    a1 = np.maximum(z1, 0)
    p1 = _pool(a1)
    z2, cols2 = _conv(p1, cw2, cb2)
    a2 = np.maximum(z2, 0)
    p2 = _pool(a2)
    f = p2.reshape(n, -1)
    loss, (dW1, db1, dW2, db2, dW3, db3), d = numpy_mlp.mlp_with_loss([W1, b1, W2, b2, W3, b3], f, y, True)
    d = d.reshape(p2.shape)
    d = _pool_backward(d, a2, p2) * (z2 > 0)
    dcw2, dcb2, d = _conv_backward(d, cols2, cw2, p1.shape)
    d = _pool_backward(d, a1, p1) * (z1 > 0)
    dcw1, dcb1, _ = _conv_backward(d, cols1, cw1, None)  # the images need no gradient
    for p, g in zip(params, (dcw1, dcb1, dcw2, dcb2, dW1, db1, dW2, db2, dW3, db3)):
        p -= lr * g
    return loss
