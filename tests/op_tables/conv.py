"""Boundary cases of the convolution and resampling ops of #20 item 7 (ops/conv.py, ops/pool.py, ops/resample.py).

Operands are laid out as one-row images; conv.py's and pool.py's primitives have their gradcheck table in
tests/test_conv.py, their PyTorch comparisons (first and second order) in tests/test_conv_pytorch.py.
"""

from __future__ import annotations

from tests.op_tables import INT_IMAGES, Edges, torch

_OPERANDS = {"np_scalar": "operands are tensors", **INT_IMAGES,
             "empty": "a 0-wide kernel: ours is the empty sum 0, PyTorch refuses the shape"}


def _img(a):
    return a.reshape(1, 1, 1, -1)


def _row(a):
    return a.reshape(1, 1, -1)


EDGES = {
    "conv_transpose2d": Edges(lambda L, a, b: L.conv_transpose2d(_img(a), _img(b), stride=2), 2, skip=_OPERANDS),
    "conv1d": Edges(lambda L, a, b: L.conv1d(_row(a), _row(b), padding=1), 2, skip=_OPERANDS),
    "conv_transpose1d": Edges(lambda L, a, b: L.conv_transpose1d(_row(a), _row(b), stride=3), 2, skip=_OPERANDS),
}

TORCH = {} if torch is None else {
    "conv_transpose2d": torch.nn.functional.conv_transpose2d,
    "conv1d": torch.nn.functional.conv1d,
    "conv_transpose1d": torch.nn.functional.conv_transpose1d,
}
