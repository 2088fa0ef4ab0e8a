"""Warnings that point at the user's line: the first frame outside autograd_mini."""

from __future__ import annotations

import os
import sys

__all__ = ["user_stacklevel"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """``warnings.warn``'s stacklevel, for a call made where the warning is issued, that points at the first frame
    outside this package (the user's call)."""
    level, frame = 2, sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
