"""The one frozen training configuration, validated once at the edge."""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import optax

from esjax.errors import ConfigError
from esjax.problems.brax_envs import BACKENDS, check_env
from esjax.policies import ACTIVATIONS
from esjax.strategies.shaping import SHAPERS

# Optax factories that take the learning rate as their first argument.
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adabelief", "lion", "nadam", "adagrad", "lamb")
POLICIES = ("mlp", "linear")
COMM_MODES = ("returns", "gradient")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything that decides a run. Defaults: the default run, Brax hopper on the spring
  backend, which reaches an evaluation return above 1000 in a few minutes on a 2-core CPU."""
  env: str = "hopper"
  backend: str = "spring"
  episode_length: int = 1000
  population_size: int = 256  # members per generation, mirrored partners counted
  mirrored: bool = True
  sigma: float = 0.05
  learning_rate: float = 0.02
  optimizer: str = "adam"
  weight_decay: float = 0.005
  shaping: str = "centered_rank"
  policy: str = "mlp"
  hidden_sizes: tuple[int, ...] = (32, 32)
  activation: str = "tanh"
  normalize_obs: bool = True
  obs_clip: float = 5.0
  generations: int = 60
  env_steps: int | None = None  # if set, stop once this many env steps were taken
  eval_every: int = 10  # generations; 0 = never
  eval_episodes: int = 8
  checkpoint_every: int = 10  # generations between checkpoints (with an out dir); 0 = only at end
  keep_checkpoints: int = 3  # newest checkpoints kept on disk
  noise_chunk: int = 64  # noise directions rebuilt at once in the update
  generations_per_call: int = 1  # generations fused in one compiled call between host syncs
  num_devices: int | None = None  # None = every device of every process
  comm: str = "returns"  # what crosses devices: scalar returns, or summed gradients
  num_seeds: int = 1  # independent runs vmapped through the same step
  seed: int = 0

  def __post_init__(self):
    # Lists from JSON or the CLI become tuples so the config stays hashable and frozen.
    object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))

  def validate(self, device_count: int | None = None) -> "TrainConfig":
    """Raises ConfigError naming the first bad value and what is accepted; returns self."""
    check_env(self.env, self.backend)
    _positive_int("population_size", self.population_size)
    if self.mirrored and self.population_size % 2:
      raise ConfigError(f"population_size={self.population_size} must be even with mirrored "
                        "sampling (each pair is +eps and -eps); use an even number or "
                        "--no-mirrored")
    _positive_float("sigma", self.sigma)
    _positive_float("learning_rate", self.learning_rate)
    _nonneg_float("weight_decay", self.weight_decay)
    _positive_int("episode_length", self.episode_length)
    _positive_int("generations", self.generations)
    if self.env_steps is not None:
      _positive_int("env_steps", self.env_steps)
    _nonneg_int("eval_every", self.eval_every)
    _positive_int("eval_episodes", self.eval_episodes)
    _nonneg_int("checkpoint_every", self.checkpoint_every)
    _positive_int("keep_checkpoints", self.keep_checkpoints)
    _positive_int("noise_chunk", self.noise_chunk)
    _positive_int("generations_per_call", self.generations_per_call)
    _positive_int("num_seeds", self.num_seeds)
    _positive_float("obs_clip", self.obs_clip)
    _choice("optimizer", self.optimizer, OPTIMIZERS)
    _choice("shaping", self.shaping, tuple(SHAPERS))
    _choice("policy", self.policy, POLICIES)
    _choice("activation", self.activation, tuple(ACTIVATIONS))
    _choice("comm", self.comm, COMM_MODES)
    if not self.hidden_sizes and self.policy == "mlp":
      raise ConfigError("hidden_sizes=() is empty; give at least one layer width, e.g. 64,64")
    for h in self.hidden_sizes:
      _positive_int("hidden_sizes", h)
    if self.num_devices is not None:
      _positive_int("num_devices", self.num_devices)
    if device_count is not None:
      if self.population_size % device_count:
        raise ConfigError(f"population_size={self.population_size} is not divisible by the "
                          f"{device_count} devices; use a multiple of {device_count}")
      if self.mirrored and (self.population_size // device_count) % 2:
        raise ConfigError(f"population_size={self.population_size} over {device_count} devices "
                          "splits a mirrored pair; use a multiple of "
                          f"{2 * device_count}")
    return self

  def make_optimizer(self) -> optax.GradientTransformation:
    return getattr(optax, self.optimizer)(self.learning_rate)

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2)

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
      raise ConfigError(f"unknown config keys {unknown}; expected some of {sorted(known)}")
    return cls(**d)


def _positive_int(name, v):
  if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
    raise ConfigError(f"{name}={v!r} is invalid; expected a positive integer")


def _nonneg_int(name, v):
  if isinstance(v, bool) or not isinstance(v, int) or v < 0:
    raise ConfigError(f"{name}={v!r} is invalid; expected an integer >= 0")


def _positive_float(name, v):
  if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
    raise ConfigError(f"{name}={v!r} is invalid; expected a finite number > 0")


def _nonneg_float(name, v):
  if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
    raise ConfigError(f"{name}={v!r} is invalid; expected a finite number >= 0")


def _choice(name, v, choices):
  if v not in choices:
    raise ConfigError(f"{name}={v!r} is invalid; expected one of: {', '.join(choices)}")
