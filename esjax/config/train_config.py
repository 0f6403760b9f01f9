"""The one frozen training configuration, in sections, validated once at the edge.

``TrainConfig`` holds four sections: ``problem`` (what is evaluated), ``policy`` (the network),
``strategy`` (the ES and its own options) and ``runtime`` (budget, evaluation, checkpoints,
devices, seeds). Every field is declared once with ``settings.setting`` (default, help, flag,
resume rule). ``TrainConfig.of(**flat)`` builds one from the flat names the command line and
the presets use (``env=``, ``sigma=``, ``generations=``...): every name that is not a section
field is an option of the chosen strategy, checked against its factory's signature.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import numbers
from typing import Any, Mapping

from esjax.config import sweep as sweep_lib
from esjax.config.settings import (BUDGET, OUTPUT, POLICY, PROBLEM, RUN, STRATEGY, TRICKS,
                                   Declared, declared, gbps_pair, int_list, json_object,
                                   lanes_value, setting)
from esjax.core import lanes as lanes_lib
from esjax.errors import ConfigError
from esjax.policies import ACTIVATIONS
from esjax.policies.networks import KINDS
from esjax.strategies import REGISTRY, SHAPERS
from esjax.strategies import options as options_lib
from esjax.strategies.base import OPTIMIZERS, Strategy

POLICIES = KINDS + ("custom",)  # auto = cnn for images, else mlp; custom = a user's module
COMM_MODES = ("auto", "returns", "gradient", "hierarchical")
PERTURBATIONS = ("full", "lowrank")


@dataclasses.dataclass(frozen=True)
class ProblemConfig:
  env: str = setting(
      "hopper", "Brax name, gymnax:NAME, playground:NAME (`esjax envs`), or your own: "
      "package.module:attr, an env object or a factory (docs/environments.md)", group=PROBLEM)
  env_kwargs: Mapping[str, Any] = setting(
      None, "keyword arguments of the env's constructor (Brax) or of your own env's factory, "
      "as a JSON object", group=PROBLEM, parse=json_object, metavar="JSON", factory=dict)
  obs_key: str | None = setting(
      None, "the entry of dict observations to read (default: 'state' if there is one, else "
      "every entry flattened)", group=PROBLEM, parse=str)
  backend: str | None = setting(
      None, "Brax: generalized, positional, spring (default), mjx; playground: jax (default), "
      "warp (GPU); gymnax: none", group=PROBLEM, parse=str)
  episode_length: int | None = setting(
      None, "default: the env's own (Brax 1000, gymnax max_steps_in_episode, playground's "
      "config)", group=PROBLEM)
  normalize_obs: bool = setting(
      True, "skip the running mean/std normalization of observations", group=PROBLEM)
  obs_clip: float = setting(5.0, "normalized observations are clipped to [-C, C]",
                            group=PROBLEM, metavar="C")
  # The paper's rollout tricks (esjax/problems/tricks.py).
  action_noise: float = setting(
      0.0, "Gaussian noise std on training actions in [-1, 1] (the paper's Humanoid: 0.01); "
      "not in evaluation; continuous actions only", group=TRICKS, metavar="STD")
  action_bins: int = setting(
      0, "snap each action dimension to K >= 2 evenly spaced values in [-1, 1] (0 = "
      "continuous); continuous actions only", group=TRICKS, metavar="K")
  frame_skip: int = setting(
      1, "repeat each action K env steps, rewards summed (episode length and step counts stay "
      "in env steps)", group=TRICKS, metavar="K")
  obs_stat_prob: float = setting(
      1.0, "count an episode's observations in the normalizer with probability P (the "
      "starter's calc_obstat_prob; 1: every episode)", group=TRICKS, metavar="P")
  # The starter's episode_cutoff_mode='adaptive'.
  adaptive_cutoff: int = setting(
      0, "cut training episodes at N env steps, raised by --cutoff-ratio after a generation "
      "where --cutoff-threshold of them reached it, up to the episode length (0 = off; "
      "evaluation runs whole episodes)", group=TRICKS, metavar="N")
  cutoff_threshold: float = setting(
      0.5, "fraction of episodes at the cutoff that raises it", group=TRICKS, metavar="F")
  cutoff_ratio: float = setting(1.5, "factor the cutoff is raised by, > 1",
                                group=TRICKS, metavar="R")

  def __post_init__(self):
    object.__setattr__(self, "env_kwargs", dict(sorted(dict(self.env_kwargs).items())))

  def __hash__(self):  # env_kwargs is a dict: hash its items, so a config can key a cache
    return hash(tuple((f.name, repr(getattr(self, f.name))) for f in dataclasses.fields(self)))


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
  kind: str = setting("auto", "auto (cnn for image observations, else mlp), mlp, linear, cnn",
                      group=POLICY, flat="policy")
  hidden_sizes: tuple[int, ...] = setting((32, 32), "comma-separated widths", group=POLICY,
                                          parse=int_list)
  activation: str = setting("tanh", ", ".join(ACTIVATIONS), group=POLICY)
  vbn: bool = setting(
      False, "virtual batch normalization in the hidden layers (mlp, cnn), with statistics of a "
      "reference batch of random-policy observations", group=POLICY)
  vbn_batch: int | None = setting(
      None, "observations in the VBN reference batch (default: 128; needs --vbn)", group=POLICY)

  def __post_init__(self):
    # Lists from JSON or the CLI become tuples so the config stays frozen and comparable.
    object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))


@dataclasses.dataclass(frozen=True)
class StrategyConfig:
  name: str = setting("open_es", ", ".join(sorted(REGISTRY)), group=STRATEGY,
                      flat="strategy")
  population_size: int = setting(256, "members per generation, mirrored partners counted",
                                 group=STRATEGY)
  noise_chunk: int = setting(64, "noise directions rebuilt at once in the update (memory; "
                             "the update is summed a chunk at a time, so another chunk gives "
                             "other last bits)",
                             group=STRATEGY)
  options: Mapping[str, Any] = setting(
      None, "the strategy's own options; unset = its factory's default", group=STRATEGY,
      flag=False, factory=dict)  # each option is a flag of its own (cli/app.py)
  # The order given is kept: it is the grid's order (the first name varies slowest).
  sweep: Mapping[str, tuple[float, ...]] = setting(
      None, "train every combination of these strategy options (the strategy's sweepable "
      "ones) at once, in one compiled step (repeat for a grid; times --num-seeds); e.g. "
      "--sweep sigma=0.02,0.05 --sweep learning_rate=0.01,0.02", group=RUN,
      metavar="NAME=V1,V2,...", parse=sweep_lib.parse, repeat=True, factory=dict)
  perturbation: str = setting(
      "full", "full (N(0, I) on every parameter) or lowrank (EGGROLL: each weight matrix "
      "perturbed by A B^T / sqrt(rank), never formed, perturbations/lowrank.py; open_es, ars)",
      group=STRATEGY)
  rank: int = setting(1, "rank of the low-rank perturbations", group=STRATEGY)

  def __post_init__(self):
    object.__setattr__(self, "options", dict(sorted(dict(self.options).items())))
    object.__setattr__(self, "sweep", {str(k): tuple(_number(k, v) for v in vs)
                                       for k, vs in dict(self.sweep).items()})

  def __hash__(self):  # options is a dict: hash its items, so a config can key a cache
    return hash((self.name, self.population_size, self.noise_chunk, self.perturbation, self.rank,
                 tuple(sorted((k, repr(v)) for k, v in self.options.items())),
                 tuple(self.sweep.items())))

  def resolved(self) -> dict[str, Any]:
    """Every option of the strategy: the given ones over the factory's defaults."""
    return {**options_lib.options(REGISTRY[self.name]), **self.options}

  def build(self) -> Strategy:
    try:
      return REGISTRY[self.name](self.population_size, **self.options)
    except (ValueError, TypeError) as e:  # the factory's own checks, said in one line
      raise ConfigError(f"strategy {self.name!r}: {e}") from None


# resumable: the budget, checkpointing, how generations are fused and the layout (devices,
# member chunks, lanes); never the search itself. The budget and checkpointing never change a
# result; a layout change may move the last bits (bitwise equality needs the same member chunk,
# and lanes keep the bits on hopper and ant, not on every env: docs/reproducibility.md).
@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
  generations: int | None = setting(
      60, "generations to run; None (--env-steps without --generations): no limit, the "
      "env-step budget decides", group=BUDGET, resumable=True)
  env_steps: int | None = setting(
      None, "stop once this many env steps were taken (per seed)", group=BUDGET,
      resumable=True)
  eval_every: int = setting(10, "generations between evaluations; 0 = never", group=BUDGET)
  eval_episodes: int = setting(8, "episodes per evaluation", group=BUDGET)
  checkpoint_every: int = setting(
      10, "generations between checkpoints (with an output directory); 0 = only at the end",
      group=OUTPUT, resumable=True)
  keep_checkpoints: int = setting(3, "newest checkpoints kept on disk", group=OUTPUT,
                                  resumable=True)
  generations_per_call: int = setting(
      1, "generations fused in one compiled call between host syncs", group=RUN,
      resumable=True)
  num_devices: int | None = setting(
      None, "default: every device of every process (on a CPU split by esjax into one device "
      "per core, as many as give the one-device result; docs/reproducibility.md)", group=RUN,
      resumable=True)
  member_chunk: int | None = setting(
      None, "members evaluated at once per device; must divide each device's slice. Equal "
      "chunks give bit-identical runs on any device count (default: on CPU the largest "
      "divisor of the slice up to 64, on GPU/TPU the whole slice; see "
      "docs/reproducibility.md)", group=RUN, resumable=True)
  # Off by default: it pays while episodes end early, but over the default run its extra
  # compiled widths cost more than they win (benchmarks/results/live_steps_default_run.md).
  lanes: int | None = setting(
      0, "episodes stepped at once per device by continuous batching: a member whose "
      "episode ends hands its lane to the next member of the slice, and the last episodes are "
      "compacted into narrower lanes; the same bits as without on hopper and ant, not on "
      "every env (docs/reproducibility.md) (auto, None in Python: on CPU up to 128, on "
      "GPU/TPU the whole slice; 0 = off, each chunk runs until its longest episode ends; "
      "full-rank noise only)", group=RUN, resumable=True, parse=lanes_value, metavar="N|auto")
  lane_narrowings: int = setting(
      lanes_lib.NARROWINGS, "times the lanes are narrowed for the last episodes once no member "
      "is left to start: to seven eighths, three quarters, then halved down to 2 lanes (each "
      "width compiles one more copy of the env step)",
      group=RUN, resumable=True)
  comm: str = setting(
      "auto", "who rebuilds the update's noise: returns (every device, all of it; only "
      "scalars cross devices), gradient (split over all devices, parameter-sized partial sums "
      "reduced), hierarchical (scalars across hosts, split within each host), or auto (chosen "
      "per mesh axis from a cost model; the pre-run summary says why). docs/scaling.md",
      group=RUN)
  hosts: int | None = setting(
      None, "outer size of the device mesh: groups of devices on a slow link (default: one "
      "per process); e.g. --hosts 2 on 4 devices tries 2 hosts x 2 devices on one machine",
      group=RUN, resumable=True)
  link_gbps: tuple[float, float] | None = setting(
      None, "link bandwidth in Gbit/s between hosts and within a host, as OUTER,INNER, for "
      "--comm auto (default by platform: docs/scaling.md)", group=RUN, parse=gbps_pair,
      metavar="OUTER,INNER", resumable=True)
  num_seeds: int = setting(1, "independent runs vmapped through one compiled step", group=RUN)
  seed: int = setting(0, "the run's PRNG seed (the first, with --num-seeds)", group=RUN)

  def __post_init__(self):
    # A list from JSON becomes a tuple so the config stays frozen and comparable.
    if self.link_gbps is not None:
      object.__setattr__(self, "link_gbps", tuple(self.link_gbps))


_SECTIONS = {"problem": ProblemConfig, "policy": PolicyConfig, "strategy": StrategyConfig,
             "runtime": RuntimeConfig}
# {flat name: declaration} of every section field; strategy options are the other names.
FIELDS: dict[str, Declared] = {d.name: d for d in declared(_SECTIONS) if d.field.name != "options"}
# The flat names that may change on --resume.
RESUMABLE = tuple(name for name, d in FIELDS.items() if d.meta["resumable"])


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything that decides a run. The defaults are the default run: Brax hopper on the
  spring backend, OpenAI-ES, which passes an evaluation return of 1000 in about a minute on a
  2-core CPU (benchmarks/results/cpu_split.md)."""
  problem: ProblemConfig = ProblemConfig()
  policy: PolicyConfig = PolicyConfig()
  strategy: StrategyConfig = StrategyConfig()
  runtime: RuntimeConfig = RuntimeConfig()

  @classmethod
  def of(cls, **flat: Any) -> "TrainConfig":
    """From flat names: ``TrainConfig.of(env="ant", population_size=512, sigma=0.02)``."""
    parts: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    options: dict[str, Any] = {}
    for name, value in flat.items():
      if name in FIELDS:
        parts[FIELDS[name].section][FIELDS[name].field.name] = value
      else:
        options[name] = value
    parts["strategy"]["options"] = options
    return cls(**{s: _SECTIONS[s](**v) for s, v in parts.items()})

  @property
  def num_runs(self) -> int:
    """Runs vmapped through the step: every sweep point times every seed."""
    return self.runtime.num_seeds * len(sweep_lib.points(self.strategy.sweep))

  def flat(self) -> dict[str, Any]:
    """The inverse of ``of``: flat names of every set field and given strategy option."""
    out = {name: getattr(getattr(self, d.section), d.field.name) for name, d in FIELDS.items()}
    return {**out, **self.strategy.options}

  def replace(self, **flat: Any) -> "TrainConfig":
    """A copy with flat names changed (strategy options merged over the given ones)."""
    return TrainConfig.of(**{**self.flat(), **flat})

  def validate(self, device_count: int | None = None) -> "TrainConfig":
    """Raises ConfigError naming the first bad value and what is accepted; returns self."""
    _check_problem(self.problem)
    _check_policy(self.policy)
    built = _check_strategy(self.strategy, self.policy)
    _check_runtime(self.runtime)
    if self.strategy.perturbation == "lowrank" and self.runtime.lanes:
      raise ConfigError(f"lanes={self.runtime.lanes} needs perturbation='full' (low-rank members "
                        "run in the chunked loop); drop --lanes or use --perturbation full")
    if device_count is not None:
      check_devices(self.strategy.population_size, built.mirrored, device_count,
                    self.runtime.member_chunk)
    return self

  def to_json(self) -> str:
    """The config's sections as JSON (config.json's body; ``from_dict`` reads it back)."""
    return json.dumps(dataclasses.asdict(self), indent=2)

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
    """From ``to_json``'s sections, or from the flat names of an esjax 0.1 config.json."""
    if not isinstance(d, dict):
      raise ConfigError(f"a config is a JSON object of sections, not a {type(d).__name__}")
    if not any(isinstance(v, dict) for v in d.values()) and not set(d) & set(_SECTIONS):
      return cls.of(**d)
    not_dicts = sorted(k for k in _SECTIONS if k in d and not isinstance(d[k], dict))
    if not_dicts:
      raise ConfigError(f"config sections {not_dicts} are not JSON objects; expected each "
                        "section as an object of its settings")
    unknown = sorted(set(d) - set(_SECTIONS))
    if unknown:
      raise ConfigError(f"unknown config sections {unknown}; expected some of "
                        f"{sorted(_SECTIONS)}")
    parts = {}
    for section, cls_ in _SECTIONS.items():
      values = {_RENAMED.get(k, k): v for k, v in d.get(section, {}).items()}
      known = {f.name for f in dataclasses.fields(cls_)}
      bad = sorted(set(values) - known)
      if bad:
        raise ConfigError(f"unknown keys {bad} in config section {section!r}; expected some "
                          f"of {sorted(known)}")
      parts[section] = cls_(**values)
    return cls(**parts)


# Settings saved under an earlier name (config.json of an older run dir): read as the new one.
# lane_halvings counted narrower lane widths, as lane_narrowings does (widths change no bit).
_RENAMED = {"lane_halvings": "lane_narrowings"}


def _check_problem(p: ProblemConfig) -> None:
  from esjax.envs import registry  # pylint: disable=g-import-not-at-top
  registry.check(p.env, p.backend)
  if p.episode_length is not None:
    _positive_int("episode_length", p.episode_length)
  _positive_float("obs_clip", p.obs_clip)
  _check_rollout_tricks(p)


def _check_policy(pol: PolicyConfig) -> None:
  _choice("policy", pol.kind, POLICIES)
  _choice("activation", pol.activation, tuple(ACTIVATIONS))
  if not pol.hidden_sizes and pol.kind in ("mlp", "auto"):
    raise ConfigError("hidden_sizes=() is empty; give at least one layer width, e.g. 64,64")
  for h in pol.hidden_sizes:
    _positive_int("hidden_sizes", h)
  _check_vbn(pol)


def _check_strategy(st: StrategyConfig, pol: PolicyConfig) -> Strategy:
  """The strategy section's checks, then its factory's own; returns the built strategy."""
  _choice("strategy", st.name, tuple(sorted(REGISTRY)))
  _positive_int("population_size", st.population_size)
  _positive_int("noise_chunk", st.noise_chunk)
  check_options(st.name, st.options)
  built = st.build()  # the factory's own checks too (choices, ranges it knows)
  _choice("perturbation", st.perturbation, PERTURBATIONS)
  _positive_int("rank", st.rank)
  if st.perturbation == "full" and st.rank != 1:
    raise ConfigError(f"rank={st.rank} applies only to perturbation='lowrank' (full-rank noise "
                      "has no rank); add --perturbation lowrank or drop --rank")
  if st.perturbation == "lowrank" and not built.isotropic:
    lowrank_ok = [n for n in sorted(REGISTRY) if REGISTRY[n](2).isotropic]
    raise ConfigError(f"perturbation='lowrank' is invalid for strategy {st.name!r} (its noise "
                      "moments or per-parameter sigma need full-rank noise); use one of: "
                      f"{', '.join(lowrank_ok)}, or --perturbation full")
  if st.perturbation == "lowrank" and pol.vbn:
    raise ConfigError("vbn with perturbation='lowrank' is not supported: a member's VBN "
                      "statistics would need its perturbed kernels formed; drop --vbn or use "
                      "--perturbation full")
  sweep_lib.check(st, built)
  # Every point, the first too: the factory takes sigma=-0.1 or nan, so only these checks
  # refuse them (a point's options are its values over st.options).
  for point in sweep_lib.points(st.sweep) if st.sweep else ():
    point_st = sweep_lib.point_config(st, point)
    check_options(point_st.name, point_st.options)
  if built.mirrored and st.population_size % 2:
    raise ConfigError(f"population_size={st.population_size} must be even with mirrored "
                      "sampling (each pair is +eps and -eps); use an even number or "
                      "--no-mirrored")
  return built


def _check_runtime(rt: RuntimeConfig) -> None:
  if rt.generations is None and rt.env_steps is None:
    raise ConfigError("generations=None (no limit) is invalid without env_steps; expected a "
                      "positive integer, or an env-step budget that ends the run")
  if rt.generations is not None:
    _positive_int("generations", rt.generations)
  if rt.env_steps is not None:
    _positive_int("env_steps", rt.env_steps)
  _nonneg_int("eval_every", rt.eval_every)
  _positive_int("eval_episodes", rt.eval_episodes)
  _nonneg_int("checkpoint_every", rt.checkpoint_every)
  _positive_int("keep_checkpoints", rt.keep_checkpoints)
  _positive_int("generations_per_call", rt.generations_per_call)
  _positive_int("num_seeds", rt.num_seeds)
  _choice("comm", rt.comm, COMM_MODES)
  check_run(rt.num_devices, rt.seed)
  if rt.hosts is not None:
    _positive_int("hosts", rt.hosts)
  if rt.link_gbps is not None and (len(rt.link_gbps) != 2 or min(rt.link_gbps) <= 0):
    raise ConfigError(f"link_gbps={rt.link_gbps!r} is invalid; expected two positive Gbit/s "
                      "(between hosts, within a host), e.g. (10, 400)")
  if rt.member_chunk is not None:
    _positive_int("member_chunk", rt.member_chunk)
  if rt.lanes is not None:
    _nonneg_int("lanes", rt.lanes)
    if rt.lanes == 1:  # a batch of one compiles another program (core/lanes.py, widths)
      raise ConfigError("lanes=1 is invalid; expected 0 (off), auto (None in Python: the "
                        "backend's default) or an integer >= 2")
  _nonneg_int("lane_narrowings", rt.lane_narrowings)


def check_run(num_devices: int | None, seed: int) -> None:
  """The device count and seed any run takes (TrainConfig and ``esjax.minimize`` alike)."""
  if num_devices is not None:
    _positive_int("num_devices", num_devices)
  # Any integer (numpy's too) is a PRNG seed; a float or string fails deep inside JAX.
  if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
    raise ConfigError(f"seed={seed!r} is invalid; expected an integer")


def check_devices(population_size: int, mirrored: bool, device_count: int,
                  member_chunk: int | None = None) -> None:
  """The population's layout over devices: equal slices, mirrored pairs kept whole (the
  step pairs members within a device's slice)."""
  if population_size % device_count:
    raise ConfigError(f"population_size={population_size} is not divisible by the "
                      f"{device_count} devices; use a multiple of {device_count}")
  if mirrored and (population_size // device_count) % 2:
    raise ConfigError(f"population_size={population_size} over {device_count} devices "
                      f"splits a mirrored pair; use a multiple of {2 * device_count}")
  _check_member_chunk(member_chunk, population_size, device_count)


def check_options(strategy: str, options: Mapping[str, Any]) -> None:
  """A registered strategy's options by name and value (TrainConfig and ``esjax.minimize``
  share it, so a bad sigma or shaping reads the same from either)."""
  known = options_lib.options(REGISTRY[strategy])
  for name, value in options.items():
    if name not in known:
      # Any unknown flat name lands here (TrainConfig.of takes it for an option): say both.
      close = difflib.get_close_matches(name, list(known) + list(FIELDS), n=1)
      hint = f"did you mean {close[0]}? " if close else ""
      raise ConfigError(f"{name}={value!r} (--{name.replace('_', '-')}) is neither a setting "
                        f"nor an option of strategy {strategy!r}; {hint}its options: "
                        f"{', '.join(known) or 'none'}")
    default = known[name]
    if name == "optimizer":
      if isinstance(value, str):
        _choice("optimizer", value, OPTIMIZERS + _extra_optimizers(strategy))
    elif name == "shaping":
      _choice("shaping", value, tuple(SHAPERS))
    elif name in ("sigma", "learning_rate"):
      _positive_float(name, value)
    elif isinstance(default, bool):
      if not isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} is invalid; expected true or false")
    elif isinstance(default, int):
      _nonneg_int(name, value)
    elif isinstance(default, float):
      _nonneg_float(name, value)


def _check_vbn(pol: PolicyConfig) -> None:
  if not isinstance(pol.vbn, bool):
    raise ConfigError(f"vbn={pol.vbn!r} is invalid; expected true or false")
  if pol.vbn_batch is not None:
    if not pol.vbn:
      raise ConfigError(f"vbn_batch={pol.vbn_batch!r} is set but vbn is off; add --vbn or "
                        "drop --vbn-batch")
    size = pol.vbn_batch
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
      raise ConfigError(f"vbn_batch={pol.vbn_batch!r} is invalid; expected an integer >= 2 "
                        "(observations in the VBN reference batch; default 128)")
  if pol.vbn and pol.kind == "linear":
    raise ConfigError("vbn needs hidden layers to normalize and policy='linear' has none; use "
                      "--policy mlp or cnn (or auto), or drop --vbn")


def _check_rollout_tricks(p: ProblemConfig) -> None:
  _nonneg_float("action_noise", p.action_noise)
  if isinstance(p.action_bins, bool) or not isinstance(p.action_bins, int) or p.action_bins < 0 \
      or p.action_bins == 1:
    raise ConfigError(f"action_bins={p.action_bins!r} is invalid; expected 0 (continuous "
                      "actions) or an integer >= 2")
  _positive_int("frame_skip", p.frame_skip)
  v = p.obs_stat_prob
  if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
    raise ConfigError(f"obs_stat_prob={v!r} is invalid; expected a probability in (0, 1]")
  _nonneg_int("adaptive_cutoff", p.adaptive_cutoff)
  v = p.cutoff_threshold
  if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
    raise ConfigError(f"cutoff_threshold={v!r} is invalid; expected a fraction in (0, 1]")
  v = p.cutoff_ratio
  if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 1:
    raise ConfigError(f"cutoff_ratio={v!r} is invalid; expected a finite number > 1")
  if p.adaptive_cutoff and p.episode_length is not None and p.adaptive_cutoff > p.episode_length:
    raise ConfigError(f"adaptive_cutoff={p.adaptive_cutoff} is invalid: it starts above "
                      f"episode_length={p.episode_length}; expected at most that")
  if (p.action_noise or p.action_bins) and not p.env.startswith("custom:"):
    from esjax.problems import build  # pylint: disable=g-import-not-at-top
    if build.discrete_actions(p):
      flag = "action_noise" if p.action_noise else "action_bins"
      raise ConfigError(f"{flag}={getattr(p, flag)!r} is invalid for {p.env!r}, whose actions "
                        "are discrete; it applies to continuous actions only (use 0)")


def _check_member_chunk(chunk: int | None, population_size: int, device_count: int) -> None:
  local = population_size // device_count
  if chunk is not None and local % chunk:
    divisors = [str(c) for c in range(1, local + 1) if local % c == 0]
    divisors = ", ".join(divisors if len(divisors) <= 12 else divisors[:6] + ["..."] + divisors[-3:])
    raise ConfigError(f"member_chunk={chunk} is invalid: each device's slice of {local} members "
                      f"(population_size={population_size} over {device_count} devices) must "
                      f"be a multiple of it; use one of: {divisors}")


def _extra_optimizers(strategy: str) -> tuple[str, ...]:
  """Optimizer names a strategy adds to optax's (e.g. PGPE's ClipUp)."""
  default = options_lib.options(REGISTRY[strategy]).get("optimizer")
  return (default,) if isinstance(default, str) and default not in OPTIMIZERS else ()


def _number(name, v) -> float:
  if isinstance(v, bool) or not isinstance(v, (int, float)):
    raise ConfigError(f"sweep value {v!r} of {name!r} is invalid; expected numbers")
  return float(v)


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
