"""autograd-mini: reverse-mode automatic differentiation on numpy."""

from .tensor import Tensor, get_default_dtype, set_default_dtype  # noqa: I001  (first: the ops import it)
from .engine import grad_of
from .factories import *  # noqa: F403  (tensor, zeros, full, eye, linspace, randint, ...)
from .factories import __all__ as _factories_all
from .function import Function, Node, once_differentiable
from . import numpy  # noqa: F401  (autograd_mini.numpy: the vocabulary derivatives are written in)
from .grad_mode import enable_grad, is_grad_enabled, module_scope, current_scope, no_grad, set_grad_enabled
from .anomaly import AnomalyError, detect_anomaly
from .explain import explain_grad
from .narrate import Narration, explain_backward
from .gradcheck import GradcheckError, gradcheck, gradcheck_module, gradgradcheck
from .ops import *  # noqa: F403  (the functional op API: ag.exp, ag.sum, ...)
from .ops import __all__ as _ops_all
from .ops.indexing import TopK
from . import mutation  # noqa: F401  (in-place ops: Tensor.add_, +=, t[i] = v, ...)
from . import linalg  # noqa: I001  (ag.linalg: torch.linalg's functions; after ops)
from . import func  # noqa: I001  (function transforms: ag.func.jacrev, ...; after ops, which it uses)
from .func import grad, value_and_grad
from ._torch_names import MODULE as _TORCH_NAMES, missing_attribute as _missing_attribute  # noqa: I001
from . import onnx, viz  # noqa: I001  (graph pictures, ONNX export: graphviz and onnx are imported on use)
from .viz import draw_graph
from .compiler import TraceError, compile  # noqa: A004  (ag.compile, as torch.compile)
from .grad_mode import array_call, effect

__version__ = "0.1.0"

__all__ = [
    "viz", "draw_graph", "func", "onnx", "linalg",
    "Tensor", "Function", "Node", "once_differentiable", "TopK", *_factories_all,
    "get_default_dtype", "set_default_dtype", "no_grad", "enable_grad",
    "set_grad_enabled", "is_grad_enabled", "module_scope", "current_scope", "grad", "value_and_grad", "grad_of",
    *_ops_all,
    "gradcheck", "gradgradcheck", "gradcheck_module", "GradcheckError", "explain_grad", "explain_backward", "Narration",
    "detect_anomaly", "AnomalyError", "compile", "TraceError", "effect", "array_call",
]


def __getattr__(name: str):  # ``ag.testing`` is imported on first use: it needs hypothesis
    if name == "testing":
        import importlib

        return importlib.import_module(".testing", __name__)
    raise _missing_attribute(f"module {__name__!r}", name, _TORCH_NAMES)
