"""Thread-local engine state: grad mode, the current module scope, and debug hooks."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    def __init__(self) -> None:
        self.enabled = True          # record ops?
        self.scope = None            # running modules, innermost first: (module, (parent, (...)))
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
