"""Record PyTorch's answers to the suite's fixed cases into tests/oracle/*.jsonl (format: tests/oracle/README.md).

    python tests/oracle/record.py                 # every test file that asks the oracle; rewrites the recordings
    python tests/oracle/record.py tests/test_x.py  # (any pytest arguments) adds or updates only those cases

Needs torch==2.13.0 (pip install torch==2.13.0). With no
arguments each recording then holds exactly the cases its tests ask; recordings of test files that no longer ask
are removed. Commit tests/oracle/ afterwards.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
TESTS = HERE.parent
REPO = TESTS.parent
PINNED = "2.13.0"


def asking_files() -> list[pathlib.Path]:
    """The test files that ask the oracle."""
    return sorted(p for p in TESTS.rglob("test_*.py") if "_oracle import" in p.read_text())


def main(args: list[str]) -> int:
    try:
        import torch
    except ImportError:
        sys.exit(f"recording needs PyTorch: pip install torch=={PINNED}")
    if not torch.__version__.startswith(PINNED):
        print(f"warning: torch {torch.__version__} is not the pinned {PINNED}; CI compares with {PINNED}")
    files = asking_files()
    env = dict(os.environ, AG_ORACLE_RECORD="merge" if args else "prune")
    env.pop("AG_NO_TORCH", None)
    targets = args or [str(p.relative_to(REPO)) for p in files]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *targets],
                          cwd=REPO, env=env)
    if not args:  # recordings whose test file is gone or no longer asks
        wanted = {HERE / p.relative_to(TESTS).with_suffix(".jsonl") for p in files}
        for stale in set(HERE.rglob("*.jsonl")) - wanted:
            stale.unlink()
            print(f"removed {stale.relative_to(REPO)} (its test file no longer asks the oracle)")
    if done.returncode:
        print("failed tests above do not stop a recording: the answers are PyTorch's, whatever our side returned")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
