"""The performance suite: autograd-mini against hand-written numpy and PyTorch CPU eager.

    python benchmarks/run.py                  # full suite (a few minutes), table + out/bench.json
    python benchmarks/run.py --smoke          # tiny configuration, a few seconds (CI runs this)
    python benchmarks/run.py --threads 1      # BLAS/OpenMP threads for numpy and torch alike

Every figure is a median over repeats after warm-up, with min and max; implementations are
interleaved block by block, so every ratio compares timings taken under the same load.
Memory and the deep chain run in fresh subprocesses, so their peak RSS is their own.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="tiny configuration (seconds), for CI")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS/OpenMP threads for numpy and torch (default: all cores)")
    p.add_argument("--json", default=str(ROOT / "out" / "bench.json"), help="where to write the results")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch columns even if torch imports")
    p.add_argument("--only", default="",
                   help="comma-separated subset: per_op,mlp,tiny,cnn,deep_chain,memory,transformer")
    p.add_argument("--repeats", type=float, default=1.0, help="scale the number of repeats")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: perf_counter; cpu: process CPU time, robust on a loaded machine (use --threads 1)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-args", default="{}", help=argparse.SUPPRESS)
    return p.parse_args(argv)


ARGS = _parse()
# Thread counts must be fixed before numpy (OpenBLAS) or torch (OpenMP) is first imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import numpy_cnn  # noqa: E402
import numpy_mlp  # noqa: E402
import transformer_block  # noqa: E402

import autograd_mini as ag  # noqa: E402

LR = 0.01
CLOCK = time.perf_counter if ARGS.clock == "wall" else time.process_time


# ---- helpers --------------------------------------------------------------------------
def _stats(samples: list[float], scale: float = 1.0) -> dict:
    s = [x * scale for x in samples]
    return {"median": statistics.median(s), "min": min(s), "max": max(s), "n": len(s)}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent across exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _load_torch():
    if ARGS.no_torch:
        return None
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(ARGS.threads)
    return torch


def _interleaved(fns: dict, blocks: int, per_block: int, warmup: int = 3) -> dict:
    """Time ``per_block`` calls of each fn, ``blocks`` times, rotating the order each block."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for b in range(blocks):
        for name in names[b % len(names):] + names[:b % len(names)]:
            fn = fns[name]
            t0 = CLOCK()
            for _ in range(per_block):
                fn()
            times[name].append((CLOCK() - t0) / per_block)
    return times


# ---- the three implementations of one training step ---------------------------------
def _data(batch: int, n_batches: int = 8, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, 784)).astype(np.float32), rng.integers(0, 10, batch))
            for _ in range(n_batches)]


def _nn_available() -> bool:
    try:
        import nn
    except ImportError:
        return False
    return all(hasattr(nn, a) for a in ("Linear", "ReLU", "CrossEntropyLoss")) and hasattr(
        getattr(nn, "optim", None), "SGD")


class NumpyStep:
    name = "numpy"

    def __init__(self, batches):
        self.params = numpy_mlp.init_params()
        self.batches = batches
        self.i = 0

    def __call__(self) -> float:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        return numpy_mlp.step(self.params, x, y, LR)


class AgStep:
    """The same step in autograd-mini: with ``nn`` when it exists, else with plain ops."""

    name = "autograd-mini"

    def __init__(self, batches, use_nn: bool | None = None):
        init = numpy_mlp.init_params()
        self.batches = [(ag.Tensor(x), y) for x, y in batches]
        self.i = 0
        self.use_nn = _nn_available() if use_nn is None else use_nn
        if self.use_nn:
            import nn

            self.layers = [nn.Linear(784, 128), nn.Linear(128, 64), nn.Linear(64, 10)]
            for layer, W, b in zip(self.layers, init[0::2], init[1::2]):
                layer.weight.data = W.copy()
                layer.bias.data = b.copy()
            self.relu = nn.ReLU()
            self.loss_fn = nn.CrossEntropyLoss()
            self.opt = nn.optim.SGD([p for layer in self.layers for p in layer.parameters()], lr=LR)
        else:
            self.params = [ag.Tensor(p.copy(), requires_grad=True) for p in init]

    def train_step(self, x, y):
        l1, l2, l3 = self.layers
        loss = self.loss_fn(l3(self.relu(l2(self.relu(l1(x))))), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss

    def __call__(self) -> float:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        if self.use_nn:
            return self.train_step(x, y).item()
        W1, b1, W2, b2, W3, b3 = self.params
        h = (x @ W1 + b1).relu()
        h = (h @ W2 + b2).relu()
        logits = h @ W3 + b3
        loss = -logits.log_softmax(axis=1)[np.arange(len(y)), y].mean()
        for p in self.params:
            p.grad = None
        loss.backward()
        for p in self.params:
            p.data = p.data - LR * p.grad.data
        return loss.item()


class TorchStep:
    name = "torch"

    def __init__(self, torch, batches):
        self.torch = torch
        init = numpy_mlp.init_params()
        nn = torch.nn
        self.model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
        with torch.no_grad():
            for layer, W, b in zip(self.model[0::2], init[0::2], init[1::2]):
                layer.weight.copy_(torch.from_numpy(W.T.copy()))
                layer.bias.copy_(torch.from_numpy(b))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
        self.i = 0

    def __call__(self) -> float:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        loss = self.torch.nn.functional.cross_entropy(self.model(x), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()


class Compiled:
    """An nn step (``AgStep``, ``CnnAgStep``, ``AgBlockStep``) with its training step under ``ag.compile``."""

    name = "compiled"

    def __init__(self, eager):
        self.eager, self.i = eager, 0
        self.step = ag.compile(eager.train_step)

    def __call__(self) -> float:
        batches = self.eager.batches
        x, y = batches[self.i % len(batches)]
        self.i += 1
        return self.step(x, y).item()


# ---- 1. per-op overhead ------------------------------------------------------------------
def bench_per_op(torch, smoke: bool) -> dict:
    n_ops = 100 if smoke else 1000
    rng = np.random.default_rng(0)
    w_np, b_np = (rng.uniform(0.9, 1.1, 16).astype(np.float32) for _ in range(2))

    def ag_chain():
        x = ag.Tensor(np.ones(16, np.float32), requires_grad=True)
        w, b = ag.Tensor(w_np), ag.Tensor(b_np)
        y = x
        for _ in range(n_ops // 2):
            y = y * w
            y = y + b
        y.sum().backward()

    def ag_nograd():
        with ag.no_grad():
            x = ag.Tensor(np.ones(16, np.float32), requires_grad=True)
            w, b = ag.Tensor(w_np), ag.Tensor(b_np)
            y = x
            for _ in range(n_ops // 2):
                y = y * w
                y = y + b

    def np_chain():
        y = np.ones(16, np.float32)
        for _ in range(n_ops // 2):
            y = y * w_np
            y = y + b_np

    fns = {"numpy": np_chain, "autograd-mini": ag_chain, "autograd-mini no_grad": ag_nograd}
    if torch is not None:
        wt, bt = torch.from_numpy(w_np), torch.from_numpy(b_np)

        def torch_chain():
            x = torch.ones(16, requires_grad=True)
            y = x
            for _ in range(n_ops // 2):
                y = y * wt
                y = y + bt
            y.sum().backward()

        def torch_nograd():
            with torch.no_grad():
                y = torch.ones(16, requires_grad=True)
                for _ in range(n_ops // 2):
                    y = y * wt
                    y = y + bt

        fns["torch"] = torch_chain
        fns["torch no_grad"] = torch_nograd
    blocks = 5 if smoke else int(60 * ARGS.repeats)
    times = _interleaved(fns, blocks=blocks, per_block=1 if smoke else 3, warmup=2)
    out = {"n_ops": n_ops, "shape": [16], "us_per_op": {k: _stats(v, 1e6 / n_ops) for k, v in times.items()}}
    if torch is not None:
        out["ratio_ag_torch"] = out["us_per_op"]["autograd-mini"]["median"] / out["us_per_op"]["torch"]["median"]
    return out


# ---- 2./3. MLP step and GEMM floor --------------------------------------------------------
def bench_mlp(torch, smoke: bool) -> dict:
    results = {}
    sizes = (32,) if smoke else (32, 512)
    for batch in sizes:
        batches = _data(batch)
        ag_step = AgStep(batches)
        fns = {"numpy": NumpyStep(batches), "autograd-mini": ag_step, "compiled": Compiled(AgStep(batches))}
        if torch is not None:
            fns["torch"] = TorchStep(torch, batches)
        params = numpy_mlp.init_params()
        x = batches[0][0]
        acts = numpy_mlp.gemm_operands(params, x)
        fns["gemm floor"] = lambda params=params, x=x, acts=acts: numpy_mlp.gemms(params, x, acts)
        if smoke:
            blocks, per_block = 3, 2
        else:
            blocks = int((80 if batch <= 64 else 50) * ARGS.repeats)
            per_block = 20 if batch <= 64 else 4
        times = _interleaved(fns, blocks=blocks, per_block=per_block, warmup=2 if smoke else 10)
        r = {"ms": {k: _stats(v, 1e3) for k, v in times.items()}, "ag_uses_nn": ag_step.use_nn}
        med = {k: v["median"] for k, v in r["ms"].items()}
        r["ratio_ag_numpy"] = med["autograd-mini"] / med["numpy"]
        r["ratio_compiled_numpy"] = med["compiled"] / med["numpy"]
        r["ratio_numpy_gemm"] = med["numpy"] / med["gemm floor"]
        if torch is not None:
            r["ratio_ag_torch"] = med["autograd-mini"] / med["torch"]
            r["ratio_torch_numpy"] = med["torch"] / med["numpy"]
        # the three implementations compute the same loss from the same weights and data
        losses = [NumpyStep(batches)(), AgStep(batches)(), Compiled(AgStep(batches))()] + (
            [TorchStep(torch, batches)()] if torch else [])
        r["first_losses"] = losses
        if max(losses) - min(losses) > 1e-3 * max(1.0, abs(losses[0])):
            raise AssertionError(f"batch {batch}: the implementations disagree on the first loss: {losses}")
        results[str(batch)] = r
    return results


# ---- the micrograd-sized MLP (2-16-16-1, 100 samples): where per-op overhead is everything --------------
class TinyNumpyStep:
    def __init__(self, batches):
        self.params, self.batches, self.i = numpy_mlp.tiny_params(), batches, 0

    def __call__(self) -> float:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        return numpy_mlp.tiny_step(self.params, x, y, LR)


class TinyAgStep:
    def __init__(self, batches):
        import nn

        self.model = nn.Sequential(nn.Linear(2, 16, dtype=np.float64), nn.ReLU(), nn.Linear(16, 16, dtype=np.float64),
                                   nn.ReLU(), nn.Linear(16, 1, dtype=np.float64))
        for param, value in zip(self.model.parameters(), numpy_mlp.tiny_params()):
            param.data = value.copy()
        self.loss_fn, self.opt = nn.MSELoss(), nn.optim.SGD(self.model.parameters(), lr=LR)
        self.batches, self.i = [(ag.Tensor(x), ag.Tensor(y)) for x, y in batches], 0

    def train_step(self, x, y):
        return CnnAgStep.train_step(self, x, y)  # the same step body: loss, zero_grad, backward, SGD

    def __call__(self) -> float:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        return self.train_step(x, y).item()


def bench_tiny(smoke: bool) -> dict:
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((100, 2)), rng.standard_normal((100, 1))) for _ in range(4)]
    fns = {"numpy": TinyNumpyStep(batches), "autograd-mini": TinyAgStep(batches),
           "compiled": Compiled(TinyAgStep(batches))}
    losses = [TinyNumpyStep(batches)(), TinyAgStep(batches)(), Compiled(TinyAgStep(batches))()]
    if max(losses) - min(losses) > 1e-9 * max(1.0, abs(losses[0])):
        raise AssertionError(f"tiny MLP: the implementations disagree on the first loss: {losses}")
    times = _interleaved(fns, blocks=3 if smoke else int(40 * ARGS.repeats), per_block=2 if smoke else 50,
                         warmup=2 if smoke else 20)
    r = {"ms": {k: _stats(v, 1e3) for k, v in times.items()}, "first_losses": losses}
    med = {k: v["median"] for k, v in r["ms"].items()}
    r["ratio_ag_numpy"], r["ratio_compiled_numpy"] = med["autograd-mini"] / med["numpy"], med["compiled"] / med["numpy"]
    return r


# ---- transformer block (benchmarks/transformer_block.py) ----------------------------------
def bench_transformer(torch, smoke: bool) -> dict:
    """One pre-LN block training step, batch 16 x sequence 32, width 64, 4 heads (smoke: 2 x 8, width 16)."""
    dims = dict(width=16, heads=4) if smoke else {}
    batches = transformer_block.data(2, 8, 16) if smoke else transformer_block.data()
    fns = {"autograd-mini": transformer_block.AgBlockStep(batches, **dims),
           "compiled": Compiled(transformer_block.AgBlockStep(batches, **dims))}
    if torch is not None:
        fns["torch"] = transformer_block.TorchBlockStep(torch, batches, fns["autograd-mini"], **dims)
    losses = [f() for f in fns.values()]  # same weights and data: the same first loss
    if max(losses) - min(losses) > 1e-3 * max(1.0, abs(losses[0])):
        raise AssertionError(f"transformer block: the implementations disagree on the first loss: {losses}")
    times = _interleaved(fns, blocks=3 if smoke else int(40 * ARGS.repeats), per_block=1 if smoke else 5,
                         warmup=1 if smoke else 5)
    r = {"ms": {k: _stats(v, 1e3) for k, v in times.items()}, "first_losses": losses,
         "config": "2x8, width 16" if smoke else "16x32, width 64"}
    if torch is not None:
        r["ratio_ag_torch"] = r["ms"]["autograd-mini"]["median"] / r["ms"]["torch"]["median"]
        r["ratio_compiled_torch"] = r["ms"]["compiled"]["median"] / r["ms"]["torch"]["median"]
    return r


# ---- 3b. LeNet CNN step: the same model, weights and batches in numpy by hand, autograd-mini's nn, PyTorch ----
class CnnNumpyStep:
    def __init__(self, batches):
        self.params, self.batches, self.i = numpy_cnn.init_params(), batches, 0

    def __call__(self) -> float:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        return numpy_cnn.step(self.params, x, y, LR)


class CnnAgStep:
    def __init__(self, batches):
        import nn

        p = numpy_cnn.init_params()
        self.model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                                   nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                                   nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        for param, value in zip(self.model.parameters(), p):
            param.data = value.copy()
        self.loss_fn, self.opt = nn.CrossEntropyLoss(), nn.optim.SGD(self.model.parameters(), lr=LR)
        self.batches, self.i = [(ag.Tensor(x), y) for x, y in batches], 0

    def train_step(self, x, y):
        loss = self.loss_fn(self.model(x), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss

    def __call__(self) -> float:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        return self.train_step(x, y).item()


class CnnTorchStep(TorchStep):  # the same step, another model
    def __init__(self, torch, batches):
        nn, p = torch.nn, numpy_cnn.init_params()
        self.model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                                   nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
                                   nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        with torch.no_grad():
            for param, value in zip(self.model.parameters(), p):
                param.copy_(torch.from_numpy(value.T.copy() if value.ndim == 2 else value))  # Linear: (out, in)
        self.torch, self.opt = torch, torch.optim.SGD(self.model.parameters(), lr=LR)
        self.batches, self.i = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches], 0


def bench_cnn(torch, smoke: bool) -> dict:
    rng = np.random.default_rng(0)
    batches = [(rng.random((64, 1, 28, 28), np.float32), rng.integers(0, 10, 64)) for _ in range(4)]
    fns = {"numpy": CnnNumpyStep(batches), "autograd-mini": CnnAgStep(batches),
           "compiled": Compiled(CnnAgStep(batches))}
    if torch is not None:
        fns["torch"] = CnnTorchStep(torch, batches)
    losses = [CnnNumpyStep(batches)(), CnnAgStep(batches)()] + ([CnnTorchStep(torch, batches)()] if torch else [])
    if max(losses) - min(losses) > 1e-3 * max(1.0, abs(losses[0])):
        raise AssertionError(f"LeNet step: the implementations disagree on the first loss: {losses}")
    blocks, per_block = (3, 1) if smoke else (int(30 * ARGS.repeats), 5)
    times = _interleaved(fns, blocks=blocks, per_block=per_block, warmup=1 if smoke else 5)
    r = {"batch": 64, "ms": {k: _stats(v, 1e3) for k, v in times.items()}, "first_losses": losses}
    med = {k: v["median"] for k, v in r["ms"].items()}
    r["ratio_ag_numpy"] = med["autograd-mini"] / med["numpy"]
    r["ratio_compiled_numpy"] = med["compiled"] / med["numpy"]
    if torch is not None:
        r["ratio_ag_torch"] = med["autograd-mini"] / med["torch"]
        r["ratio_compiled_torch"] = med["compiled"] / med["torch"]
    return r


# ---- 4. deep chain (subprocess worker) --------------------------------------------------
def worker_deep_chain(n: int, gc_off: bool = False) -> dict:
    """``gc_off``: the same run with the cyclic collector disabled in this subprocess, as evidence of what the
    collector's passes over the live graph cost (the library never changes gc settings)."""
    if gc_off:
        gc.disable()
    w = np.float32(1.0000001)
    x = ag.Tensor(np.ones(16, np.float32), requires_grad=True)
    y = x
    for _ in range(1000):  # warm-up
        y = y * w
    y.sum().backward()
    x.grad = None
    del y
    gc.collect()
    base = _rss()
    t0 = CLOCK()
    y = x
    for _ in range(n):
        y = y * w
    loss = y.sum()
    t1 = CLOCK()
    graph_rss = _rss() - base
    loss.backward()
    t2 = CLOCK()
    peak = _peak_rss() - base
    del y, loss
    t3 = CLOCK()
    return {"n_ops": n, "forward_s": t1 - t0, "backward_s": t2 - t1, "free_s": t3 - t2,
            "graph_bytes_per_op": graph_rss / n, "peak_bytes_per_op": peak / n,
            "grad_ok": bool(np.allclose(x.grad.data, np.float32(w) ** n, rtol=1e-2))}


def bench_deep_chain(smoke: bool) -> dict:
    ns = (2_000, 20_000) if smoke else (100_000, 1_000_000)
    runs = {str(n): _subprocess("deep_chain", {"n": n}) for n in ns}
    small, big = (runs[str(n)] for n in ns)
    no_gc = {str(n): _subprocess("deep_chain", {"n": n, "gc_off": True}) for n in ns}
    return {"runs": runs, "no_gc": no_gc, "scale": ns[1] // ns[0],
            "backward_time_ratio": big["backward_s"] / small["backward_s"],
            "total_time_ratio": (big["forward_s"] + big["backward_s"]) / (small["forward_s"] + small["backward_s"])}


# ---- 5. memory (subprocess worker) ------------------------------------------------------
def worker_memory(impl: str, batch: int, steps: int) -> dict:
    batches = _data(batch)
    step = NumpyStep(batches) if impl == "numpy" else AgStep(batches)
    step()
    gc.collect()
    base = _rss()
    rss = []
    for _ in range(steps):
        step()
        rss.append(_rss())
    q = max(1, steps // 10)
    early, late = statistics.median(rss[q:2 * q]), statistics.median(rss[-q:])
    return {"impl": impl, "batch": batch, "steps": steps, "base_rss_mb": base / 2**20,
            "peak_rss_mb": _peak_rss() / 2**20,
            "peak_above_base_mb": (_peak_rss() - base) / 2**20,
            "growth_bytes_per_step": (late - early) / (steps - 1.5 * q)}


def bench_memory(smoke: bool) -> dict:
    out = {}
    for batch, steps in ((32, 50), (512, 10)) if smoke else ((512, 200), (32, 2000)):
        out[f"b{batch}x{steps}"] = {impl: _subprocess("memory", {"impl": impl, "batch": batch, "steps": steps})
                                    for impl in ("numpy", "autograd-mini")}
    return out


def _subprocess(worker: str, kwargs: dict) -> dict:
    cmd = [sys.executable, __file__, "--worker", worker, "--worker-args", json.dumps(kwargs),
           "--threads", str(ARGS.threads), "--clock", ARGS.clock]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"benchmark worker {worker} {kwargs} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ---- machine, report --------------------------------------------------------------------
def machine_info(torch) -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cores": os.cpu_count(),
            "threads": ARGS.threads, "clock": ARGS.clock, "numpy": np.__version__, "load_avg": os.getloadavg(),
            "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # numpy < 1.25 has no dict mode
        info["blas"] = "unknown"
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version")}
                               for p in threadpool_info()]
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def _fmt(s: dict | None, unit: str = "") -> str:
    if s is None:
        return "-"
    return f"{s['median']:.3g}{unit} [{s['min']:.3g}-{s['max']:.3g}]"


def report(res: dict) -> str:
    lines = []
    m = res["machine"]
    lines.append(f"machine: {m['cpu']}, {m['cores']} cores; python {m['python']}, numpy {m['numpy']} ({m['blas']}); "
                 f"torch {m.get('torch', 'not installed')}; threads {m['threads']} "
                 f"(OMP/OPENBLAS/MKL_NUM_THREADS={m['threads']}); {m['clock']} clock; "
                 f"load avg {m['load_avg'][0]:.2f} at start, {m['load_avg_end'][0]:.2f} at end")
    lines.append("")
    lines.append("| benchmark | numpy | autograd-mini | ag.compile | torch | ratios | target |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    tg = res["targets"]
    if "per_op" in res:
        p = res["per_op"]["us_per_op"]
        ratio = res["per_op"].get("ratio_ag_torch")
        lines.append(f"| per-op fwd+bwd, chain of {res['per_op']['n_ops']} on (16,) (µs/op) | - | "
                     f"{_fmt(p['autograd-mini'])} | - | {_fmt(p.get('torch'))} | "
                     f"ag/torch {ratio:.2f} | {tg.get('per_op', '-')} |" if ratio else
                     f"| per-op fwd+bwd (µs/op) | - | {_fmt(p['autograd-mini'])} | - | - | - | - |")
        us = {k: v["median"] for k, v in p.items()}
        ng = f"ag/numpy {us['autograd-mini no_grad'] / us['numpy']:.2f}" + (
            f", ag/torch {us['autograd-mini no_grad'] / us['torch no_grad']:.2f}" if "torch no_grad" in us else "")
        lines.append(f"| per-op forward, no_grad (µs/op) | {_fmt(p['numpy'])} | {_fmt(p['autograd-mini no_grad'])} | "
                     f"- | {_fmt(p.get('torch no_grad'))} | {ng} | {tg.get('no_grad', '-')} |")
    for batch, r in res.get("mlp", {}).items():
        ms = r["ms"]
        ratios = f"ag/numpy {r['ratio_ag_numpy']:.2f}, compiled/numpy {r['ratio_compiled_numpy']:.2f}"
        if "ratio_ag_torch" in r:
            ratios += f", ag/torch {r['ratio_ag_torch']:.2f}, torch/numpy {r['ratio_torch_numpy']:.2f}"
        via = "nn" if r["ag_uses_nn"] else "plain ops"
        lines.append(f"| MLP step, batch {batch} (ms; ag via {via}) | {_fmt(ms['numpy'])} | "
                     f"{_fmt(ms['autograd-mini'])} | {_fmt(ms['compiled'])} | {_fmt(ms.get('torch'))} | {ratios} | "
                     f"{'; '.join(v for k, v in tg.items() if k.startswith('mlp_' + batch)) or '-'} |")
        lines.append(f"| GEMMs only, batch {batch} (ms) | {_fmt(ms['gemm floor'])} | | | | "
                     f"numpy step / GEMMs {r['ratio_numpy_gemm']:.2f} | |")
    if "tiny" in res:
        m = res["tiny"]
        lines.append(f"| micrograd-sized MLP 2-16-16-1, 100 samples, float64 (ms) | {_fmt(m['ms']['numpy'])} | "
                     f"{_fmt(m['ms']['autograd-mini'])} | {_fmt(m['ms']['compiled'])} | - | "
                     f"ag/numpy {m['ratio_ag_numpy']:.2f}, compiled/numpy {m['ratio_compiled_numpy']:.2f} | "
                     f"{tg.get('tiny_compiled', '-')} |")
    if "cnn" in res:
        c = res["cnn"]
        ratios = f"ag/numpy {c['ratio_ag_numpy']:.2f}, compiled/numpy {c['ratio_compiled_numpy']:.2f}"
        if "ratio_ag_torch" in c:
            ratios += f", ag/torch {c['ratio_ag_torch']:.2f}, compiled/torch {c['ratio_compiled_torch']:.2f}"
        lines.append(f"| LeNet step, batch 64, 1x28x28 (ms) | {_fmt(c['ms']['numpy'])} | "
                     f"{_fmt(c['ms']['autograd-mini'])} | {_fmt(c['ms']['compiled'])} | {_fmt(c['ms'].get('torch'))} | "
                     f"{ratios} | {'; '.join(v for k, v in tg.items() if k.startswith('cnn')) or '-'} |")
    if "transformer" in res:
        tr = res["transformer"]
        ratio = (f"ag/torch {tr['ratio_ag_torch']:.2f}, compiled/torch {tr['ratio_compiled_torch']:.2f}"
                 if "ratio_ag_torch" in tr else "-")
        lines.append(f"| transformer block step, {tr['config']}, 4 heads (ms) | - | "
                     f"{_fmt(tr['ms']['autograd-mini'])} | {_fmt(tr['ms']['compiled'])} | "
                     f"{_fmt(tr['ms'].get('torch'))} | {ratio} | "
                     f"{'; '.join(v for k, v in tg.items() if k.startswith('transformer')) or '-'} |")
    if "deep_chain" in res:
        d = res["deep_chain"]
        for n, run in d["runs"].items():
            off = d.get("no_gc", {}).get(n)
            evidence = f"gc disabled (evidence only): {off['forward_s']:.2f} / {off['backward_s']:.2f} s" if off else ""
            lines.append(f"| chain of {int(n):,} muls: fwd / bwd (s), peak bytes/op | | {run['forward_s']:.2f} / "
                         f"{run['backward_s']:.2f} s, {run['peak_bytes_per_op']:.0f} B/op | | | {evidence} | |")
        lines.append(f"| chain linearity ({d['scale']}x ops) | | backward x{d['backward_time_ratio']:.1f}, "
                     f"fwd+bwd x{d['total_time_ratio']:.1f} | | | | {tg.get('deep_chain', '-')} |")
    for key, mem in res.get("memory", {}).items():
        a, n = mem["autograd-mini"], mem["numpy"]
        lines.append(f"| memory {key} steps: peak RSS (MB), growth (B/step) | {n['peak_rss_mb']:.0f} MB, "
                     f"{n['growth_bytes_per_step']:+.0f} | {a['peak_rss_mb']:.0f} MB, "
                     f"{a['growth_bytes_per_step']:+.0f} | | | "
                     f"peak ag/numpy {a['peak_rss_mb'] / n['peak_rss_mb']:.2f} | {tg.get('memory_' + key, '-')} |")
    return "\n".join(lines)


def evaluate_targets(res: dict) -> dict:
    t: dict = {}
    if res["smoke"]:
        return t  # tiny sizes: the targets are about the full configuration

    def mark(ok: bool, text: str) -> str:
        return ("met: " if ok else "MISSED: ") + text

    if "per_op" in res and "ratio_ag_torch" in res["per_op"]:
        ratio = res["per_op"]["ratio_ag_torch"]
        t["per_op"] = mark(ratio <= 0.8, f"<= 0.8x torch ({ratio:.2f})")
    if "per_op" in res:
        us = {k: v["median"] for k, v in res["per_op"]["us_per_op"].items()}
        ng = us["autograd-mini no_grad"]
        ok = ng <= 2 * us["numpy"] and ("torch no_grad" not in us or ng < us["torch no_grad"])
        t["no_grad"] = mark(ok, f"<= 2x numpy ({ng / us['numpy']:.2f}) and below torch's no_grad")
    mlp = res.get("mlp", {})
    if "512" in mlp:
        ratio = mlp["512"]["ratio_ag_numpy"]
        t["mlp_512"] = mark(ratio <= 1.05, f"<= 1.05x numpy ({ratio:.2f}) (#19)")
    if "32" in mlp:
        r = mlp["32"]
        t["mlp_32_numpy"] = mark(r["ratio_ag_numpy"] <= 1.3, f"<= 1.3x numpy ({r['ratio_ag_numpy']:.2f}) (#19)")
    for batch, r in mlp.items():
        t[f"mlp_{batch}_compiled"] = mark(r["ratio_compiled_numpy"] <= 1.0,
                                          f"ag.compile <= 1.0x numpy ({r['ratio_compiled_numpy']:.2f})")
    if "tiny" in res:
        ratio = res["tiny"]["ratio_compiled_numpy"]
        t["tiny_compiled"] = mark(ratio <= 1.5, f"ag.compile <= 1.5x numpy ({ratio:.2f})")
    if "ratio_ag_torch" in res.get("cnn", {}):
        ratio = res["cnn"]["ratio_ag_torch"]
        t["cnn"] = mark(ratio <= 2.0, f"<= 2x torch ({ratio:.2f})")
        ratio = res["cnn"]["ratio_compiled_torch"]
        t["cnn_compiled"] = mark(ratio <= 1.0, f"ag.compile <= 1.0x torch ({ratio:.2f})")
    if "ratio_ag_torch" in res.get("transformer", {}):
        ratio = res["transformer"]["ratio_ag_torch"]
        t["transformer"] = mark(ratio <= 1.5, f"<= 1.5x torch ({ratio:.2f})")
        ratio = res["transformer"]["ratio_compiled_torch"]
        t["transformer_compiled"] = mark(ratio <= 0.8, f"ag.compile <= 0.8x torch ({ratio:.2f})")
    if "deep_chain" in res:
        d = res["deep_chain"]
        big = d["runs"][max(d["runs"], key=int)]
        total = big["forward_s"] + big["backward_s"]
        ok = (d["total_time_ratio"] <= 1.1 * d["scale"] and big["peak_bytes_per_op"] <= 500 and total <= 4.0
              and big["grad_ok"])
        t["deep_chain"] = mark(ok, f"1M ops fwd+bwd <= 4 s ({total:.1f}), <= 500 B/op "
                                   f"({big['peak_bytes_per_op']:.0f}), 10x ops <= 11x time "
                                   f"({d['total_time_ratio']:.1f}x) (#19)")
    for key, mem in res.get("memory", {}).items():
        a, n = mem["autograd-mini"], mem["numpy"]
        # "no growth": under a page per step (RSS moves in pages; allocator noise is not a leak)
        ok = a["growth_bytes_per_step"] < 4096 and a["peak_rss_mb"] <= 1.3 * n["peak_rss_mb"]
        t["memory_" + key] = mark(ok, "no growth, peak <= 1.3x numpy")
    return t


def main() -> int:
    if ARGS.worker:
        fn = {"deep_chain": worker_deep_chain, "memory": worker_memory}[ARGS.worker]
        print(json.dumps(fn(**json.loads(ARGS.worker_args))))
        return 0
    torch = _load_torch()
    only = set(ARGS.only.split(",")) if ARGS.only else {"per_op", "mlp", "tiny", "cnn", "deep_chain", "memory",
                                                                      "transformer"}
    res: dict = {"smoke": ARGS.smoke, "machine": machine_info(torch)}
    t0 = time.perf_counter()
    if "per_op" in only:
        res["per_op"] = bench_per_op(torch, ARGS.smoke)
    if "mlp" in only:
        res["mlp"] = bench_mlp(torch, ARGS.smoke)
    if "tiny" in only:
        res["tiny"] = bench_tiny(ARGS.smoke)
    if "cnn" in only:
        res["cnn"] = bench_cnn(torch, ARGS.smoke)
    if "transformer" in only:
        res["transformer"] = bench_transformer(torch, ARGS.smoke)
    if "deep_chain" in only:
        res["deep_chain"] = bench_deep_chain(ARGS.smoke)
    if "memory" in only:
        res["memory"] = bench_memory(ARGS.smoke)
    res["machine"]["load_avg_end"] = os.getloadavg()
    res["seconds"] = time.perf_counter() - t0
    res["targets"] = evaluate_targets(res)
    table = report(res)
    res["table"] = table
    print(table)
    print()
    for k, v in res["targets"].items():
        print(f"{k}: {v}")
    if ARGS.smoke:
        print("smoke run: targets not evaluated")
    path = Path(ARGS.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2))
    print(f"\nwrote {path} ({res['seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
