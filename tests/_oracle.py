"""PyTorch's answers for the suite's fixed cases: computed live when PyTorch is installed, recorded otherwise.

A test asks ``expected = oracle(lambda: <PyTorch computation>)``. The answer (tensors, arrays, numbers, strings,
exceptions the computation returns, nested in lists/tuples/dicts) is keyed by the test's node id, plus ``key``
when one test asks several questions, and lives in ``tests/oracle/<test file>.jsonl`` (format: tests/oracle/README.md).

- PyTorch installed: the computation runs; a missing recording, or one that differs from the live answer, fails
  the test (CI installs PyTorch, so a stale recording cannot merge).
- PyTorch absent (or ``AG_NO_TORCH=1``): the recording is the answer; a missing one fails naming the fix.
- ``python tests/oracle/record.py`` (sets ``AG_ORACLE_RECORD``) runs the oracle tests and rewrites the recordings.

Either way the test sees the same thing: the answer after a round trip through the recording's encoding.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    import torch
except ImportError:  # the optional oracle
    torch = None

ROOT = pathlib.Path(__file__).resolve().parent
RECORDINGS = ROOT / "oracle"
RECORD = os.environ.get("AG_ORACLE_RECORD", "")  # "" | "merge" | "prune" (record.py sets it)
RERECORD = "run `python tests/oracle/record.py` with torch==2.13.0 installed, and commit tests/oracle/"
HAVE_TORCH = torch is not None
LIST_UP_TO = 16  # arrays up to this size are written as decimal lists, larger ones as base64 of their bytes
# A recording is stale when the live answer moved by more than this (the same PyTorch on another CPU stays within).
STALE = dict(rtol=1e-9, atol=1e-12)

_loaded: dict[pathlib.Path, dict[str, Any]] = {}
_recorded: dict[pathlib.Path, dict[str, Any]] = {}
_calls: dict[str, int] = {}


class Raised(Exception):
    """An exception the PyTorch computation returned (its type name and message), as recorded."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message = kind, message


def oracle(compute: Callable[[], Any], key: str | None = None) -> Any:
    """PyTorch's answer to ``compute()`` for the running test (live when installed, else the recording)."""
    path, case = _where(key)
    if not HAVE_TORCH:
        answers = _recording(path)
        if case not in answers:
            raise AssertionError(f"no recorded PyTorch answer for {case!r} in {_shown(path)}: "
                                 f"{RERECORD}")
        return decode(answers[case])
    live = encode(compute())
    if RECORD:
        _recorded.setdefault(path, {})[case] = live
    else:
        answers = _recording(path)
        if case not in answers:
            raise AssertionError(f"PyTorch's answer for {case!r} is not recorded in "
                                 f"{_shown(path)}: {RERECORD}")
        problem = _differs(answers[case], live)
        if problem:
            raise AssertionError(f"the recording of {case!r} is stale ({problem}): {RERECORD}")
    return decode(live)


def case_rng() -> np.random.Generator:
    """A generator seeded by the running test's node id: a recorded case's inputs whatever else runs before it."""
    return np.random.default_rng(zlib.crc32(_nodeid().encode()))


def _nodeid() -> str:
    running = os.environ.get("PYTEST_CURRENT_TEST")
    if not running:
        raise RuntimeError("the oracle answers inside a running pytest test only")
    return running.rsplit(" (", 1)[0]


def _where(key: str | None) -> tuple[pathlib.Path, str]:
    """(recording file, case name) of the running test: one file per test file, one case per oracle call."""
    nodeid = _nodeid()
    file, test = nodeid.split("::", 1)
    rel = pathlib.Path(file)
    rel = rel.relative_to("tests") if rel.parts[0] == "tests" else rel
    if key is None:  # unnamed questions of one test are numbered in the order asked
        n = _calls[nodeid] = _calls.get(nodeid, -1) + 1
        key = str(n) if n else None
    return RECORDINGS / rel.with_suffix(".jsonl"), test if key is None else f"{test}#{key}"


def _shown(path: pathlib.Path) -> str:
    return str(path.relative_to(ROOT.parent) if path.is_relative_to(ROOT.parent) else path)


def _recording(path: pathlib.Path) -> dict[str, Any]:
    if path not in _loaded:
        answers = {}
        if path.exists():
            for line in path.read_text().splitlines()[1:]:  # the first line says what recorded it
                entry = json.loads(line)
                answers[entry["case"]] = entry["answer"]
        _loaded[path] = answers
    return _loaded[path]


def encode(value: Any) -> Any:
    """A JSON-ready form of an answer: arrays as {"dtype", "shape", "data"}, exceptions as {"raised"}."""
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().resolve_conj().resolve_neg().numpy()
    if isinstance(value, torch.dtype if torch is not None else ()):
        return {"torch_dtype": str(value).removeprefix("torch.")}
    if isinstance(value, (np.ndarray, np.generic)):
        a = np.asarray(value)
        out = {"dtype": a.dtype.str, "shape": list(a.shape)}
        if a.size > LIST_UP_TO:  # exact and half the size of decimal text
            out["base64"] = base64.b64encode(np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes()).decode()
        else:
            out["data"] = a.ravel().tolist()
        return out | {"scalar": True} if isinstance(value, np.generic) else out
    if isinstance(value, BaseException):
        return {"raised": type(value).__name__, "message": str(value).splitlines()[0] if str(value) else ""}
    if isinstance(value, (list, tuple)):
        return {"tuple": [encode(v) for v in value]} if isinstance(value, tuple) else [encode(v) for v in value]
    if isinstance(value, dict):
        return {"dict": {str(k): encode(v) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"oracle answers are tensors, arrays, numbers, strings, exceptions and containers of them; "
                    f"got {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "tuple" in value:
        return tuple(decode(v) for v in value["tuple"])
    if "dict" in value:
        return {k: decode(v) for k, v in value["dict"].items()}
    if "raised" in value:
        return Raised(value["raised"], value["message"])
    if "torch_dtype" in value:
        return value["torch_dtype"]
    dtype = np.dtype(value["dtype"])
    if "base64" in value:
        a = np.frombuffer(base64.b64decode(value["base64"]), dtype.newbyteorder("<")).astype(dtype)
    else:
        a = np.array(value["data"], dtype=dtype)
    a = a.reshape(value["shape"])
    return a[()] if value.get("scalar") else a


def _differs(old: Any, new: Any, where: str = "answer") -> str:
    """'' when the recorded and live answers agree (arrays to STALE), else what differs."""
    if isinstance(old, dict) and isinstance(new, dict) and "dtype" in old and "dtype" in new:
        a, b = decode(old), decode(new)
        if a.dtype != b.dtype or a.shape != b.shape:
            return f"{where}: recorded {a.dtype}{a.shape}, now {b.dtype}{b.shape}"
        if a.dtype.kind in "fc":
            moved = ~np.isclose(a, b, **STALE, equal_nan=True) | (np.isinf(a) != np.isinf(b))
        else:
            moved = a != b
        if not np.any(moved):
            return ""
        at = tuple(int(i) for i in np.argwhere(moved)[0])
        return f"{where}: element {at} recorded {a[at].item()!r}, now {b[at].item()!r} ({int(np.sum(moved))} moved)"
    if isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys() == {"tuple"}:
        return _differs(old["tuple"], new["tuple"], where)
    if isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys() == {"dict"}:
        a, b = old["dict"], new["dict"]
        if a.keys() != b.keys():
            return f"{where}: recorded keys {sorted(a)}, now {sorted(b)}"
        return next((d for k in a if (d := _differs(a[k], b[k], f"{where}[{k!r}]"))), "")
    if isinstance(old, dict) and isinstance(new, dict) and "raised" in old and "raised" in new:
        return "" if old["raised"] == new["raised"] else f"{where}: raised {old['raised']}, now {new['raised']}"
    if isinstance(old, dict) and isinstance(new, dict):
        if old.keys() != new.keys():
            return f"{where}: recorded keys {sorted(old)}, now {sorted(new)}"
        return next((d for k in old if (d := _differs(old[k], new[k], f"{where}.{k}"))), "")
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return f"{where}: recorded {len(old)} items, now {len(new)}"
        return next((d for i, (o, n) in enumerate(zip(old, new)) if (d := _differs(o, n, f"{where}[{i}]"))), "")
    if isinstance(old, float) and isinstance(new, float):
        return "" if np.allclose(old, new, **STALE, equal_nan=True) else f"{where}: recorded {old}, now {new}"
    return "" if old == new and type(old) is type(new) else f"{where}: recorded {old!r}, now {new!r}"


def reset_numbering() -> None:
    """Number each test's unnamed questions from 0 again (conftest.py, before every test)."""
    _calls.clear()


def write_recordings() -> list[str]:
    """Write what this run recorded (record.py's session): merged into each file, or, with ``prune``, each file
    holding exactly the cases this run asked. Returns one line per file written."""
    lines = []
    for path, new in sorted(_recorded.items()):
        answers = dict(new) if RECORD == "prune" else _recording(path) | new
        path.parent.mkdir(parents=True, exist_ok=True)
        header = json.dumps({"recorded_with": f"torch {torch.__version__}", "format": "tests/oracle/README.md"})
        body = [json.dumps({"case": case, "answer": answers[case]}, separators=(",", ":")) for case in sorted(answers)]
        path.write_text("\n".join([header, *body]) + "\n")
        lines.append(f"{_shown(path)}: {len(answers)} cases, {path.stat().st_size // 1024} KiB")
    return lines
