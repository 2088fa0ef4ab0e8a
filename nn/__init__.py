"""nn: modules, layers, losses, optimizers, data loading and safe save/load on ``autograd_mini``.

Built only on ``autograd_mini``'s public API: every layer is composed of Tensor ops or
declared as an ``ag.Function``.
"""

from . import data, functional, init, optim, utils
from .activations import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .attention import MultiheadAttention
from .layers import Dropout, Flatten, Identity, Linear
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L2Penalty, MSELoss, NLLLoss
from .module import Module, ModuleList, Parameter, Sequential, StateDictError
from .nested_state import flatten_state_dict, unflatten_state_dict
from .recurrent import GRU, LSTM
from .serialization import load, save
from .transformer_layers import Embedding, LayerNorm

__all__ = [
    "Parameter", "Module", "Sequential", "ModuleList", "StateDictError",
    "Linear", "Identity", "Flatten", "Dropout",
    "Sigmoid", "ReLU", "LeakyReLU", "Tanh", "Softmax", "LogSoftmax",
    "GELU", "LayerNorm", "Embedding", "MultiheadAttention", "LSTM", "GRU",
    "MSELoss", "L2Penalty", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
    "save", "load", "flatten_state_dict", "unflatten_state_dict", "data", "functional", "init", "optim", "utils",
]
