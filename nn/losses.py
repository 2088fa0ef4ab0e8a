"""Loss modules; each takes ``reduction="mean" | "sum" | "none"`` and calls ``nn.functional``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import autograd_mini as ag

from . import functional as F
from .module import Module

__all__ = ["MSELoss", "L2Penalty", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F.check_reduction(reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error ``(input - target)**2``; input and target must have the same shape."""

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.mse_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross entropy from logits (N, C); targets are class indices (N,) or probabilities (N, C).

    Stable for any logits (log-softmax shifted by the max). ``mean`` averages over samples.

    >>> loss = nn.CrossEntropyLoss()(model(x), y)   # y: int array of shape (N,)
    """

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.cross_entropy(input, target, self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood of class indices under log-probabilities (N, C) (after ``LogSoftmax``)."""

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.nll_loss(input, target, self.reduction)


class BCELoss(_Loss):
    """Binary cross entropy of probabilities in [0, 1] (logs clamped at -100, as PyTorch)."""

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.binary_cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross entropy in one stable formula: prefer it to ``Sigmoid`` + ``BCELoss``."""

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.reduction)


class L2Penalty(Module):
    """The ridge term ``weight / 2 * sum(p**2)`` over the parameters (or Module) it is called with.

    >>> penalty = nn.L2Penalty(1e-3)
    >>> loss = data_loss + penalty(model) / batch_size   # the XOR article's regularised loss
    """

    def __init__(self, weight: float) -> None:
        super().__init__()
        if weight < 0:
            raise ValueError(f"L2Penalty: weight must be non-negative, got {weight}")
        self.weight = float(weight)

    def forward(self, params: Module | Iterable[ag.Tensor]) -> ag.Tensor:
        return F.l2_penalty(params, self.weight)

    def extra_repr(self) -> str:
        return f"weight={self.weight}"
