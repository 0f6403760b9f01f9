"""Every module of the package imports on this JAX (the newest-JAX lane runs this file first:
an API that moved between JAX versions shows here as one named module, not as a failure deep in
a run)."""
import importlib
import pkgutil

import pytest

import esjax

# esjax.__main__ is `python -m esjax`: importing it runs the CLI.
MODULES = sorted(m.name for m in pkgutil.walk_packages(esjax.__path__, "esjax.")
                 if not m.name.endswith("__main__"))


def test_the_package_has_its_layers():
  assert {"esjax.core.step", "esjax.training.train", "esjax.cli.app"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
  importlib.import_module(name)
