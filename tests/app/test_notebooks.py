"""Both notebooks run end to end on CPU with tiny settings, and their checks hold."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers.subproc import ROOT
NOTEBOOKS = os.path.join(ROOT, "notebooks")

TINY = {
    "quickstart.ipynb": {"POPULATION": 32, "GENERATIONS": 6, "EPISODE_LENGTH": 100,
                         "EVAL_EVERY": 3, "HIDDEN_SIZES": (8, 8)},
    "multi_device.ipynb": {"POPULATION": 16, "EPISODE_LENGTH": 50, "HIDDEN_SIZES": (16, 16),
                           "GENERATIONS": 6, "COMPARE_GENERATIONS": 2, "CPU_DEVICES": 4},
}

pytestmark = pytest.mark.slow


def _run(name, params, tmp_path):
  nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
  cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
  assert len(cells) == 1, "each notebook has exactly one parameters cell"
  overrides = "\n".join(f"{k} = {v!r}" for k, v in params.items())
  cells[0].source += f"\n# CI overrides\n{overrides}\nOUT_DIR = {str(tmp_path / 'run')!r}\n"
  os.environ["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
  NotebookClient(nb, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": str(tmp_path)}}).execute()
  return nb


def _outputs(nb, kind):
  return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
          if kind in o.get("data", {})]


def test_notebooks_are_stored_without_outputs():
  for name in os.listdir(NOTEBOOKS):
    if name.endswith(".ipynb"):
      nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
      for c in nb.cells:
        if c.cell_type == "code":
          assert not c.outputs and c.execution_count is None, f"{name} has outputs"


def test_quickstart(tmp_path):
  nb = _run("quickstart.ipynb", TINY["quickstart.ipynb"], tmp_path)
  assert _outputs(nb, "image/png"), "the learning curve was not plotted inline"
  html = _outputs(nb, "text/html")
  assert html and "<html" in "".join(o["data"]["text/html"] for o in html).lower()
  text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                 for o in c.outputs)
  assert "-> best evaluation" in text and "reloaded policy: mean return" in text
  run = tmp_path / "run"
  assert (run / "learning_curve.png").stat().st_size > 1000
  assert (run / "episode.html").stat().st_size > 1000
  assert (run / "params.msgpack").exists()


def test_multi_device(tmp_path):
  nb = _run("multi_device.ipynb", TINY["multi_device.ipynb"], tmp_path)
  text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                 for o in c.outputs)
  assert "4 x cpu" in text.lower().replace("  ", " ") or "4 x" in text
  # Tiny settings: comm="auto" keeps the update's noise rebuild whole (returns mode).
  assert "comm='returns'" in text and "per generation:" in text
  assert "all checks passed" in text
