"""While ``ag.compile`` traces, reading a tensor's values in Python (``float(t)``, ``t.item()``, ``if t > 0``,
``np.asarray(t)``, ``t.data``) raises ``TraceError`` naming the line: the program would otherwise repeat
this call's value, or this call's branch, on every replay."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import factories
from ..grad_mode import state
from ..tensor import Tensor
from .trace import TraceError, user_line

# library functions that read a tensor's array to pass it on or to check it (their result is then an
# argument's array by identity, or a constant the tracer checks): nn.functional's target handling
_ALLOWED = {("nn.functional", "_arr"), ("nn.functional", "binary_cross_entropy")}

_FIX = ("Make the value an argument of the compiled function, write the branch with ag.where, or return the "
        "tensor and read it outside the compiled function.")


def _refuse(what: str) -> None:
    f = sys._getframe(2)
    if (f.f_globals.get("__name__"), f.f_code.co_name) in _ALLOWED:
        return
    raise TraceError(f"ag.compile: {what} reads a tensor's value while tracing (at {user_line(3)}); the compiled "
                     f"program would reuse this call's value on every replay. {_FIX}")


def _wrap(name: str, what: str) -> Any:
    original = getattr(Tensor, name)

    def guarded(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        if state.tracer is not None:
            _refuse(what)
        return original(self, *args, **kwargs)

    guarded.__name__ = name
    return original, guarded


_METHODS = {"item": "t.item()", "__float__": "float(t)", "__int__": "int(t)", "__complex__": "complex(t)",
            "__round__": "round(t)", "__index__": "using a tensor as an index", "__bool__": "`if t` / bool(t)",
            "numpy": "t.numpy()", "tolist": "t.tolist()", "__array__": "np.asarray(t) (or numpy on a tensor)"}


def _format(original: Any) -> Any:
    def guarded(self: Tensor, spec: str) -> str:
        if spec and state.tracer is not None:
            _refuse(f"f'{{t:{spec}}}'")
        return original(self, spec)

    return guarded


def _ufunc(original: Any) -> Any:
    def guarded(self: Tensor, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if kwargs.get("out") and state.tracer is not None:
            _refuse(f"numpy's {ufunc.__name__} with out= on a tensor")
        return original(self, ufunc, method, *inputs, **kwargs)

    return guarded


def _data_property(original: property) -> property:
    def get(self: Tensor) -> Any:
        if state.tracer is not None:
            _refuse("t.data")
        return original.fget(self)

    def put(self: Tensor, value: Any) -> None:
        if state.tracer is not None:
            f = sys._getframe(1)
            if f.f_globals.get("__name__", "").split(".")[0] not in ("autograd_mini", "nn"):
                raise TraceError(f"ag.compile: `t.data = ...` while tracing (at {user_line(2)}) is not recorded, so "
                                 "the program would not repeat it. Assign outside the compiled function.")
        original.fset(self, value)

    return property(get, put, doc=original.__doc__)


def _grad_property(slot: Any) -> property:
    """``p.grad = None`` in the traced function is recorded (a manual zero_grad); any other value raises."""
    def put(self: Tensor, value: Any) -> None:
        tracer = state.tracer
        if tracer is not None and sys._getframe(1).f_globals.get("__name__", "").split(".")[0] not in (
                "autograd_mini", "nn"):
            if value is not None:
                raise TraceError(f"ag.compile: `t.grad = ...` while tracing (at {user_line(2)}) is not recorded; "
                                 "only `t.grad = None` is. Set it outside the compiled function.")
            if tracer._made_here(self):  # its .grad is a value of the program: none from here on
                tracer.made_grads.pop(id(self), None)
            else:
                tracer.emit(f"{tracer.object(self)}.grad = None  # {user_line(2)}")
        slot.__set__(self, value)

    return property(slot.__get__, put)


_FACTORIES = factories.__file__


def _init(original: Any) -> Any:
    """``Tensor(...)`` notes the tensors the traced function makes (``ag.tensor``): only those can be copies of
    its arguments; a tensor made before the call (a parameter) may equal an argument by chance."""
    def init(self: Tensor, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        tracer = state.tracer  # this thread's (state is thread-local): not another thread's tensors
        if tracer is not None:
            tracer.born.add(id(self))
            tracer.alive.append(self)
            data = args[0] if args else kwargs.get("data")
            caller = sys._getframe(1).f_code
            made = caller.co_filename == _FACTORIES and caller.co_name != "as_tensor"  # ag.zeros: a new array
            if not made and isinstance(data, np.ndarray) and np.may_share_memory(self._data, data):
                tracer.shared.add(id(self))  # ag.as_tensor(buf): buf's memory, read live at replay

    return init


def _detach(original: Any) -> Any:
    """``t.detach()`` shares ``t``'s array: the tracer names it (read at replay), so the new tensor is not this
    call's constant."""
    def detach(self: Tensor) -> Tensor:
        if state.tracer is not None:
            state.tracer.shares(self)
        return original(self)

    return detach


def _requires_grad(original: Any) -> Any:
    """``t.requires_grad_()`` in the traced function is recorded, so that the replays set the flag too."""
    def requires_grad_(self: Tensor, requires_grad: bool = True) -> Tensor:
        out = original(self, requires_grad)
        tracer = state.tracer
        if tracer is not None and sys._getframe(1).f_globals.get("__name__", "").split(".")[0] not in (
                "autograd_mini", "nn"):
            tracer.emit(f"{tracer.object(self)}.requires_grad_({bool(requires_grad)})  # {user_line(2)}")
        return out

    return requires_grad_


_installed: dict[str, Any] = {}  # the originals while guards are installed
_tracing = [0]                   # traces running, in all threads: the last one out restores the originals
_lock = threading.Lock()


@contextlib.contextmanager
def guarded(tracer: Any) -> Iterator[None]:
    """Install the guards on Tensor for the duration of one trace (they pass when no tracer is active). Traces in
    other threads share one installation: each saving and restoring its own would leave a later-ending trace's
    guards in place for good (holding its tracer, so every array of its trace)."""
    with _lock:
        if not _tracing[0]:
            _install()
        _tracing[0] += 1
    try:
        yield
    finally:
        with _lock:
            _tracing[0] -= 1
            if not _tracing[0]:
                for name, value in _installed.items():
                    setattr(Tensor, name, value)
                _installed.clear()


def _install() -> None:
    saved = {name: Tensor.__dict__[name] for name in [*_METHODS, "__format__", "data", "grad", "__init__",
                                                      "__array_ufunc__", "requires_grad_", "detach"]}
    _installed.update(saved)
    Tensor.__init__ = _init(saved["__init__"])
    for name, what in _METHODS.items():
        setattr(Tensor, name, _wrap(name, what)[1])
    Tensor.__format__ = _format(saved["__format__"])
    Tensor.__array_ufunc__ = _ufunc(saved["__array_ufunc__"])
    Tensor.data = _data_property(saved["data"])
    Tensor.grad = _grad_property(saved["grad"])
    Tensor.requires_grad_ = _requires_grad(saved["requires_grad_"])
    Tensor.detach = _detach(saved["detach"])
