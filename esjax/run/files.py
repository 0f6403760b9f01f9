"""What a run leaves on disk: the resolved config, metrics lines, and final params.

Params are stored with flax's msgpack serialization: loading executes no code (no pickle).
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from esjax.problems import normalizer as norm_lib
from esjax.run.config import TrainConfig
from esjax.errors import ConfigError
from esjax.policies import Policy, make_policy

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
PARAMS_FILE = "params.msgpack"


def write_config(run_dir: str, config: TrainConfig) -> None:
  _atomic_write(os.path.join(run_dir, CONFIG_FILE), config.to_json().encode())


def read_config(run_dir: str) -> TrainConfig:
  path = os.path.join(run_dir, CONFIG_FILE)
  try:
    with open(path) as f:
      return TrainConfig.from_dict(json.load(f))
  except FileNotFoundError:
    raise ConfigError(f"{path!r} not found; expected a run directory written by `esjax train`")
  except (json.JSONDecodeError, TypeError) as e:
    raise ConfigError(f"{path!r} is not a valid esjax config ({e})")


class MetricsWriter:
  def __init__(self, run_dir: str, append: bool = False):
    self._f = open(os.path.join(run_dir, METRICS_FILE), "a" if append else "w")

  def write(self, record: dict[str, Any]) -> None:
    self._f.write(json.dumps(record) + "\n")
    self._f.flush()

  def close(self) -> None:
    self._f.close()


def rewrite_metrics(run_dir: str, records: list[dict[str, Any]]) -> None:
  """Replaces metrics.jsonl by ``records`` (on resume: drops lines past the checkpoint)."""
  data = "".join(json.dumps(r) + "\n" for r in records).encode()
  _atomic_write(os.path.join(run_dir, METRICS_FILE), data)


def read_metrics(run_dir: str) -> list[dict[str, Any]]:
  with open(os.path.join(run_dir, METRICS_FILE)) as f:
    return [json.loads(line) for line in f if line.strip()]


def save_params(run_dir: str, flat_params, normalizer: norm_lib.NormalizerState, obs_size: int,
                action_size: int, obs_shape: tuple[int, ...] = (), discrete: bool = False) -> str:
  payload = {
      "flat_params": np.asarray(flat_params),
      "normalizer": {"count": np.asarray(normalizer.count), "mean": np.asarray(normalizer.mean),
                     "m2": np.asarray(normalizer.m2)},
      "obs_size": obs_size,
      "action_size": action_size,
      # The policy's input shape ((10, 10, C) frames for MinAtar; obs_size is then 0: no
      # normalizer) and action head; absent in esjax 0.1 files (vector obs, continuous).
      "obs_shape": list(obs_shape or (obs_size,)),
      "discrete": bool(discrete),
  }
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
  act: Callable[[jax.Array], jax.Array]  # obs (..., obs_dim) -> action (seed 0 if several)


def load(run_dir: str) -> SavedRun:
  """Params and normalizer of a finished run (``esjax train --out run_dir``)."""
  config = read_config(run_dir)
  path = os.path.join(run_dir, PARAMS_FILE)
  try:
    with open(path, "rb") as f:
      payload = flax.serialization.msgpack_restore(f.read())
    flat = jnp.asarray(payload["flat_params"])
    nd = payload["normalizer"]
    normalizer = norm_lib.NormalizerState(jnp.asarray(nd["count"]), jnp.asarray(nd["mean"]),
                                          jnp.asarray(nd["m2"]))
    obs_size, action_size = int(payload["obs_size"]), int(payload["action_size"])
    obs_shape = tuple(int(d) for d in payload.get("obs_shape", [obs_size]).values()) if isinstance(
        payload.get("obs_shape"), dict) else tuple(int(d) for d in payload.get("obs_shape", [obs_size]))
    discrete = bool(payload.get("discrete", False))
  except FileNotFoundError:
    raise ConfigError(f"{path!r} not found; the run has not finished (no final params)")
  except Exception as e:  # msgpack raises several types on damaged bytes
    raise ConfigError(f"{path!r} is damaged or not an esjax params file ({type(e).__name__})")
  policy, template = make_policy(config.policy.kind, obs_shape, action_size,
                                 config.policy.hidden_sizes, config.policy.activation,
                                 discrete=discrete)
  if flat.ndim and flat.shape[-1] != template.shape[0]:
    raise ConfigError(f"{path!r} holds {flat.shape[-1]} params but the config's network needs "
                      f"{template.shape[0]}")
  return SavedRun(config, _unravel(policy, flat), flat, normalizer, policy,
                  make_act(policy, *first_seed(flat, normalizer), config))


def first_seed(flat, normalizer):
  """(flat params, normalizer) of a run, or of its first seed when it trained several."""
  if flat.ndim == 1:
    return flat, normalizer
  return flat[0], jax.tree.map(lambda x: x[0], normalizer)


def make_act(policy: Policy, flat, normalizer, config: TrainConfig):
  """The deterministic policy as one jitted function of observations."""

  # An empty normalizer (image observations) means none: the policy sees raw frames.
  normalize = config.problem.normalize_obs and normalizer.mean.shape[-1] > 0

  @jax.jit
  def act(obs):
    if normalize:
      obs = norm_lib.normalize(normalizer, obs, config.problem.obs_clip)
    return policy.apply(flat, obs)

  return act


def _unravel(policy: Policy, flat):
  return policy.unravel(flat) if flat.ndim == 1 else jax.vmap(policy.unravel)(flat)


def _atomic_write(path: str, data: bytes) -> None:
  # A reader (or a crash) never sees half a file: write aside, then rename over.
  tmp = path + ".tmp"
  with open(tmp, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
