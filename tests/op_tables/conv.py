"""Boundary cases of the convolution and resampling ops of #20 item 7 (ops/conv.py, ops/pool.py, ops/resample.py).

Operands are laid out as one-row images; conv.py's and pool.py's primitives have their gradcheck table in
tests/test_conv.py, their PyTorch comparisons (first and second order) in tests/test_conv_pytorch.py.
"""

from __future__ import annotations

import numpy as np

from tests.op_tables import INT_IMAGES, NO_SCALAR, Edges, torch

_OPERANDS = {"np_scalar": "operands are tensors", **INT_IMAGES,
             "empty": "a 0-wide kernel: ours is the empty sum 0, PyTorch refuses the shape"}
_EMPTY_SHUFFLE = {"empty": "PyTorch's pixel (un)shuffle backward fails on a size-0 width (ours: the batch-0 case in "
                           "tests/test_conv_pytorch.py)"}


_ADAPTIVE = {"int": "PyTorch's adaptive pools refuse integers (ours too: a clear error)", "bool": "as int"}


def _img(a):
    return a.reshape(1, 1, 1, -1)


def _size(a):
    return int(np.prod(tuple(a.shape)))


def _row(a):
    return a.reshape(1, 1, -1)


def _nd(a, nd):
    """a as one row of an input with nd spatial axes."""
    return a.reshape((1, 1) + (1,) * (nd - 1) + (-1,))


EDGES = {
    "conv_transpose2d": Edges(lambda L, a, b: L.conv_transpose2d(_img(a), _img(b), stride=2), 2, skip=_OPERANDS),
    "conv1d": Edges(lambda L, a, b: L.conv1d(_row(a), _row(b), padding=1), 2, skip=_OPERANDS),
    "conv_transpose1d": Edges(lambda L, a, b: L.conv_transpose1d(_row(a), _row(b), stride=3), 2, skip=_OPERANDS),
    "conv3d": Edges(lambda L, a, b: L.conv3d(_img(a).reshape(1, 1, 1, 1, -1), _img(b).reshape(1, 1, 1, 1, -1)), 2,
                    skip=_OPERANDS),
    "conv_transpose3d": Edges(lambda L, a, b: L.conv_transpose3d(_nd(a, 3), _nd(b, 3), stride=2), 2, skip=_OPERANDS),
    "max_pool1d": Edges(lambda L, a: L.max_pool1d(_row(a), 2, 1, 1, ceil_mode=True), skip=NO_SCALAR),
    "avg_pool1d": Edges(lambda L, a: L.avg_pool1d(_row(a), 2, 2, 1, ceil_mode=True), skip=NO_SCALAR),
    "max_pool3d": Edges(lambda L, a: L.max_pool3d(_row(a).reshape(1, 1, 1, 1, -1), (1, 1, 2), padding=(0, 0, 1)),
                        skip=NO_SCALAR),
    "avg_pool3d": Edges(lambda L, a: L.avg_pool3d(_row(a).reshape(1, 1, 1, 1, -1), (1, 1, 2), ceil_mode=True),
                        skip=NO_SCALAR | {"int": "PyTorch's avg_pool3d refuses integers (ours too: a clear error)",
                                          "bool": "as int"}),
    "max_unpool2d": Edges(lambda L, a: L.max_unpool2d(_img(a), _img(np.arange(_size(a)) * 2), (1, 2)),
                          skip=NO_SCALAR | {"int": "PyTorch's max_unpool2d refuses integers (ours too: a clear error)",
                                            "bool": "as int", "empty": "both refuse a 0-wide input"}),
    **{f"adaptive_{kind}_pool{nd}d": Edges(lambda L, a, kind=kind, nd=nd: getattr(L, f"adaptive_{kind}_pool{nd}d")(
        _nd(a, nd), 2), skip=NO_SCALAR | _ADAPTIVE)
       for kind in ("avg", "max") for nd in (1, 2, 3) if (kind, nd) != ("avg", 2)},
    **{f"max_unpool{nd}d": Edges(lambda L, a, nd=nd: getattr(L, f"max_unpool{nd}d")(
        _nd(a, nd), _nd(np.arange(_size(a)) * 2, nd), (1,) * (nd - 1) + (2,)),
        skip=NO_SCALAR | {"int": "PyTorch's max_unpool refuses integers (ours too: a clear error)", "bool": "as int",
                          "empty": "both refuse a 0-wide input"}) for nd in (1, 3)},
    "interpolate": Edges(lambda L, a: L.interpolate(_row(a), scale_factor=2, mode="linear"), skip=NO_SCALAR),
    "pixel_shuffle": Edges(lambda L, a: L.pixel_shuffle(L.broadcast_to(_img(a), (1, 4, 1, _img(a).shape[-1])), 2),
                           skip=NO_SCALAR | _EMPTY_SHUFFLE),
    "pixel_unshuffle": Edges(lambda L, a: L.pixel_unshuffle(_pairs(L, a), 2), skip=NO_SCALAR | _EMPTY_SHUFFLE),
}


def _pairs(L, a):
    """(1, 1, 2, 2 n): a's row twice, each element twice."""
    b = L.cat([_img(a), _img(a)], -2)
    return L.cat([b, b], -1)


TORCH = {} if torch is None else {
    "conv_transpose2d": torch.nn.functional.conv_transpose2d,
    "conv1d": torch.nn.functional.conv1d,
    "conv3d": torch.nn.functional.conv3d,
    "conv_transpose1d": torch.nn.functional.conv_transpose1d,
    "conv_transpose3d": torch.nn.functional.conv_transpose3d,
    "max_pool1d": torch.nn.functional.max_pool1d,
    "max_pool3d": torch.nn.functional.max_pool3d,
    "avg_pool3d": torch.nn.functional.avg_pool3d,
    "avg_pool1d": torch.nn.functional.avg_pool1d,
    "interpolate": torch.nn.functional.interpolate,
    **{f"adaptive_{kind}_pool{nd}d": getattr(torch.nn.functional, f"adaptive_{kind}_pool{nd}d")
       for kind in ("avg", "max") for nd in (1, 2, 3) if (kind, nd) != ("avg", 2)},
    **{f"max_unpool{nd}d": lambda x, i, k, nd=nd: getattr(torch.nn.functional, f"max_unpool{nd}d")(
        x, torch.as_tensor(i), k) for nd in (1, 2, 3)},
}
