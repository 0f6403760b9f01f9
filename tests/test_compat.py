"""The tested JAX range: stated once for users (pyproject.toml) and once for the warning."""
import pathlib
import subprocess
import sys
import tomllib

from esjax import compat

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_pyproject_states_the_range_the_warning_uses():
  meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
  assert meta["tool"]["esjax"]["tested-jax"] == compat.tested_range() == ">=0.10,<0.13"


def test_tested_versions_are_silent_and_others_named():
  for version in ("0.10.2", "0.11.2", "0.12.0.1"):
    assert compat.untested_jax_message(version) is None
  for version in ("0.9.4", "0.13.0", "1.0.0", "nightly"):
    message = compat.untested_jax_message(version)
    assert f"jax {version} is untested" in message and ">=0.10,<0.13" in message


def test_an_untested_jax_gets_one_line_on_import():
  code = ("import importlib.metadata as m\n"
          "real = m.version\n"
          "m.version = lambda name: '0.13.1' if name == 'jax' else real(name)\n"
          "import esjax, esjax.strategies\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=ROOT)
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("esjax: jax 0.13.1 is untested"), out.stderr
  silent = subprocess.run([sys.executable, "-c", "import esjax"], capture_output=True, text=True,
                          check=True, cwd=ROOT)
  assert "untested" not in silent.stderr
