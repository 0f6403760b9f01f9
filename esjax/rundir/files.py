"""What a run leaves on disk: the resolved config, metrics lines, and final params.

Params are stored with flax's msgpack serialization: loading executes no code (no pickle).
"""
from __future__ import annotations

import collections
import dataclasses
import errno
import json
import os
from typing import Any, Callable

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from esjax.problems import normalizer as norm_lib
from esjax.config.train_config import TrainConfig
from esjax.errors import ConfigError, RunIOError
from esjax.policies import Policy, make_policy
from esjax.rundir import versioning

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
PARAMS_FILE = "params.msgpack"


def write_config(run_dir: str, config: TrainConfig) -> None:
  """config.json: the config's sections plus ``esjax_version`` (which wrote them)."""
  data = {versioning.FIELD: versioning.current(), **json.loads(config.to_json())}
  _atomic_write(os.path.join(run_dir, CONFIG_FILE), json.dumps(data, indent=2).encode())


def read_config(run_dir: str) -> TrainConfig:
  """config.json of a run; ConfigError (one line) if missing, damaged, or written by an esjax
  this one cannot read."""
  path = os.path.join(run_dir, CONFIG_FILE)
  try:
    with open(path) as f:
      data = json.load(f)
    if isinstance(data, dict):
      versioning.check(path, data.pop(versioning.FIELD, None))
    return TrainConfig.from_dict(data)
  except FileNotFoundError:
    raise ConfigError(f"{path!r} not found; expected a run directory written by `esjax train`")
  except (json.JSONDecodeError, TypeError) as e:
    raise ConfigError(f"{path!r} is not a valid esjax config ({e})")


class MetricsWriter:
  """Appends one JSON line per record to the metrics file ``rewrite_metrics`` wrote. Each line
  is one ``write`` on a file opened for that line: no buffer to lose, nothing held open between
  generations (so a removed or remounted directory is noticed at the next line), and a failure
  raises ``RunIOError`` naming the file.
  """

  def __init__(self, run_dir: str):
    self.path = os.path.join(run_dir, METRICS_FILE)

  def write(self, record: dict[str, Any]) -> None:
    data = (json.dumps(record) + "\n").encode()

    def append():
      fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
      try:
        _write_all(fd, data)
      finally:
        os.close(fd)

    _io(self.path, append)

  def close(self) -> None:
    pass


def rewrite_metrics(run_dir: str, records: list[dict[str, Any]]) -> None:
  """Replaces metrics.jsonl by ``records`` (on resume: drops lines past the checkpoint)."""
  data = "".join(json.dumps(r) + "\n" for r in records).encode()
  _atomic_write(os.path.join(run_dir, METRICS_FILE), data)


class MetricsLog(collections.UserList):
  """A finished run's records, read from ``RUN_DIR/metrics.jsonl`` on first use.

  While a run writes metrics.jsonl it keeps no records in memory, so a run of any length holds
  the same host memory (benchmarks/long_run.py); ``TrainResult.metrics`` is this list, loaded
  when first looked at (its first ``count`` lines: a later resume may append more) and then
  an ordinary list.
  """

  def __init__(self, run_dir: str, count: int):  # pylint: disable=super-init-not-called
    self._run_dir, self._count, self._data = run_dir, count, None

  @property
  def data(self) -> list[dict[str, Any]]:
    if self._data is None:
      try:
        self._data = read_metrics(self._run_dir)[:self._count]
      except FileNotFoundError:
        raise FileNotFoundError(f"the run's records live in {self._run_dir!r}/{METRICS_FILE}, "
                                "which is gone: read result.metrics before removing the run "
                                "directory") from None
    return self._data

  @data.setter
  def data(self, value: list[dict[str, Any]]) -> None:
    self._data = value


def read_metrics(run_dir: str) -> list[dict[str, Any]]:
  with open(os.path.join(run_dir, METRICS_FILE)) as f:
    return [json.loads(line) for line in f if line.strip()]


def save_params(run_dir: str, flat_params, normalizer: norm_lib.NormalizerState, obs,
                act) -> str:
  """params.msgpack: the params, the normalizer and how the policy reads the env's
  observations (``obs``, interface.ObsView) and writes its actions (``act``,
  interface.ActionView), so a loaded policy takes the env's observations and gives the env's
  actions (``make_act``)."""
  payload = {
      "flat_params": np.asarray(flat_params),
      "normalizer": {"count": np.asarray(normalizer.count), "mean": np.asarray(normalizer.mean),
                     "m2": np.asarray(normalizer.m2)},
      "obs_size": obs.size,
      "action_size": act.size,
      versioning.FIELD: versioning.current(),
      # The policy's input shape ((10, 10, C) frames for MinAtar; obs_size is then 0: no
      # normalizer) and action head; absent in esjax 0.1 files (vector obs, continuous).
      "obs_shape": list(obs.shape),
      "discrete": bool(act.discrete),
      "nvec": [int(n) for n in act.nvec],  # multi-discrete actions' choices per dimension
      # Which entries of a dict observation the policy reads, and the env's shape of each
      # array read (absent in older files: the policy's input taken as it is).
      "obs_entries": [list(e) for e in obs.entries],
  }
  if obs.key is not None:
    payload["obs_key"] = obs.key
  if obs.names:
    payload["obs_names"] = list(obs.names)
  if normalizer.vbn_batch is not None:  # VBN: eval and render recompute the stats from it
    payload["vbn_batch"] = np.asarray(normalizer.vbn_batch)
  if not act.discrete:
    payload["action_shape"] = list(act.space.shape)
    if not act.space.unit:  # absent: [-1, 1], what the policy's tanh gives
      payload["action_low"], payload["action_high"] = act.space.bounds()
  path = os.path.join(run_dir, PARAMS_FILE)
  _atomic_write(path, flax.serialization.msgpack_serialize(payload))
  return path


@dataclasses.dataclass(frozen=True)
class SavedRun:
  """A trained policy loaded from disk."""
  config: TrainConfig
  params: Any  # flax params pytree
  flat_params: jax.Array
  normalizer: norm_lib.NormalizerState
  policy: Policy
  act: Callable[[Any], jax.Array]  # obs -> the env's action (seed 0 if several): make_act
  env: Any = None  # the env object given to ``load`` (a run trained with ``env=``)
  module: Any = None  # the flax module given to ``load``
  run_dir: str | None = None

  def evaluate(self, episodes: int = 10, seed: int = 0) -> np.ndarray:
    """Returns of the deterministic policy (seed 0 if several) over ``episodes`` episodes of
    the training rollout, without its noise: what ``esjax eval`` prints, shape (episodes,)."""
    from esjax import keys  # pylint: disable=g-import-not-at-top
    return self._returns(keys.episode_keys(seed, episodes))

  def evaluate_final(self) -> np.ndarray:
    """The returns of the run's last evaluation, recomputed: its episodes' keys (from the run
    key and the generation it ran after) and count; their mean is the last ``eval_return``
    (of several runs: run 0's, the first of ``eval_return_per_seed``, at its own generation,
    which an env-step budget may have stopped before the others')."""
    from esjax import keys  # pylint: disable=g-import-not-at-top
    evaluated = [r for r in read_metrics(self.run_dir) if "eval_return" in r]
    if not evaluated:
      raise ConfigError(f"{self.run_dir!r} ran no evaluation (eval_every="
                        f"{self.config.runtime.eval_every}); drop --final for fresh episodes")
    last = evaluated[-1]
    generation = last.get("generation_per_seed", [last["generation"]])[0]
    run_key = jax.random.PRNGKey(self.config.runtime.seed)
    return self._returns(jax.random.split(keys.eval_key(run_key, generation),
                                          self.config.runtime.eval_episodes))

  def _returns(self, episode_keys) -> np.ndarray:
    from esjax.problems import build  # pylint: disable=g-import-not-at-top
    evaluate = build.evaluator(self.config.problem, self.config.policy, self.env, self.module)
    flat, normalizer = first_seed(self.flat_params, self.normalizer)
    return np.asarray(evaluate(flat, normalizer, episode_keys).ret, np.float64)


def load(run_dir: str, module=None, env=None) -> SavedRun:
  """Params and normalizer of a finished run (``esjax train --out run_dir``); ``module`` is the
  flax module of a run trained with ``policy_module=`` (its config says ``policy="custom"``),
  ``env`` the env object of a run trained with ``env=`` (its config says ``custom:...``)."""
  config = read_config(run_dir)
  path = os.path.join(run_dir, PARAMS_FILE)
  try:
    with open(path, "rb") as f:
      payload = flax.serialization.msgpack_restore(f.read())
  except FileNotFoundError:
    raise ConfigError(f"{path!r} not found; the run has not finished (no final params): "
                      f"finish it with `esjax train --resume {run_dir}` first")
  except Exception as e:  # msgpack raises several types on damaged bytes
    raise ConfigError(f"{path!r} is damaged or not an esjax params file ({type(e).__name__})")
  if isinstance(payload, dict):
    versioning.check(path, payload.get(versioning.FIELD))
  try:
    flat = jnp.asarray(payload["flat_params"])
    nd = payload["normalizer"]
    vbn_batch = payload.get("vbn_batch")
    normalizer = norm_lib.NormalizerState(jnp.asarray(nd["count"]), jnp.asarray(nd["mean"]),
                                          jnp.asarray(nd["m2"]),
                                          None if vbn_batch is None else jnp.asarray(vbn_batch))
    obs_size, action_size = int(payload["obs_size"]), int(payload["action_size"])
    obs = _obs_view(payload, obs_size)
    act = _action_view(payload, action_size)
  except Exception as e:  # msgpack raises several types on damaged bytes
    raise ConfigError(f"{path!r} is damaged or not an esjax params file ({type(e).__name__})")
  if env is not None:
    _check_env_fits(run_dir, env, config, obs, action_size)
  if config.policy.vbn and normalizer.vbn_batch is None:
    raise ConfigError(f"{path!r} has no VBN reference batch but the run's config uses vbn")
  try:
    policy, template = make_policy(config.policy.kind, obs.shape, action_size,
                                   config.policy.hidden_sizes, config.policy.activation,
                                   discrete=act.discrete, vbn=config.policy.vbn,
                                   module=module, nvec=act.nvec)
  except ValueError as e:  # a custom run loaded without its module, a module that does not fit
    raise ConfigError(f"{run_dir!r}: {e}") from None
  if flat.ndim and flat.shape[-1] != template.shape[0]:
    raise ConfigError(f"{path!r} holds {flat.shape[-1]} params but the config's network needs "
                      f"{template.shape[0]}")
  return SavedRun(config, _unravel(policy, flat), flat, normalizer, policy,
                  make_act(policy, *first_seed(flat, normalizer), config, act, obs), env,
                  module, run_dir)


def _check_env_fits(run_dir: str, env, config: TrainConfig, obs, action_size: int) -> None:
  """ConfigError unless ``env``'s spaces give the policy the inputs and outputs it was saved
  with (another env's would fail deep inside evaluate or act)."""
  from esjax.envs import adapters, registry  # pylint: disable=g-import-not-at-top
  from esjax.problems import build  # pylint: disable=g-import-not-at-top
  obs_view, action_view = build.views(config.problem, adapters.as_env(env))
  has = (obs_view.shape, action_view.size)
  if has != (obs.shape, action_size):
    raise ConfigError(f"env {registry.custom_name(env)!r} given to load {run_dir!r} has "
                      f"observations of shape {has[0]} and {has[1]} action outputs, but the "
                      f"run's policy reads {obs.shape} and gives {action_size}; pass the env "
                      "the run trained on")


def _listed(value):
  """A list from msgpack, which restores a list as a dict keyed "0", "1", ..."""
  return list(value.values()) if isinstance(value, dict) else list(value)


def _obs_view(payload, obs_size: int):
  """The ObsView the saved policy reads the env's observations through (a file that records
  no entries: the policy's input taken as it is)."""
  from esjax.problems.interface import ObsView  # pylint: disable=g-import-not-at-top
  shape = tuple(int(d) for d in _listed(payload.get("obs_shape", [obs_size])))
  entries = _listed(payload.get("obs_entries", []))
  return ObsView(shape, payload.get("obs_key"),
                 tuple(str(n) for n in _listed(payload.get("obs_names", []))),
                 tuple(tuple(int(d) for d in _listed(e)) for e in entries))


def _action_view(payload, action_size: int):
  """The ActionView a saved policy's actions go through: the argmax head's choices (per
  dimension when multi-discrete), or the box ``save_params`` recorded (a file that records
  none: the [-1, 1] box of the policy's outputs)."""
  from esjax.envs import spaces  # pylint: disable=g-import-not-at-top
  from esjax.problems.interface import ActionView  # pylint: disable=g-import-not-at-top
  if payload.get("discrete", False):
    nvec = tuple(int(n) for n in _listed(payload.get("nvec") or ()))
    return ActionView(spaces.MultiDiscrete(nvec) if nvec else spaces.Discrete(action_size))
  shape = tuple(int(d) for d in _listed(payload.get("action_shape", [action_size])))
  if "action_low" not in payload:
    return ActionView(spaces.Box(shape))
  return ActionView(spaces.Box(shape, np.asarray(payload["action_low"], np.float32),
                               np.asarray(payload["action_high"], np.float32)))


def first_seed(flat, normalizer):
  """(flat params, normalizer) of a run, or of its first seed when it trained several."""
  if flat.ndim == 1:
    return flat, normalizer
  return flat[0], jax.tree.map(lambda x: x[0], normalizer)


def make_act(policy: Policy, flat, normalizer, config: TrainConfig, action_view=None,
             obs_view=None):
  """The deterministic policy as one jitted function of observations to the env's actions:
  one or a batch of observations as the policy reads them (``(..., obs_dim)``), or, for an
  env whose observations are a dict (or struct) of arrays, that dict as the env gives it, read
  through ``obs_view`` (interface.ObsView: the entry or entries the run read). Its outputs are
  snapped to the run's ``action_bins`` when it trained with them, then go through
  ``action_view`` (interface.ActionView: a box's bounds and shape; the argmax head's indices as
  they are). The actions evaluation takes, noiseless."""

  # An empty normalizer (image observations) means none: the policy sees raw frames.
  normalize = config.problem.normalize_obs and normalizer.mean.shape[-1] > 0
  bins = config.problem.action_bins

  def prep(obs):
    return norm_lib.normalize(normalizer, obs, config.problem.obs_clip) if normalize else obs

  # VBN: the trained params' statistics of the run's reference batch, computed once.
  stats = (policy.reference_stats(flat, prep(normalizer.vbn_batch)) if policy.vbn else None)

  reads_dict = obs_view is not None and obs_view.reads_dict and obs_view.entries

  @jax.jit
  def compiled(obs):
    if reads_dict and not isinstance(obs, (jax.Array, np.ndarray)):
      obs = obs_view.batch(obs)
    out = policy.apply(flat, prep(obs), stats)
    if bins:
      from esjax.problems.tricks import snap  # pylint: disable=g-import-not-at-top
      out = snap(out, bins)
    return out if action_view is None else action_view.to_env(out)

  def act(obs):
    # jit would read a Python list as a pytree of scalars; it is one observation (or a batch).
    if isinstance(obs, list) or (isinstance(obs, tuple) and not hasattr(obs, "_fields")):
      obs = np.asarray(obs, np.float32)
    return compiled(obs)

  act.__doc__ = make_act.__doc__
  return act


def _unravel(policy: Policy, flat):
  return policy.unravel(flat) if flat.ndim == 1 else jax.vmap(policy.unravel)(flat)


def _write_all(fd: int, data: bytes) -> None:
  view = memoryview(data)
  while view:
    n = os.write(fd, view)
    if n <= 0:  # a full disk may answer a short write before it answers ENOSPC
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    view = view[n:]


def _io(path: str, fn: Callable[[], Any]) -> Any:
  """``fn()``, with any OSError turned into one ``RunIOError`` line naming ``path``."""
  try:
    return fn()
  except RunIOError:
    raise
  except OSError as e:
    raise RunIOError(path, e) from e


def _atomic_write(path: str, data: bytes) -> None:
  # A reader (or a crash) never sees half a file: write aside, then rename over. On failure
  # (disk full, directory gone) the old file is untouched and the partial copy removed.
  tmp = path + ".tmp"

  def write():
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
      _write_all(fd, data)
      os.fsync(fd)
    finally:
      os.close(fd)
    os.replace(tmp, path)

  try:
    _io(path, write)
  except RunIOError:
    try:
      os.remove(tmp)
    except OSError:
      pass
    raise
