"""Warnings that point at the user's line: the first frame outside autograd_mini."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator

from ._backend import xp

__all__ = ["user_stacklevel", "numpy_warnings_at_user_line"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """``warnings.warn``'s stacklevel, for a call made where the warning is issued, that points at the first frame
    outside this package (the user's call)."""
    level, frame = 2, sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def _report(kind: str, flag: int) -> None:  # numpy's errstate "call" hook: one floating-point error of a ufunc
    warnings.warn(f"{kind} encountered in backward() (ag.detect_anomaly() names the op that made it)",
                  RuntimeWarning, stacklevel=user_stacklevel())


@contextlib.contextmanager
def numpy_warnings_at_user_line() -> Iterator[None]:
    """While on, numpy's floating-point warnings ("divide by zero", "invalid value", ...) point at the user's line
    instead of the op's code. Only what the caller's numpy settings would warn about is changed: an ``ignore`` or
    a ``raise`` around the call stays as it is. One ``errstate`` per call: for whole passes, not single ops."""
    modes = xp.geterr()
    warned = {k: "call" for k, mode in modes.items() if mode == "warn"}
    if not warned:
        yield
        return
    with xp.errstate(call=_report, **warned):
        yield
