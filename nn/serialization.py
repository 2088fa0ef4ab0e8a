"""``save`` / ``load`` of state dicts as ``.npz``: atomic writes, and loading that can never run code."""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

import autograd_mini as ag

__all__ = ["save", "load"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(state_dict: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a mapping of names to arrays (or Tensors) to ``path`` as ``.npz``, atomically.

    The archive is written to a temporary file in the same directory, flushed to disk, then
    renamed over ``path`` (``os.replace``): a crash mid-write never leaves a partial file there.
    """
    if hasattr(state_dict, "state_dict") and not isinstance(state_dict, Mapping):  # a Module or an optimizer
        raise TypeError(f"nn.save expects a state dict, got a {type(state_dict).__name__} object: "
                        "pass model.state_dict(), as in nn.save(model.state_dict(), path)")
    if isinstance(state_dict, (str, os.PathLike)) and isinstance(path, Mapping):
        raise TypeError("nn.save got the path first: the state dict comes first, nn.save(model.state_dict(), path)")
    if not isinstance(state_dict, Mapping) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"nn.save(state_dict, path) expects a mapping of names to arrays and a file path, got "
                        f"{type(state_dict).__name__} and {type(path).__name__}")
    arrays = {}
    for k, v in state_dict.items():
        if not isinstance(k, str):
            raise TypeError(f"nn.save: keys must be strings, got {k!r}")
        a = v.data if isinstance(v, ag.Tensor) else np.asarray(v)
        if a.dtype.kind not in "biufc":
            raise TypeError(f"nn.save: '{k}' has dtype {a.dtype}; only numeric arrays can be saved "
                            "(object arrays would need pickle)")
        arrays[k] = a
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load(path: str | os.PathLike) -> OrderedDict[str, np.ndarray]:
    """Read a state dict written by ``save`` (or ``np.savez``), with ``allow_pickle=False``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file for a
    truncated, corrupt, pickled or otherwise foreign one.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"nn.load expects a file path, got {type(path).__name__}"
                        + (": to copy a state dict into a model, call model.load_state_dict(state_dict)"
                           if isinstance(path, Mapping) else ""))
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"nn.load: no such file: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"nn.load: {path!r} is a folder, not a file written by nn.save")
    with open(path, "rb") as f:
        head = f.read(6)
    if not head.startswith(b"PK"):  # .npz is a zip archive; say what it is instead (no pickle advice)
        what = ("a single .npy array" if head == b"\x93NUMPY" else f"a file that begins {head!r}" if head
                else "an empty file")
        raise ValueError(f"nn.load: {path!r} is not an .npz archive written by nn.save: it is {what}")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):  # a bare .npy array has no `with` protocol
            raise TypeError
        with npz:
            out = OrderedDict((k, npz[k]) for k in npz.files)
        for k, v in out.items():  # NpzFile returns a member without an .npy header as raw bytes
            if not isinstance(v, np.ndarray):
                raise ValueError(f"entry {k!r} is not an .npy array")
        return out
    except (AttributeError, TypeError):
        raise ValueError(f"nn.load: {path!r} is not an .npz archive written by nn.save "
                         "(it holds a single array)") from None
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"nn.load: {path!r} is not a readable .npz archive written by nn.save "
                         f"(truncated, corrupt, pickled or foreign file): {e}") from None
