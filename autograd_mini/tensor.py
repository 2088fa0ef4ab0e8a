"""``Tensor``: an ndarray plus the graph bookkeeping of reverse-mode differentiation.

Operators and methods are one-line delegations to the op table in ``ops``.
"""

from __future__ import annotations

from typing import Any

from ._backend import get_default_dtype, set_default_dtype, xp
from ._torch_names import TENSOR, missing_attribute

__all__ = ["Tensor", "get_default_dtype", "set_default_dtype"]

_new = object.__new__


def _fill(t: Tensor, data: Any, node: Any, name: str | None) -> None:
    """The one place a Tensor's fields are set (``__init__`` for users, ``_wrap`` for the engine)."""
    t._data = data
    t.grad = None
    t.grad_fn = node
    t._requires_grad = node is not None
    t.name = name


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
        if dtype is None and arr.dtype.kind == "f" and arr.dtype != get_default_dtype() \
                and not isinstance(data, xp.generic):
            arr = arr.astype(_nested_float_dtype(data))  # Python floats follow the default dtype
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"tensor: data must be numeric (bool, int, float), got dtype {arr.dtype}")
    return arr


def _nested_float_dtype(data: Any) -> Any:
    """The float dtype of nested lists, as ``torch.tensor`` infers it: Python floats take the default
    dtype, numpy scalars and arrays keep theirs (``[np.float64(0.1), 1.0]`` is float64)."""
    found = []
    stack = [data]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, (xp.generic, xp.ndarray)) and v.dtype.kind == "f":
            found.append(v.dtype)
        elif isinstance(v, float):
            found.append(get_default_dtype())
    return xp.result_type(*found) if found else get_default_dtype()


def as_operand(x: Any) -> Any:
    """A non-Tensor operand of an op. numpy scalars act as the Python scalars they hold, so they do not
    promote a tensor's dtype (``t32 * np.float64(2)`` stays float32, as in PyTorch)."""
    return x.item() if isinstance(x, xp.generic) else x


class Tensor:
    """An n-dimensional array that records the ops applied to it for ``backward()``.

    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward(); x.grad
    tensor([2., 4.])
    """

    __slots__ = ("_data", "grad", "_requires_grad", "grad_fn", "name", "_hooks", "_views", "_view_of",
                 "__weakref__")
    # unset until used: _hooks by ``register_hook`` on a leaf (hooks.py), _views and _view_of by basic indexing
    # (_views.py)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """numpy meets a Tensor: ``ndarray * t`` is the recorded op (``t.__rmul__``), as Python's reflected
        operator; ``p.data -= lr * p.grad`` (an ndarray written in place) takes the Tensor's values."""
        out = kwargs.get("out")
        if method == "__call__" and out and all(type(o) is xp.ndarray for o in out):
            arrays = [x._data if isinstance(x, Tensor) else x for x in inputs]
            try:
                return ufunc(*arrays, **kwargs)
            except ValueError as e:
                from .mutation import refused_write

                raise refused_write(out[0], f"numpy {ufunc.__name__} with out=", e) from None
        name = _REFLECTED.get(ufunc.__name__) if method == "__call__" and not kwargs and len(inputs) == 2 else None
        if name is not None:
            a, b = inputs
            if b is self and not isinstance(a, Tensor):
                return getattr(self, name[1])(a)
            if a is self and not isinstance(b, Tensor):
                return getattr(self, name[0])(b)
        raise TypeError(f"numpy's {ufunc.__name__} ({method}) does not take a Tensor: use the ag function or the "
                        f"Tensor's method (ag.{ufunc.__name__}(t) where it exists), or pass t.data for the array "
                        "(not recorded)")

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> None:
        _fill(self, as_array(data, dtype), None, name)
        if requires_grad:
            self.requires_grad_(True)

    def __getstate__(self) -> tuple:
        """What copy and pickle keep: the slots, less the hooks and the views registry (they belong to this
        object: a copy has no hooks and no views yet)."""
        return None, {k: getattr(self, k) for k in _COPIED if hasattr(self, k)}

    @classmethod
    def _wrap(cls, data: Any, node: Any = None) -> Tensor:
        """A Tensor around a trusted ndarray: a constant, or an op's output when ``node`` is its Node."""
        t = _new(cls)
        _fill(t, data, node, None)
        return t

    # ---- data and flags -------------------------------------------------------------
    @property
    def data(self) -> Any:
        """The underlying ndarray (no copy). Assigning to it (``p.data = ...``) is not recorded.

        While a recorded op holds this array for backward it is read-only (docs/reliability.md,
        "The in-place rule"); assign a new array instead, or backward first.
        """
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        arr = as_array(value)
        if arr.shape != self._data.shape and self.grad_fn is not None:
            raise ValueError(f"cannot assign data of shape {arr.shape} to a non-leaf tensor of shape {self.shape}")
        self._data = arr

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
    def size(self) -> _Size:
        """The number of elements, an int (numpy's ``a.size``) that PyTorch's ``t.size()`` / ``t.size(d)`` can call."""
        return _Size(self._data.size, self._data.shape)

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

    # ---- Python numbers from one-element tensors: float(loss), int(t), f"{loss:.4f}", round(t, 3) ----
    def _scalar(self, what: str) -> Any:
        if self._data.size != 1:
            raise TypeError(f"{what}: only a one-element tensor converts to a Python number, this one has shape "
                            f"{self.shape} ({self._data.size} elements); use .tolist() or index one element first")
        return self._data.item()

    def __float__(self) -> float: return float(self._scalar("float()"))
    def __int__(self) -> int: return int(self._scalar("int()"))
    def __complex__(self) -> complex: return complex(self._scalar("complex()"))

    def __round__(self, ndigits: int | None = None) -> Any:
        return round(self._scalar("round()"), ndigits)

    def __index__(self) -> int:
        # 0-d integers only: numpy asks __index__ first, so a shape-(1,) index tensor would pick a scalar instead
        # of a (1,) array, and a 0-d bool (a mask in numpy) would pick element 0 or 1
        if self._data.dtype.kind not in "iu" or self._data.ndim:
            raise TypeError(f"only a 0-d integer tensor can be used as an index, got a {self._data.dtype} tensor of "
                            f"shape {self.shape}; use int(t) (truncates a float) or index with t.tolist()")
        return int(self._data.item())

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a one-element tensor's value; a larger one each element (numpy's layout)."""
        if not spec:
            return str(self)
        if self._data.size == 1:
            return format(self._data.item(), spec)
        return xp.array2string(self._data, formatter={"all": lambda v: format(v.item(), spec)})

    def numpy(self) -> Any:
        return self._data

    def tolist(self) -> Any:
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        if dtype is not None and dtype != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor._wrap(self._data)

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (PyTorch semantics: ``retain_graph``
        defaults to ``create_graph``; ``gradient`` is copied)."""
        from .engine import backward

        if gradient is None and self._data.size != 1:
            raise RuntimeError(f"backward() on a tensor of shape {self.shape} needs a `gradient` of that shape; only "
                               "a single-element output gets the implicit gradient 1: reduce it first, "
                               "y.sum().backward() or y.mean().backward(), or pass y.backward(gradient)")
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def __repr__(self) -> str:
        body = xp.array2string(self._data, separator=", ", prefix="tensor(")
        extra = ""
        if self._data.dtype != get_default_dtype() and self._data.dtype.kind == "f" or self._data.dtype.kind not in "f":
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

    def __getattr__(self, name: str) -> Any:  # only names Tensor lacks get here: PyTorch's get ours in the error
        raise missing_attribute(f"{type(self).__name__!r} object", name, TENSOR)

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
    def __floordiv__(self, o: Any) -> Tensor: return _ops.floor_divide(self, o)
    def __rfloordiv__(self, o: Any) -> Tensor: return _ops.floor_divide(o, self)
    def __mod__(self, o: Any) -> Tensor: return _ops.remainder(self, o)
    def __rmod__(self, o: Any) -> Tensor: return _ops.remainder(o, self)
    def __pow__(self, o: Any) -> Tensor: return _ops.pow(self, o)
    def __rpow__(self, o: Any) -> Tensor: return _ops.pow(o, self)
    def __matmul__(self, o: Any) -> Tensor: return _p.MatMul.apply(self, o)
    def __rmatmul__(self, o: Any) -> Tensor: return _p.MatMul.apply(o, self)
    def __neg__(self) -> Tensor: return _p.Neg.apply(self)
    def __pos__(self) -> Tensor: return self
    def __abs__(self) -> Tensor: return _p.Abs.apply(self)
    def __getitem__(self, index: Any) -> Tensor: return _ops.getitem(self, index)
    def __lt__(self, o: Any) -> Tensor: return self._compare(o, "less")
    def __le__(self, o: Any) -> Tensor: return self._compare(o, "less_equal")
    def __gt__(self, o: Any) -> Tensor: return self._compare(o, "greater")
    def __ge__(self, o: Any) -> Tensor: return self._compare(o, "greater_equal")
    def __eq__(self, o: Any) -> Tensor: return self._compare(o, "equal")  # type: ignore[override]
    def __ne__(self, o: Any) -> Tensor: return self._compare(o, "not_equal")  # type: ignore[override]

    def _compare(self, o: Any, op: str) -> Any:
        """Python's answer for None and strings, as PyTorch's: ``x == None`` is False, ``x < None`` a TypeError."""
        return NotImplemented if o is None or isinstance(o, (str, bytes)) else _ops.compare(self, o, op)

    # ---- methods: each op declared with ``@op(name, method=True)`` (autograd_mini/ops) adds its own ----
    @property
    def T(self) -> Tensor:
        return _ops.transpose(self)

    # ---- PyTorch's names (#20; ops/pytorch_names.py, logic.py, grids.py): one-line delegations ----------
    def dim(self) -> int: return self._data.ndim
    def numel(self) -> int: return self._data.size
    @property
    def mT(self) -> Tensor: return _ops.pytorch_names.mT(self)  # noqa: N802
    def view(self, *shape: Any) -> Tensor: return _ops.reshaped("view", self, shape)
    def view_as(self, other: Any) -> Tensor: return _ops.reshaped("view", self, other.shape)
    def reshape_as(self, other: Any) -> Tensor: return _ops.reshape(self, other.shape)
    def expand(self, *sizes: Any) -> Tensor: return _ops.pytorch_names.expand(self, *sizes)
    def expand_as(self, other: Any) -> Tensor: return _ops.broadcast_to(self, other.shape)
    def repeat(self, *sizes: Any) -> Tensor: return _ops.pytorch_names.repeat_torch(self, *sizes)
    def repeat_interleave(self, repeats: Any, dim: Any = None) -> Tensor:
        return _ops.repeat_interleave(self, repeats, dim)
    def where(self, condition: Any, other: Any) -> Tensor: return _ops.where(condition, self, other)
    def __and__(self, o: Any) -> Tensor: return _ops.bitwise_and(self, o)
    def __rand__(self, o: Any) -> Tensor: return _ops.bitwise_and(o, self)
    def __or__(self, o: Any) -> Tensor: return _ops.bitwise_or(self, o)
    def __ror__(self, o: Any) -> Tensor: return _ops.bitwise_or(o, self)
    def __xor__(self, o: Any) -> Tensor: return _ops.bitwise_xor(self, o)
    def __rxor__(self, o: Any) -> Tensor: return _ops.bitwise_xor(o, self)
    def __invert__(self) -> Tensor: return _ops.bitwise_not(self)
    def __lshift__(self, o: Any) -> Tensor: return _ops.bitwise_left_shift(self, o)
    def __rlshift__(self, o: Any) -> Tensor: return _ops.bitwise_left_shift(o, self)
    def __rshift__(self, o: Any) -> Tensor: return _ops.bitwise_right_shift(self, o)
    def __rrshift__(self, o: Any) -> Tensor: return _ops.bitwise_right_shift(o, self)
    # ---- end of PyTorch's names ----------------------------------------------------------------------


class _Size(int):
    """``t.size``: numpy's element count, and PyTorch's ``t.size()`` (the shape) / ``t.size(d)`` (one axis)."""

    def __new__(cls, n: int, shape: tuple) -> _Size:
        s = super().__new__(cls, n)
        s._shape = shape
        return s

    def __call__(self, dim: int | None = None) -> Any:
        if dim is None:
            return self._shape
        if not -len(self._shape) <= dim < len(self._shape):
            raise IndexError(f"size: dim {dim} is out of range for shape {self._shape}")
        return self._shape[dim]


_COPIED = ("_data", "grad", "_requires_grad", "grad_fn", "name")

_REFLECTED = {  # numpy ufunc -> (Tensor's operator, Tensor's reflected operator)
    "add": ("__add__", "__radd__"), "subtract": ("__sub__", "__rsub__"), "multiply": ("__mul__", "__rmul__"),
    "divide": ("__truediv__", "__rtruediv__"), "power": ("__pow__", "__rpow__"),
    "matmul": ("__matmul__", "__rmatmul__"), "less": ("__lt__", "__gt__"), "less_equal": ("__le__", "__ge__"),
    "greater": ("__gt__", "__lt__"), "greater_equal": ("__ge__", "__le__"), "equal": ("__eq__", "__eq__"),
    "not_equal": ("__ne__", "__ne__"),
}

# The one edge up: operators delegate to the op table, which imports Tensor (and adds the methods).
from . import ops as _ops  # noqa: E402
from .ops import primitives as _p  # noqa: E402
