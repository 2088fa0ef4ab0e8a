"""How a box of a graph picture looks, shared by both renderers (Graphviz/text and the HTML explorer): the
|grad| colour scale, the colours of each kind of box, and its label lines."""

from __future__ import annotations

from .._backend import xp
from ._graph import Item, shape_str

__all__ = ["SCALE", "ROLE", "OUTPUT_FILL", "DEAD", "RED", "SOURCE", "SHARED", "colours", "label"]

# |grad| colour scale, by upper bound: vanishing blues, healthy green, exploding oranges.
SCALE = ((1e-6, "#2166ac", "#2166ac", "white"), (1e-4, "#67a9cf", "#4393c3", "black"),
         (1e-2, "#d1e5f0", "#74add1", "black"), (1e2, "#d9f0d3", "#5aae61", "black"),
         (1e4, "#fdb863", "#f1a340", "black"), (1e6, "#e66101", "#e66101", "white"),
         (float("inf"), "#7f3b08", "#7f3b08", "white"))
# (shape, style, fill) by kind; a module's lavender is never mistaken for DEAD's grey
ROLE = {"op": ("box", "rounded,filled", "#ffffff"), "param": ("box", "filled", "#cfe2ff"),
        "input": ("ellipse", "filled", "#fff3bf"), "module": ("box3d", "filled", "#f3f0ff")}
OUTPUT_FILL, DEAD, RED, SOURCE = "#b2f2bb", "#d9d9d9", "#ff8787", "#c92a2a"
SHARED = 4  # a leaf used more often than this does not pull its consumers' ranks


def colours(it: Item, show_grads: bool) -> tuple[str | None, str, str]:
    """(fill, font colour, edge colour) for an item's tensor."""
    if it.vbad or it.gbad:
        return (SOURCE, "white", SOURCE) if it.source else (RED, "black", "#e03131")
    if show_grads and it.gnorm is not None:
        if it.gnorm == 0:
            return DEAD, "#7f7f7f", "#bdbdbd"
        for bound, fill, edge, font in SCALE:
            if it.gnorm < bound:
                return fill, font, edge
    return None, "black", "#495057"


def label(it: Item, show_values: bool) -> list[str]:
    """An item's label lines: its name, parameters, shape and dtype, values, |grad| and NaN/inf marks."""
    t = it.tensor
    head = it.node.name if it.kind == "op" else it.key
    lines = [head] + [e for e in it.extra if e] + ([shape_str(t._data)] if t is not None else [])
    if show_values and t is not None and t._data.size and t._data.dtype.kind in "biuf":
        with xp.errstate(all="ignore"):
            a = t._data
            lines.append(f"value {a.item():.4g}" if a.size == 1 else
                         f"min {a.min():.3g} max {a.max():.3g} mean {a.mean():.3g}")
    if it.gnorm is not None:
        lines.append(f"|grad| {it.gnorm:.2e}" + (" (dead)" if it.gnorm == 0 else ""))
    for what, bad in (("value", it.vbad), ("grad", it.gbad)):
        if bad and (what == "value" or it.source == what):  # a bad grad shows in its norm already
            lines.append(f"{bad} in {what}" + (" - SOURCE" if it.source == what else ""))
    return lines
