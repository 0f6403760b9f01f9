"""The layers hold: imports point down only, and the algorithm pulls in no application."""
import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1] / "esjax"
# Lowest first; a module may import its own layer and any lower one (docs/architecture.md).
LAYERS = [("errors", "keys", "xla_env", "compat", "submodules"), ("perturbations",), ("strategies",), ("envs",),
          ("problems", "policies"),
          ("core",), ("config",), ("rundir", "runtime", "sinks"), ("training",), ("cli", "viz")]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _layer(module: str) -> int | None:
  parts = module.split(".")
  if parts[0] != "esjax" or len(parts) < 2:
    return None
  return RANK.get(parts[1])


def _imports(path: pathlib.Path):
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      if node.module == "esjax":  # from esjax import keys, strategies
        yield from (f"esjax.{a.name}" for a in node.names)
      else:
        yield node.module
    elif isinstance(node, ast.Import):
      yield from (a.name for a in node.names)


def test_every_layer_imports_only_itself_and_lower_layers():
  bad = []
  for path in sorted(ROOT.rglob("*.py")):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    own = _layer(".".join(rel.parts))
    if own is None:  # esjax/__init__.py and __main__.py sit above every layer
      continue
    for module in _imports(path):
      other = _layer(module)
      if other is not None and other > own:
        bad.append(f"{rel} imports {module}")
  assert not bad, "imports pointing up a layer:\n" + "\n".join(bad)
  assert set(RANK) == {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
                       if not p.name.startswith("_") and p.name != "__pycache__"}, \
      "a module or folder of esjax/ is missing from LAYERS"


def test_importing_the_strategies_pulls_no_brax_orbax_or_matplotlib():
  code = ("import sys, esjax, esjax.strategies, esjax.perturbations, esjax.keys\n"
          "heavy = [m for m in sys.modules if m.split('.')[0] in ('brax', 'orbax', 'matplotlib', "
          "'mujoco', 'tensorboardX')]\n"
          "print(sorted({m.split('.')[0] for m in heavy}))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "[]", out.stdout
