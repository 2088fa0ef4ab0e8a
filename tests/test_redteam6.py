"""Red team round 6 on comparisons in PyTorch's promoted dtype, ``store_grads`` under an RLock, and ag.compile's
signature and leaf keys (main 4049272), PyTorch 2.13 as the oracle. The numpy-scalar case found a bug (a numpy
scalar promoted a 0-d tensor's comparison, PyTorch takes it as the plain number it holds), now fixed; the others
guard behaviour that was right. Integers compare exactly where PyTorch wraps the operand into a narrow
integer type (``int8 < int64 0-d 300``), a documented choice, so those are checked against exact arithmetic.
"""

from __future__ import annotations

import operator
import threading

import numpy as np
import pytest

import autograd_mini as ag
from tests._oracle import oracle

try:
    import torch
except ImportError:  # the comparisons below read PyTorch's recorded answers
    torch = None

OPS = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge, "eq": operator.eq,
       "ne": operator.ne}


def _torch(v):
    return torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v


def _both(fn, a, b):
    """fn(a, b) with autograd-mini tensors for arrays, and PyTorch's answer as a bool array."""
    want = oracle(lambda: fn(_torch(a), _torch(b)).numpy())
    got = fn(ag.tensor(a) if isinstance(a, np.ndarray) else a, ag.tensor(b) if isinstance(b, np.ndarray) else b)
    assert isinstance(got, ag.Tensor) and got.dtype == np.bool_ and got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)


# ---- a numpy scalar promoted a 0-d tensor's comparison (float16 0-d 0.1 == np.float64(0.1) was False) -------------
@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("dtype, number", [("float16", np.float64(0.1)), ("float16", np.float32(0.1)),
                                           ("float32", np.float64(0.1)), ("float32", np.float64(1 / 3))])
def test_numpy_scalar_compares_as_the_number_it_holds(name, dtype, number):
    # (reflected, ``np.float64(0.1) < t``, numpy hands us a 0-d array, which does promote: not fixed)
    _both(OPS[name], np.array(number, dtype=dtype), number)


# ---- guards: float mixes, 0-d, size-0, broadcasting, nan/inf/-0.0, Python numbers ---------------------------------
_VALUES = {"bool": [True, False, True], "int8": [-1, 0, 127], "uint8": [0, 255, 1], "int64": [2**53 + 1, -1, 0],
           "float16": [0.1, -0.0, np.inf], "float32": [0.1, np.nan, -np.inf], "float64": [0.1, 0.0, 2.0**53]}
_FLOAT_MIXES = [(a, b) for a in _VALUES for b in _VALUES if "float" in a + b]
_SHAPES = [((), ()), ((3,), ()), ((), (3,)), ((3,), (3,)), ((0,), ()), ((1,), (3,)), ((0,), (1,))]


def _cut(dtype, shape):
    v = np.array(_VALUES[dtype], dtype=dtype)
    return np.array(v[0]) if shape == () else v[:shape[0]].copy()


@pytest.mark.parametrize("da, db", _FLOAT_MIXES)
@pytest.mark.parametrize("sa, sb", _SHAPES)
def test_float_mixes_match_pytorch(da, db, sa, sb):
    a, b = _cut(da, sa), _cut(db, sb)
    want = oracle(lambda: [f(torch.from_numpy(a), torch.from_numpy(b)).numpy() for f in OPS.values()])
    with np.errstate(over="ignore"):  # int64 2**53+1 -> float16 is inf in both; numpy would also warn in add
        for f, w in zip(OPS.values(), want):
            got = f(ag.tensor(a), ag.tensor(b))
            assert got.dtype == np.bool_ and got.shape == w.shape
            np.testing.assert_array_equal(got.numpy(), w)


_NUMBERS = [0.1, -0.0, float("nan"), float("inf"), 1, -1, 255, 256, 2**53 + 1, True, False, np.int64(-1),
            np.uint8(255), np.bool_(True), np.float16(0.1)]


def _wraps(dtype, number):
    """PyTorch wraps -1 and 256 into uint8; integers compare exactly here (test_integers_compare_exactly)."""
    return dtype == "uint8" and isinstance(number, (int, np.integer)) and not 0 <= number <= 255


@pytest.mark.parametrize("shape", [(), (3,), (0,)])
@pytest.mark.parametrize("dtype, number", [(d, n) for d in ["bool", "uint8", "int64", "float16", "float32", "float64"]
                                           for n in _NUMBERS if not _wraps(d, n)], ids=repr)
def test_python_and_numpy_numbers_match_pytorch(dtype, shape, number):
    a = _cut(dtype, shape)
    want = oracle(lambda: [[f(torch.from_numpy(a), number).numpy(), f(number, torch.from_numpy(a)).numpy()]
                           for f in OPS.values()])
    for f, (w, wr) in zip(OPS.values(), want):
        with np.errstate(over="ignore"):  # 2**53+1 -> float16 is inf in both
            np.testing.assert_array_equal(f(ag.tensor(a), number).numpy(), w)
            np.testing.assert_array_equal(f(number, ag.tensor(a)).numpy(), wr)


@pytest.mark.parametrize("number", [-1, 256, 2**70, -(2**70), 2**63 - 1])
def test_integers_compare_exactly(number):
    a = np.array([0, 255, 1], dtype=np.uint8)
    for f in OPS.values():
        np.testing.assert_array_equal(f(ag.tensor(a), number).numpy(), [f(int(v), number) for v in a])
        np.testing.assert_array_equal(f(number, ag.tensor(a)).numpy(), [f(number, int(v)) for v in a])
    x = ag.tensor(np.array([0.5, -np.inf, np.inf]))  # PyTorch raises OverflowError; the answer here is exact
    np.testing.assert_array_equal((x < number).numpy(), [0.5 < number, True, False])


# ---- x < None was a tensor of False (None became nan), x == "a" a numpy conversion error --------------------------
def test_none_and_strings_compare_as_in_pytorch():
    x = ag.tensor(np.array([1.0, 2.0]))
    for other in (None, "a"):
        assert (x == other) is False and (x != other) is True and (other == x) is False
        for f in (operator.lt, operator.le, operator.gt, operator.ge):
            with pytest.raises(TypeError, match="not supported"):
                f(x, other)
        with pytest.raises(TypeError, match="cannot compare a tensor with"):
            ag.compare(x, other, "less")


# ---- store_grads under its RLock: create_graph accumulation, backward inside a hook, threads ------------------------
@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph:UserWarning")  # PyTorch's cycle warning
def test_create_graph_accumulates_a_differentiable_grad():
    want = oracle(lambda: _accumulate("torch"))
    for got, w in zip(_accumulate("ag"), want):
        np.testing.assert_allclose(got, w)


def _accumulate(lib):
    M = torch if lib == "torch" else ag
    z = M.tensor(np.array([1.5]), requires_grad=True)
    for _ in range(2):
        (z ** 3).sum().backward(create_graph=True)
    first = z.grad.detach().numpy().copy()
    s = z.grad.sum()
    z.grad = None
    s.backward()
    return [first, z.grad.numpy()]


def test_backward_inside_a_hook_does_not_deadlock():
    want = oracle(lambda: _reentrant("torch"))
    for got, w in zip(_reentrant("ag"), want):
        np.testing.assert_allclose(got, w)


def _reentrant(lib):
    M = torch if lib == "torch" else ag
    p = M.tensor(np.array([1.0, 2.0]), requires_grad=True)
    q = M.tensor(np.array([3.0]), requires_grad=True)

    def hook(g):
        with M.enable_grad():
            (q * p.detach().sum()).sum().backward(create_graph=True)
        return g

    p.register_hook(hook)
    (p * p).sum().backward(create_graph=True)
    return [p.grad.detach().numpy(), q.grad.detach().numpy()]


def test_threads_accumulate_every_gradient():
    w = ag.tensor(np.ones(3), requires_grad=True)

    def run():
        for _ in range(100):
            (w * 2).sum().backward()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(w.grad.numpy(), [800.0] * 3)


# ---- ag.compile: aliases, numbers of equal value, a hook registered after the first trace -------------------------
def test_compile_tells_aliases_apart():
    @ag.compile
    def f(a, b):
        return a * 2 + b

    x, y = ag.tensor(np.array([1.0, 2.0])), ag.tensor(np.array([5.0, 5.0]))
    arr, arr2 = np.array([1.0, 2.0]), np.array([7.0, 8.0])
    t = ag.tensor(arr)
    for args, want in [((x, x), [3, 6]), ((x, y), [7, 9]), ((x, x), [3, 6]), ((arr, arr), [3, 6]),
                       ((arr, arr2), [9, 12]), ((arr2, arr2), [21, 24]), ((t, arr), [3, 6]), ((t, arr2), [9, 12])]:
        got = f(*args)
        np.testing.assert_array_equal(got.numpy() if isinstance(got, ag.Tensor) else got, want)
    arr[0] = 100.0  # ag.tensor copied arr: t keeps 1.0, the array argument is read fresh
    np.testing.assert_array_equal(f(t, arr).numpy(), [102, 6])


def test_compile_keys_numbers_by_type_and_value():
    @ag.compile
    def f(a, c):
        return a * c

    x32 = ag.tensor(np.ones(2, np.float32))
    for c in (1, 1.0, np.float64(1.0), True, np.float64(2.0), 2, np.float32(0.1), np.float64(0.1)):
        got = f(x32, c)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got.numpy(), np.float32(1) * np.float32(float(c)))


def test_compile_refuses_a_hook_registered_after_the_first_trace():
    w = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)

    @ag.compile
    def step(x):
        loss = (w * x).sum()
        loss.backward()
        return loss

    x = ag.tensor(np.array([3.0, 4.0]))
    for _ in range(2):
        w.grad = None
        step(x)
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])
    w.register_hook(lambda g: g * 2)
    w.grad = None
    with pytest.raises(Exception, match="hook"):
        step(x)
