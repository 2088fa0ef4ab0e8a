"""Module hooks (PyTorch's order): forward pre-hooks, forward hooks, full backward hooks.

``module(*args)``: each ``pre(module, args)`` (may return new args), then the tensor inputs pass through an
identity op that calls the backward hooks, ``forward``, each ``hook(module, args, output)`` (may return a new
output), then the output passes through an identity op that records ``grad_output``. In backward, once the
gradients of the inputs are in, each ``hook(module, grad_input, grad_output)`` runs; it may return a new
``grad_input`` (one module input that requires grad; with several, the gradients of the others have already moved
on, so a replacement is refused). An input the outputs do not use gets zeros (PyTorch's), so that the hooks run.
A module with no input that requires grad calls them with ``grad_input`` all None once its outputs' gradients
are in.
"""

from __future__ import annotations

from typing import Any

import autograd_mini as ag
from autograd_mini.hooks import RemovableHandle

__all__ = ["ModuleHooks", "call_with_hooks"]


class _Fns(dict):
    """Hooks by handle id (a dict a handle can refer to weakly)."""


class ModuleHooks:
    """A module's hooks, made on its first registration."""

    def __init__(self) -> None:
        self.pre, self.forward, self.backward = _Fns(), _Fns(), _Fns()

    def add(self, table: _Fns, fn: Any, what: str) -> RemovableHandle:
        if not callable(fn):
            raise TypeError(f"{what}: expected a function, got {type(fn).__name__}")
        handle = RemovableHandle(table)
        table[handle.id] = fn
        return handle


def call_with_hooks(module: Any, hooks: ModuleHooks, args: tuple, kwargs: dict) -> Any:
    for fn in list(hooks.pre.values()):
        new = fn(module, args)
        if new is not None:
            args = new if isinstance(new, tuple) else (new,)
    cell = _Cell(module, hooks) if hooks.backward and ag.is_grad_enabled() else None
    if cell is not None:
        args = cell.wrap_inputs(args)
    with ag.module_scope(module):
        out = module.forward(*args, **kwargs)
    for fn in list(hooks.forward.values()):
        new = fn(module, args, out)
        if new is not None:
            out = new
    return out if cell is None else cell.wrap_outputs(out)


class _Cell:
    """One call's gradients: filled by the identity ops in backward, handed to the hooks, then cleared."""

    def __init__(self, module: Any, hooks: ModuleHooks) -> None:
        self.module, self.hooks = module, hooks
        self.inputs: list = []      # per tensor argument: its position among them if it requires grad, else None
        self.grad_input: list = []
        self.grad_output: list = []
        self.waiting = 0

    def wrap_inputs(self, args: tuple) -> tuple:
        out = []
        self.hooked_inputs: list = []
        for a in args:
            if isinstance(a, ag.Tensor):
                self.grad_input.append(None)
                if a.requires_grad:
                    a = _HookIn.apply(a, cell=self, pos=len(self.grad_input) - 1)
                    self.hooked_inputs.append(a)
                    self.waiting += 1
            out.append(a)
        self.pending = self.waiting
        return tuple(out)

    def wrap_outputs(self, out: Any) -> Any:
        many = isinstance(out, (tuple, list))
        items = list(out) if many else [out]
        self.grad_output = [None] * len(items)
        self.outputs_left = self.outputs = sum(isinstance(o, ag.Tensor) and o.requires_grad for o in items)
        # each output's node also takes the wrapped inputs, so that a gradient reaching any output reaches every
        # input's node (zeros for one the outputs do not use, as PyTorch's) and the hooks run once all are in
        wrapped = [_HookOut.apply(o, *self.hooked_inputs, cell=self, pos=i)
                   if isinstance(o, ag.Tensor) and o.requires_grad else o for i, o in enumerate(items)]
        return type(out)(wrapped) if many else wrapped[0]

    def output_grad(self, pos: int, g: Any) -> None:
        self.grad_output[pos] = _tensor(g)
        self.outputs_left -= 1
        if self.outputs_left == 0:
            self.outputs_left = self.outputs  # counted again when ag.compile replays this call's backward
            if self.waiting == 0:  # no input needs a gradient: the hooks run now
                self.run()

    def input_grad(self, pos: int, g: Any) -> Any:
        self.grad_input[pos] = _tensor(g)
        self.pending -= 1
        if self.pending:
            return g
        self.pending = self.waiting
        new = self.run()
        if new is None:
            return g
        if self.waiting > 1:
            raise RuntimeError(f"a full backward hook of {type(self.module).__name__} returned a new grad_input, "
                               "but the module has several inputs that require grad, and the gradients of the "
                               "others have moved on already; replace gradients with a tensor hook instead "
                               "(t.register_hook) on each input")
        new = new[pos] if isinstance(new, (tuple, list)) else new
        return (new if isinstance(g, ag.Tensor) else getattr(new, "data", new)) if new is not None else g

    def run(self) -> Any:
        grad_input, grad_output = tuple(self.grad_input), tuple(self.grad_output)
        self.grad_input = [None] * len(self.grad_input)
        result = None
        for fn in list(self.hooks.backward.values()):
            new = fn(self.module, grad_input, grad_output)
            if new is not None:
                result = grad_input = tuple(new) if isinstance(new, (tuple, list)) else (new,)
        return result


def _tensor(g: Any) -> ag.Tensor:
    return g if isinstance(g, ag.Tensor) else ag.Tensor._wrap(g.copy())


class _HookOut(ag.Function):
    """Identity on a module's output; its backward records ``grad_output`` for the module's backward hooks and
    gives zeros to the module's wrapped inputs (its other inputs), so that each of their nodes runs."""
    formula = "d x/dx = 1 (records the module's grad_output for its backward hooks); d/dinputs = 0"

    @staticmethod
    def forward(ctx, x, *inputs, cell, pos):
        ctx.save_for_backward(*[(a.shape, a.dtype) for a in inputs])
        return x

    @staticmethod
    def backward(ctx, g):
        ctx.params["cell"].output_grad(ctx.params["pos"], g)
        zeros = [ag.zeros(shape, dtype=dtype) for shape, dtype in ctx.saved_tensors]
        return (g, *(zeros if isinstance(g, ag.Tensor) else [z.data for z in zeros]))


class _HookIn(ag.Function):
    """Identity on a module's input; its backward runs the module's backward hooks once every input's is in."""
    formula = "d x/dx = 1 (runs the module's backward hooks with grad_input)"

    @staticmethod
    def forward(ctx, x, *, cell, pos):
        return x

    @staticmethod
    def backward(ctx, g):
        return ctx.params["cell"].input_grad(ctx.params["pos"], g)
