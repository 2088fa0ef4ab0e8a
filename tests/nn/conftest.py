"""Make tests/nn's helper files importable whatever pytest's import mode: ``_fd.py`` as ``nn_fd`` (tests/_fd.py
is another file) and ``_zipcraft.py`` (hand-written hostile archives) as ``nn_zipcraft``."""

import importlib.util
import pathlib
import sys

for _module, _file in [("nn_fd", "_fd.py"), ("nn_zipcraft", "_zipcraft.py")]:
    _spec = importlib.util.spec_from_file_location(_module, pathlib.Path(__file__).with_name(_file))
    _loaded = importlib.util.module_from_spec(_spec)
    sys.modules[_module] = _loaded
    _spec.loader.exec_module(_loaded)
