"""nn: modules, layers, losses, optimizers, data loading and safe save/load on ``autograd_mini``.

Built only on ``autograd_mini``'s public API: every layer is composed of Tensor ops or
declared as an ``ag.Function``.
"""

from . import data, functional, init, optim, utils
from .activations import *  # noqa: F403  (ReLU, GELU, SiLU, ELU, Softplus, ...)
from .activations import __all__ as _activations_all
from .attention import MultiheadAttention
from .conv import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
    PixelShuffle,
    PixelUnshuffle,
    Upsample,
)
from .layers import Dropout, Dropout2d, Embedding, Flatten, Identity, Linear
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L2Penalty, MSELoss, NLLLoss
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential, StateDictError
from .nested_state import flatten_state_dict, unflatten_state_dict
from .normalization import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
)
from .recurrent import GRU, LSTM
from .serialization import load, save

__all__ = [
    "Parameter", "Module", "Sequential", "ModuleList", "ModuleDict", "StateDictError",
    "Linear", "Identity", "Flatten", "Dropout",
    *_activations_all, "LayerNorm", "Embedding", "MultiheadAttention", "LSTM", "GRU",
    "MSELoss", "L2Penalty", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "Upsample", "PixelShuffle", "PixelUnshuffle",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "MaxUnpool2d", "AdaptiveAvgPool2d",
    "MaxUnpool1d", "MaxUnpool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "BatchNorm1d", "BatchNorm2d",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "GroupNorm", "Dropout2d",
    "save", "load", "flatten_state_dict", "unflatten_state_dict", "data", "functional", "init", "optim", "utils",
]
