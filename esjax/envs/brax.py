"""Brax environments by name and backend, validated before anything is built."""
from __future__ import annotations

import contextlib
import io
import warnings

# mujoco's optional warp backend prints "Failed to import warp" on import when warp is absent
# (it is not needed here); keep that noise out of every esjax command's output.
with contextlib.redirect_stdout(io.StringIO()):
  from brax import envs as brax_envs

# Brax warns on every env build that its pipelines are unmaintained; we pin brax and test it.
warnings.filterwarnings("ignore", message="Brax System, piplines and environments")

from esjax.envs.adapters import BraxEnv
from esjax.errors import ConfigError


def _let_brax_fluid_clip():
  """brax 0.14's fluid drag (swimmer, and any env with a fluid viscosity) calls
  ``jnp.clip(x, a_min=...)``, a keyword newer JAX removed, so those envs fail at their first
  step. Hand ``brax.fluid`` alone a ``jnp`` whose ``clip`` still takes it; jax.numpy itself
  is left as it is."""
  import inspect  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from brax import fluid  # pylint: disable=g-import-not-at-top
  if fluid.jp is not jnp or "a_min" in inspect.signature(jnp.clip).parameters:
    return

  class _Jnp:
    def __getattr__(self, name):
      return getattr(jnp, name)

    @staticmethod
    def clip(x, min=None, max=None, *, a_min=None, a_max=None):  # pylint: disable=redefined-builtin
      return jnp.clip(x, a_min if min is None else min, a_max if max is None else max)

  fluid.jp = _Jnp()


_let_brax_fluid_clip()

BACKENDS = ("generalized", "positional", "spring", "mjx")
DEFAULT_BACKEND = "spring"


def env_names() -> list[str]:
  # brax keeps its registry private; reading it is the only way to list what is registered.
  return sorted(brax_envs._envs)  # pylint: disable=protected-access


def check_env(name: str, backend: str) -> None:
  if name not in brax_envs._envs:  # pylint: disable=protected-access
    raise ConfigError(f"unknown env {name!r}; expected one of: {', '.join(env_names())}")
  if backend not in BACKENDS:
    raise ConfigError(f"unknown backend {backend!r}; expected one of: {', '.join(BACKENDS)}")


def make_env(name: str, backend: str, **kwargs):
  """A raw Brax env (no auto-reset, no episode wrapper): the rollout owns episode control.
  ``kwargs`` go to the env's constructor (``--env-kwargs``)."""
  check_env(name, backend)
  with _models_on_a_local_device():
    try:
      return brax_envs.get_environment(name, backend=backend, **kwargs)
    except TypeError as e:
      if "backend" not in str(e):
        raise ConfigError(f"env {name!r} does not take these arguments: {e}") from None
      # Some registered envs take no backend argument (they fix their own).
      if backend != "generalized":
        raise ConfigError(f"env {name!r} does not take a backend; drop --backend {backend!r}")
      return brax_envs.get_environment(name, **kwargs)


def make(name: str, backend: str | None = None, **kwargs) -> BraxEnv:
  """The registered env as a protocol env."""
  return BraxEnv(make_env(name, backend or DEFAULT_BACKEND, **kwargs))


@contextlib.contextmanager
def _models_on_a_local_device():
  """Brax loads every model with ``mjx.put_model(m)``, which places it on ``jax.devices()[0]``.
  In a multi-process job that device belongs to process 0: any other process would build its
  env from arrays it cannot read, and the compiled step would fail to close over them. Pin
  the model to this process's own first device while the env is built."""
  import jax
  if jax.process_count() == 1:
    yield
    return
  from mujoco import mjx
  put_model = mjx.put_model

  def local_put_model(m, device=None, *args, **kwargs):
    return put_model(m, device or jax.local_devices()[0], *args, **kwargs)

  mjx.put_model = local_put_model
  try:
    yield
  finally:
    mjx.put_model = put_model
