"""Thread-local engine state: grad mode, the current module scope, and debug hooks."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "module_scope", "current_scope", "Extra",
           "effect", "array_call"]

F = TypeVar("F", bound=Callable[..., Any])


class Extra:
    """What a recorded node may carry besides its op: the module ``scope`` it ran in (the running
    modules, innermost first: ``(module, (parent, (...)))``) and the ``trace`` (``file:line``) that
    made it. One instance is shared by every node recorded in one module call; traced nodes get
    their own."""

    __slots__ = ("scope", "trace")

    def __init__(self, scope: Any = None, trace: str | None = None) -> None:
        self.scope, self.trace = scope, trace


class _State(threading.local):
    def __init__(self) -> None:
        self.enabled = True          # record ops?
        self.extra: Extra | None = None  # copied onto each recorded node (module scope); None outside modules
        self.forward_hooks = ()      # called as hook(node, out_array) for each recorded op
        self.capture_trace = False   # True while anomaly.capture_traces() has its file:line hook installed
        self.backward_hooks = ()     # anomaly mode: hook(node, g) -> check(grads_in), per backward step
        self.saved_modes: list[bool] = []  # the modes no_grad/enable_grad blocks restore, innermost last
        self.tracer: Any = None      # ag.compile's recorder while it traces a function (compiler/trace.py)


state = _State()


def is_grad_enabled() -> bool:
    """Whether ops are being recorded in this thread."""
    return state.enabled


class _GradMode:
    """Sets grad mode to ``mode`` inside a ``with`` block or a decorated function, restoring it after.

    The mode to restore is kept per thread (``state.saved_modes``), not on the object: one
    ``no_grad()`` object shared by several threads restores each thread's own mode.
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        st = state
        st.saved_modes.append(st.enabled)
        st.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        st = state
        st.enabled = st.saved_modes.pop()

    def __call__(self, fn: F) -> F:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradMode(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class set_grad_enabled(_GradMode):
    """Set grad mode, as PyTorch's: it takes effect when called.

    ``ag.set_grad_enabled(False)`` on its own switches recording off until switched back;
    ``with ag.set_grad_enabled(False): ...`` restores the previous mode on exit; as a decorator,
    ``@ag.set_grad_enabled(False)``, it applies only while the function runs.
    """

    def __init__(self, mode: bool) -> None:
        super().__init__(mode)
        self.prev = state.enabled  # the constructing thread's mode, restored by its ``with`` block
        state.enabled = self.mode

    def __enter__(self) -> None:  # the constructor already set the mode
        pass

    def __exit__(self, *exc: object) -> None:
        state.enabled = self.prev

    def __call__(self, fn: F) -> F:
        state.enabled = self.prev  # decorating a function does not change the mode outside it
        return super().__call__(fn)


class no_grad(_GradMode):
    """Disable recording: ``with ag.no_grad(): ...``, ``@ag.no_grad()`` or ``@ag.no_grad``."""

    def __new__(cls, fn: Callable[..., Any] | None = None) -> Any:
        return super().__new__(cls) if fn is None else cls()(fn)  # bare ``@ag.no_grad``: wrap fn now

    def __init__(self, fn: Callable[..., Any] | None = None) -> None:
        super().__init__(False)


class enable_grad(_GradMode):
    """Re-enable recording inside a ``no_grad`` block (also a decorator, with or without parentheses)."""

    def __new__(cls, fn: Callable[..., Any] | None = None) -> Any:
        return super().__new__(cls) if fn is None else cls()(fn)

    def __init__(self, fn: Callable[..., Any] | None = None) -> None:
        super().__init__(True)


class module_scope:
    """Context manager for ``nn.Module.__call__`` (or any layer system): ops recorded inside carry
    ``module`` on their scope chain, which graph pictures, gradcheck and explain_grad group by."""

    __slots__ = ("module", "prev")

    def __init__(self, module: Any) -> None:
        self.module = module

    def __enter__(self) -> None:
        st = state
        self.prev = prev = st.extra
        st.extra = Extra((self.module, prev.scope if prev is not None else None))
        if st.tracer is not None:  # ag.compile: a module that runs no op (Dropout in eval) is part of the key too
            st.tracer.note_modules()

    def __exit__(self, *exc: object) -> None:
        state.extra = self.prev


def current_scope() -> Any:
    """The module scope chain of the running call, ``(module, parent_chain)``, or None outside modules."""
    extra = state.extra
    return None if extra is None else extra.scope


# ---- what ag.compile needs to see besides ops (compiler/trace.py) ----------------------------------------
def effect(f: F) -> F:
    """Mark ``f`` as a side effect on state (an optimizer's ``step``, ``zero_grad``, running statistics):
    while ``ag.compile`` traces a function, ``f`` runs once as usual and the compiled program calls it
    again, with the same arguments, on every replay. Outside tracing it costs one attribute read."""
    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        tracer = state.tracer
        if tracer is None:
            return f(*args, **kwargs)
        return tracer.effect(f, args, kwargs)

    return run  # type: ignore[return-value]


def array_call(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``f(*args, **kwargs)`` on arrays outside any op (a comparison, an argmax, a dropout mask): while
    ``ag.compile`` traces, the call is recorded, so the compiled program computes it again on every
    replay instead of keeping this call's result as a constant."""
    out = f(*args, **kwargs)
    tracer = state.tracer
    if tracer is not None:
        tracer.array_call(f, args, kwargs, out)
    return out
