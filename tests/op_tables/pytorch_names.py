"""The boundary cases of autograd_mini/ops/pytorch_names.py (composites: no Function, so no GRADCHECK)."""

from __future__ import annotations

import numpy as np

from tests.op_tables import ELEMENTWISE, Edges

EDGES = {
    "permute": Edges(lambda L, a: L.permute(a.reshape(1, -1), (1, 0)), **ELEMENTWISE),
    "unsqueeze": Edges(lambda L, a: L.unsqueeze(a, -1), scalar=lambda L, a: L.unsqueeze(a, np.int64(0))),
    "cat": Edges(lambda L, a, b: L.cat([a.reshape(-1), b.reshape(-1)], -1), 2,
                 skip={"np_scalar": "operands are tensors"}),
    "clamp": Edges(lambda L, a: L.clamp(a, -1.0, 1.0), inputs={"tie": [np.array([-1.0, 1.0, 0.0, 2.0])]},
                   scalar=lambda L, a: L.clamp(a, np.float64(-1.0), np.float64(1.0))),
}
