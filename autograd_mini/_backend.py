"""The array-module seam: every op reaches numpy through ``xp`` so that an array library
with numpy's API (CuPy) could later run the same op table."""

from __future__ import annotations

import numpy as xp

__all__ = ["xp"]
