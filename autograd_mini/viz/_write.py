"""Writing a picture or a page, shared by both renderers: the text is encoded first (a name UTF-8 cannot encode is
named and nothing is written), then the file is written atomically (``autograd_mini._atomic``, as ``nn.save``
does: an error leaves the old file whole, FIFOs and devices are refused)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .._atomic import write_atomic

__all__ = ["write_file", "encode"]

TEMP_SUFFIX = ".ag-viz.tmp"
_DELIMITERS = re.compile(r'["<>\n]')


def write_file(path: Any, data: str | bytes, who: str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; errors name ``who`` and the path."""
    raw = encode(data, path, who) if isinstance(data, str) else data
    write_atomic(path, lambda f: f.write(raw), who, TEMP_SUFFIX)
    return Path(path)


def encode(text: str, path: Any, who: str) -> bytes:
    """``text`` as UTF-8, or a ValueError naming the name (the quoted string, or tag text) that cannot be encoded."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        start = max((m.end() for m in _DELIMITERS.finditer(text, max(0, e.start - 500), e.start)), default=e.start)
        end = _DELIMITERS.search(text, e.end)
        name = text[start:end.start() if end else e.end]
        raise ValueError(f"{who}: cannot write {os.fsdecode(os.fspath(path))!r}: the name {name!r} holds "
                         f"{text[e.start]!r}, which UTF-8 cannot encode (a lone surrogate); rename it") from None
