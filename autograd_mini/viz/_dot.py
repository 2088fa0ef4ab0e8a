"""DOT syntax, shared by ``to_dot`` and the explorer's ``dot -Tjson`` layout: quoting and nested clusters."""

from __future__ import annotations

from typing import Any

__all__ = ["quote", "html_text", "nest"]

# control characters (NUL breaks Graphviz's parser) are drawn as their Unicode pictures: "\0" -> "\u2400"
_VISIBLE = {c: 0x2400 + c for c in range(32) if chr(c) != "\n"} | {0x7F: 0x2421}


def quote(s: str) -> str:
    """``s`` as a DOT string literal."""
    s = s.translate(_VISIBLE)
    if '"' in s or "\\" in s or "\n" in s:
        s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def html_text(s: str) -> str:
    """``s`` as text inside a DOT HTML-like label."""
    return s.translate(_VISIBLE).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nest(clusters: dict[tuple, list[str]], labels: dict[tuple, str]) -> list[str]:
    """Subgraph blocks for the module clusters, nested by scope path (an explicit stack, no recursion)."""
    children: dict[tuple, list[tuple]] = {}
    for ck in clusters:
        children.setdefault(ck[:-1], []).append(ck)
    out: list[str] = []
    index = {ck: i for i, ck in enumerate(clusters)}
    stack: list[Any] = [c for c in reversed(children.get((), []))]
    while stack:
        ck = stack.pop()
        if ck == "}":
            out.append("}")
            continue
        out.append(f"subgraph cluster_{index[ck]} {{")
        out.append(f'label={quote(labels[ck])} style="rounded" color="#adb5bd" fontcolor="#495057"')
        out += clusters[ck]
        stack.append("}")
        stack.extend(reversed(children.get(ck, [])))
    return out
