"""docs/ops.md lists every op of ``ag`` (the op table and the factories) and every ``nn.functional`` function."""

from __future__ import annotations

import re
from pathlib import Path

import nn.functional as F
from autograd_mini import factories, ops

NOT_OPS = {"Seed", "get_generator", "SoftmaxCrossEntropy", "BinaryCrossEntropy", "LayerNormFunction",
           "layer_input", "check_reduction", "layer_norm_composed"}  # types and helpers, documented in docs/nn.md


def test_docs_ops_lists_every_op() -> None:
    text = (Path(__file__).parent.parent / "docs" / "ops.md").read_text()
    named = {w for code in re.findall(r"`([^`]+)`", text) for w in re.findall(r"[A-Za-z_]\w*", code)}
    ours = {n for n in ops.__all__ if not isinstance(getattr(ops, n), type)} | set(factories.__all__) | set(F.__all__)
    missing = sorted(ours - NOT_OPS - named)
    assert not missing, f"add {missing} to docs/ops.md (with their PyTorch and numpy names)"
