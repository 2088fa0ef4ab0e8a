"""Nested state dicts (an optimizer's, a schedule's) as flat mappings of arrays that ``nn.save`` can write."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

import autograd_mini as ag

__all__ = ["flatten_state_dict", "unflatten_state_dict", "STRUCTURE_KEY"]

STRUCTURE_KEY = "__structure__"


def flatten_state_dict(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A nested state dict (an optimizer's or a schedule's) as a flat mapping ``save`` accepts: every
    array under ``"array.<n>"``, everything else (dicts with int keys, lists, tuples, numbers, strings,
    bools, None) as JSON text in ``"__structure__"`` (a uint8 array). ``unflatten_state_dict`` undoes it.

    >>> nn.save(nn.flatten_state_dict(opt.state_dict()), "opt.npz")
    >>> opt.load_state_dict(nn.unflatten_state_dict(nn.load("opt.npz")))
    """
    arrays: dict[str, np.ndarray] = {}

    def encode(v: Any) -> dict:
        if isinstance(v, ag.Tensor):
            v = v.data
        if isinstance(v, np.ndarray):
            key = f"array.{len(arrays)}"
            arrays[key] = v
            return {"array": key}
        if isinstance(v, Mapping):
            return {"dict": [[encode(k), encode(x)] for k, x in v.items()]}
        if isinstance(v, (tuple, list)):
            return {type(v).__name__: [encode(x) for x in v]}
        if isinstance(v, np.generic):
            v = v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            return {"value": v}
        raise TypeError(f"flatten_state_dict: cannot store a {type(v).__name__} ({v!r})")

    if not isinstance(state, Mapping):
        raise TypeError(f"flatten_state_dict: expected a dict, got {type(state).__name__}")
    text = json.dumps(encode(state)).encode("utf-8")
    return {STRUCTURE_KEY: np.frombuffer(text, dtype=np.uint8).copy(), **arrays}


def unflatten_state_dict(flat: Mapping[str, Any]) -> Any:
    """The nested state dict that ``flatten_state_dict`` flattened (e.g. from ``nn.load``); a malformed
    structure raises ``ValueError``. Only JSON is parsed: nothing is executed."""
    if not isinstance(flat, Mapping) or not isinstance(flat.get(STRUCTURE_KEY), np.ndarray):
        raise ValueError(f"unflatten_state_dict: no {STRUCTURE_KEY!r} array: not written by flatten_state_dict")
    used: set[str] = set()

    def decode(node: Any) -> Any:
        if not isinstance(node, dict) or len(node) != 1:
            raise ValueError(f"unexpected node {node!r:.60}")
        (kind, v), = node.items()
        if kind == "value" and (v is None or isinstance(v, (bool, int, float, str))):
            return v
        if kind == "array" and isinstance(v, str) and isinstance(flat.get(v), np.ndarray) and v != STRUCTURE_KEY:
            used.add(v)
            return flat[v].copy()
        if kind in ("list", "tuple") and isinstance(v, list):
            items = [decode(x) for x in v]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 for p in v):
            out = {}
            for k, x in v:
                key = decode(k)
                if not isinstance(key, (str, int, float, bool, tuple, type(None))) or key in out:
                    raise ValueError(f"bad or repeated key {key!r:.60}")
                out[key] = decode(x)
            return out
        raise ValueError(f"unexpected node {node!r:.60}")

    try:
        tree = decode(json.loads(flat[STRUCTURE_KEY].astype(np.uint8).tobytes().decode("utf-8")))
    except (ValueError, UnicodeDecodeError, RecursionError, TypeError) as e:
        raise ValueError(f"unflatten_state_dict: malformed structure ({e})") from None
    extra = sorted(set(flat) - used - {STRUCTURE_KEY})
    if extra:
        raise ValueError(f"unflatten_state_dict: arrays not referenced by the structure: {', '.join(extra[:5])}")
    return tree
