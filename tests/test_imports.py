"""Every module of the package imports on this JAX (the newest-JAX lane runs this file first:
an API that moved between JAX versions shows here as one named module, not as a failure deep in
a run)."""
import importlib
import pkgutil
import subprocess
import sys

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


def test_dotted_names_the_docs_give_work_after_a_plain_import_esjax():
  # In a fresh interpreter: here other tests have imported the submodules already.
  code = ("import esjax\n"
          "esjax.rundir.files.read_config, esjax.config.train_config.RESUMABLE\n"
          "esjax.training.optimize.BLACK_BOX_OPTIONS, esjax.core.comm.axis_bytes\n"
          "esjax.perturbations.gaussian.weighted_sum, esjax.problems.rollout.env_problem\n"
          "esjax.problems.brax_problem\n"
          "for bad in ('esjax.nope', 'esjax.rundir.nope'):\n"
          "  try:\n"
          "    eval(bad)\n"
          "  except AttributeError as e:\n"
          "    print(e)\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, check=True).stdout
  assert out.splitlines() == ["module 'esjax' has no attribute 'nope'",
                              "module 'esjax.rundir' has no attribute 'nope'"]
