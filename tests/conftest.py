"""Shared test setup: hypothesis profiles (fast locally, thorough in CI) and a grad-mode guard."""

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

import autograd_mini as ag

# AG_NO_TORCH=1 runs the suite as a clone without PyTorch sees it: `import torch` fails everywhere, and the
# oracle tests compare with the recordings in tests/oracle/ (tests/_oracle.py).
if os.environ.get("AG_NO_TORCH"):
    sys.modules["torch"] = None  # makes `import torch` raise ImportError

settings.register_profile("dev", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# CI is derandomized: a red CI names a real regression, not a lucky draw; the dev profile keeps exploring.
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          print_blob=True, derandomize=True)
settings.register_profile("stress", max_examples=int(os.environ.get("STRESS_EXAMPLES", 500)), deadline=None,
                          suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    """Fail any test that leaves grad mode changed."""
    before = ag.is_grad_enabled()
    yield
    assert ag.is_grad_enabled() == before, "test left grad mode changed"


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the fuzz test's op coverage: how many steps of each op the random programs executed."""
    import sys

    fuzz = sys.modules.get("test_fuzz") or sys.modules.get("tests.test_fuzz")
    coverage = getattr(fuzz, "COVERAGE", None)
    if not coverage or not any(coverage.values()):
        return
    missed = sorted(name for name, n in coverage.items() if not n)
    fewest = min(coverage, key=coverage.get)
    terminalreporter.write_line(
        f"fuzz op coverage: {len(coverage) - len(missed)}/{len(coverage)} ops executed, "
        f"{sum(coverage.values())} steps; fewest: {fewest} ({coverage[fewest]})"
        + (f"; never executed: {', '.join(missed)}" if missed else ""))


def pytest_runtest_setup(item) -> None:
    from tests import _oracle

    _oracle.reset_numbering()


def pytest_sessionfinish(session) -> None:
    """Under tests/oracle/record.py: write the recorded PyTorch answers."""
    from tests import _oracle

    if _oracle.RECORD:
        for line in _oracle.write_recordings():
            print(f"\nrecorded {line}", end="")
