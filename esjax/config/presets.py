"""Named training configurations (Brax, gymnax, Playground): ``esjax train --preset NAME``.

A preset is a dict of ``TrainConfig`` fields; flags given on the command line override it
(``esjax train --preset ant --generations 20``). Everything not in the preset keeps the
``TrainConfig`` default (centered-rank shaping, mirrored sampling, Adam, weight decay 0.005,
observation normalization clipped to +-5, tanh MLP: the paper's recipe).

``cartpole`` (gymnax CartPole-v1), ``cartpole_balance`` and ``cheetah_run`` (MuJoCo
Playground) and the two Breakout-MinAtar presets were trained here with the exact preset
command by ``python -m benchmarks.presets NAME``, which keeps their curves under
``benchmarks/results/presets/``.

What was verified, and how (2-core CPU shared with other jobs, jax 0.10.2, brax 0.14.2;
see each ``verified``): ``hopper``, ``inverted_pendulum``, ``inverted_double_pendulum``,
``walker2d``, ``swimmer``, ``halfcheetah`` and ``reacher`` were trained here with the exact
preset (``esjax train --preset NAME``). ``ant`` and ``humanoid`` ran on a lent H200 with the
exact command, cut at a deadline: humanoid passed 6000 at generation 110 (106M env steps,
~4 minutes from launch), ant reached 3892 by generation 230. The others are starting points chosen from the paper's settings and the
measured throughput, sized for one accelerator, and are marked unverified.

``humanoid_paper`` is the released Humanoid configuration of Salimans et al. (2017), with its
action noise (std 0.01) and observation statistics sampled from 1% of the episodes
(``calc_obstat_prob`` 0.01). Its population of 10,000 episodes per generation is meant for
many devices (it must divide evenly over them).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from esjax.config.train_config import TrainConfig
from esjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Preset:
  """A named setting (``esjax train --preset NAME``): flat ``TrainConfig`` fields, and what a
  run of them reached when it was last verified."""
  description: str  # one line for `esjax presets`
  fields: dict[str, Any]  # TrainConfig fields
  verified: str = "unverified"


PRESETS: dict[str, Preset] = {
    "hopper": Preset(
        "Brax hopper, spring: the default run, eval ~1500 in 60 generations",
        dict(env="hopper", backend="spring", population_size=256, sigma=0.05,
             learning_rate=0.02, hidden_sizes=(32, 32), generations=60),
        verified="`esjax train --preset hopper` is the default run: eval return 1032 at "
                 "generation 20, 1517 at 60 (11.4M env steps; benchmarks/results/default_run, "
                 "pinned by tests/test_pinned.py)"),
    "inverted_pendulum": Preset(
        "balance a pole; solved (return 1000) within a few dozen generations",
        dict(env="inverted_pendulum", backend="spring", population_size=64, sigma=0.1,
             learning_rate=0.05, hidden_sizes=(16, 16), generations=40, eval_every=5),
        verified="`esjax train --preset inverted_pendulum`: eval return 1000 (the maximum) "
                 "at generation 10 (188k env steps) and at 40 (1.78M steps, 34 s)"),
    # OpenAI-ES with a 32x32 MLP (sigma 0.05-0.1) stalled near 1100 (~120 steps alive); an ARS
    # linear policy with wide noise solves it (a sweep of sigma 0.1/0.2 x lr 0.05/0.1).
    "inverted_double_pendulum": Preset(
        "balance two poles (spring backend): ARS V2-t, linear policy",
        dict(env="inverted_double_pendulum", backend="spring", strategy="ars",
             population_size=64, top_directions=16, sigma=0.1, learning_rate=0.1,
             policy="linear", generations=150, eval_every=10),
        verified="`esjax train --preset inverted_double_pendulum`: eval return 2032 at "
                 "generation 40, 8944 at 70 (0.62M env steps) and 9343 at 90-150 (the "
                 "episode's maximum, 1000 steps balanced; 4.14M env steps, 38 s from the "
                 "first generation) on a 2-core CPU (Intel Xeon), jax 0.10.2, brax 0.14.2, 2026-12-05 "
                 "(benchmarks/results/presets/inverted_double_pendulum)"),
    # 60 generations: what a 2-core CPU finishes in about 10 minutes (every episode is 1000
    # steps, no early termination); --generations 300 goes on rising, for an accelerator.
    "halfcheetah": Preset(
        "run forward (spring backend), sized for ~10 minutes on a 2-core CPU",
        dict(env="halfcheetah", backend="spring", population_size=256, sigma=0.05,
             learning_rate=0.02, hidden_sizes=(32, 32), generations=60),
        verified="`esjax train --preset halfcheetah`: eval return 808 at generation 10, 1217 "
                 "at 20, 1637 at 30 and 2152 +- 89 at 60 (15.4M env steps, 515 s from the "
                 "first generation, on a 2-core CPU (Intel Xeon), jax 0.10.2, brax 0.14.2, 2026-12-05; "
                 "benchmarks/results/presets/halfcheetah), still rising. An earlier run "
                 "(another CPU and code, 2026-11-26) reached 2747"),
    # ARS V2-t with Mania et al.'s (2018) Walker2d settings: N=40 directions, top 30, alpha
    # 0.03, nu 0.025, survival bonus removed in training. The OpenAI-ES MLP preset it replaces
    # (population 512, 205M env steps) was out of a CPU's reach; this one passes 2000 by 7M.
    "walker2d": Preset(
        "2-D biped walking (spring backend): ARS V2-t, the paper's Walker2d settings, linear",
        dict(env="walker2d", backend="spring", strategy="ars", population_size=80,
             top_directions=30, learning_rate=0.03, sigma=0.025, reward_shift=1.0,
             policy="linear", generations=400, eval_every=20),
        verified="`esjax train --preset walker2d`: eval return 945 at generation 60, 2254 at "
                 "200 (7.0M env steps) and 2881 +- 178 at 400 (20.8M env steps, 226 s from "
                 "the first generation) on a 2-core CPU (Intel Xeon), jax 0.10.2, brax 0.14.2, "
                 "2026-12-05, every evaluation the same as an earlier run's on an AMD EPYC "
                 "(benchmarks/results/presets/walker2d)"),
    "ant": Preset(
        "quadruped walking (spring backend)",
        dict(env="ant", backend="spring", population_size=512, sigma=0.05, learning_rate=0.02,
             hidden_sizes=(64, 64), generations=400),
        verified="partly, on one NVIDIA H200 (jax 0.11.2, brax 0.14.2; `bash benchmarks/gpu.sh "
                 "presets`, the exact command cut at 240 s, generation 238 of 400): eval return "
                 "1004 at generation 10, 2903 at 60 (30M env steps), 3870 at 200 and 3892 +- 20 "
                 "at 230 (114M env steps, 207 s after the step's compile; ~0.55M env steps/s), "
                 "still rising (benchmarks/results/presets/ant, presets_gpu.md)"),
    "humanoid": Preset(
        "3-D humanoid walking, accelerator-sized (paper's sigma/lr, smaller population)",
        dict(env="humanoid", backend="spring", population_size=2048, sigma=0.02,
             learning_rate=0.01, hidden_sizes=(256, 256), generations=500),
        verified="partly, on one NVIDIA H200 (jax 0.11.2, brax 0.14.2; `bash benchmarks/gpu.sh "
                 "presets`, the exact command cut at 288 s, generation 137 of 500): eval return "
                 "2029 at generation 50, 4580 at 60, 6022 at 110 (106M env steps, 187 s after "
                 "the step's compile, ~225 s from launch) and 6222 +- 6 at 130 (142M env steps, "
                 "234 s), still rising (benchmarks/results/presets/humanoid, presets_gpu.md)"),
    "humanoid_paper": Preset(
        "Salimans et al. 2017 Humanoid: sigma 0.02, Adam 0.01, L2 0.005, 2x256 tanh, pop 10000",
        dict(env="humanoid", backend="spring", population_size=10000, mirrored=True, sigma=0.02,
             learning_rate=0.01, optimizer="adam", weight_decay=0.005, shaping="centered_rank",
             policy="mlp", hidden_sizes=(256, 256), activation="tanh", normalize_obs=True,
             obs_clip=5.0, episode_length=1000, action_noise=0.01, obs_stat_prob=0.01,
             generations=300, eval_every=10)),
    # ARS V2-t, near Mania et al.'s Swimmer settings (N=1, b=1, alpha 0.02, nu 0.01) with
    # N=2 so the step's population splits evenly over two devices too.
    "swimmer": Preset(
        "3-link swimmer (generalized backend only): ARS V2-t, N=2, linear",
        dict(env="swimmer", backend="generalized", strategy="ars", population_size=4,
             top_directions=2, learning_rate=0.02, sigma=0.01, policy="linear",
             generations=300, eval_every=25),
        verified="`esjax train --preset swimmer`: eval return 31 at generation 25, 52 at 100 "
                 "(0.4M env steps), 212 at 200 and 213 +- 10 at 300 (1.2M env steps, 184 s "
                 "from the first generation) on a 2-core CPU (Intel Xeon), jax 0.10.2, brax 0.14.2, 2026-12-05 "
                 "(benchmarks/results/presets/swimmer). Random search with 2 directions "
                 "lands on different plateaus as the bits move: an earlier run (another CPU "
                 "and code, 2026-11-26) had 209 at 25 and 362 at 300"),
    # Gym's Reacher episode (50 steps of 0.02 s) rather than Brax's 1000: a return then reads
    # like Gym's. Brax reacher charges |action|^2 per step against the distance it pays for,
    # and a hand-made Jacobian-transpose PD controller, best of a gain grid, gets -7.7 per 50
    # steps against doing nothing's -11.0 (benchmarks/reacher_reference.py). OpenAI-ES with
    # sigma 0.01-0.02 beats that within 25 generations; sigma 0.05 and ARS linear policies
    # stayed near -7.5 to -8.5.
    "reacher": Preset(
        "2-joint arm reaching a target (generalized backend), Gym's 50-step episodes",
        dict(env="reacher", backend="generalized", population_size=256, sigma=0.01,
             learning_rate=0.01, hidden_sizes=(32, 32), episode_length=50, generations=300,
             eval_every=25, eval_episodes=64),
        verified="`esjax train --preset reacher`: eval return (64 episodes, random targets) "
                 "-6.63 at generation 25 (0.32M env steps), then flat: the evaluations from "
                 "generation 100 to 300 average -6.40 (spread 0.49, each +- ~0.4), last "
                 "-6.87 +- 3.54 at 300 (3.84M env steps, 119 s; a 2-core CPU (Intel Xeon), jax 0.10.2, brax "
                 "0.14.2, 2026-12-05; benchmarks/results/presets/reacher). References on the same env: no "
                 "action -11.0, the best hand-tuned Jacobian-transpose PD controller -7.7 "
                 "(benchmarks/results/reacher_reference.md). Gym's Reacher threshold (-3.75) "
                 "is on MuJoCo's physics and was not reached here"),
    "pusher": Preset(
        "7-DoF arm pushing an object to a goal (generalized backend)",
        dict(env="pusher", backend="generalized", population_size=256, sigma=0.05,
             learning_rate=0.02, hidden_sizes=(64, 64), generations=300)),
    # ARS V2-t with the paper's per-task settings (Mania et al. 2018, MuJoCo table): linear
    # policy on normalized observations, N directions (population 2N), top b, step alpha,
    # noise nu, survival bonus removed in training (shift 1 on Hopper, 0 on HalfCheetah).
    "ars_hopper": Preset(
        "ARS V2-t, the paper's Hopper settings: N=8, b=4, alpha 0.01, nu 0.025, shift 1, linear",
        dict(env="hopper", backend="spring", strategy="ars", population_size=16,
             learning_rate=0.01, sigma=0.025, top_directions=4, reward_shift=1.0,
             policy="linear", generations=1000, eval_every=50)),
    "ars_halfcheetah": Preset(
        "ARS V2-t, the paper's HalfCheetah settings: N=32, b=4, alpha 0.02, nu 0.03, linear",
        dict(env="halfcheetah", backend="spring", strategy="ars", population_size=64,
             learning_rate=0.02, sigma=0.03, top_directions=4, policy="linear",
             generations=500, eval_every=25)),
    "cartpole": Preset(
        "gymnax CartPole-v1 (discrete actions, argmax MLP head): return 500, the maximum",
        dict(env="gymnax:CartPole-v1", population_size=128, sigma=0.1, learning_rate=0.05,
             hidden_sizes=(16, 16), generations=30, eval_every=5),
        verified="`esjax train --preset cartpole`: eval return 500.0 (the maximum) at generation "
                 "20 (780,747 env steps) and at 30 (1,411,628 env steps, 12.5 s wall incl. "
                 "compile; 23 s with startup) on a loaded 2-core CPU, jax 0.10.2, gymnax "
                 "1.0.1; `esjax eval` 10 episodes: 500.00 +- 0.00"),
    # MuJoCo Playground's DM Control Suite (MJX, impl "jax"). Cartpole balance has no early
    # termination and an unlimited hinge: with no action the pole swings round and still earns
    # ~690, and OpenAI-ES and sep-CMA-ES (sigma 0.03-1) stalled at 700-770 there. ARS's
    # large raw-observation steps reach the narrow basin of a stabilizing linear controller.
    "cartpole_balance": Preset(
        "Playground CartpoleBalance: ARS, linear policy on raw observations, wide noise",
        dict(env="playground:CartpoleBalance", strategy="ars", population_size=256,
             top_directions=16, sigma=0.5, learning_rate=0.5, policy="linear",
             normalize_obs=False, generations=20, eval_every=5),
        verified="`esjax train --preset cartpole_balance`: eval return 944.7 at generation 5, "
                 "999.1 at 10 (2.56M env steps) and 999.0 +- 0.4 at 20 (5.12M env steps, 9 s "
                 "from the first generation, 23 s with start-up and compile) on a 2-core CPU (Intel Xeon), jax 0.10.2, "
                 "playground 0.2.0, 2026-12-05 "
                 "(benchmarks/results/presets/cartpole_balance)"),
    "cheetah_run": Preset(
        "Playground CheetahRun: ARS V2-t, linear policy (its 1000-step episodes never end early)",
        dict(env="playground:CheetahRun", strategy="ars", population_size=64, top_directions=8,
             sigma=0.03, learning_rate=0.02, policy="linear", generations=150, eval_every=10),
        verified="learning, not converged: `esjax train --preset cheetah_run`: eval return 129 "
                 "at generation 10, 230 at 40, 412 at 110 (the best) and 392 +- 93 at 150 "
                 "(9.6M env steps, 249 s from the first generation) on a 2-core CPU (Intel Xeon), jax 0.10.2, "
                 "playground 0.2.0, 2026-12-05; noisy after generation 100 "
                 "(benchmarks/results/presets/cheetah_run)"),
    # gymnax MinAtar with the paper's Atari policy scaled down (cnn, argmax head), with and
    # without virtual batch normalization, the same budget.
    "breakout_minatar": Preset(
        "gymnax Breakout-MinAtar, CNN policy without VBN (compare breakout_minatar_vbn)",
        dict(env="gymnax:Breakout-MinAtar", population_size=256, sigma=0.05,
             learning_rate=0.01, env_steps=1_000_000, generations=1000, eval_every=5),
        verified="`esjax train --preset breakout_minatar`: eval return 0.5 at 277k env steps, "
                 "1.5 at 672k and 3.0 +- 0.0 at the end (1.0M env steps, 302 generations, "
                 "95 s) on a 2-core CPU (Intel Xeon), jax 0.10.2, gymnax 1.0.1, 2026-12-05, "
                 "every evaluation the same as an earlier run's on an AMD EPYC "
                 "(benchmarks/results/presets/breakout_minatar)"),
    "breakout_minatar_vbn": Preset(
        "gymnax Breakout-MinAtar, CNN policy with virtual batch normalization",
        dict(env="gymnax:Breakout-MinAtar", population_size=256, sigma=0.05,
             learning_rate=0.01, vbn=True, env_steps=1_000_000, generations=1000,
             eval_every=5),
        verified="`esjax train --preset breakout_minatar_vbn`: eval return 1.4 at 58k env "
                 "steps, 3.0 at 192k, 5.5 at 522k, 5.75 (best) at 580k and 5.4 +- 0.5 at the "
                 "end (1.0M env steps, 113 generations, 130 s) on a 2-core CPU (Intel Xeon), jax 0.10.2, "
                 "gymnax 1.0.1, 2026-12-05: level with the same preset without VBN for its "
                 "first 40k env steps and ahead of it from 58k on (3.0 at the end); gymnax's "
                 "README lists PPO at 28 after far more steps"),
}


def get(name: str) -> Preset:
  if name not in PRESETS:
    raise ConfigError(f"unknown preset {name!r}; expected one of: {', '.join(PRESETS)} "
                      "(`esjax presets` lists them)")
  return PRESETS[name]


def config(name: str, **overrides) -> TrainConfig:
  """The preset's TrainConfig, with ``overrides`` (TrainConfig fields) taking precedence."""
  return TrainConfig.of(**{**get(name).fields, **overrides})


def listing() -> list[str]:
  """One line per preset, for ``esjax presets``."""
  width = max(map(len, PRESETS))
  lines = []
  for name, p in PRESETS.items():
    c = TrainConfig.of(**p.fields)
    opts = c.strategy.resolved()
    shape = "linear" if c.policy.kind == "linear" else "x".join(map(str, c.policy.hidden_sizes))
    budget = f"{c.runtime.generations} gens" + (
        f" or {c.runtime.env_steps:,} env steps" if c.runtime.env_steps else "")
    where = c.problem.env + (f"/{c.problem.backend}" if c.problem.backend else "")
    lines.append(f"{name:<{width}}  {where}, {c.strategy.name} "
                 f"pop {c.strategy.population_size}, sigma {opts.get('sigma')}, lr "
                 f"{opts.get('learning_rate')}, {shape}, {budget}; "
                 f"{p.description}")
  return lines
