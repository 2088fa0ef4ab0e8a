"""PyTorch names we spell otherwise (numpy's names) or do not need: the ``AttributeError`` for one of them says
what to write instead. Only names that are missing reach this table, so an op added later simply wins."""

from __future__ import annotations

__all__ = ["TENSOR", "MODULE", "missing_attribute"]

_DROP = "drop the call: "
# t.<PyTorch name> -> ours
TENSOR = {
    "clamp_min": "t.clip(min=...)",
    "clamp_max": "t.clip(max=...)", "ndimension": "t.ndim", "nelement": "t.size",
    "mm": "t @ other", "bmm": "t @ other",
    "long": "t.astype(np.int64)", "int": "t.astype(np.int32)", "float": "t.astype(np.float32)",
    "double": "t.astype(np.float64)", "half": "t.astype(np.float16)", "bool": "t.astype(bool)",
    "type_as": "t.astype(other.dtype)", "to": "t.astype(dtype) (there are no devices: numpy runs on the CPU)",
    "cuda": _DROP + "there are no devices (numpy runs on the CPU)", "cpu": _DROP + "tensors are always on the CPU",
    "contiguous": _DROP + "numpy copies where it must",
    "clone": "ag.tensor(t) (a copy, no graph), or t * 1 (a recorded copy)",
}
# ag.<PyTorch name> -> ours
MODULE = {
    "mm": "ag.matmul(a, b)", "bmm": "ag.matmul(a, b)",
    "from_numpy": "ag.tensor(array) or ag.as_tensor(array)", "float32": "np.float32 (dtypes are numpy's)",
    "float64": "np.float64 (dtypes are numpy's)", "int64": "np.int64 (dtypes are numpy's)",
    "int32": "np.int32 (dtypes are numpy's)", "long": "np.int64 (dtypes are numpy's)",
}


def missing_attribute(owner: str, name: str, table: dict[str, str]) -> AttributeError:
    """The ``AttributeError`` for ``owner.name``, saying what to write when ``name`` is PyTorch's."""
    fix = table.get(name)
    if fix is not None and not fix.startswith(_DROP):
        fix = f"write {fix} (PyTorch's {name})"
    return AttributeError(f"{owner} has no attribute {name!r}" + (f"; {fix}" if fix else ""), name=name)
