"""The boundary cases of autograd_mini/ops/grids.py (composites of where and broadcast_to: no GRADCHECK)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.op_tables import Edges


def _rows(L: Any, a: Any) -> Any:
    """A 3-row matrix of ``a``'s elements (inf and nan included above and below the diagonal)."""
    flat = a.reshape(1, -1)
    return L.broadcast_to(flat, (3, flat.shape[1]))


EDGES = {
    "tril": Edges(lambda L, a: L.tril(_rows(L, a)), scalar=lambda L, a: L.tril(_rows(L, a), np.int64(-1))),
    "triu": Edges(lambda L, a: L.triu(_rows(L, a), 1), scalar=lambda L, a: L.triu(_rows(L, a), np.int64(1))),
    # both grids of both orders, so that each operand reaches the result (PyTorch gives None to an unused one)
    "meshgrid": Edges(lambda L, a, b: L.meshgrid(a.reshape(-1), b.reshape(-1)[:2], indexing="xy")[1] *
                      L.meshgrid(b.reshape(-1)[:2], a.reshape(-1), indexing="ij")[1], 2,
                      skip={"np_scalar": "operands are tensors", "bool": "PyTorch refuses bool * bool"}),
}
