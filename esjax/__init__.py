"""esjax: Evolution Strategies (Salimans et al. 2017) as one jit-compiled, sharded JAX step.

The public API is re-exported here lazily: ``import esjax.strategies`` (or ``esjax.minimize``)
must not pay for brax, orbax or matplotlib, so each name is imported from its layer on first
use. The layers, lowest first: ``keys``/``perturbations`` -> ``strategies`` -> ``problems``/
``policies`` -> ``core`` -> ``config`` -> ``rundir``/``runtime``/``sinks`` -> ``training`` ->
``cli``/``viz`` (see docs/architecture.md).
"""
from __future__ import annotations

import importlib

from esjax import compat as _compat
from esjax import xla_env as _xla_env

# Before anything starts JAX's CPU backend: no FMA and no size-dependent YNNPACK dots, so runs
# are bit-identical on any layout, and one CPU device per core, so a CPU host runs its
# population on every core.
_xla_env.request_no_fma()
_xla_env.request_no_ynn()
_xla_env.request_cpu_devices()
_compat.warn_if_untested_jax()



def _version() -> str:
  """pyproject.toml's version, the one place it is written: read from the checkout when esjax
  runs from one (an editable install's metadata keeps the version it was installed with),
  else from the installed package's metadata."""
  import os  # pylint: disable=g-import-not-at-top
  pyproject = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "pyproject.toml")
  if os.path.exists(pyproject):
    import tomllib  # pylint: disable=g-import-not-at-top
    with open(pyproject, "rb") as f:
      project = tomllib.load(f).get("project", {})
    if project.get("name") == "esjax":
      return project["version"]
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  try:
    return metadata.version("esjax")
  except metadata.PackageNotFoundError:
    return "0+unknown"  # neither a checkout nor installed: a copied folder


__version__ = _version()

_submodule = importlib.import_module("esjax.submodules").getattr_of(__name__)

_EXPORTS = {
    # strategies
    "Strategy": "esjax.strategies", "open_es": "esjax.strategies", "OpenESState": "esjax.strategies",
    "ars": "esjax.strategies", "pgpe": "esjax.strategies", "snes": "esjax.strategies",
    "sep_cma_es": "esjax.strategies", "ask": "esjax.strategies", "tell": "esjax.strategies",
    "perturbations": None,
    "centered_rank": "esjax.strategies", "identity": "esjax.strategies",
    "z_score": "esjax.strategies", "strategies": None,
    # problems and policies
    "Evaluation": "esjax.problems", "Problem": "esjax.problems", "black_box": "esjax.problems",
    "brax_problem": "esjax.problems", "env_problem": "esjax.problems",
    "NormalizerState": "esjax.problems", "envs": None,
    "ObsStats": "esjax.problems", "MLP": "esjax.policies", "Linear": "esjax.policies",
    "Policy": "esjax.policies", "make_policy": "esjax.policies",
    # the compiled step and scale-out
    "GenMetrics": "esjax.core.step", "TrainState": "esjax.core.step",
    "DistributedConfig": "esjax.core.multihost",
    "hlo": ("esjax.core.hlo",),
    # running
    "ConfigError": "esjax.errors", "TrainConfig": "esjax.config.train_config",
    "PRESETS": "esjax.config.presets", "Preset": "esjax.config.presets",
    "TrainResult": "esjax.training.train", "setup": "esjax.training.setup",
    "Setup": "esjax.training.setup", "train": "esjax.training.train",
    "SavedRun": "esjax.rundir.files", "load": "esjax.rundir.files",
    "WandbOptions": "esjax.sinks.loggers", "sinks": None,
    "minimize": "esjax.training.optimize", "maximize": "esjax.training.optimize",
    "OptimizeResult": "esjax.training.optimize",
    # looking at runs
    "evaluate_run": "esjax.viz.playback", "render_run": "esjax.viz.playback",
    "plot_runs": "esjax.viz.plot",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
  if name not in _EXPORTS:
    return _submodule(name)  # esjax.rundir, esjax.config, ...
  where = _EXPORTS[name]
  if where is None:  # a subpackage
    value = importlib.import_module(f"esjax.{name}")
  elif isinstance(where, tuple):  # a module under another name
    value = importlib.import_module(where[0])
  else:
    value = getattr(importlib.import_module(where), name)
  globals()[name] = value
  return value


def __dir__():
  return sorted(set(globals()) | set(_EXPORTS))
