"""Boundary and gradcheck cases for ops/rearrange.py (flip roll movedim narrow chunk unbind diagonal diag ...)."""

import numpy as np

import autograd_mini as ag
from tests.op_tables import NO_SCALAR, Edges, T


def _rows(L, a):
    """A 3-row matrix of ``a``'s elements (the boundary values on and off every diagonal)."""
    flat = a.reshape(1, -1)
    return L.broadcast_to(flat, (3, flat.shape[1]))


def _vec(a):
    return a.reshape(-1)


NOT_0D = {"0d": "needs an axis of its own: a 0-d tensor is refused as PyTorch refuses it (test_index_scans.py)"}

GRADCHECK = {
    "flip": (lambda x: ag.flip(x, (0, 2)) * x, lambda: [T(2, 3, 2)]),
    "roll": (lambda x: ag.roll(x, (1, -4), (0, 1)) * x, lambda: [T(2, 3)]),
    "movedim": (lambda x: ag.movedim(x, (0, 1), (2, 0)).sin(), lambda: [T(2, 3, 4)]),
    "narrow_chunk_unbind": (lambda x: x.narrow(1, 1, 2).sin() * ag.chunk(x, 2, 1)[0] + ag.unbind(x, 1)[2][:, None],
                            lambda: [T(3, 4)]),
    "diagonal_diag_embed": (lambda x: ag.diag_embed(ag.diagonal(x, 1, 0, 2), -1, 0, 2) * x[:, :1].sin(),
                            lambda: [T(3, 4, 3)]),
    "diag_trace": (lambda x: ag.diag(ag.diag(x, -1), 1) * ag.trace(x * x), lambda: [T(3, 3)]),
    "unfold": (lambda x: x.unfold(1, 2, 1).sin(), lambda: [T(2, 4)]),
}

EDGES = {
    "flip": Edges(lambda L, a: L.flip(a, (0,)) * a, scalar=lambda L, a: L.flip(a, (np.int64(-1),))),
    "roll": Edges(lambda L, a: L.roll(a, 1, 0) * a, skip=NO_SCALAR | NOT_0D),
    "movedim": Edges(lambda L, a: L.movedim(a.reshape(1, -1), 0, -1),
                     scalar=lambda L, a: L.movedim(a.reshape(1, -1), np.int64(0), np.int64(1))),
    "moveaxis": Edges(lambda L, a: L.moveaxis(a.reshape(1, -1), 0, 1), **{"skip": NO_SCALAR}),
    "narrow": Edges(lambda L, a: L.narrow(a, 0, 1, a.shape[0] - 1), skip=NOT_0D,
                    inputs={"empty": [np.zeros((1, 3))]}, scalar=lambda L, a: L.narrow(a, 0, np.int64(1), 2)),
    "chunk": Edges(lambda L, a: L.chunk(a, 2, 0)[0], skip=NOT_0D | {"empty": "a size-0 axis: one empty chunk "
                                                                           "(test_index_scans.py)"},
                   scalar=lambda L, a: L.chunk(a, np.int64(2), 0)[1]),
    "unbind": Edges(lambda L, a: L.unbind(a, -1)[0], skip=NO_SCALAR | NOT_0D),
    "diag": Edges(lambda L, a: L.diag(_vec(a), -1), skip=NO_SCALAR),
    "diag_embed": Edges(lambda L, a: L.diag_embed(_rows(L, a), 1, 0, 2), skip=NO_SCALAR),
}
