"""Loss modules; each takes ``reduction="mean" | "sum" | "none"`` and calls ``nn.functional``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

import autograd_mini as ag

from . import functional as F
from .module import Module

__all__ = ["MSELoss", "L2Penalty", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "L1Loss",
           "SmoothL1Loss", "HuberLoss", "KLDivLoss", "MarginRankingLoss", "CosineSimilarity"]


class _Loss(Module):
    REDUCTIONS = F.REDUCTIONS

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F.check_reduction(reduction, self.REDUCTIONS)


class _WeightedLoss(_Loss):
    """A loss with PyTorch's ``weight`` argument, kept as a buffer (saved in ``state_dict``, never trained)."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        if isinstance(weight, str):
            raise TypeError(f"{type(self).__name__}: the first argument is weight (PyTorch's order); pass "
                            f"reduction={weight!r} by name")
        super().__init__(reduction)
        self.register_buffer("weight", None if weight is None else np.asarray(weight))

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error ``(input - target)**2``; input and target must have the same shape."""

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.mse_loss(input, target, self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy from logits (N, C) or (N, C, d1, ...); targets are class indices (N,) / (N, d1, ...)
    or probabilities of the input's shape. PyTorch's ``weight``, ``ignore_index``, ``label_smoothing``.

    Stable for any logits (log-softmax shifted by the max). ``mean`` averages over the counted samples.

    >>> loss = nn.CrossEntropyLoss()(model(x), y)   # y: int array of shape (N,)
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, reduction)
        self.ignore_index, self.label_smoothing = int(ignore_index), F._check_smoothing("CrossEntropyLoss",
                                                                                        label_smoothing)

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices under log-probabilities (N, C) (after ``LogSoftmax``)."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(weight, reduction)
        self.ignore_index = int(ignore_index)

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross entropy of probabilities in [0, 1] (logs clamped at -100, as PyTorch)."""

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Sigmoid + binary cross entropy in one stable formula: prefer it to ``Sigmoid`` + ``BCELoss``.
    ``pos_weight`` (one per class, broadcast over the last axis) scales the positive examples."""

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(weight, reduction)
        self.register_buffer("pos_weight", None if pos_weight is None else np.asarray(pos_weight))

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class L1Loss(_Loss):
    """Mean absolute error ``|input - target|``."""

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Squared below ``beta``, absolute above (``F.smooth_l1_loss``)."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        self.beta = float(beta)

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """Squared below ``delta``, ``delta``-scaled absolute above (``F.huber_loss``)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = float(delta)

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.huber_loss(input, target, self.reduction, self.delta)


class KLDivLoss(_Loss):
    """KL divergence of log-probabilities ``input`` from ``target`` (``F.kl_div``); use ``reduction="batchmean"``."""

    REDUCTIONS = (*F.REDUCTIONS, "batchmean")

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction)
        self.log_target = bool(log_target)

    def forward(self, input: ag.Tensor, target: Any) -> ag.Tensor:
        return F.kl_div(input, target, self.reduction, self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"


class MarginRankingLoss(_Loss):
    """``max(0, -target * (input1 - input2) + margin)`` (``F.margin_ranking_loss``)."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = float(margin)

    def forward(self, input1: Any, input2: Any, target: Any) -> ag.Tensor:
        return F.margin_ranking_loss(input1, input2, target, self.margin, self.reduction)


class CosineSimilarity(Module):
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (``F.cosine_similarity``)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = int(dim), float(eps)

    def forward(self, x1: Any, x2: Any) -> ag.Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}"


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
