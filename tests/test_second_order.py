"""Second-order differential test (issue #11): random programs with 0-d intermediates, detached and aliased operands
and op-made views; their Hessian-vector products against PyTorch (float64) when it is installed, and always against
float64 central differences of the engine's first derivative (detached values frozen, as the derivative sees them)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
from tests._oracle import oracle

try:
    import torch
except ImportError:
    torch = None


class Ag:
    """The vocabulary of the programs, in autograd-mini."""

    def __init__(self) -> None:
        self.frozen: list | None = None  # replayed detached values (finite differences)
        self.calls = 0

    def const(self, a):
        return ag.tensor(np.asarray(a, dtype=np.float64))

    def detach(self, v, raw=False):
        if self.frozen is None:
            return v.data if raw else v.detach()   # raw: the ndarray itself, an alias of v's memory
        if self.calls == len(self.frozen):
            self.frozen.append(np.array(v.data))
        self.calls += 1
        return ag.tensor(self.frozen[self.calls - 1])

    exp, sin, tanh, sigmoid, log = (staticmethod(f) for f in (ag.exp, ag.sin, ag.tanh, ag.sigmoid, ag.log))
    sqrt = staticmethod(ag.sqrt)
    logsumexp = staticmethod(lambda v: ag.logsumexp(v))
    expand = staticmethod(lambda v: v.expand_dims(0))
    rev = staticmethod(lambda v: v.transpose())
    flip = staticmethod(lambda v: v[::-1])
    squeeze = staticmethod(lambda v: v.reshape((1,) + v.shape).squeeze(0))


class Torch:
    def const(self, a):
        return torch.tensor(np.asarray(a, dtype=np.float64))

    def detach(self, v, raw=False):
        return v.detach()

    if torch is not None:
        exp, sin, tanh, sigmoid, log = (staticmethod(f) for f in (torch.exp, torch.sin, torch.tanh, torch.sigmoid,
                                                                   torch.log))
        sqrt = staticmethod(torch.sqrt)
        logsumexp = staticmethod(lambda v: torch.logsumexp(v.reshape(-1), 0))
        expand = staticmethod(lambda v: v.unsqueeze(0))
        rev = staticmethod(lambda v: v.permute(*reversed(range(v.ndim))))
        flip = staticmethod(lambda v: v.flip(0))
        squeeze = staticmethod(lambda v: v.reshape((1,) + tuple(v.shape)).squeeze(0))


# name: (arity, applies to these ndims, f(m, a, b))
OPS = {
    "exp": (1, None, lambda m, a, b: m.exp(m.tanh(a))),
    "sin": (1, None, lambda m, a, b: m.sin(a)),
    "sigmoid": (1, None, lambda m, a, b: m.sigmoid(a)),
    "square": (1, None, lambda m, a, b: a * a),
    "log1p_sq": (1, None, lambda m, a, b: m.log(1.0 + a * a)),
    "sqrt1p_sq": (1, None, lambda m, a, b: m.sqrt(1.0 + a * a)),
    "cube": (1, None, lambda m, a, b: a ** 3),
    "add": (2, None, lambda m, a, b: a + b),
    "mul": (2, None, lambda m, a, b: a * b),
    "sub": (2, None, lambda m, a, b: a - b),
    "div": (2, None, lambda m, a, b: a / (1.0 + b * b)),
    "pow": (2, None, lambda m, a, b: (1.0 + a * a) ** (0.5 + 0.25 * m.tanh(b))),
    "sum0d": (1, None, lambda m, a, b: a.sum()),
    "mean0d": (1, None, lambda m, a, b: a.mean()),
    "lse0d": (1, None, lambda m, a, b: m.logsumexp(a)),
    "first": (1, (1, 2), lambda m, a, b: a[0]),                 # a view row, or 0-d
    "reverse": (1, (1, 2), lambda m, a, b: m.flip(a)),          # a[::-1]: a view with a negative stride
    "transpose": (1, (2,), lambda m, a, b: m.rev(a)),
    "flatten": (1, (1, 2), lambda m, a, b: a.reshape(-1)),
    "expand": (1, (0, 1), lambda m, a, b: m.expand(a)),
    "squeeze": (1, None, lambda m, a, b: m.squeeze(a)),
    "mul_detached": (2, None, lambda m, a, b: a * m.detach(b)),
    "detached_mul": (2, None, lambda m, a, b: m.detach(b) * a),
    "mul_self_alias": (1, None, lambda m, a, b: a * m.detach(a, raw=True)),
    "div_by_detached": (1, None, lambda m, a, b: a / (1.0 + m.detach(a) ** 2)),
}
NAMES = sorted(OPS)


def run(program, x, m):
    """Evaluate the program on leaf ``x``; the loss is a fixed projection of every value made."""
    pool = [x]
    for name, i, j in program:
        arity, ndims, f = OPS[name]
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        if ndims is not None and a.ndim not in ndims:
            continue
        if arity == 2:
            try:
                np.broadcast_shapes(tuple(a.shape), tuple(b.shape))
            except ValueError:
                continue
        pool.append(f(m, a, b))
    loss = 0.0
    for k, v in enumerate(pool[1:]):
        w = np.cos(np.arange(int(np.prod(v.shape))) + k).reshape(tuple(v.shape))
        loss = loss + (v * m.const(w)).sum()
    return loss, len(pool) - 1


def ag_first(program, x, lib):
    t = ag.tensor(x, requires_grad=True)
    loss, _ = run(program, t, lib)
    if not isinstance(loss, ag.Tensor) or not loss.requires_grad:
        return np.zeros_like(x), None, t
    (g,) = ag.grad_of(loss, [t], create_graph=True, allow_unused=True)
    return (np.zeros_like(x) if g is None else np.array(g.data)), g, t


def ag_hvp(program, x, u):
    _, g, t = ag_first(program, x, Ag())
    if g is None or not g.requires_grad:
        return np.zeros_like(x)
    (h,) = ag.grad_of((g * ag.tensor(u)).sum(), [t], allow_unused=True)
    return np.zeros_like(x) if h is None else np.array(h.data)


def fd_hvp(program, x, u, eps=1e-6):
    lib = Ag()
    lib.frozen = []
    ag_first(program, x, lib)  # records the detached values at x
    parts = []
    for s in (eps, -eps):
        lib.calls = 0
        parts.append(ag_first(program, np.array(x + s * u), lib)[0])  # an array: a 0-d sum is a numpy scalar
    return (parts[0] - parts[1]) / (2 * eps)


def torch_first_and_hvp(program, x, u):
    t = torch.tensor(x, requires_grad=True)
    loss, _ = run(program, t, Torch())
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
        return np.zeros_like(x), np.zeros_like(x)
    (g,) = torch.autograd.grad(loss, t, create_graph=True, allow_unused=True)
    if g is None:
        return np.zeros_like(x), np.zeros_like(x)
    if not g.requires_grad:
        return g.detach().numpy(), np.zeros_like(x)
    (h,) = torch.autograd.grad((g * torch.tensor(u)).sum(), t, allow_unused=True)
    return g.detach().numpy(), (np.zeros_like(x) if h is None else h.numpy())


@st.composite
def programs(draw):
    shape = draw(st.sampled_from([(), (3,), (2, 3)]))
    steps = draw(st.lists(st.tuples(st.sampled_from(NAMES), st.integers(0, 50), st.integers(0, 50)),
                          min_size=2, max_size=7))
    x = np.array(draw(st.lists(st.floats(-1.5, 1.5), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
                 dtype=np.float64).reshape(shape)
    u = np.cos(np.arange(x.size) * 1.7 + 0.3).reshape(shape)
    return steps, x, u


def _show(program) -> str:
    return "; ".join(f"{n}(v{i}, v{j})" for n, i, j in program)


@given(programs())
def test_first_and_second_derivatives_match_finite_differences_and_pytorch(case):
    """Float64 central differences always; PyTorch too when it is installed (random programs are not recorded)."""
    program, x, u = case
    np.testing.assert_allclose(ag_hvp(program, x, u), fd_hvp(program, x, u), rtol=2e-5, atol=2e-6,
                               err_msg=_show(program))
    if torch is None:
        return
    g_torch, h_torch = torch_first_and_hvp(program, x, u)
    np.testing.assert_allclose(ag_first(program, x, Ag())[0], g_torch, rtol=1e-10, atol=1e-12,
                               err_msg=_show(program))
    np.testing.assert_allclose(ag_hvp(program, x, u), h_torch, rtol=1e-9, atol=1e-11, err_msg=_show(program))


def test_every_op_of_the_vocabulary_is_drawn_in_a_fixed_program():
    """A deterministic program that uses every op once, so none can silently drop out of the draw."""
    program = [(n, k, k + 1) for k, n in enumerate(NAMES)]
    x = np.array([[0.3, -0.7, 1.1], [0.5, 0.2, -0.4]])
    u = np.cos(np.arange(6.0)).reshape(2, 3)
    _, made = run(program, ag.tensor(x, requires_grad=True), Ag())
    assert made >= len(NAMES) // 2
    np.testing.assert_allclose(ag_hvp(program, x, u), fd_hvp(program, x, u), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(ag_hvp(program, x, u), oracle(lambda: torch_first_and_hvp(program, x, u)[1]),
                               rtol=1e-9, atol=1e-11)
