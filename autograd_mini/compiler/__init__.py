"""``ag.compile``: trace a training step once, replay it as a straight-line numpy program you can read.

``trace.py`` records ops and side effects as program lines, ``backward.py`` the backward passes; ``emit.py``
writes the common ops out as numpy; ``guard.py`` refuses value-dependent Python during tracing; ``program.py``
caches the programs by signature. docs/compile.md explains the design and the limits.
"""

from .program import CacheInfo, Compiled, compile
from .trace import TraceError

__all__ = ["compile", "Compiled", "CacheInfo", "TraceError"]
