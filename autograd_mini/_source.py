"""Where the user's code is: ``file:line``, or in a Jupyter notebook the cell's name, as IPython's own tracebacks
show it (``Cell In[3]:2``) instead of the kernel's temporary file (``/tmp/ipykernel_123/456.py:2``)."""

from __future__ import annotations

import sys

__all__ = ["location"]


def location(filename: str, lineno: int, short: bool = False) -> str:
    """``filename:lineno`` (``short``: the file's last two path parts), or ``Cell In[n]:lineno`` for the code of
    a notebook cell: IPython's compiler keeps the name of each cell's file (``format_code_name``), so nothing is
    guessed from the path."""
    ipython = sys.modules.get("IPython")  # never imported here: a notebook has already loaded it
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    name = getattr(getattr(shell, "compile", None), "format_code_name", None)
    cell = name(filename) if name is not None else None
    if cell:
        return f"{cell[0]} {cell[1]}:{lineno}"
    parts = filename.replace("\\", "/").split("/")
    return f"{'/'.join(parts[-2:]) if short and len(parts) > 1 else filename}:{lineno}"
