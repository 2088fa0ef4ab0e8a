"""In-place ops with PyTorch's semantics: ``+= -= *= /= **=``, ``add_ sub_ mul_ div_ pow_ clamp_ zero_ fill_
copy_`` and ``t[index] = value``.

- Nothing recorded (``no_grad``, or no operand requires grad): the tensor's array is written in place (views of
  it see the write), unless a live graph saved that memory for backward: then the write is refused, naming the op
  that saved it. An array that is read-only for good (an op's result, someone else's array) is replaced instead.
- Recorded, on a leaf that requires grad: refused (its ``.grad`` would be the gradient of a value it no longer
  holds); the optimizer idiom runs under ``no_grad``.
- Recorded, on any other tensor: the op is recorded out of place and the same Tensor object stands for the result,
  as PyTorch rebases history. Its new node's first input is a Tensor holding the version before (``producer`` in
  ``function.py`` finds it for the nodes that used that version), so gradients reach both versions correctly.
  Memory is not written (an op's result is read-only for good); views share PyTorch's semantics another way:
- Views: a basic-indexing view (``row = h[0]``) written in place writes its base (``h[0] = new``), and a base
  given a new array refreshes its live basic-indexing views (``_views.py``), recorded (``ViewOf``) when the write
  was. An in-place op on any other view (``reshape``, ``transpose``...) is refused, and such views taken before a
  write that gave their base a new array keep the values they had.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from . import numpy as anp
from . import ops
from ._backend import xp
from ._views import base_of, views_of
from .function import Function, Node, next_epoch
from .grad_mode import no_grad, state
from .hooks import follow
from .inplace import holder, read_only_view
from .ops.primitives import GetItem as _GetItem
from .ops.primitives import _is_basic
from .tensor import Tensor

__all__ = ["version", "replaced", "refused_write", "SetItem", "ViewOf"]

_versions: dict[int, list] = {}  # id(Tensor) -> [weakref to it, writes so far] (absent: 0; Tensor's == is elementwise)
_replaced: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # an in-place op's Node -> (op, version)
_lock = threading.Lock()


def version(t: Tensor) -> int:
    """How many in-place ops changed ``t`` (PyTorch's ``t._version``)."""
    entry = _versions.get(id(t))
    return entry[1] if entry is not None and entry[0]() is t else 0


def replaced(node: Node) -> tuple[str, int] | None:
    """``(op, version)`` when ``node`` was recorded by an in-place op: the op (``"add_"``, ``"setitem"``) and the
    version of the tensor it replaced; None for any other node."""
    return _replaced.get(node)


def _bump(t: Tensor) -> int:
    key = id(t)
    with _lock:
        entry = _versions.get(key)
        if entry is None or entry[0]() is not t:
            entry = _versions[key] = [weakref.ref(t, lambda _: _versions.pop(key, None)), 0]
        entry[1] += 1
    return entry[1] - 1


class SetItem(Function):
    """``x`` with ``x[index] = value`` (value broadcast to the indexed region); ``index`` as numpy's."""
    formula = ("d setitem(x, value)/dx = 0 where written, else 1; "
               "d setitem(x, value)/dvalue: g[index] summed to value's shape")
    op_name = "setitem"

    @staticmethod
    def forward(ctx, x, value, *, index):
        out = x.copy()
        out[index] = value
        keep = xp.ones(x.shape, dtype=bool)
        keep[index] = False
        ctx.save_for_backward(keep)
        return out

    @staticmethod
    def backward(ctx, g):
        (keep,) = ctx.saved_tensors
        return anp.where(keep, g, 0), g[ctx.params["index"]]


def _update(t: Tensor, name: str, compute: Callable[..., Tensor], *args: Any) -> Tensor:
    """Give ``t`` the value ``compute(t, *args)`` in place (the rules in the module docstring)."""
    if state.enabled and (t._requires_grad or any(isinstance(a, Tensor) and a._requires_grad for a in args)):
        return _rebase(t, name, compute, args)
    with no_grad():
        new = compute(t, *args)
    _write(t, name, _checked(t, name, new)._data)
    return t


def _checked(t: Tensor, name: str, new: Tensor) -> Tensor:
    """The result as ``t`` can hold it: ``t``'s shape, cast to ``t``'s dtype when numpy's same-kind rule allows."""
    if new.shape != t.shape:
        raise RuntimeError(f"{name}: the result has shape {new.shape} but the tensor has shape {t.shape}; an "
                           "in-place op cannot change a tensor's shape (the other operand is broadcast to the "
                           "tensor, never the tensor to it). Use the out-of-place op: t = t + x.")
    if new.dtype != t.dtype:
        if not xp.can_cast(new.dtype, t.dtype, "same_kind"):
            raise TypeError(f"{name}: the result has dtype {new.dtype}, which a tensor of dtype {t.dtype} cannot "
                            f"hold (PyTorch's rule); convert first: t = t.astype('{new.dtype}')")
        new = ops.astype(new, t.dtype)
    return new


def refused_write(arr: Any, name: str, e: Exception) -> Exception:
    """The error for a write into ``arr`` that numpy refused (``e``): naming the op that saved it, if one did."""
    op = holder(arr) if not arr.flags.writeable else None
    if op is None:
        return ValueError(f"{name}: {e}")
    return RuntimeError(
        f"{name}: this memory (shape {arr.shape}) is saved for backward by `{getattr(op, '__name__', op)}` in a live "
        "graph, and writing it would make that gradient wrong. Write after backward() (which frees it), or give "
        "the tensor a new array: t.data = new_values.")


def _write(t: Tensor, name: str, values: Any, index: Any = Ellipsis) -> None:
    """Write ``values`` into ``t``'s array at ``index``. An op's read-only view of writable memory is written
    through (its base sees the write, as in PyTorch); an array read-only for good is replaced by a copy, and a
    basic-indexing view of one writes its base (which gets the copy, and re-makes the view)."""
    arr = t._data
    target = arr
    if not arr.flags.writeable:
        if holder(arr) is not None:
            raise refused_write(arr, name, ValueError("read-only"))
        if arr.base is None:
            target = arr = arr.copy()  # an op's result (read-only for good: consumers may keep it), or someone else's
        elif arr.base.flags.writeable:
            target = arr.view()        # written through; the tensor's own view stays read-only
            target.setflags(write=True)
        elif (viewed := _viewed(t)) is not None:
            base, at = viewed
            region = arr.copy()
            _assign(t, name, region, index, values)
            _write(base, name, region, at)
            return
        else:
            raise _view_error(t, name)
    _assign(t, name, target, index, values)
    replaced_array = arr is not t._data
    if state.tracer is not None:  # ag.compile: the program makes the same write
        state.tracer.write(t, arr, values, index, "copy" if replaced_array else "through" if target is not arr
                           else "in place")
    t._data = arr
    _bump(t)
    if replaced_array:
        _refresh(t)


def _assign(t: Tensor, name: str, target: Any, index: Any, values: Any) -> None:
    try:
        target[index] = values
    except ValueError as e:  # a value that does not broadcast to the indexed region
        raise ValueError(f"{name}: {e} (tensor shape {t.shape})") from None


def _refresh(b: Tensor) -> None:
    """After ``b`` got a new array: its basic-indexing views show it too (PyTorch's views share memory).
    A view of a recorded version is recorded again (``ViewOf``: its version before is the first input)."""
    for v, index in views_of(b):
        if b.grad_fn is not None and b._requires_grad and state.enabled:
            _become(v, ViewOf.apply(_old_version(v), b, index=index), "view of a write")
        else:
            v._data = read_only_view(b._data[index])
            if state.tracer is not None:  # ag.compile: the program re-makes the view too
                state.tracer.view(v, b, index)
            _bump(v)
        _refresh(v)


def _view_error(t: Tensor, name: str) -> RuntimeError:
    made = f" (made by `{t.grad_fn.name}`)" if t.grad_fn is not None else ""
    return RuntimeError(
        f"{name}: this tensor's array is a view of another tensor's{made}, which autograd-mini cannot write "
        "through here (PyTorch would change that tensor too). Write into that tensor (b[index] = b[index] + v), "
        "or make this one its own copy first: t = t * 1.")


def _viewed(t: Tensor) -> tuple[Tensor, Any] | None:
    """``(base tensor, index)`` when ``t`` is a basic-indexing view of its base's current version: recorded, or
    taken where nothing was recorded (``_views.base_of``)."""
    node = t.grad_fn
    if node is None:
        return base_of(t)
    if node.fn not in (_GetItem, ViewOf) or not _is_basic(node.params["index"]):
        return None
    b = node.inputs[-1]
    if b.grad_fn is not None and b.grad_fn.epoch > node.epoch:
        return None  # the base was changed in place since: this view shows an older version
    return b, node.params["index"]


class ViewOf(Function):
    """``base[index]`` standing for a view written in place (``row += v`` wrote ``base[index]``): the view's
    version before is its first input (so that the nodes which used it find it), and gets no gradient."""
    formula = "d view(before, base)/dbefore = 0; d view(before, base)/dbase: g put at index in zeros of base's shape"
    op_name = "view"

    @staticmethod
    def forward(ctx, before, base, *, index):
        ctx.save_for_backward(base.shape)
        return read_only_view(base[index])

    @staticmethod
    def backward(ctx, g):
        return None, anp.add_at(g, shape=ctx.saved_tensors[0], index=ctx.params["index"])


def _old_version(t: Tensor) -> Tensor:
    """A Tensor holding ``t``'s current version: the first input of the node that replaces it (made next, in a
    new epoch, so that the nodes which used this version tell it from theirs)."""
    next_epoch()
    old = Tensor._wrap(t._data, t.grad_fn)
    old._requires_grad = t._requires_grad
    old.name = t.name
    return old


def _rebase(t: Tensor, name: str, compute: Callable[..., Tensor], args: tuple) -> Tensor:
    if t.grad_fn is None and t._requires_grad:
        raise RuntimeError(
            f"{name}: a leaf tensor that requires grad cannot be changed in place while gradients are recorded "
            "(its .grad would be the gradient of a value it no longer holds). Update it under "
            "`with ag.no_grad():` (the optimizer idiom), or use the out-of-place op: t = t + x.")
    if t._data.dtype.kind not in "fc":
        raise TypeError(f"{name}: an operand requires grad, but this tensor has dtype {t.dtype}, which cannot "
                        "require grad; convert first: t = t.astype('float64')")
    viewed = _viewed(t) if t._data.base is not None else None
    if viewed is None and t._data.base is not None:
        node = t.grad_fn  # an advanced index's result is a copy, even where numpy gives it a base
        if node is None or node.fn not in (_GetItem, ViewOf) or _is_basic(node.params["index"]):
            raise _view_error(t, name)
    old = _old_version(t)
    new = _checked(t, name, compute(old, *(old if a is t else a for a in args)))
    if viewed is not None:  # written through to the base (PyTorch's view semantics), which refreshes t
        _setitem(*viewed, new)
        return t
    _become(t, new, name)
    _refresh(t)
    return t


def _become(t: Tensor, new: Tensor, name: str) -> None:
    """``t`` now stands for ``new`` (recorded by the in-place op ``name``): PyTorch's rebase of history."""
    before = t.grad_fn
    t._data, t.grad_fn, t._requires_grad = new._data, new.grad_fn, True
    _replaced[new.grad_fn] = (name, _bump(t))
    follow(t, before)


def _setitem(t: Tensor, index: Any, value: Any) -> None:
    """``t[index] = value``: numpy's indexing, the value broadcast to the indexed region."""
    index = ops._index_arg(index)
    if isinstance(value, (list, tuple)):
        value = xp.asarray(value)
    if not (state.enabled and (t._requires_grad or isinstance(value, Tensor) and value._requires_grad)):
        _write(t, "setitem", value._data if isinstance(value, Tensor) else value, index)
        return
    try:
        region = xp.arange(t.size).reshape(t.shape)[index]
    except (IndexError, TypeError, ValueError) as e:
        raise type(e)(f"setitem: {e} (tensor shape {t.shape})") from None
    if xp.unique(region).size != region.size:
        raise ValueError("setitem: the index selects some element more than once, so which value it gets, and "
                         "so its gradient, is ambiguous; index each element once")
    if isinstance(value, Tensor) and value.ndim > region.ndim:  # numpy drops leading 1s: (1, 3) into (3,)
        extra = value.shape[:value.ndim - region.ndim]
        if any(n != 1 for n in extra):
            raise ValueError(f"setitem: a value of shape {value.shape} does not fit the indexed region of shape "
                             f"{region.shape}")
        value = value.reshape(value.shape[len(extra):])
    _rebase(t, "setitem", lambda x, v: SetItem.apply(x, v, index=index), (value,))


def _scaled(x: Any, alpha: Any) -> Any:
    return x if alpha == 1 else alpha * x


def _method(name: str, shown: str, compute: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def method(self: Tensor, other: Any) -> Tensor:
        return _update(self, shown, compute, other)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In place: ``{shown}`` (PyTorch's semantics; autograd_mini.mutation)."
    return method


def add_(self: Tensor, other: Any, alpha: Any = 1) -> Tensor:
    """In place: ``self + alpha * other``."""
    return _update(self, "add_", lambda x, o: x + _scaled(o, alpha), other)


def sub_(self: Tensor, other: Any, alpha: Any = 1) -> Tensor:
    """In place: ``self - alpha * other``."""
    return _update(self, "sub_", lambda x, o: x - _scaled(o, alpha), other)


def clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """In place: ``clip(self, min, max)``."""
    return _update(self, "clamp_", lambda x, lo, hi: ops.clip(x, lo, hi), min, max)


def zero_(self: Tensor) -> Tensor:
    """In place: zeros (the gradient to the value before is zero)."""
    return fill_(self, 0)


def fill_(self: Tensor, value: Any) -> Tensor:
    """In place: every element ``value`` (a number, or a 0-d tensor that may require grad)."""
    _setitem(self, Ellipsis, value)
    return self


def copy_(self: Tensor, src: Any) -> Tensor:
    """In place: the values of ``src``, broadcast to this tensor's shape and cast to its dtype."""
    if isinstance(src, Tensor) and xp.broadcast_shapes(src.shape, self.shape) != self.shape:
        raise RuntimeError(f"copy_: a source of shape {src.shape} does not broadcast to the tensor's shape "
                           f"{self.shape}")
    _setitem(self, Ellipsis, src)
    return self


def _install() -> None:
    for name, shown, compute in (("__iadd__", "+=", lambda x, o: x + o), ("__isub__", "-=", lambda x, o: x - o),
                                 ("__imul__", "*=", lambda x, o: x * o), ("__itruediv__", "/=", lambda x, o: x / o),
                                 ("__ipow__", "**=", lambda x, o: x ** o), ("mul_", "mul_", lambda x, o: x * o),
                                 ("div_", "div_", lambda x, o: x / o), ("pow_", "pow_", lambda x, o: x ** o)):
        setattr(Tensor, name, _method(name, shown, compute))
    for f in (add_, sub_, clamp_, zero_, fill_, copy_):
        setattr(Tensor, f.__name__, f)
    Tensor.__setitem__ = _setitem


_install()
