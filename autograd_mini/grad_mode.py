"""Thread-local engine state: grad mode, the current module scope, and debug hooks."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "module_scope", "current_scope", "Extra"]

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


state = _State()


def is_grad_enabled() -> bool:
    """Whether ops are being recorded in this thread."""
    return state.enabled


class set_grad_enabled:
    """Context manager and decorator that sets grad mode, restoring the previous mode on exit."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev: list[bool] = []

    def __enter__(self) -> None:
        self.prev.append(state.enabled)
        state.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        state.enabled = self.prev.pop()

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)(self.mode) if type(self) is set_grad_enabled else type(self)():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(set_grad_enabled):
    """Disable recording: ``with ag.no_grad(): ...`` or ``@ag.no_grad()``."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Re-enable recording inside a ``no_grad`` block."""

    def __init__(self) -> None:
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

    def __exit__(self, *exc: object) -> None:
        state.extra = self.prev


def current_scope() -> Any:
    """The module scope chain of the running call, ``(module, parent_chain)``, or None outside modules."""
    extra = state.extra
    return None if extra is None else extra.scope
