"""Make tests/nn/_zipcraft.py (hand-written hostile archives) importable as ``nn_zipcraft`` whatever pytest's import
mode. (The finite-difference helpers are the suite's one tests/_fd.py.)"""

import importlib.util
import pathlib
import sys

_spec = importlib.util.spec_from_file_location("nn_zipcraft", pathlib.Path(__file__).with_name("_zipcraft.py"))
_loaded = importlib.util.module_from_spec(_spec)
sys.modules["nn_zipcraft"] = _loaded
_spec.loader.exec_module(_loaded)
