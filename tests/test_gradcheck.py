"""gradcheck / gradgradcheck / gradcheck_module / explain_grad: passes on the op table, names
broken ops precisely, handles kinks, localises a faulty op inside a larger graph."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import autograd_mini as ag
import nn
from autograd_mini.function import Function
from autograd_mini.gradcheck import GradcheckResult
from autograd_mini.ops import conv as C
from autograd_mini.ops import pool as PL
from autograd_mini.ops import primitives as P
from tests import op_tables

RNG = np.random.default_rng(0)


def T(*shape, lo=-2.0, hi=2.0, grad=True):
    return ag.tensor(RNG.uniform(lo, hi, shape), dtype=np.float64, requires_grad=grad)


# ---- every op in the table ----------------------------------------------------------
# primitive name -> (function, inputs); walking the table makes a new op fail here until it has a case
CASES = {**op_tables.GRADCHECK,  # the tables of the newer op files: tests/op_tables/*.py
    "Add": (lambda a, b: a + b, lambda: [T(2, 3), T(3)]),
    "Sub": (lambda a, b: a - b, lambda: [T(2, 1), T(3)]),
    "Neg": (lambda a: -a, lambda: [T(4)]),
    "Mul": (lambda a, b: a * b, lambda: [T(2, 3), T(2, 1)]),
    "Div": (lambda a, b: a / b, lambda: [T(2, 3), T(3, lo=0.5, hi=2)]),
    "PowConst": (lambda a: a**3 + a**2 + a**0.5, lambda: [T(3, lo=0.5)]),
    "Pow": (lambda a, b: a**b, lambda: [T(3, lo=0.5), T(3)]),
    "MatMul": (lambda a, b, c: (a @ b) @ c, lambda: [T(2, 3), T(3, 4), T(4)]),
    "Linear": (lambda x, w, b: ag.linear(x, w, b), lambda: [T(2, 3), T(3, 4), T(4)]),
    "Exp": (ag.exp, lambda: [T(2, 2)]),
    "Log": (ag.log, lambda: [T(2, 2, lo=0.2)]),
    "Sqrt": (ag.sqrt, lambda: [T(3, lo=0.2)]),
    "StdSqrt": (lambda x: x.std(axis=1), lambda: [T(2, 3)]),
    "Abs": (ag.abs, lambda: [T(5)]),
    "Sin": (ag.sin, lambda: [T(3)]),
    "Cos": (ag.cos, lambda: [T(3)]),
    "Tanh": (ag.tanh, lambda: [T(3)]),
    "Sigmoid": (ag.sigmoid, lambda: [T(3, lo=-6, hi=6)]),
    "Relu": (ag.relu, lambda: [T(6)]),
    "Clip": (lambda x: ag.clip(x, -0.5, 1.0), lambda: [T(6)]),
    "Maximum": (ag.maximum, lambda: [T(2, 3), T(3)]),
    "Minimum": (ag.minimum, lambda: [T(2, 3), T(3)]),
    "Where": (lambda a, b: ag.where(a.data > 0, a, b), lambda: [T(2, 3), T(3)]),
    "AsType": (lambda x: x.astype(np.float64) * 2, lambda: [T(3)]),
    "Sum": (lambda x: x.sum(axis=1) + x.sum(axis=(0, 2), keepdims=True).sum(), lambda: [T(2, 3, 2)]),
    "Max": (lambda x: x.max(axis=0), lambda: [T(3, 2)]),
    "Min": (lambda x: x.min(), lambda: [T(3, 2)]),
    "LogSumExp": (lambda x: ag.logsumexp(x, axis=1), lambda: [T(2, 4)]),
    "Softmax": (lambda x: ag.softmax(x, axis=0), lambda: [T(3, 2)]),
    "LogSoftmax": (lambda x: ag.log_softmax(x), lambda: [T(2, 3)]),
    "Reshape": (lambda x: x.reshape(3, 2), lambda: [T(2, 3)]),
    "Transpose": (lambda x: x.transpose(2, 0, 1), lambda: [T(2, 3, 2)]),
    "BroadcastTo": (lambda x: x.broadcast_to((2, 3)), lambda: [T(3)]),
    "GetItem": (lambda x: x[np.array([0, 2, 0])] + x[1:, None].sum(), lambda: [T(3, 2)]),
    "ScatterAdd": (lambda g: P.ScatterAdd.apply(g, shape=(4,), index=np.array([1, 1, 3])), lambda: [T(3)]),
    "Concatenate": (lambda a, b: ag.concatenate([a, b], axis=1), lambda: [T(2, 1), T(2, 3)]),
    "Erf": (ag.erf, lambda: [T(5, lo=-3, hi=3)]),
    "CumSum": (lambda x: x.cumsum(axis=0), lambda: [T(3, 2)]),
    "Prod": (lambda x: x.prod(axis=1), lambda: [T(2, 3)]),
    "Einsum": (lambda a, b: ag.einsum("bij,bjk->bik", a, b), lambda: [T(2, 2, 3), T(2, 3, 2)]),
}


def declared_ops(package="autograd_mini.ops."):
    """Every Function declared in the op table's files (a base without a forward of its own, like
    Reduction, is no op). conv.py and pool.py have their table in tests/test_conv.py."""
    found, todo = set(), [Function]
    while todo:
        for c in todo.pop().__subclasses__():
            todo.append(c)
            if c.__module__.startswith(package) and c.__module__ not in (C.__name__, PL.__name__) \
                    and c.forward is not Function.forward:
                found.add(c.__name__)
    return found


def test_every_declared_op_has_a_case():
    names = declared_ops()
    assert {"Add", "Sum", "Erf", "Einsum"} <= names, "the walk over the op table found too little"
    assert names <= set(CASES), f"add a gradcheck case (tests/op_tables/<file>.py, GRADCHECK) for {names - set(CASES)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_passes_on_every_primitive(name):
    fn, make = CASES[name]
    assert ag.gradcheck(fn, make())


@pytest.mark.parametrize("fn", [lambda x: x.mean(axis=0), lambda x: x.var(axis=1), lambda x: x.std(),
                                lambda x: ag.stack([x, 2 * x], axis=1), lambda x: ag.split(x, 3, axis=1)[1],
                                lambda x: x.expand_dims(0).squeeze(0).T, lambda x: x.flatten()])
def test_gradcheck_passes_on_composites(fn):
    assert ag.gradcheck(fn, [T(2, 3)])


@pytest.mark.parametrize("name", ["Tanh", "Mul", "Softmax", "MatMul", "LogSumExp"])
def test_gradgradcheck_passes(name):
    fn, make = CASES[name]
    assert ag.gradgradcheck(fn, make())


# ---- broken custom ops --------------------------------------------------------------
class FlipOne(ag.Function):
    """x * y; the gradient of y has the wrong sign at element (1, 2) only."""
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        gy = g * x
        gy[1, 2] = -gy[1, 2]
        return g * y, gy


class Scaled(ag.Function):
    """exp with a backward off by a factor 2."""
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g): return 2 * g * ctx.saved_tensors[0]


class RowBias(ag.Function):
    """x + b[:, None] whose backward forgets to sum g over the broadcast columns: the engine then
    sums over axis 0 (numpy's rule) when x is square, which is the wrong axis here."""
    @staticmethod
    def forward(ctx, x, b): return x + b[:, None]

    @staticmethod
    def backward(ctx, g): return g, g


class SumRows(ag.Function):
    """x.sum(axis=1) with a backward that expands along axis 0 instead."""
    @staticmethod
    def forward(ctx, x): return x.sum(axis=1)

    @staticmethod
    def backward(ctx, g): return np.broadcast_to(g[None, :], (len(g), len(g))).copy()


def test_wrong_sign_names_input_and_element():
    x, y = T(2, 3, grad=False), T(2, 3)
    with pytest.raises(ag.GradcheckError) as e:
        ag.gradcheck(FlipOne.apply, [x, y])
    r = e.value.result
    (m,) = r.mismatches
    assert (m.input, m.index, m.failed, m.checked) == (1, (1, 2), 1, 6)
    assert m.analytical == pytest.approx(-m.numerical)
    msg = str(e.value)
    for part in ["input 1", "element (1, 2)", "analytical", "numerical", "abs error", "rel error", "1 of 6 elements"]:
        assert part in msg


def test_wrong_scale_reports_worst_element():
    x = ag.tensor([[0.1, 1.5], [-1.0, 0.3]], dtype=np.float64, requires_grad=True)
    r = ag.gradcheck(Scaled.apply, [x], raise_exception=False)
    assert not r and isinstance(r, GradcheckResult)
    (m,) = r.mismatches
    assert m.index == (0, 1) and m.failed == 4  # largest exp(x): largest absolute error
    assert m.analytical == pytest.approx(2 * m.numerical) and m.rel_err == pytest.approx(1.0)


def test_missing_unbroadcast_and_wrong_axis_are_caught():
    r = ag.gradcheck(RowBias.apply, [T(3, 3), T(3)], raise_exception=False)
    assert [m.input for m in r.mismatches] == [1]
    r = ag.gradcheck(SumRows.apply, [T(3, 3)], raise_exception=False)
    assert [m.input for m in r.mismatches] == [0] and r.mismatches[0].failed > 0


def test_passes_returns_truthy_result_and_never_touches_inputs():
    x = ag.tensor(RNG.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    before = x.data.copy()
    r = ag.gradcheck(lambda a: (a * a).sum(), [x], raise_exception=False)
    assert r and r.passed and r.mode == "full" and not r.mismatches
    assert any("float32" in n for n in r.notes)
    assert x.dtype == np.float32 and np.array_equal(x.data, before) and x.grad is None


def test_projection_mode_for_large_inputs():
    x = T(20, 20)
    r = ag.gradcheck(lambda a: ag.tanh(a).sum(axis=0), [x], raise_exception=False)
    assert r and r.mode == "vjp"
    r = ag.gradcheck(Scaled.apply, [x], raise_exception=False)
    assert not r and r.mode == "vjp" and r.mismatches[0].sampled and r.mismatches[0].failed > 0
    r = ag.gradcheck(Scaled.apply, [x], raise_exception=False, full_jacobian_max=10_000, localize=False)
    assert r.mode == "full"


def test_nondeterministic_backward_is_reported():
    class Noisy(ag.Function):
        @staticmethod
        def forward(ctx, x): return x * 1.0
        @staticmethod
        def backward(ctx, g): return g + RNG.normal(0, 1e-3, g.shape)

    r = ag.gradcheck(Noisy.apply, [T(3)], raise_exception=False, localize=False)
    assert not r and any("not deterministic" in n for n in r.notes)


# ---- kinks --------------------------------------------------------------------------
@pytest.mark.parametrize("fn, x", [
    (ag.relu, [0.0, 1.0, -1.0]), (ag.abs, [0.0, 2.0]), (lambda x: x.max(), [1.0, 3.0, 3.0]),
    (lambda x: x.min(axis=0), [[1.0, 2.0], [1.0, 0.0]]), (lambda x: ag.maximum(x, 1.0), [1.0, 2.0]),
    (lambda x: ag.minimum(x, x[::-1]), [2.0, 2.0]), (lambda x: ag.clip(x, -1.0, 1.0), [-1.0, 0.0, 1.0]),
])
def test_kinks_accept_builtin_subgradients(fn, x):
    r = ag.gradcheck(fn, [ag.tensor(x, dtype=np.float64, requires_grad=True)], raise_exception=False)
    assert r and r.kinks, str(r)
    assert "kinks" in str(r)


def test_kink_with_an_invalid_subgradient_fails():
    class BadRelu(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.maximum(x, 0)
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * np.where(x > 0, 1.0, np.where(x < 0, 0.0, 2.0))  # 2 at the kink: not a sub-gradient

    r = ag.gradcheck(BadRelu.apply, [ag.tensor([0.0, 1.0], dtype=np.float64, requires_grad=True)],
                     raise_exception=False, localize=False)
    assert not r and r.mismatches[0].index == (0,)


# ---- localisation -------------------------------------------------------------------
class BrokenTanh(ag.Function):
    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g): return g * (1 - ctx.saved_tensors[0])  # should be 1 - out**2


def mlp(x, w1, b1, w2, b2):
    h = ag.relu(x @ w1 + b1)
    h = BrokenTanh.apply(h @ w2 + b2)          # the faulty op
    z = ag.softmax(h, axis=1) * ag.sigmoid(h)
    return ag.log(1 + z.sum(axis=1)).mean() + (w1 * w1).sum() * 0.01


def test_localisation_names_the_broken_op_in_a_larger_graph():
    args = [T(4, 3, grad=False), T(3, 5), T(5), T(5, 2), T(2)]
    with pytest.raises(ag.GradcheckError) as e:
        ag.gradcheck(mlp, args)
    r = e.value.result
    assert {m.input for m in r.mismatches} >= {3, 4}
    assert r.checked_ops >= 10
    assert [op.name for op in r.ops] == ["BrokenTanh"]
    line = inspect.getsource(mlp).splitlines().index("    h = BrokenTanh.apply(h @ w2 + b2)          # the faulty op")
    assert r.ops[0].trace.endswith(f"test_gradcheck.py:{mlp.__code__.co_firstlineno + line}")
    assert r.ops[0].input_shapes == ["(4, 2)"]
    assert "BrokenTanh" in str(e.value) and "localisation: 1 of" in str(e.value)


class _Block(nn.Module):
    def forward(self, x): return BrokenTanh.apply(x) * 2.0


@pytest.mark.parametrize("where", ["first", "last", "0-d", "twice", "module"])
def test_localisation_names_every_broken_op_wherever_it_is(where):
    """The faulty op on the leaf itself, last, on a 0-d value, twice, inside a module: named each time, alone."""
    fns = {
        "first": lambda x: ag.exp(BrokenTanh.apply(x)).sum(),
        "last": lambda x: BrokenTanh.apply(ag.exp(x).sum() * 0.1),  # unsaturated: 1 - out and 1 - out**2 differ
        "0-d": lambda x: ag.sin(BrokenTanh.apply(x.sum()) * x).sum(),
        "twice": lambda x: (BrokenTanh.apply(x) + BrokenTanh.apply(x * 3.0)).sum(),
        "module": lambda x: _Block()(x.sin()).sum(),
    }
    r = ag.gradcheck(fns[where], [T(3)], raise_exception=False)
    assert not r
    assert [op.name for op in r.ops] == ["BrokenTanh"] * (2 if where == "twice" else 1)
    assert r.checked_ops >= 2
    if where == "module":
        assert r.ops[0].module == "_Block"
    if where == "0-d":
        assert r.ops[0].input_shapes == ["()"]


def test_gradgradcheck_finds_a_first_order_correct_op_with_wrong_second_derivative():
    class Square(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2 * (x.detach() if isinstance(x, ag.Tensor) else x)  # cuts d/dx of the derivative

    args = [T(3)]
    assert ag.gradcheck(lambda x: Square.apply(x).sin(), args)
    r = ag.gradgradcheck(lambda x: Square.apply(x).sin(), args, raise_exception=False)
    assert not r and [op.name for op in r.ops] == ["Square"]


# ---- modules ------------------------------------------------------------------------
class Stand:
    """A duck-typed module: only named_parameters() and __call__."""
    def __init__(self, broken=False):
        self.w, self.b = T(3, 2), T(2)
        self.broken = broken

    def named_parameters(self):
        return [("layer.weight", self.w), ("layer.bias", self.b)]

    def __call__(self, x):
        z = x @ self.w
        return RowBias.apply(z.T, self.b).T if self.broken else z + self.b


def test_gradcheck_module_names_failing_parameter_by_dotted_name():
    x, y = T(2, 3, grad=False), T(2, 2, grad=False)
    loss = lambda out, y: ((out - y) ** 2).mean()  # noqa: E731
    assert ag.gradcheck_module(Stand(), loss, x, y)
    m = Stand(broken=True)
    w_before = m.w.data
    r = ag.gradcheck_module(m, loss, x, y, raise_exception=False)
    assert [mm.name for mm in r.mismatches] == ["`layer.bias`"] and "`layer.bias`" in str(r)
    assert m.w.data is w_before and m.w.grad is None


def _nn_cases():
    nn = pytest.importorskip("nn")
    lin = lambda i, o, k: nn.Linear(i, o, seed=k)  # noqa: E731
    x = ag.tensor(RNG.standard_normal((5, 3)))
    cls = RNG.integers(0, 3, 5)
    yf = ag.tensor(RNG.uniform(0, 1, (5, 2)))
    bits = ag.tensor(RNG.integers(0, 2, (5, 2)).astype(np.float32))
    mlp = nn.Sequential(lin(3, 4, 0), nn.Tanh(), lin(4, 2, 1), nn.Sigmoid())
    penalty = nn.L2Penalty(0.1)
    drop = nn.Sequential(lin(3, 2, 8), nn.Dropout(0.5)).eval()
    return {
        "linear-tanh-sigmoid-mse": (mlp, nn.MSELoss(), x, yf),
        "relu-cross_entropy": (nn.Sequential(lin(3, 4, 2), nn.ReLU(), lin(4, 3, 3)), nn.CrossEntropyLoss(), x, cls),
        "leaky-logsoftmax-nll": (nn.Sequential(lin(3, 4, 4), nn.LeakyReLU(0.1), lin(4, 3, 5), nn.LogSoftmax()),
                                 nn.NLLLoss(), x, cls),
        "softmax-bce": (nn.Sequential(lin(3, 2, 6), nn.Softmax()), nn.BCELoss(), x, bits),
        "flatten-identity-bce_logits": (nn.Sequential(lin(3, 2, 7), nn.Flatten(), nn.Identity()),
                                        nn.BCEWithLogitsLoss(), x, bits),
        "dropout(eval)-mse+l2": (drop, lambda out, y: nn.MSELoss()(out, y) + penalty(drop), x, yf),
    }


@pytest.mark.parametrize("case", ["linear-tanh-sigmoid-mse", "relu-cross_entropy", "leaky-logsoftmax-nll",
                                  "softmax-bce", "flatten-identity-bce_logits", "dropout(eval)-mse+l2"])
def test_gradcheck_module_passes_on_nn_layers_and_losses(case):
    model, loss, x, y = _nn_cases()[case]
    dtypes = [p.dtype for _, p in model.named_parameters()]
    assert ag.gradcheck_module(model, loss, x, y)
    assert [p.dtype for _, p in model.named_parameters()] == dtypes


# ---- explain_grad -------------------------------------------------------------------
def test_explain_unreachable_and_detached():
    w, v = T(3), T(3)
    loss = (w * 2).sum()
    assert ag.explain_grad(v, loss).reason == "unreachable"
    loss = (w * v.detach()).sum()
    e = ag.explain_grad(v, loss)
    assert e.reason == "detached" and "Mul" in str(e)
    assert ag.explain_grad(T(2, grad=False), loss).reason == "no_requires_grad"
    assert ag.explain_grad(w, loss).reason == "reachable"


def test_explain_dead_relu_and_saturated_sigmoid():
    w = ag.tensor(np.ones((2, 3)), requires_grad=True)
    x = ag.tensor(-np.ones((4, 2)))

    def loss():
        return ag.relu(x @ w).sum() + ag.sigmoid(50 * (x @ w)).sum()

    loss().backward()
    assert np.all(np.abs(w.grad.data) < 1e-30)
    e = ag.explain_grad(w, loss)
    assert e.reason == "blocked" and "dead relu" in str(e) and "saturated sigmoid" in str(e)
    assert "test_gradcheck.py" in str(e)


@pytest.mark.parametrize("name", sorted(CASES))
def test_anomaly_mode_is_silent_on_every_primitive(name):
    fn, make = CASES[name]
    args = make()
    with ag.detect_anomaly():
        outs = fn(*args)
        outs = outs if isinstance(outs, (tuple, list)) else [outs]
        sum(o.sum() for o in outs).backward()
    assert all(a.grad is not None for a in args if isinstance(a, ag.Tensor) and a.requires_grad)


def test_explain_partly_dead_relu_is_listed_when_reachable():
    w = ag.tensor(np.array([[1.0, -1.0]]), requires_grad=True)
    loss = ag.relu(ag.tensor(np.ones((3, 1))) @ w).sum()
    e = ag.explain_grad(w, loss)
    assert e.reason == "reachable" and "dead relu on 50% of its elements" in str(e)


def test_non_contiguous_leaves_are_perturbed_not_copies_of_them():
    # A transposed leaf's float64 copy kept its strides, so perturbing `reshape(-1)` of it changed a copy:
    # every numerical derivative read 0 and a correct gradient was reported wrong.
    w = ag.tensor(RNG.standard_normal((3, 2)).T, requires_grad=True)
    assert ag.gradcheck(lambda w: (w * w).sum(axis=0), [w])
    assert ag.gradgradcheck(lambda w: (w * w * w).sum(axis=0), [w])
