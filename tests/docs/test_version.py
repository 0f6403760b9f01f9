"""One version string: pyproject.toml's, which esjax.__version__ reads."""
import os
import tomllib

import esjax
from tests.helpers.subproc import ROOT


def test_version_is_pyprojects():
  with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    assert esjax.__version__ == tomllib.load(f)["project"]["version"]
