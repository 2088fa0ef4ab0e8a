"""Warnings that point at the user's line, once per model."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

_OURS = tuple(os.path.dirname(os.path.dirname(os.path.abspath(p))) + os.sep + d + os.sep
              for p in (__file__,) for d in ("nn", "autograd_mini"))


def warn_once(owner: Any, key: str, message: str) -> None:
    """Warn with ``message`` unless ``owner`` (a model, or None) was already warned about ``key``.

    The warning names the first line outside ``nn`` and ``autograd_mini``: the user's call.
    """
    if owner is not None:
        seen = owner.__dict__.setdefault("_warned", set())
        if key in seen:
            return
        seen.add(key)
    level, frame = 2, sys._getframe(1)  # 2: the caller of warn_once
    while frame is not None and frame.f_code.co_filename.startswith(_OURS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level)
