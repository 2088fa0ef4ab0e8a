"""Linear algebra: the ops behind ``ag.linalg`` (torch.linalg's names and derivatives), ``ag.diagonal``, ``ag.trace``.

Every derivative is written in the vocabulary (operators, ``@``, ``anp.*``) and leans on other linalg ops
(inv's on its result, solve's on solve, det's on solve or the SVD), so each is differentiable again; the
formulas, and their answers at degenerate points, are PyTorch's (docs/linalg.md). Matrices are the last two
axes; any leading axes are a batch.

A decomposition (svd, eigh, qr, slogdet) runs numpy once; each output the caller uses is then its own node
(``SvdPart``, ...) whose backward is PyTorch's rule with only that output's gradient defined, so an output
nobody uses never enters a derivative (svdvals of the identity has gradient I, not nan). Under
``create_graph`` a part's backward takes the decomposition again, as recorded parts of its input, so the
factors it reads are differentiated too.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

from .. import numpy as anp
from .._backend import as_float, xp
from ..function import Function, _method, op
from ..grad_mode import array_call, state
from ..tensor import Tensor, as_array, as_operand
from .primitives import Concatenate

__all__ = ["Diagonal", "DiagonalScatter", "Inv", "Det", "LogAbsDet", "Solve", "SolveTriangular", "MatrixExp",
           "Cholesky", "Pinv", "VectorNorm",
           "SvdPart", "EighPart", "QrPart", "SVDResult", "EighResult", "QRResult", "SlogdetResult", "LstsqResult"]


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class LstsqResult(NamedTuple):
    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


# ---- helpers in the vocabulary (arrays and Tensors alike) --------------------------------------------------
def _mT(a: Any) -> Any:
    return a.swapaxes(-1, -2)


def _eye(n: int, like: Any) -> Any:
    return xp.eye(n, dtype=like.dtype)


def _diag_embed(v: Any) -> Any:
    """(..., k) -> (..., k, k) with ``v`` on the diagonal."""
    return v[..., None, :] * _eye(v.shape[-1], v)


def _diag(a: Any) -> Any:
    """The main diagonal of the last two axes, (..., k)."""
    return anp.diagonal(a, 0, -2, -1)


def _tril(a: Any, k: int = 0) -> Any:
    return a * xp.tri(a.shape[-2], a.shape[-1], k, dtype=a.dtype)


def _graph(x: Any) -> bool:
    """True under ``create_graph``, where a backward reads the graph's Tensors."""
    return isinstance(x, Tensor)


# ---- argument checks ---------------------------------------------------------------------------------------
def _matrix(x: Any, name: str, *, square: bool = False) -> Tensor:
    """``x`` as a Tensor of (..., m, n) real matrices, or a ValueError/TypeError naming the op and the fix."""
    x = x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))
    if x.dtype.kind == "c":
        raise TypeError(f"linalg.{name}: complex input ({x.dtype}) is not supported; autograd-mini's linear algebra "
                        "is real only (pass the real and imaginary parts as separate real tensors)")
    if x.dtype.kind not in "fiub":
        raise TypeError(f"linalg.{name}: expected a real numeric tensor, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"linalg.{name}: expected a matrix or a batch of matrices (..., m, n), got shape {x.shape}; "
                         "reshape a vector with x.reshape(1, -1) or x.reshape(-1, 1)")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"linalg.{name}: expected square matrices (..., n, n), got shape {x.shape}")
    return x


def _lapack(name: str, f: Any, *args: Any) -> Any:
    """Run a numpy.linalg routine in a forward; its LinAlgError as a ValueError saying what to do (the op's
    forward wrapper puts the op's name in front)."""
    try:
        return f(*args)
    except xp.linalg.LinAlgError as e:
        raise _refusal(f"{_WHY.get(name, str(e))} (numpy: {e}; input shape {tuple(args[0].shape)})") from None


def _refusal(message: str) -> ValueError:
    """A forward's ValueError whose message already shows the shapes (the wrapper adds only the op's name)."""
    error = ValueError(message)
    error.names_shapes = True
    return error


def _declare(name: str) -> Any:
    """``anp.linalg_<name>`` (derivatives call it), named ``linalg.<name>`` in error messages."""
    def declare(cls: type[Function]) -> type[Function]:
        op(f"linalg_{name}", export=False)(cls)
        cls.op_name = f"linalg.{name}"
        return cls

    return declare


_WHY = {
    "inv": "the matrix is singular, so it has no inverse; use linalg.pinv for a pseudo-inverse or linalg.lstsq",
    "solve": "the matrix A is singular, so A x = b has no unique solution; use linalg.lstsq",
    "cholesky": "the matrix is not positive-definite; Cholesky needs a symmetric positive-definite matrix",
    "slogdet": "the gradient of log|det A| is unbounded at a singular matrix",
}


# ---- diagonal, trace ----------------------------------------------------------------------------------
class Diagonal(Function):
    """The diagonal of the last two axes, with an ``offset`` (above the main diagonal when positive)."""
    formula = "d diagonal(x)/dx: g placed back on the diagonal, zeros elsewhere"

    @staticmethod
    def forward(ctx, x, *, offset=0):
        ctx.save_for_backward(x.shape)
        return xp.diagonal(x, offset, -2, -1).copy()

    @staticmethod
    def backward(ctx, g):
        (shape,) = ctx.saved_tensors
        return anp.diagonal_scatter(g, offset=ctx.params.get("offset", 0), shape=shape[-2:])


@op("diagonal_scatter", export=False)
class DiagonalScatter(Function):
    """(..., k) -> (..., m, n): ``v`` on the ``offset`` diagonal of zeros; the derivative of ``Diagonal``."""
    formula = "d diagonal_scatter(v)/dv: the offset diagonal of g"

    @staticmethod
    def forward(ctx, v, *, offset, shape):
        out = xp.zeros(v.shape[:-1] + tuple(shape), v.dtype)
        d = xp.arange(v.shape[-1])
        out[..., d + max(-offset, 0), d + max(offset, 0)] = v
        return out

    @staticmethod
    def backward(ctx, g):
        return anp.diagonal(g, ctx.params["offset"], -2, -1)


@op("diagonal", method=True)
def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, *, dim1: int | None = None,
             dim2: int | None = None) -> Tensor:
    """Diagonals of the planes of ``axis1``/``axis2`` (numpy's and PyTorch's ``diagonal``; ``dim1``/``dim2``
    are PyTorch's names), as a new last axis; ``offset`` > 0 is above the main diagonal."""
    x = x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))
    axis1, axis2 = (axis1 if dim1 is None else dim1), (axis2 if dim2 is None else dim2)
    if x.ndim < 2:
        raise ValueError(f"diagonal: needs at least 2 dimensions, got shape {x.shape}; ag.diag makes a matrix of a "
                         "vector")
    a1, a2 = (_axis(a, x.ndim, "diagonal") for a in (axis1, axis2))
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 are both {a1} (of shape {x.shape}); give two different axes")
    rest = [i for i in range(x.ndim) if i not in (a1, a2)]
    if (a1, a2) != (x.ndim - 2, x.ndim - 1):
        x = x.transpose(*rest, a1, a2)
    return Diagonal.apply(x, offset=int(offset))


def _axis(a: Any, ndim: int, name: str) -> int:
    if not hasattr(a, "__index__") or isinstance(a, bool):
        raise TypeError(f"{name}: an axis must be an int, got {a!r}")
    a = a.__index__()
    if not -ndim <= a < ndim:
        raise IndexError(f"{name}: axis {a} is out of range for a tensor of {ndim} dimensions")
    return a % ndim


@op("trace", method=True)
def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Sum of the diagonal (numpy's ``trace``; PyTorch's for a matrix): ``diagonal(x, ...).sum(-1)``."""
    return diagonal(x, offset, axis1, axis2).sum(axis=-1)


# ---- inverse, determinant, solve ---------------------------------------------------------------------
@_declare("inv")
class Inv(Function):
    formula = "d inv(a)/da: -inv(a).T @ g @ inv(a).T"

    @staticmethod
    def forward(ctx, a):
        return _lapack("inv", xp.linalg.inv, as_float(a))

    @staticmethod
    def backward(ctx, g, out):
        return -(_mT(out) @ g @ _mT(out))


@_declare("solve")
class Solve(Function):
    """``A X = B`` for matrices ``B`` (..., n, k); batch axes broadcast."""
    formula = "d solve(a, b)/db: solve(a.T, g); d solve(a, b)/da: -solve(a.T, g) @ X.T"

    @staticmethod
    def forward(ctx, a, b):
        a, b = as_float(a), as_float(b)
        return _lapack("solve", xp.linalg.solve, a, b)

    @staticmethod
    def backward(ctx, g, a, out):
        gb = anp.linalg_solve(_mT(a), g)
        return -(gb @ _mT(out)) if ctx.needs_input_grad[0] else None, gb


@_declare("solve_triangular")
class SolveTriangular(Function):
    """``A X = B`` (``left=False``: ``X A = B``) reading only ``A``'s ``upper`` or lower triangle (its diagonal
    taken as ones when ``unitriangular``), by substitution: a zero on the diagonal gives inf/nan, as PyTorch's."""
    formula = ("d solve_triangular(a, b)/db: solve_triangular(a.T, g) with the other triangle; "
               "d solve_triangular(a, b)/da: -(that) @ X.T, kept to a's triangle (strictly, when unitriangular)")

    @staticmethod
    def forward(ctx, a, b, *, upper, left, unitriangular):
        a, b = as_float(a), as_float(b)
        if not left:  # X A = B is A.T X.T = B.T
            return _mT(_substitute(_mT(a), _mT(b), not upper, unitriangular))
        return _substitute(a, b, upper, unitriangular)

    @staticmethod
    def backward(ctx, g, a, out):
        upper, left, unit = ctx.params["upper"], ctx.params["left"], ctx.params["unitriangular"]
        gb = anp.linalg_solve_triangular(_mT(a), g, upper=not upper, left=left, unitriangular=unit)
        if not ctx.needs_input_grad[0]:
            return None, gb
        ga = -(gb @ _mT(out)) if left else -(_mT(out) @ gb)
        n = ga.shape[-1]
        keep = xp.tri(n, n, -1 if unit else 0, dtype=bool)  # the triangle forward read
        return anp.where(keep.T if upper else keep, ga, 0.0), gb  # not ga * keep: inf * 0 where X is inf


def _substitute(a: Any, b: Any, upper: bool, unit: bool) -> Any:
    """Forward (lower) or back (upper) substitution, one row of X per step, batched."""
    n = a.shape[-1]
    x = xp.zeros(xp.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:], dtype=xp.result_type(a, b))
    with xp.errstate(divide="ignore", invalid="ignore"):  # a zero on the diagonal: inf/nan, as PyTorch's
        for i in (range(n - 1, -1, -1) if upper else range(n)):
            done = slice(i + 1, n) if upper else slice(0, i)
            row = b[..., i, :] - (a[..., i:i + 1, done] @ x[..., done, :])[..., 0, :]
            x[..., i, :] = row if unit else row / a[..., i, i:i + 1]
    return x


@_declare("matrix_exp")
class MatrixExp(Function):
    """The matrix exponential by scaling and squaring with a degree-13 Pade approximant (Higham 2005); the
    derivative is PyTorch's block-matrix trick: the top-right block of ``exp([[a.T, g], [0, a.T]])``."""
    formula = "d matrix_exp(a)/da: the top-right block of matrix_exp([[a.T, g], [0, a.T]])"

    @staticmethod
    def forward(ctx, a):
        return _expm(as_float(a))

    @staticmethod
    def backward(ctx, g, a):
        n = a.shape[-1]
        lead = [(0, 0)] * (a.ndim - 2)
        at = _mT(a)
        block = (anp.pad(at, lead + [(0, n), (0, n)]) + anp.pad(at, lead + [(n, 0), (n, 0)])
                 + anp.pad(g, lead + [(0, n), (n, 0)]))
        return anp.linalg_matrix_exp(block)[..., :n, n:]


_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
           10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)


def _expm(a: Any) -> Any:
    """exp of each matrix of (..., n, n): scaled by 2^-s so its 1-norm is at most theta_13, the [13/13] Pade
    approximant, squared s times (per matrix); a matrix with an inf or nan gives nan."""
    n, dtype = a.shape[-1], a.dtype
    if a.size == 0:
        return a.copy()
    norm = xp.abs(a).sum(axis=-2).max(axis=-1)
    bad = ~xp.isfinite(norm)
    s = xp.where(bad, 0, xp.maximum(0, xp.ceil(xp.log2(xp.where(bad, 1.0, norm) / 5.371920351148152)))).astype(int)
    a = xp.where(bad[..., None, None], 0.0, a) / (2.0 ** s)[..., None, None]
    b, eye = _PADE13, xp.eye(n, dtype=a.dtype)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    r = xp.linalg.solve(v - u, v + u)
    for k in range(int(s.max(initial=0))):
        r = xp.where((s > k)[..., None, None], r @ r, r)
    return xp.where(bad[..., None, None], xp.nan, r).astype(dtype)  # a float32 matrix was scaled in float64


@_declare("det")
class Det(Function):
    """Gradient: ``det * inv(A).T`` (PyTorch's, via solve); where ``|det|`` is rounding (at most ``eps`` times the
    product of the column norms) the cofactor matrix through the SVD, ``det(U) det(Vh) U diag(prod of the other
    singular values) Vh``, finite at singular matrices; under create_graph the signed determinants of the minors."""
    formula = "d det(a)/da = det(a) inv(a).T (the cofactor matrix, through the SVD where a is singular)"

    @staticmethod
    def forward(ctx, a):
        return xp.asarray(xp.linalg.det(as_float(a)))

    @staticmethod
    def backward(ctx, g, a, out):
        n = a.shape[-1]
        if a.size == 0:
            return a * 0
        d = (g * out)[..., None, None]
        # a constant mask: |det| below rounding, relative to Hadamard's bound (the product of the column norms),
        # so that a matrix singular up to rounding takes the cofactors at any scale (an absolute eps sent a 4 x 4 of
        # rank 2, det 1e-32, to the cofactors but its 3 x 3 minors, det 5e-16 of noise, to det * inv: O(1) errors)
        bound = xp.prod(xp.linalg.norm(getattr(a, "_data", a), axis=-2), axis=-1)
        singular = xp.asarray(abs(getattr(out, "_data", out)) <= xp.finfo(a.dtype).eps * bound)
        if not singular.any():
            return anp.linalg_solve(_mT(a), d * _eye(n, a))
        mask = singular[..., None, None]
        stand_in = xp.diag(xp.arange(1.0, n + 1)).astype(a.dtype)  # distinct singular values: finite derivatives
        if _graph(a):  # recorded: the SVD's derivative is not unique where singular values repeat (rank <= n - 2)
            by_svd = g[..., None, None] * _cofactors(anp.where(mask, a, stand_in))
        else:
            U, S, Vh = _svd(anp.where(mask, a, stand_in))
            others = anp.prod(S[..., None, :] * (1 - _eye(n, a)) + _eye(n, a), axis=-1)  # prod of S_j, j != i
            sign = (g * anp.linalg_det(U) * anp.linalg_det(Vh))[..., None]
            by_svd = (U * (sign * others)[..., None, :]) @ Vh
        if singular.all():
            return by_svd
        by_solve = anp.linalg_solve(_mT(anp.where(mask, stand_in, a)), d * _eye(n, a))
        return anp.where(mask, by_svd, by_solve)


def _cofactors(a: Any) -> Any:
    """The cofactor matrix of each matrix of ``a`` (a recorded Tensor): the signed determinants of its minors,
    each a recorded ``det``, so every further derivative is exact at any rank. n^2 determinants of size n - 1:
    used under create_graph at singular matrices only."""
    n = a.shape[-1]
    if n == 1:
        return a * 0 + 1  # the determinant of the empty minor
    others = xp.array([[k for k in range(n) if k != i] for i in range(n)])      # (n, n - 1)
    rows = others[:, None, :, None] + xp.zeros((1, n, 1, n - 1), dtype=int)  # [i, j, p, q]: row p of minor (i, j)
    cols = others[None, :, None, :] + xp.zeros((n, 1, n - 1, 1), dtype=int)
    sign = (-1.0) ** (xp.arange(n)[:, None] + xp.arange(n)[None, :])
    return Det.apply(a[..., rows, cols]) * sign.astype(a.dtype)


@_declare("logabsdet")
class LogAbsDet(Function):
    formula = "d log|det(a)|/da = inv(a).T"

    @staticmethod
    def forward(ctx, a):
        return xp.asarray(xp.linalg.slogdet(as_float(a))[1])

    @staticmethod
    def backward(ctx, g, a, out):
        if a.size == 0:
            return a * 0
        if (getattr(out, "_data", out) == -xp.inf).any():
            raise ValueError(f"linalg.slogdet: {_WHY['slogdet']} (log|det| = -inf at a singular matrix of shape "
                             f"{tuple(a.shape)}); PyTorch returns inf/nan entries there")
        return anp.linalg_solve(_mT(a), g[..., None, None] * _eye(a.shape[-1], a))


# ---- Cholesky, pinv ---------------------------------------------------------------------------------
@_declare("cholesky")
class Cholesky(Function):
    """Lower factor ``L`` of ``A = L L^T`` (``upper=True``: ``U = L^T``). Gradient: PyTorch's (Murray 2016),
    symmetric, as if ``A`` were symmetric (only its lower triangle is read)."""
    formula = "d cholesky(a)/da: Phi = tril(L.T @ g) halved on the diagonal; inv(L).T @ sym(Phi) @ inv(L)"

    @staticmethod
    def forward(ctx, a, *, upper=False):
        a = as_float(a)
        if not xp.isfinite(a).all():  # numpy returns nan factors; PyTorch, and we, refuse
            raise _refusal(f"{_WHY['cholesky']} (it has inf or nan entries; shape {a.shape})")
        L = _lapack("cholesky", xp.linalg.cholesky, a)
        return _mT(L).copy() if upper else L

    @staticmethod
    def backward(ctx, g, out):
        L, gL = (_mT(out), _mT(g)) if ctx.params.get("upper") else (out, g)
        phi = _tril(_mT(L) @ gL)
        phi = 0.5 * (phi + _mT(_tril(phi, -1)))
        x = anp.linalg_solve(_mT(L), phi)                  # L^-T phi
        return _mT(anp.linalg_solve(_mT(L), _mT(x)))        # (L^-T phi) L^-1


@_declare("pinv")
class Pinv(Function):
    """Moore-Penrose pseudo-inverse through the SVD; singular values below ``rtol * max(S)`` (default
    ``max(m, n) * eps``, PyTorch's) and ``atol`` count as zero. Gradient: PyTorch's ``pinv_backward``."""
    formula = ("d pinv(a)/da: -P.T g P.T + P.T P g.T (I - a P) + (I - P a) g.T P P.T with P = pinv(a) "
               "(Golub-Pereyra; PyTorch's pinv_backward)")

    @staticmethod
    def forward(ctx, a, *, rtol=None, atol=None, hermitian=False):
        a = as_float(a)
        m, n = a.shape[-2:]
        if a.size == 0:
            return xp.zeros(a.shape[:-2] + (n, m), a.dtype)
        if hermitian:  # A = V diag(L) V^T from its lower triangle, as PyTorch's
            S, V = xp.linalg.eigh(a)
            U, Vh = V, _mT(V)
        else:
            U, S, Vh = xp.linalg.svd(a, full_matrices=False)
        if rtol is None:
            rtol = 0.0 if atol is not None and atol > 0 else max(m, n) * xp.finfo(a.dtype).eps
        cut = xp.maximum(rtol * abs(S).max(axis=-1, keepdims=True), atol or 0.0)
        keep = abs(S) > cut
        s_inv = xp.where(keep, 1.0 / xp.where(keep, S, 1.0), 0.0).astype(a.dtype)
        return _mT(Vh) @ (s_inv[..., :, None] * _mT(U))

    @staticmethod
    def backward(ctx, g, a, out):
        m, n = a.shape[-2:]
        p, ph, gh = out, _mT(out), _mT(g)
        if m <= n:
            k = gh @ p
            kph = k @ ph
            return -_mT(p @ k) + kph - (a @ p) @ kph + (ph @ p) @ (gh - k @ a)
        k = p @ gh
        phk = ph @ k
        return -_mT(k @ p) + phk - (phk @ p) @ a + (gh - a @ k) @ p @ ph


# ---- decompositions: one numpy call, one node per output used ---------------------------------------
class SvdPart(Function):
    """Output ``which`` (0: U, 1: S, 2: Vh) of the reduced SVD in ``parts`` (``_factors``)."""
    op_name = "linalg.svd"
    formula = ("d svd(a)/da: U [(skew(U.T gU) S + S skew(Vh gVh.T)) / (S_k^2 - S_j^2) + diag(gS)] Vh, "
               "plus the (I - U U.T) gU S^-1 Vh and U S^-1 gVh (I - V Vh) terms (PyTorch's svd_backward)")

    @staticmethod
    def forward(ctx, a, *, parts, which, full=False):
        return _factors(parts, a, partial(_svd_thin, full=full))[which]

    @staticmethod
    def backward(ctx, g, a):
        which, full = ctx.params["which"], ctx.params.get("full", False)
        U, S, Vh = _svd(a, full) if _graph(a) else _factors(ctx.params["parts"], a, partial(_svd_thin, full=full))
        grads = [None, None, None]
        grads[which] = g
        return _svd_backward(*grads, U, S, Vh)


def _factors(parts: tuple, a: Any, decompose: Any) -> tuple:
    """``parts`` is ``(source, factors)``: the factors the public function computed from the array ``source``.
    A node run again on other values (gradcheck's localisation re-runs ops on perturbed inputs) decomposes
    its own input instead."""
    source, factors = parts
    return factors if source is a else tuple(decompose(as_float(a)))


def _parts(A: Tensor, factors: Any) -> tuple:
    """``parts`` for a decomposition's nodes: the factors computed once for all its outputs. Under ``ag.compile``
    none, so that each replay decomposes its own input (a program would keep this call's factors)."""
    return (None, None) if state.tracer is not None else (A._data, factors() if callable(factors) else factors)


def _untraceable(what: str) -> None:
    if state.tracer is not None:
        state.tracer.unsupported(what + " (numpy on this call's values: the program would keep them)",
                                 "run it eagerly, outside the compiled function")


def _svd_thin(a: Any, full: bool) -> tuple:
    """The reduced factors (U (..., m, k), S, Vh (..., k, n)), cut from the full SVD when ``full`` (so that their
    signs are those of the full SVD the caller got)."""
    U, S, Vh = xp.linalg.svd(a, full_matrices=full)
    k = S.shape[-1]
    return U[..., :, :k], S, Vh[..., :k, :]


def _svd(a: Any, full: bool = False) -> tuple:
    """The reduced factors of ``a``: numpy's for an array; for a Tensor recorded outputs of ``svd`` (so a
    derivative reading them is differentiated through the SVD)."""
    if not _graph(a):
        return _svd_thin(a, full)
    U, S, Vh = svd(a, full_matrices=full)
    k = S.shape[-1]
    return U[..., :, :k], S, Vh[..., :k, :]


def _svd_backward(gU: Any, gS: Any, gVh: Any, U: Any, S: Any, Vh: Any) -> Any:
    """PyTorch's svd_backward (real case): the gradient of the reduced SVD, any of gU, gS, gVh None."""
    m, n, k = U.shape[-2], Vh.shape[-1], S.shape[-1]
    if gU is None and gVh is None:
        return (U * gS[..., None, :]) @ Vh
    S2 = S * S
    E = S2[..., None, :] - S2[..., :, None] + _eye(k, S)  # S_k^2 - S_j^2 off the diagonal, 1 on it
    if gU is not None and gVh is not None:
        UhgU, VhgV = _skew(_mT(U) @ gU), _skew(Vh @ _mT(gVh))
        inner = (UhgU * S[..., None, :] + S[..., :, None] * VhgV) / E
    elif gU is not None:
        inner = _skew(_mT(U) @ gU) * (S[..., None, :] / E)
    else:
        inner = S[..., :, None] * (_skew(Vh @ _mT(gVh)) / E)
    if gS is not None:
        inner = inner + _diag_embed(gS)
    if m > k and gU is not None:
        gUSinv = gU / S[..., None, :]
        return (U @ inner + gUSinv - U @ (_mT(U) @ gUSinv)) @ Vh
    if n > k and gVh is not None:
        SinvgVh = gVh / S[..., :, None]
        return U @ (inner @ Vh + SinvgVh - (SinvgVh @ _mT(Vh)) @ Vh)
    return U @ inner @ Vh


def _skew(a: Any) -> Any:
    return a - _mT(a)


class EighPart(Function):
    """Output ``which`` (0: eigenvalues, 1: eigenvectors) of ``eigh`` in ``parts`` (``_factors``)."""
    op_name = "linalg.eigh"
    formula = ("d eigh(a)/da: V [skew(V.T gV)/2 / (L_j - L_i) + diag(gL)] V.T "
               "(PyTorch's linalg_eig_backward, hermitian)")

    @staticmethod
    def forward(ctx, a, *, parts, which, UPLO="L"):
        return _factors(parts, a, partial(xp.linalg.eigh, UPLO=UPLO))[which]

    @staticmethod
    def backward(ctx, g, a):
        which, uplo = ctx.params["which"], ctx.params.get("UPLO", "L")
        L, V = eigh(a, uplo) if _graph(a) else _factors(ctx.params["parts"], a, partial(xp.linalg.eigh, UPLO=uplo))
        if which == 0:
            return (V * g[..., None, :]) @ _mT(V)
        n = L.shape[-1]
        E = L[..., None, :] - L[..., :, None] + _eye(n, L)
        return V @ ((0.5 * _skew(_mT(V) @ g)) / E) @ _mT(V)


class QrPart(Function):
    """Output ``which`` (0: Q, 1: R) of the QR decomposition in ``parts`` (``_factors``)."""
    op_name = "linalg.qr"
    formula = ("d qr(a)/da: (gQ + Q copyltu(M)) R^-T with M = R gR.T - gQ.T Q for m >= n (PyTorch's "
               "linalg_qr_backward); for m < n the same on a = [X Y], X square")

    @staticmethod
    def forward(ctx, a, *, parts, which, mode="reduced"):
        return _factors(parts, a, partial(_qr_factors, mode=mode))[which]

    @staticmethod
    def backward(ctx, g, a):
        which = ctx.params["which"]
        mode = ctx.params.get("mode", "reduced")
        if mode == "r":
            raise ValueError("linalg.qr: mode='r' computes no Q, and the derivative of R needs it; use "
                             "mode='reduced' (PyTorch raises too)")
        Q, R = qr(a, mode) if _graph(a) else _factors(ctx.params["parts"], a, partial(_qr_factors, mode=mode))
        m, n = a.shape[-2:]
        if mode == "complete" and m > n:
            raise ValueError("linalg.qr: the derivative of mode='complete' is not defined when m > n (Q's last m - n "
                             "columns are not unique); use mode='reduced' (PyTorch raises too)")
        if (_diag(getattr(R, "_data", R)[..., :, :min(m, n)]) == 0).any():
            raise ValueError(f"linalg.qr: the derivative needs the first min(m, n) columns of A to be independent "
                             f"(R has a zero on its diagonal; A of shape {tuple(a.shape)}); PyTorch returns inf/nan")
        gQ, gR = (g, None) if which == 0 else (None, g)
        return _qr_backward(gQ, gR, Q, R, m, n)


def _qr_factors(a: Any, mode: str) -> tuple:
    """(Q, R) as numpy computes them; mode 'r': an empty Q, as PyTorch's."""
    if mode == "r":
        return xp.zeros((0,), a.dtype), xp.linalg.qr(a, mode="r")
    return tuple(xp.linalg.qr(a, mode=mode))


def _qr_backward(gQ: Any, gR: Any, Q: Any, R: Any, m: int, n: int) -> Any:
    if m >= n:
        return _qr_backward_tall(gQ, gR, Q, R)
    # m < n: A = [X | Y] with X = Q U square and Y = Q V (R = [U | V]); X's QR carries Q's and U's gradients
    gU, gV = (None, None) if gR is None else (gR[..., :, :m], gR[..., :, m:])
    if gV is not None:
        Yg = (Q @ R[..., :, m:]) @ _mT(gV)
        gQ = Yg if gQ is None else gQ + Yg
    gX = _qr_backward_tall(gQ, gU, Q, R[..., :, :m])
    gA = gX @ xp.eye(m, n, dtype=Q.dtype)  # [gX | 0]
    return gA if gV is None else gA + (Q @ gV) @ xp.eye(n - m, n, m, dtype=Q.dtype)  # + [0 | Q gV]


def _qr_backward_tall(gQ: Any, gR: Any, Q: Any, R: Any) -> Any:
    """m >= n: gA = (gQ + Q copyltu(M)) R^-T with M = R gR^T - gQ^T Q (copyltu: M's lower triangle mirrored)."""
    M = R @ _mT(gR) if gR is not None else 0
    if gQ is not None:
        M = M - _mT(gQ) @ Q
    b = Q @ (_tril(M) + _mT(_tril(M, -1)))
    if gQ is not None:
        b = b + gQ
    return _mT(anp.linalg_solve(R, _mT(b)))  # b R^-T


# ---- norms ---------------------------------------------------------------------------------------------
class VectorNorm(Function):
    """``sum(|x|^ord)^(1/ord)`` over ``axes`` (inf: max |x|, -inf: min |x|, 0: count of nonzeros).
    Gradient: PyTorch's, 0 where the norm is 0 (ord 2: x / norm masked there), ties of inf share it."""
    op_name = "linalg.vector_norm"
    formula = "d ||x||_p/dx = sign(x) |x|^(p-1) / ||x||^(p-1) (x / ||x|| for p 2, and 0 where the norm is 0)"

    @staticmethod
    def forward(ctx, x, *, ord, axes, keepdims):
        a = abs(as_float(x))
        if ord == xp.inf:
            r = a.max(axis=axes, keepdims=keepdims)
        elif ord == -xp.inf:
            r = a.min(axis=axes, keepdims=keepdims)
        elif ord == 0:
            r = (a != 0).sum(axis=axes, keepdims=keepdims).astype(a.dtype)
        elif ord == 1:
            r = a.sum(axis=axes, keepdims=keepdims)
        else:  # scaled by the largest entry, so that tiny or huge entries neither underflow nor overflow
            m = a.max(axis=axes, keepdims=True, initial=0.0) if ord > 0 else xp.ones(())
            m = xp.where((m > 0) & xp.isfinite(m), m, 1.0)
            s = a / m
            r = xp.sqrt((s * s).sum(axis=axes, keepdims=True)) if ord == 2 else \
                ((s ** ord).sum(axis=axes, keepdims=True)) ** (1.0 / ord)
            r = (r * m).astype(a.dtype)
            if not keepdims:
                r = r.reshape(tuple(n for i, n in enumerate(a.shape) if i not in axes))
        return xp.asarray(r)

    @staticmethod
    def backward(ctx, g, x, out):
        p, axes, keepdims = ctx.params["ord"], ctx.params["axes"], ctx.params["keepdims"]
        if not keepdims:
            shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
            g, out = g.reshape(shape), out.reshape(shape)
        with xp.errstate(divide="ignore", invalid="ignore"):  # x / 0 where the norm is 0: masked, as PyTorch's
            return _norm_backward(p, axes, g, x, out)


def _norm_backward(p: float, axes: tuple, g: Any, x: Any, out: Any) -> Any:
    """PyTorch's norm_backward for ``ord = p`` (``g`` and ``out`` broadcast against ``x``)."""
    zero = out == 0  # a constant mask in both modes
    if p == 0:
        return anp.zeros_like(x)
    sign = _sgn(x)
    if p == 1:
        return sign * g
    if p == 2:
        return g * anp.where(zero, 0.0, x / out)
    if p in (xp.inf, -xp.inf):
        ax = abs(x)
        mask = xp.asarray(getattr(ax, "_data", ax) == getattr(out, "_data", out))
        mask = mask | xp.isnan(getattr(ax, "_data", ax))
        return sign * ((g / mask.sum(axis=axes, keepdims=True)) * mask.astype(x.dtype))
    if p < 1:
        scaled = sign * anp.where(x == 0, 0.0, abs(x) ** (p - 1))
        return scaled * g * out ** (1 - p)
    scaled = sign * abs(x) ** (p - 1) if p < 2 else x * abs(x) ** (p - 2)
    return scaled * anp.where(zero, 0.0, g / out ** (p - 1))


def _sgn(x: Any) -> Any:
    """PyTorch's sgn: the sign, 0 at nan (numpy's is nan); a constant in both modes."""
    a = getattr(x, "_data", x)
    return xp.where(xp.isnan(a), 0.0, xp.sign(a)).astype(a.dtype)


# ---- the public functions (ag.linalg.*) ------------------------------------------------------------------
def _det_sign(a: Any) -> Any:
    return xp.asarray(xp.linalg.slogdet(a)[0])


def _float(x: Tensor) -> Any:
    return as_float(x._data)


def inv(A: Any) -> Tensor:
    """Inverse of square matrices (..., n, n); a singular matrix is a ValueError naming the fix (pinv, lstsq)."""
    return Inv.apply(_matrix(A, "inv", square=True))


def det(A: Any) -> Tensor:
    """Determinant of square matrices (..., n, n); differentiable at singular matrices too (the cofactors)."""
    return Det.apply(_matrix(A, "det", square=True))


def slogdet(A: Any) -> SlogdetResult:
    """``(sign, logabsdet)`` with ``det = sign * exp(logabsdet)``; ``sign`` is a constant (as in PyTorch)."""
    A = _matrix(A, "slogdet", square=True)
    sign = Tensor._wrap(array_call(_det_sign, _float(A)))  # ag.compile computes it again on each replay
    return SlogdetResult(sign, LogAbsDet.apply(A))


def solve(A: Any, B: Any, *, left: bool = True) -> Tensor:
    """``X`` with ``A X = B`` (``left=False``: ``X A = B``). ``B`` is a vector (batch) when it has one axis, or
    ``A``'s shape less its last axis (PyTorch's rule), else matrices (..., n, k); batch axes broadcast."""
    A = _matrix(A, "solve", square=True)
    B = B if isinstance(B, Tensor) else Tensor._wrap(as_array(B))
    if not left:
        return _mT(solve(_mT(A), _mT(_matrix(B, "solve"))))
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    Bm = B[..., None] if vector else B
    if Bm.ndim < 2 or Bm.shape[-2] != A.shape[-1]:
        raise ValueError(f"linalg.solve: A of shape {A.shape} needs B of shape (..., {A.shape[-1]}, k) or "
                         f"({A.shape[-1]},), got {B.shape}")
    try:
        xp.broadcast_shapes(A.shape[:-2], Bm.shape[:-2])
    except ValueError:
        raise ValueError(f"linalg.solve: the batch shapes of A {A.shape} and B {B.shape} do not broadcast") from None
    X = Solve.apply(A, Bm)
    return X[..., 0] if vector else X


def solve_triangular(A: Any, B: Any, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """``X`` with ``A X = B`` (``left=False``: ``X A = B``) for triangular ``A``, torch.linalg.solve_triangular:
    only the ``upper`` (or lower) triangle of ``A`` is read, its diagonal taken as ones when ``unitriangular``;
    ``B`` is matrices (..., n, k) (``left=False``: (..., k, n)); batch axes broadcast. A zero on the read
    diagonal gives inf/nan, as PyTorch's (no error)."""
    A = _matrix(A, "solve_triangular", square=True)
    B = _matrix(B, "solve_triangular")
    if not isinstance(upper, bool):
        raise TypeError(f"linalg.solve_triangular: upper must be True or False (keyword only, no default, as "
                        f"PyTorch's), got {upper!r}")
    n, side = A.shape[-1], (B.shape[-2] if left else B.shape[-1])
    if side != n:
        want = f"(..., {n}, k)" if left else f"(..., k, {n})"
        raise ValueError(f"linalg.solve_triangular: A of shape {A.shape} needs B of shape {want} (left={left}), "
                         f"got {B.shape}")
    try:
        xp.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    except ValueError:
        raise ValueError(f"linalg.solve_triangular: the batch shapes of A {A.shape} and B {B.shape} do not "
                         "broadcast") from None
    return SolveTriangular.apply(A, B, upper=upper, left=bool(left), unitriangular=bool(unitriangular))


def matrix_exp(A: Any) -> Tensor:
    """The matrix exponential of square matrices (..., n, n), torch.linalg.matrix_exp; differentiable to any
    order (its derivative is a matrix exponential of a (2n, 2n) block matrix, PyTorch's)."""
    return MatrixExp.apply(_matrix(A, "matrix_exp", square=True))


def matrix_rank(A: Any, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Tensor:
    """The number of singular values above ``max(atol, rtol * largest)`` (default ``rtol``: ``max(m, n) * eps`` of
    the dtype where ``atol`` is not given or not positive, else 0: PyTorch's), an int64 tensor; ``atol`` and
    ``rtol`` are numbers or tensors broadcast against the batch (one per matrix); ``hermitian``: absolute
    eigenvalues of the lower triangle. An integer: no gradient (as PyTorch)."""
    A = _matrix(A, "matrix_rank", square=bool(hermitian))
    a = _float(A)
    if a.shape[-1] * a.shape[-2] == 0:
        return Tensor._wrap(xp.zeros(a.shape[:-2], dtype=xp.int64))
    atol, rtol = (getattr(t, "_data", t) for t in (atol, rtol))
    return Tensor._wrap(array_call(_rank, a, atol, rtol, bool(hermitian)))  # ag.compile: again on each replay


def _rank(a: Any, atol: Any, rtol: Any, hermitian: bool) -> Any:
    s = xp.abs(xp.linalg.eigvalsh(a)) if hermitian else xp.linalg.svd(a, compute_uv=False)
    atol, rtol = (None if t is None else xp.asarray(t, dtype=s.dtype) for t in (atol, rtol))
    if rtol is None:
        rtol = max(a.shape[-2:]) * xp.finfo(a.dtype).eps
        rtol = rtol if atol is None else xp.where(atol > 0, 0.0, rtol)
    tol = xp.maximum(0.0 if atol is None else atol, rtol * s.max(axis=-1))
    return xp.asarray((s > tol[..., None]).sum(axis=-1), dtype=xp.int64)  # an array (a 0-d one too)


def cond(A: Any, p: Any = None) -> Tensor:
    """The condition number in the ``p`` norm, torch.linalg.cond: ``None``/2 (largest over smallest singular
    value, any shape), -2 (the inverse), or 'fro', 'nuc', 1, -1, inf, -inf (``norm(A) * norm(inv(A))``, square
    matrices). A singular matrix gives inf, as PyTorch's (in the norm-based p so does a nan or inf in it).
    Differentiable (composed of svdvals, inv and matrix_norm), where PyTorch is too; at a singular matrix in the
    norm-based p its gradient here is 0."""
    A = _matrix(A, "cond")
    if p is None or (p in (2, -2) and not isinstance(p, bool)):
        s = svdvals(A)
        with xp.errstate(divide="ignore"):
            return s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    if p not in ("fro", "nuc", 1, -1, xp.inf, -xp.inf) or isinstance(p, bool):
        raise ValueError(f"linalg.cond: p must be None, 'fro', 'nuc', 2, -2, 1, -1, inf or -inf, got {p!r}")
    A = _matrix(A, "cond", square=True)
    if A.size == 0:  # PyTorch's (numpy has no answer for 0 x 0)
        return Tensor._wrap(xp.zeros(A.shape[:-2], _float(A).dtype))
    if p == "nuc":  # PyTorch's: through the singular values, so a singular matrix is inf only where one is 0
        s = svdvals(A)
        with xp.errstate(divide="ignore", invalid="ignore"):
            return s.sum(axis=-1) * (1.0 / s).sum(axis=-1)
    a = _float(A)
    singular = Tensor._wrap(array_call(_singular, a))  # ag.compile: tested again on each replay
    if state.tracer is None and not singular._data.any():
        c = matrix_norm(A, p) * matrix_norm(inv(A), p)
    else:
        stand_in = singular.reshape(singular.shape + (1, 1))  # an invertible stand-in for each singular matrix
        safe = anp.where(stand_in, xp.eye(a.shape[-1], dtype=a.dtype), A)
        c = anp.where(singular, xp.inf, matrix_norm(A, p) * matrix_norm(inv(safe), p))
    return anp.where(anp.isnan(c), xp.inf, c)  # a nan or inf in A: PyTorch's nan_to_num(inf)


def _singular(a: Any) -> Any:
    """Which matrices of ``a`` numpy's inv refuses (it refuses a whole batch for one)."""
    singular = xp.zeros(a.shape[:-2], bool)
    for i in xp.ndindex(a.shape[:-2]):
        try:
            xp.linalg.inv(a[i])
        except xp.linalg.LinAlgError:
            singular[i] = True
    return singular


def cholesky(A: Any, *, upper: bool = False) -> Tensor:
    """Cholesky factor of symmetric positive-definite matrices: lower ``L`` with ``A = L L^T`` (only ``A``'s
    lower triangle is read; ``upper=True``: ``L^T``)."""
    return Cholesky.apply(_matrix(A, "cholesky", square=True), upper=bool(upper))


def pinv(A: Any, *, atol: float | None = None, rtol: float | None = None, hermitian: bool = False) -> Tensor:
    """Moore-Penrose pseudo-inverse (..., n, m) of (..., m, n); singular values at most
    ``max(atol, rtol * max(S))`` are dropped (default rtol ``max(m, n) * eps``, PyTorch's). ``hermitian``:
    ``A`` is symmetric (its lower triangle is read) and the eigendecomposition replaces the SVD."""
    A = _matrix(A, "pinv", square=bool(hermitian))
    return Pinv.apply(A, atol=atol, rtol=rtol, hermitian=bool(hermitian))


def svd(A: Any, full_matrices: bool = True) -> SVDResult:
    """``A = U diag(S) Vh`` with singular values ``S`` in descending order (torch.linalg.svd's
    ``(U, S, Vh)``). With ``full_matrices`` (the default) the extra columns of U / rows of Vh get no
    gradient (PyTorch's); repeated singular values make U's and Vh's gradients inf/nan, as in PyTorch."""
    A = _matrix(A, "svd")
    a = _float(A)
    if not full_matrices or a.shape[-1] == a.shape[-2]:
        parts = _parts(A, lambda: _svd_thin(a, False))
        return SVDResult(*(SvdPart.apply(A, parts=parts, which=i) for i in range(3)))
    _untraceable("linalg.svd(full_matrices=True) of a non-square matrix (U's and Vh's extra rows are constants)")
    U, S, Vh = xp.linalg.svd(a, full_matrices=True)
    k = S.shape[-1]
    parts = (A._data, (U[..., :, :k], S, Vh[..., :k, :]))
    Ut, St, Vht = (SvdPart.apply(A, parts=parts, which=i, full=True) for i in range(3))
    if A.requires_grad:  # the extra columns of U and rows of Vh: constants
        U = Concatenate.apply(Ut, U[..., :, k:], axis=A.ndim - 1)
        Vh = Concatenate.apply(Vht, Vh[..., k:, :], axis=A.ndim - 2)
        return SVDResult(U, St, Vh)
    return SVDResult(Tensor._wrap(U), St, Tensor._wrap(Vh))


def svdvals(A: Any) -> Tensor:
    """Singular values in descending order; gradient ``U diag(g) Vh`` (finite at repeated values)."""
    A = _matrix(A, "svdvals")
    return SvdPart.apply(A, parts=_parts(A, lambda: _svd_thin(_float(A), False)), which=1)


def eigh(A: Any, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices; only the ``UPLO`` triangle is read.
    Repeated eigenvalues make the eigenvectors' gradient inf/nan, as in PyTorch."""
    A = _matrix(A, "eigh", square=True)
    if UPLO not in ("L", "U"):
        raise ValueError(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    parts = _parts(A, lambda: tuple(xp.linalg.eigh(_float(A), UPLO)))
    return EighResult(*(EighPart.apply(A, parts=parts, which=i, UPLO=UPLO) for i in range(2)))


def eigvalsh(A: Any, UPLO: str = "L") -> Tensor:
    """Eigenvalues (ascending) of symmetric matrices; gradient ``V diag(g) V^T``."""
    return eigh(A, UPLO).eigenvalues


def qr(A: Any, mode: str = "reduced") -> QRResult:
    """``A = Q R``, ``mode`` 'reduced' (Q (m, k)), 'complete' (Q (m, m)) or 'r' (Q empty; R's derivative raises,
    as PyTorch's)."""
    A = _matrix(A, "qr")
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    parts = _parts(A, lambda: _qr_factors(_float(A), mode))
    if mode == "r":  # Q is empty: a constant
        return QRResult(Tensor._wrap(xp.zeros((0,), _float(A).dtype)), QrPart.apply(A, parts=parts, which=1, mode=mode))
    return QRResult(*(QrPart.apply(A, parts=parts, which=i, mode=mode) for i in range(2)))


def matrix_power(A: Any, n: int) -> Tensor:
    """``A @ A @ ... `` (``n`` times; ``n = 0``: the identity; ``n < 0``: powers of ``inv(A)``), by squaring."""
    A = _matrix(A, "matrix_power", square=True)
    if not hasattr(n, "__index__") or isinstance(n, bool):
        raise TypeError(f"linalg.matrix_power: n must be an int, got {n!r}")
    n = n.__index__()
    if n == 0:
        a = _float(A)
        return Tensor._wrap(xp.broadcast_to(xp.eye(a.shape[-1], dtype=a.dtype), a.shape).copy())
    base, k, result = (inv(A) if n < 0 else A), abs(n), None
    while True:
        if k & 1:
            result = base if result is None else result @ base
        k >>= 1
        if not k:
            return result
        base = base @ base


def lstsq(A: Any, B: Any, rcond: float | None = None, *, driver: str | None = None) -> LstsqResult:
    """Least-squares ``X`` minimising ``||A X - B||`` (numpy's results: residuals when m > n and A has full rank,
    else empty; rank; singular values). Gradient: that of ``pinv(A) @ B``, PyTorch's."""
    A = _matrix(A, "lstsq")
    _untraceable("linalg.lstsq (its rank, singular values and residuals)")
    B = B if isinstance(B, Tensor) else Tensor._wrap(as_array(B))
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    Bm = B[..., None] if vector else B
    if Bm.ndim < 2 or Bm.shape[-2] != A.shape[-2]:
        raise ValueError(f"linalg.lstsq: A of shape {A.shape} needs B of shape (..., {A.shape[-2]}, k) or "
                         f"({A.shape[-2]},), got {B.shape}")
    X = pinv(A, rtol=rcond) @ Bm
    m, n = A.shape[-2:]
    S = xp.linalg.svd(_float(A), compute_uv=False) if A.size else xp.zeros(A.shape[:-2] + (0,), _float(A).dtype)
    tol = (rcond if rcond is not None else max(m, n) * xp.finfo(S.dtype).eps) * S.max(axis=-1, keepdims=True,
                                                                                     initial=0.0)
    rank = (S > tol).sum(axis=-1)
    if m > n and A.size and bool((rank == n).all()):
        residuals = ((A @ X - Bm) ** 2).sum(axis=-2)
        residuals = residuals[..., 0] if vector else residuals
    else:
        residuals = Tensor._wrap(xp.zeros((0,), S.dtype))
    return LstsqResult(X[..., 0] if vector else X, residuals, Tensor._wrap(xp.asarray(rank)), Tensor._wrap(S))


# ---- norms ---------------------------------------------------------------------------------------------
def _dims(dim: Any, axis: Any, keepdim: Any, keepdims: Any, name: str) -> tuple:
    if dim is not None and axis is not None:
        raise TypeError(f"linalg.{name}: give dim (PyTorch's name) or axis (numpy's), not both")
    if keepdim is not None and keepdims is not None:
        raise TypeError(f"linalg.{name}: give keepdim (PyTorch's name) or keepdims (numpy's), not both")
    return (dim if axis is None else axis), bool(keepdims if keepdim is None else keepdim)


def vector_norm(x: Any, ord: float = 2, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
                keepdims: bool | None = None) -> Tensor:
    """``ord``-norm of ``x`` over ``dim`` (all axes by default) as a flat vector: ``ord`` any real, ``inf``,
    ``-inf`` or ``0`` (the count of nonzeros). Gradient 0 where the norm is 0 (PyTorch's)."""
    x = x if isinstance(x, Tensor) else Tensor._wrap(as_array(x))
    dim, keepdim = _dims(dim, axis, keepdim, keepdims, "vector_norm")
    if x.dtype.kind == "c":
        raise TypeError("linalg.vector_norm: complex input is not supported (real only)")
    ord = as_operand(ord)  # numpy numbers as Python's
    if isinstance(ord, str) or not isinstance(ord, (int, float)) or isinstance(ord, bool):
        raise TypeError(f"linalg.vector_norm: ord must be a number (2, 1, inf, -inf, 0, ...), got {ord!r}; "
                        "'fro' and 'nuc' are matrix norms (linalg.matrix_norm)")
    axes = _normalize(dim, x.ndim, "vector_norm")
    if (ord < 0 or abs(ord) == xp.inf) and any(x.shape[a] == 0 for a in axes) or ord < 0 and x.size == 0:
        raise ValueError(f"linalg.vector_norm: ord={ord} of an empty tensor (shape {x.shape}) is undefined")
    return VectorNorm.apply(x, ord=float(ord), axes=axes, keepdims=keepdim)


def _normalize(dim: Any, ndim: int, name: str) -> tuple:
    if dim is None:
        return tuple(range(ndim))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    out = tuple(sorted(_axis(d, max(ndim, 1), f"linalg.{name}") for d in dims))
    if len(set(out)) != len(out):
        raise ValueError(f"linalg.{name}: repeated dimension in dim={dim!r}")
    return out if ndim else ()


def matrix_norm(A: Any, ord: Any = "fro", dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
                keepdims: bool | None = None) -> Tensor:
    """Matrix norm over the two axes ``dim``: 'fro', 'nuc' (sum of singular values), 2 / -2 (largest /
    smallest singular value), 1 / -1 (max / min column abs-sum), inf / -inf (max / min row abs-sum).
    ``dim`` defaults to the last two axes."""
    dim, keepdim = _dims(dim, axis, keepdim, keepdims, "matrix_norm")
    dim = (-2, -1) if dim is None else dim
    A = _matrix(A, "matrix_norm")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise ValueError(f"linalg.matrix_norm: dim must be a pair of axes, got {dim!r}")
    d0, d1 = (_axis(d, A.ndim, "linalg.matrix_norm") for d in dim)
    if d0 == d1:
        raise ValueError(f"linalg.matrix_norm: dim {dim!r} names one axis twice")
    rest = [i for i in range(A.ndim) if i not in (d0, d1)]
    M = A.transpose(*rest, d0, d1) if (d0, d1) != (A.ndim - 2, A.ndim - 1) else A
    if M.dtype.kind != "f":
        M = M.astype(_float(M).dtype)
    if ord in ("fro", "nuc", 2, -2, 1, -1, xp.inf, -xp.inf) and not isinstance(ord, bool):
        if ord not in ("fro", 1, xp.inf) and M.shape[-1] * M.shape[-2] == 0:
            raise ValueError(f"linalg.matrix_norm: ord={ord!r} of empty matrices (shape {A.shape}) is undefined")
        out = _matrix_norm(M, ord)
    else:
        raise ValueError(f"linalg.matrix_norm: ord must be 'fro', 'nuc', 2, -2, 1, -1, inf or -inf, got {ord!r}")
    if keepdim:
        for d in sorted((d0, d1)):
            out = out.reshape(out.shape[:d] + (1,) + out.shape[d:])
    return out


def _matrix_norm(M: Tensor, ord: Any) -> Tensor:
    if ord == "fro":
        return VectorNorm.apply(M, ord=2.0, axes=(M.ndim - 2, M.ndim - 1), keepdims=False)
    if ord == "nuc":
        return svdvals(M).sum(axis=-1)
    if ord in (2, -2):
        s = svdvals(M)
        return s.max(axis=-1) if ord == 2 else s.min(axis=-1)
    sums = abs(M).sum(axis=-2 if ord in (1, -1) else -1)
    return sums.max(axis=-1) if ord > 0 else sums.min(axis=-1)


def norm(A: Any, ord: Any = None, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """torch.linalg.norm / numpy.linalg.norm: a vector norm over one axis (or the whole tensor flattened when
    ``ord`` and ``dim`` are None), a matrix norm over two axes (or of a 2-D tensor when ``dim`` is None)."""
    dim, keepdim = _dims(dim, axis, keepdim, keepdims, "norm")
    A = A if isinstance(A, Tensor) else Tensor._wrap(as_array(A))
    if dim is None:
        if ord is None:
            return vector_norm(A, 2, None, keepdim)
        if A.ndim not in (1, 2):
            raise ValueError(f"linalg.norm: with ord={ord!r} and no dim the input must be 1-D or 2-D, got shape "
                             f"{A.shape}; give dim (one axis: vector norm, two: matrix norm)")
        dim = (0,) if A.ndim == 1 else (0, 1)
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if len(dims) == 1:
        return vector_norm(A, 2 if ord is None else ord, dims, keepdim)
    if len(dims) == 2:
        return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim)
    raise ValueError(f"linalg.norm: dim must name one or two axes, got {dim!r}")


# PyTorch's Tensor methods for these (t.det(), t.inverse(), ...); t.trace() and t.diagonal() come with their @op
for _name, _fn in (("det", det), ("inverse", inv), ("slogdet", slogdet), ("matrix_power", matrix_power),
                   ("pinverse", pinv)):
    setattr(Tensor, _name, _method(_fn))
