"""``Tensor``: an ndarray plus the graph bookkeeping of reverse-mode differentiation.

Operators and methods are one-line delegations to the op table in ``ops``.
"""

from __future__ import annotations

import sys
from typing import Any

from ._backend import xp

__all__ = ["Tensor", "get_default_dtype", "set_default_dtype"]

_default_dtype = xp.dtype(xp.float32)


def get_default_dtype() -> Any:
    """The dtype Python floats become (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python floats (and float lists) become: float32 or float64."""
    global _default_dtype
    d = xp.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_dtype = d


def as_array(data: Any, dtype: Any = None) -> Any:
    """Convert user data to an ndarray under the dtype policy, with clear errors."""
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, xp.ndarray):
        arr = data if dtype is None else data.astype(dtype, copy=False)
    else:
        try:
            arr = xp.asarray(data, dtype=dtype)
        except (ValueError, TypeError) as e:
            raise TypeError(f"tensor: cannot convert {type(data).__name__} to a numeric array ({e})") from None
        if dtype is None and arr.dtype.kind == "f" and arr.dtype != _default_dtype:
            arr = arr.astype(_default_dtype)  # Python floats follow the default dtype
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"tensor: data must be numeric (bool, int, float), got dtype {arr.dtype}")
    return arr


def sync_version(t: Tensor) -> None:
    """Turn an in-place write through an array handed out by ``.data`` into a version bump."""
    snap = t._snapshot
    if snap is not None and snap.tobytes() != t._data.tobytes():
        t._version += 1
        t._snapshot = t._data.copy() if t._savers else None


class Tensor:
    """An n-dimensional array that records the ops applied to it for ``backward()``.

    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward(); x.grad
    tensor([2., 4.])
    """

    __slots__ = ("_data", "grad", "_requires_grad", "grad_fn", "_version", "name", "_savers", "_snapshot",
                 "__weakref__")
    __array_ufunc__ = None  # make numpy defer to our reflected operators: ndarray * Tensor -> Tensor

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> None:
        self._set(as_array(data, dtype), None, name)
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: Any, node: Any = None) -> Tensor:
        """A Tensor around a trusted ndarray: a constant, or an op's output when ``node`` is its Node."""
        t = cls.__new__(cls)
        t._set(data, node, None)
        return t

    def _set(self, data: Any, node: Any, name: str | None) -> None:  # the one place a Tensor's fields are made
        self._data = data
        self.grad: Tensor | None = None
        self.grad_fn = node
        self._requires_grad = node is not None
        self._version = 0
        self.name = name
        self._savers = 0          # live recorded nodes that saved this tensor's array (see `data`)
        self._snapshot = None     # copy taken when `.data` was handed out while saved

    # ---- data and flags -------------------------------------------------------------
    @property
    def data(self) -> Any:
        """The underlying ndarray. Assigning to it (``p.data = ...``) is not recorded.

        While a recorded op holds this array for backward, the first read also keeps a copy, so
        that an in-place write through the returned array (``x.data[...] = 0``) is detected at
        backward (docs/reliability.md, "in-place rule").
        """
        if self._savers and self._snapshot is None and _refs_to_data(self) > _OWN_REFS:
            self._snapshot = self._data.copy()
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        arr = as_array(value)
        if arr.shape != self._data.shape and self.grad_fn is not None:
            raise ValueError(f"cannot assign data of shape {arr.shape} to a non-leaf tensor of shape {self.shape}")
        self._data = arr
        self._version += 1
        self._snapshot = None

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only; float dtypes only)."""
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use .detach() instead")
        if requires_grad and self._data.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self._data.dtype}")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> Any:
        return self._data.dtype

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def item(self) -> Any:
        if self._data.size != 1:
            raise ValueError(f"item(): tensor has {self._data.size} elements, expected 1")
        return self._data.item()

    def numpy(self) -> Any:
        return self.data  # through the getter: an exposed saved array is watched

    def tolist(self) -> Any:
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        if dtype is not None and dtype != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor._wrap(self._data)

    def astype(self, dtype: Any) -> Tensor:
        return _ops.astype(self, dtype)

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (PyTorch semantics: ``retain_graph``
        defaults to ``create_graph``; ``gradient`` is copied)."""
        from .engine import backward

        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def __repr__(self) -> str:
        body = xp.array2string(self._data, separator=", ", prefix="tensor(")
        extra = ""
        if self._data.dtype != _default_dtype and self._data.dtype.kind == "f" or self._data.dtype.kind not in "f":
            extra += f", dtype={self._data.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn=<{self.grad_fn.name}Backward>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self._data.size} elements is ambiguous")
        return bool(self._data)

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self) -> Any:
        """Iterate over the first axis, like an ndarray."""
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self._data)))

    # ---- operators: one-line delegations ---------------------------------------------
    def __add__(self, o: Any) -> Tensor: return _p.Add.apply(self, o)
    def __radd__(self, o: Any) -> Tensor: return _p.Add.apply(o, self)
    def __sub__(self, o: Any) -> Tensor: return _p.Sub.apply(self, o)
    def __rsub__(self, o: Any) -> Tensor: return _p.Sub.apply(o, self)
    def __mul__(self, o: Any) -> Tensor: return _p.Mul.apply(self, o)
    def __rmul__(self, o: Any) -> Tensor: return _p.Mul.apply(o, self)
    def __truediv__(self, o: Any) -> Tensor: return _p.Div.apply(self, o)
    def __rtruediv__(self, o: Any) -> Tensor: return _p.Div.apply(o, self)
    def __pow__(self, o: Any) -> Tensor: return _ops.pow(self, o)
    def __rpow__(self, o: Any) -> Tensor: return _ops.pow(o, self)
    def __matmul__(self, o: Any) -> Tensor: return _p.MatMul.apply(self, o)
    def __rmatmul__(self, o: Any) -> Tensor: return _p.MatMul.apply(o, self)
    def __neg__(self) -> Tensor: return _p.Neg.apply(self)
    def __pos__(self) -> Tensor: return self
    def __abs__(self) -> Tensor: return _p.Abs.apply(self)
    def __getitem__(self, index: Any) -> Tensor: return _ops.getitem(self, index)
    def __lt__(self, o: Any) -> Tensor: return _ops.compare(self, o, "less")
    def __le__(self, o: Any) -> Tensor: return _ops.compare(self, o, "less_equal")
    def __gt__(self, o: Any) -> Tensor: return _ops.compare(self, o, "greater")
    def __ge__(self, o: Any) -> Tensor: return _ops.compare(self, o, "greater_equal")
    def __eq__(self, o: Any) -> Tensor: return _ops.compare(self, o, "equal")  # type: ignore[override]
    def __ne__(self, o: Any) -> Tensor: return _ops.compare(self, o, "not_equal")  # type: ignore[override]

    # ---- methods: one-line delegations -----------------------------------------------
    def exp(self) -> Tensor: return _p.Exp.apply(self)
    def log(self) -> Tensor: return _p.Log.apply(self)
    def sqrt(self) -> Tensor: return _p.Sqrt.apply(self)
    def abs(self) -> Tensor: return _p.Abs.apply(self)
    def sin(self) -> Tensor: return _p.Sin.apply(self)
    def cos(self) -> Tensor: return _p.Cos.apply(self)
    def tanh(self) -> Tensor: return _p.Tanh.apply(self)
    def sigmoid(self) -> Tensor: return _p.Sigmoid.apply(self)
    def relu(self) -> Tensor: return _p.Relu.apply(self)
    def sign(self) -> Tensor: return _ops.sign(self)
    def pow(self, exponent: Any) -> Tensor: return _ops.pow(self, exponent)
    def clip(self, min: Any = None, max: Any = None) -> Tensor: return _ops.clip(self, min, max)
    def maximum(self, o: Any) -> Tensor: return _ops.maximum(self, o)
    def minimum(self, o: Any) -> Tensor: return _ops.minimum(self, o)
    def matmul(self, o: Any) -> Tensor: return _p.MatMul.apply(self, o)
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.sum(self, axis, keepdims)
    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.mean(self, axis, keepdims)
    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.max(self, axis, keepdims)
    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.min(self, axis, keepdims)
    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return _ops.var(self, axis, keepdims, ddof)
    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return _ops.std(self, axis, keepdims, ddof)
    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.logsumexp(self, axis, keepdims)
    def softmax(self, axis: int = -1) -> Tensor: return _ops.softmax(self, axis)
    def log_softmax(self, axis: int = -1) -> Tensor: return _ops.log_softmax(self, axis)
    def reshape(self, *shape: Any) -> Tensor: return _ops.reshape(self, *shape)
    def transpose(self, *axes: Any) -> Tensor: return _ops.transpose(self, *axes)
    def swapaxes(self, a: int, b: int) -> Tensor: return _ops.swapaxes(self, a, b)
    def expand_dims(self, axis: Any) -> Tensor: return _ops.expand_dims(self, axis)
    def squeeze(self, axis: Any = None) -> Tensor: return _ops.squeeze(self, axis)
    def broadcast_to(self, shape: Any) -> Tensor: return _ops.broadcast_to(self, shape)
    def flatten(self, start_axis: int = 0) -> Tensor: return _ops.flatten(self, start_axis)
    def erf(self) -> Tensor: return _ops.erf(self)
    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.prod(self, axis, keepdims)
    def cumsum(self, axis: Any = None) -> Tensor: return _ops.cumsum(self, axis)
    def argmax(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.argmax(self, axis, keepdims)
    def argmin(self, axis: Any = None, keepdims: bool = False) -> Tensor: return _ops.argmin(self, axis, keepdims)
    def topk(self, k: int, axis: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        return _ops.topk(self, k, axis, largest, sorted)
    def gather(self, dim: int, index: Any) -> Tensor: return _ops.gather(self, dim, index)
    def masked_fill(self, mask: Any, value: Any) -> Tensor: return _ops.masked_fill(self, mask, value)
    def repeat(self, repeats: Any, axis: Any = None) -> Tensor: return _ops.repeat(self, repeats, axis)
    def tile(self, reps: Any) -> Tensor: return _ops.tile(self, reps)

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self)


def _refs_to_data(t: Tensor) -> int:
    return sys.getrefcount(t._data)


# A node that saved the array holds a reference to it. The count of a dropped graph's nodes stays
# raised (no finalizer: it would cost every op), so the getter also asks whether anything besides
# the tensor holds the array; the baseline is measured, not assumed, for this interpreter.
_OWN_REFS = _refs_to_data(Tensor._wrap(xp.zeros(1)))

from . import ops as _ops  # noqa: E402  (ops import Tensor)
from .ops import primitives as _p  # noqa: E402
