"""Find the two wrong hand-derived gradients of the XOR article with ``ag.gradcheck``.

The "One LEGO at a Time" article trains a 2-3-2 sigmoid network on XOR with

    Loss = 1/(2N) * sum((y - h2)**2) + reg/(2N) * sum(W**2)

and derives the gradients by hand. Two are wrong (see ../shared/seeds/README.md): the
squared error's gradient drops the 1/N of the mean, and the ridge term's gradient is written
``reg * sum(W**2)`` instead of ``reg * W / N``. Here the article's derivation is wrapped in
``ag.Function``s, exactly as written; gradcheck finds both mistakes and, by re-checking each op
of the graph on its own inputs, names the two ops that carry them. The corrected ops pass.

Run: python examples/check_gradients.py
"""

from __future__ import annotations

import _common as C  # first: puts the repository on sys.path in a fresh clone
import numpy as np

import autograd_mini as ag

REG = 0.01  # the ridge strength (our choice; any value > 0 shows the mistake)


def article_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The article's data and weights, from numpy's legacy generator (see the seeds README)."""
    X = np.random.RandomState(0).randn(300, 2)
    label = (X[:, 0] > 0) ^ (X[:, 1] > 0)
    Y = np.stack([~label, label], axis=1).astype(np.float64)  # one-hot: [1, 0] for 0, [0, 1] for 1
    np.random.seed(2017)
    W1 = (2 * np.random.random((2, 3)) - 1) / np.sqrt(2)
    W2 = (2 * np.random.random((3, 2)) - 1) / np.sqrt(3)
    return X, Y, W1, W2


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


# ---- 1. the whole training step's gradients, as the article derives them ----------------
class ArticleLoss(ag.Function):
    """Forward: the article's loss. Backward: the article's hand-derived dLoss/dW1, dLoss/dW2."""

    @staticmethod
    def forward(ctx, W1, W2, X, Y, fixed=False):
        N = len(X)
        h1 = sigmoid(X @ W1)
        h2 = sigmoid(h1 @ W2)
        ctx.save_for_backward(W1, W2, X, Y, h1, h2, fixed)
        return np.sum((Y - h2) ** 2) / (2 * N) + REG / (2 * N) * (np.sum(W1**2) + np.sum(W2**2))

    @staticmethod
    def backward(ctx, g):
        W1, W2, X, Y, h1, h2, fixed = ctx.saved_tensors
        N = len(X)
        dh2 = -(Y - h2) / N if fixed else -(Y - h2)         # mistake 1: the mean's 1/N is dropped
        dz2 = dh2 * h2 * (1 - h2)
        dz1 = (dz2 @ W2.T) * h1 * (1 - h1)
        if fixed:
            dW2, dW1 = h1.T @ dz2 + REG * W2 / N, X.T @ dz1 + REG * W1 / N
        else:                                                     # mistake 2: reg * sum(W**2), not reg * W / N
            dW2, dW1 = h1.T @ dz2 + REG * np.sum(W2**2), X.T @ dz1 + REG * np.sum(W1**2)
        return g * dW1, g * dW2, None, None


# ---- 2. the same loss from the article's pieces, each with its hand-derived backward -----
class SquaredError(ag.Function):
    """1/(2N) sum((y - h)^2); the article's derivative -(y - h) misses the 1/N."""

    @staticmethod
    def forward(ctx, h, y, fixed=False):
        ctx.save_for_backward(h, y)
        return np.sum((y - h) ** 2) / (2 * len(h))

    @staticmethod
    def backward(ctx, g):
        h, y = ctx.saved_tensors
        n = len(h) if ctx.params["fixed"] else 1
        return -g * (y - h) / n, None


class Ridge(ag.Function):
    """reg/(2N) sum(W^2); the article's derivative is reg * sum(W^2)."""

    @staticmethod
    def forward(ctx, W, N, fixed=False):
        ctx.save_for_backward(W)
        return REG / (2 * N) * np.sum(W**2)

    @staticmethod
    def backward(ctx, g):
        (W,) = ctx.saved_tensors
        if ctx.params["fixed"]:
            return g * REG * W / ctx.params["N"]
        return g * REG * np.sum(W**2) * np.ones_like(W)


def loss_from_pieces(W1: ag.Tensor, W2: ag.Tensor, X: np.ndarray, Y: np.ndarray, fixed: bool = False) -> ag.Tensor:
    h1 = ag.sigmoid(ag.tensor(X) @ W1)
    h2 = ag.sigmoid(h1 @ W2)
    N = len(X)
    return (SquaredError.apply(h2, ag.tensor(Y), fixed=fixed)
            + Ridge.apply(W1, N=N, fixed=fixed) + Ridge.apply(W2, N=N, fixed=fixed))


def main(argv: list[str] | None = None) -> None:
    C.parser(__doc__, progress=False).parse_args(argv)
    X, Y, W1_init, W2_init = article_data()
    W1 = ag.tensor(W1_init, requires_grad=True, name="W1")
    W2 = ag.tensor(W2_init, requires_grad=True, name="W2")

    # The article's worked numbers, by autodiff on its first sample (label [1, 0], no ridge term).
    h1 = ag.sigmoid(ag.tensor(X[:1]) @ W1)
    h2 = ag.sigmoid(h1 @ W2)
    print("h2 on the first sample:", np.round(h2.data[0], 8))              # [0.37166596 0.45414264]
    ((ag.tensor(Y[:1]) - h2) ** 2).sum().__mul__(0.5).backward()
    print("dLoss/dW2, first row:  ", np.round(W2.grad.data[0], 8), "\n")  # [-0.02879856  0.02209533]
    assert np.allclose(W2.grad.data[0], [-0.02879856, 0.02209533])

    print("1. The article's hand-derived gradients, wrapped in one ag.Function:")
    r = ag.gradcheck(lambda a, b: ArticleLoss.apply(a, b, X, Y), [W1, W2], raise_exception=False)
    print(r, "\n")
    assert not r and {m.name for m in r.mismatches} == {"input 0 (`W1`)", "input 1 (`W2`)"}

    print("2. The same loss from the article's pieces; gradcheck re-checks every op on its own inputs:")
    r = ag.gradcheck(loss_from_pieces, [W1, W2, X, Y], raise_exception=False)
    print(r, "\n")
    assert sorted({op.name for op in r.ops}) == ["Ridge", "SquaredError"]

    print("3. Corrected (-(y - h2) / N and reg * W / N):")
    print(ag.gradcheck(lambda a, b: ArticleLoss.apply(a, b, X, Y, fixed=True), [W1, W2]))
    print(ag.gradcheck(lambda a, b: loss_from_pieces(a, b, X, Y, fixed=True), [W1, W2]))


if __name__ == "__main__":
    main()
