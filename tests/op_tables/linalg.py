"""Op tables of autograd_mini/ops/linalg.py: ag.diagonal, ag.trace and the ops behind ag.linalg.

The boundary formulas turn each kind's vector ``a`` (k,) into a square matrix (a batch of them for the size-0
kind), so zeros, ties, inf and nan land in real matrices: ``K[i, j] = exp(-16 (a[i] - a[j])^2)`` (symmetric,
positive-definite for distinct entries, singular for ties: all zeros give the all-ones matrix) for the linalg
ops, ``M[i, j] = a[i] - a[j] / 2`` for diagonal and trace. The derivative tests to second order are in
tests/test_linalg.py."""

import numpy as np

import autograd_mini as ag
from tests.op_tables import Edges, T


def _m(a):
    return a[..., :, None] - a[..., None, :] * 0.5


def _k(L, a):
    return L.exp(-16 * (a[..., :, None] - a[..., None, :]) ** 2)


def _sym(x):
    return x + x.swapaxes(-1, -2)


def _well(*shape):
    return ag.tensor(T(*shape).numpy() + 3 * np.eye(shape[-1]), requires_grad=True)


GRADCHECK = {
    "Diagonal": (lambda x: ag.diagonal(x, 1, 0, 2), lambda: [T(3, 2, 4)]),
    "DiagonalScatter": (lambda v: ag.numpy.diagonal_scatter(v, offset=-1, shape=(4, 3)), lambda: [T(2, 3)]),
    "Inv": (lambda a: ag.linalg.inv(a), lambda: [_well(2, 3, 3)]),
    "Det": (lambda a: ag.linalg.det(a), lambda: [T(2, 3, 3)]),
    "LogAbsDet": (lambda a: ag.linalg.slogdet(a).logabsdet, lambda: [_well(3, 3)]),
    "Solve": (lambda a, b: ag.linalg.solve(a, b), lambda: [_well(3, 3), T(2, 3, 2)]),
    "SolveTriangular": (lambda a, b: ag.linalg.solve_triangular(a, b, upper=True) + ag.linalg.solve_triangular(
        a, b.swapaxes(-1, -2), upper=False, left=False, unitriangular=True).swapaxes(-1, -2),
                        lambda: [_well(3, 3), T(2, 3, 2)]),
    "MatrixExp": (lambda a: ag.linalg.matrix_exp(a), lambda: [T(2, 3, 3)]),
    "Cholesky": (lambda x: ag.linalg.cholesky(x @ x.swapaxes(-1, -2) + 3 * np.eye(3)), lambda: [T(2, 3, 3)]),
    "Pinv": (lambda a: ag.linalg.pinv(a), lambda: [T(4, 3)]),
    "VectorNorm": (lambda x: ag.linalg.vector_norm(x, 3, dim=1), lambda: [T(2, 3)]),
    "SvdPart": (lambda a: [(p ** 2).sum() for p in ag.linalg.svd(a, full_matrices=False)][0] + ag.linalg.svdvals(a),
                lambda: [T(4, 3)]),
    "EighPart": (lambda x: ag.linalg.eigh(_sym(x)).eigenvalues + (ag.linalg.eigh(_sym(x)).eigenvectors ** 2).sum(),
                 lambda: [T(3, 3)]),
    "QrPart": (lambda a: ag.linalg.qr(a).Q ** 2 + ag.linalg.qr(a).R[:1, :], lambda: [T(3, 3)]),
}

_SQUARE = {"0d": "a 0-d tensor is no matrix: both raise"}

_NO_SCALAR = {"np_scalar": "no scalar operand"}
_TIE = {"tie": [np.array([1.0, 1.0, 2.0])]}  # two equal rows: rank n - 1, nonzero cofactors
_RANK = "a rank-deficient matrix: the values that should be 0 are rounding noise (1e-16), which differs between " \
        "numpy's and PyTorch's LAPACK calls; test_linalg.py checks the degenerate points at 1e-10"
_LAPACK_INF = {"inf": "LAPACK's inf/nan propagation differs between numpy's build and PyTorch's (which entries "
                       "are nan)"}
_FLOAT32 = {"int": "integers become float32 (the default dtype) and the driver compares them with float64 at 1e-6, "
                   "beyond float32 LAPACK rounding here (test_linalg.py checks the promotion)"}
_SINGULAR_GRAD = "at a singular matrix this gradient is unbounded: PyTorch returns inf/nan from its LU, we raise " \
                 "ValueError naming the op (docs/linalg.md)"
_INT = {"int": [np.array([[0, 1], [1, 2]])]}  # two integer vectors: well-conditioned K in float32 too

EDGES = {
    "diagonal": Edges(lambda L, a: L.diagonal(_m(a), 1), skip=_SQUARE | {"np_scalar": "the offset is an int"}),
    "trace": Edges(lambda L, a: L.trace(_m(a)) if a.ndim == 1 else L.diagonal(_m(a), 0, 1, 2).sum(-1),
                   skip=_SQUARE | _NO_SCALAR),
    "linalg.det": Edges(lambda L, a: L.linalg.det(_k(L, a)), skip=_SQUARE | _NO_SCALAR | {"tie": _RANK},
                        inputs=_TIE | _INT),
    "linalg.slogdet": Edges(lambda L, a: L.linalg.slogdet(_k(L, a)).logabsdet,
                            skip=_SQUARE | _NO_SCALAR | _FLOAT32 | {"zero": _SINGULAR_GRAD, "tie": _SINGULAR_GRAD}),
    "linalg.inv": Edges(lambda L, a: L.linalg.inv(_k(L, a)), skip=_SQUARE | _NO_SCALAR | _LAPACK_INF),
    "linalg.solve": Edges(lambda L, a, b: L.linalg.solve(_k(L, a), b), 2, skip=_SQUARE | _NO_SCALAR | {"tie": _RANK}),
    "linalg.solve_triangular": Edges(lambda L, a, b: L.linalg.solve_triangular(_k(L, a), b[..., :, None] + 0 * a[
        ..., :, None], upper=False), 2, skip=_SQUARE | _NO_SCALAR | {"tie": _RANK}),
    "linalg.matrix_exp": Edges(lambda L, a: L.linalg.matrix_exp(_m(a)),
                               skip=_SQUARE | _NO_SCALAR | _LAPACK_INF | _FLOAT32),
    "linalg.cholesky": Edges(lambda L, a: L.linalg.cholesky(_k(L, a)), skip=_SQUARE | _NO_SCALAR),
    "linalg.svdvals": Edges(lambda L, a: L.linalg.svdvals(_k(L, a)), skip=_SQUARE | _NO_SCALAR | {"tie": _RANK}),
    "linalg.eigvalsh": Edges(lambda L, a: L.linalg.eigvalsh(_k(L, a)),
                             skip=_SQUARE | _NO_SCALAR | {"zero": _RANK, "tie": _RANK}),
    "linalg.qr": Edges(lambda L, a: L.linalg.qr(_k(L, a)).R, skip=_SQUARE | _NO_SCALAR | _LAPACK_INF | {
        "zero": _SINGULAR_GRAD + " (R^-1)", "tie": _SINGULAR_GRAD + " (R^-1)"}),
    "linalg.pinv": Edges(lambda L, a: L.linalg.pinv(_k(L, a)), skip=_SQUARE | _NO_SCALAR | _FLOAT32 | {"tie": _RANK}),
    "linalg.matrix_power": Edges(lambda L, a: L.linalg.matrix_power(_k(L, a), 3), skip=_SQUARE | _NO_SCALAR),
    "linalg.lstsq": Edges(lambda L, a, b: L.linalg.lstsq(_k(L, a), b[..., :, None]).solution, 2,
                          skip=_SQUARE | _NO_SCALAR | {"tie": _RANK + " (a rank-deficient least-squares solution)"}),
    "linalg.vector_norm": Edges(lambda L, a: L.linalg.vector_norm(a), skip=_NO_SCALAR),
    "linalg.vector_norm_inf": Edges(lambda L, a: L.linalg.vector_norm(a, float("inf")), skip=_NO_SCALAR),
    "linalg.vector_norm_1": Edges(lambda L, a: L.linalg.vector_norm(a, 1), skip=_NO_SCALAR),
    "linalg.matrix_norm": Edges(lambda L, a: L.linalg.matrix_norm(_m(a)), skip=_SQUARE | _NO_SCALAR),
    "linalg.matrix_norm_nuc": Edges(lambda L, a: L.linalg.matrix_norm(_k(L, a), "nuc"),
                                    skip=_SQUARE | _NO_SCALAR | {"tie": _RANK}),
    "linalg.matrix_norm_1": Edges(lambda L, a: L.linalg.matrix_norm(_m(a), 1), skip=_SQUARE | _NO_SCALAR),
    "linalg.norm": Edges(lambda L, a: L.linalg.norm(a), skip=_NO_SCALAR),
}
