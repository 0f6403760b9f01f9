"""MuJoCo Playground (``pip install playground``, module ``mujoco_playground``) envs.

DM Control Suite envs load with ``registry.load(name, config_overrides={"impl": "jax"})``: the
pure-JAX MJX pipeline, which runs on CPU, GPU and TPU. ``backend="warp"`` selects MuJoCo Warp,
allowed only when ``warp`` is importable and a GPU is present. An env's ``MjxEnv`` has Brax's
``reset(key)``/``step(state, action)`` API and its state has ``obs``, ``reward`` and ``done``,
so it goes through the Brax adapter (``envs.adapters.BraxEnv``); dict observations are read at
``"state"`` (``problems/interface.py``). Episode length: the env config's ``episode_length``
unless overridden.

Locomotion and manipulation envs load robot models from MuJoCo Menagerie, which playground
fetches on first use; when those assets are absent (and cannot be fetched) the build fails with
one line instead of a traceback.
"""
from __future__ import annotations

import contextlib
import io

from esjax.envs.adapters import BraxEnv
from esjax.errors import ConfigError

BACKENDS = ("jax", "warp")
INSTALL = 'pip install -e ".[playground]"'


def _registry():
  # warp and mujoco print import noise when optional parts are absent; keep output clean.
  with contextlib.redirect_stdout(io.StringIO()):
    from mujoco_playground import registry  # pylint: disable=g-import-not-at-top
  return registry


def env_names() -> list[str]:
  return sorted(_registry().ALL_ENVS)


def needs_menagerie(name: str) -> bool:
  reg = _registry()
  return name not in reg.dm_control_suite.ALL_ENVS


def _warp_unusable() -> str | None:
  """Why MuJoCo Warp cannot run here (None: it can)."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  if importlib.util.find_spec("warp") is None:
    return "needs warp-lang installed (pip install warp-lang)"
  if not any(d.platform == "gpu" for d in jax.devices()):
    return "needs a GPU"
  return None


def check_backend(backend: str | None) -> str:
  """The MJX implementation: ``jax`` (default) or ``warp`` (GPU + warp installed)."""
  backend = backend or "jax"
  if backend not in BACKENDS:
    raise ConfigError(f"backend={backend!r} is invalid for a playground env; expected one of: "
                      f"{', '.join(BACKENDS)}")
  why = _warp_unusable() if backend == "warp" else None
  if why:
    raise ConfigError(f"backend='warp' {why}; use --backend jax")
  return backend


def check_impl(env, name: str) -> None:
  """ConfigError unless a Playground env object's MJX implementation runs here: Playground
  0.2 loads with ``impl='warp'`` by default, which on a CPU fails only inside the rollout.
  Anything without a config ``impl`` (a Brax env) passes."""
  impl = getattr(getattr(env, "_config", None), "impl", None)
  why = _warp_unusable() if str(getattr(impl, "value", impl)) == "warp" else None
  if why:
    raise ConfigError(f"env {name!r} was loaded with impl='warp', which {why}; load it with "
                      "registry.load(..., config_overrides={'impl': 'jax'})")


def make(name: str, backend: str | None = None, **overrides) -> BraxEnv:
  """The registered env, as a protocol env whose episode length is its config's;
  ``overrides`` (``--env-kwargs``) go into its ``config_overrides``."""
  impl = check_backend(backend)
  reg = _registry()
  _check_overrides(reg, name, overrides)
  try:
    # A Menagerie env's first load tries a git clone and draws a progress bar: keep it quiet,
    # a failure is said in one line below.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
      env = reg.load(name, config_overrides={**overrides, "impl": impl})
  except (FileNotFoundError, OSError) as e:
    raise ConfigError(f"playground env {name!r} needs MuJoCo Menagerie assets that are not "
                      f"available ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                      "use a DM Control Suite env (esjax envs) or install the assets") from None
  except Exception as e:  # pylint: disable=broad-except
    if needs_menagerie(name) and ("menagerie" in str(e).lower() or "git" in str(e).lower()):
      raise ConfigError(f"playground env {name!r} needs MuJoCo Menagerie assets that are not "
                        f"available ({str(e).splitlines()[0][:160]})") from None
    raise
  return BraxEnv(env)


def _check_overrides(reg, name: str, overrides) -> None:
  """ConfigError naming an ``--env-kwargs`` key that is not in the env's config (ml_collections
  would raise a KeyError that prints the whole config)."""
  if "impl" in overrides:
    raise ConfigError(f"env_kwargs key 'impl' ({overrides['impl']!r}) is set by --backend "
                      f"for playground envs; use --backend {' or '.join(BACKENDS)}")
  keys = [k for k in reg.get_default_config(name).keys() if k != "impl"]
  unknown = [k for k in overrides if k not in keys]
  if unknown:
    raise ConfigError(f"env_kwargs key {unknown[0]!r} is not a config key of playground env "
                      f"{name!r}; expected one of: {', '.join(keys)}")
