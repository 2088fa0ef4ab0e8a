"""Make tests/nn/_fd.py importable as ``nn_fd`` whatever pytest's import mode (tests/_fd.py is another file)."""

import importlib.util
import pathlib
import sys

_spec = importlib.util.spec_from_file_location("nn_fd", pathlib.Path(__file__).with_name("_fd.py"))
nn_fd = importlib.util.module_from_spec(_spec)
sys.modules["nn_fd"] = nn_fd
_spec.loader.exec_module(nn_fd)
