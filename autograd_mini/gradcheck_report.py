"""The result of a gradient check: ``GradcheckResult`` (truthy on pass, ``str()`` is the report),
the ``Mismatch`` found per input, the ``OpReport`` per faulty op, and ``GradcheckError``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["GradcheckError", "GradcheckResult", "Mismatch", "OpReport"]

class GradcheckError(AssertionError):
    """A gradient check failed; ``.result`` holds the ``GradcheckResult`` with every detail."""

    def __init__(self, result: GradcheckResult) -> None:
        super().__init__(str(result))
        self.result = result


@dataclass
class Mismatch:
    """The worst disagreement found for one input."""
    input: int
    name: str
    shape: tuple
    index: tuple              # worst element of the input
    output: int               # which output (full mode); -1 for a projection of all outputs
    out_index: tuple | None   # element of that output (full mode)
    analytical: float
    numerical: float
    failed: int               # input elements whose gradient disagrees
    checked: int              # input elements checked (all, or a sample in projection mode)
    sampled: bool = False

    @property
    def abs_err(self) -> float:
        return abs(self.analytical - self.numerical)

    @property
    def rel_err(self) -> float:
        return self.abs_err / max(abs(self.numerical), 1e-300)

    def __str__(self) -> str:
        if self.out_index is None:
            wrt = " (random projection of the outputs)"
        else:
            wrt = f" w.r.t. output {self.output}" + (f" element {self.out_index}" if self.out_index else "")
        of = "sampled elements" if self.sampled else "elements"
        return (f"{self.name} (shape {self.shape}): {self.failed} of {self.checked} {of} disagree; worst is "
                f"element {self.index}{wrt}: analytical {self.analytical:.6g} vs numerical {self.numerical:.6g} "
                f"(abs error {self.abs_err:.3g}, rel error {self.rel_err:.3g})")


@dataclass
class OpReport:
    """One recorded op whose own backward disagrees with finite differences on its own inputs."""
    name: str
    input_shapes: list
    trace: str | None
    module: str | None
    problems: list

    def __str__(self) -> str:
        where = f" at {_short(self.trace)}" if self.trace else ""
        mod = f" in {self.module}" if self.module else ""
        head = f"`{self.name}` with inputs {', '.join(self.input_shapes)}{mod}{where}:"
        return "\n      ".join([head] + self.problems)


@dataclass
class GradcheckResult:
    """Outcome of a check: truthy when it passed; ``str()`` is the full report."""
    passed: bool
    mode: str
    mismatches: list = field(default_factory=list)
    kinks: list = field(default_factory=list)       # (input name, element index) at non-differentiable points
    notes: list = field(default_factory=list)
    ops: list | None = None                          # OpReports from localisation (None: not run)
    checked_ops: int = 0

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"<GradcheckResult {'passed' if self.passed else 'FAILED'}: {len(self.mismatches)} mismatching input(s)>"

    def __str__(self) -> str:
        lines = [f"gradcheck {'passed' if self.passed else 'FAILED'} ({self.mode} mode, float64)"]
        lines += [f"  {m}" for m in self.mismatches]
        if self.kinks:
            shown = ", ".join(f"{n} at {i}" for n, i in self.kinks[:8])
            more = f" and {len(self.kinks) - 8} more" if len(self.kinks) > 8 else ""
            lines.append(f"  at kinks (one-sided differences disagree; the analytical value was accepted as a "
                         f"sub-gradient): {shown}{more}")
        lines += [f"  note: {n}" for n in self.notes]
        if self.ops is not None:
            if self.ops:
                lines.append(f"  localisation: {len(self.ops)} of {self.checked_ops} recorded ops disagree "
                             "with finite differences on their own inputs:")
                lines += [f"    {op}" for op in self.ops]
            else:
                lines.append(f"  localisation: all {self.checked_ops} recorded ops pass on their own inputs; "
                             "the error is in how they are combined (e.g. a backward written outside the graph)")
        return "\n".join(lines)


def _short(path: str) -> str:
    cwd = os.getcwd() + os.sep
    return path.replace(cwd, "")
