"""Claim 5 of Salimans et al. (2017): the parameterization of the policy matters more than its
size; virtual batch normalization "helps a lot", and every trick that helps backprop helps ES
(initialization scale, batch norm, residual connections).

The same task, strategy and env-step budget for each policy variant:

* ``mlp``: esjax's default policy (2 x 32 tanh, lecun-normal hidden init, a 0.01-scaled head);
* ``mlp+vbn``: the same with virtual batch normalization (``--vbn``);
* ``init xS``: the MLP with every hidden kernel's init variance scaled by S (0.1, 10): too
  small and the hidden units start almost linear, too large and tanh saturates;
* ``residual``: the same width with a residual connection around the second hidden layer;
* ``big head``: the head's init at the hidden layers' scale instead of 0.01 (large first
  actions: the "bang-bang" start the default avoids).

The custom variants are flax modules passed through ``esjax.train(..., policy_module=...)``.
Seeds run vmapped in one compiled step (``num_seeds``).

    python -m benchmarks.claims.parameterization                 # hopper, 3M env steps, 2 seeds
    python -m benchmarks.claims.parameterization --quick         # a minute: checks that it runs

Writes ``benchmarks/results/claims/parameterization.md`` (+ csv/json) and ``.png``.
"""
from __future__ import annotations

import argparse
import os

import esjax  # first: esjax sets XLA flags before JAX starts
import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from benchmarks import common

RESULTS = os.path.join(common.RESULTS_DIR, "claims")


class VariantMLP(nn.Module):
  """Two tanh hidden layers with a chosen init scale, an optional residual connection around
  the second, and a tanh head (continuous) or argmax head (discrete)."""
  action_size: int
  width: int = 32
  init_scale: float = 1.0
  head_scale: float = 0.01
  residual: bool = False
  discrete: bool = False

  @nn.compact
  def __call__(self, obs):
    init = nn.initializers.variance_scaling(self.init_scale, "fan_in", "truncated_normal")
    x = jnp.tanh(nn.Dense(self.width, kernel_init=init)(obs))
    y = jnp.tanh(nn.Dense(self.width, kernel_init=init)(x))
    x = x + y if self.residual else y
    out = nn.Dense(self.action_size, kernel_init=nn.initializers.variance_scaling(
        self.head_scale, "fan_in", "truncated_normal"))(x)
    return jnp.argmax(out, axis=-1).astype(jnp.int32) if self.discrete else jnp.tanh(out)


def variants(action_size: int, discrete: bool):
  """name -> (config fields, policy module or None)."""
  m = lambda **kw: VariantMLP(action_size, discrete=discrete, **kw)  # noqa: E731
  return {
      "mlp": ({}, None),
      "mlp+vbn": ({"vbn": True}, None),
      "init x0.1": ({}, m(init_scale=0.1)),
      "init x10": ({}, m(init_scale=10.0)),
      "residual": ({}, m(residual=True)),
      "big head": ({}, m(head_scale=1.0)),
  }


def env_spaces(env: str):
  from esjax.problems import build  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  cfg = esjax.TrainConfig.of(env=env)
  built = build.build(cfg.problem, cfg.policy, jax.random.PRNGKey(0))
  return built.action_size, built.discrete


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--env", default="hopper")
  p.add_argument("--env-steps", type=int, default=3_000_000, help="budget per seed")
  p.add_argument("--seeds", type=int, default=2)
  p.add_argument("--population", type=int, default=128)
  p.add_argument("--episode-length", type=int, default=0, help="0: the env's own")
  p.add_argument("--eval-every", type=int, default=5)
  p.add_argument("--variants", default="", help="comma list (default: all)")
  p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
  p.add_argument("--out", default=RESULTS)
  a = p.parse_args()
  if a.quick:
    a.env, a.env_steps, a.seeds, a.population = "gymnax:CartPole-v1", 3000, 2, 16
    a.episode_length, a.eval_every = 50, 2
  action_size, discrete = env_spaces(a.env)
  table = variants(action_size, discrete)
  chosen = a.variants.split(",") if a.variants else list(table)
  rows, curves = [], {}
  for name in chosen:
    fields, module = table[name]
    fields = dict(env=a.env, population_size=a.population, env_steps=a.env_steps,
                  generations=None, eval_every=a.eval_every, eval_episodes=8,
                  num_seeds=a.seeds, **fields)
    if a.episode_length:
      fields["episode_length"] = a.episode_length
    c = common.es_curve(esjax.TrainConfig.of(**fields), policy_module=module)
    result = c.result
    evals = [m for m in c.evals if "eval_return_per_seed" in m]
    curves[name] = [(m["env_steps"], m["eval_return"]) for m in evals]
    final = np.array(evals[-1]["eval_return_per_seed"], np.float64)
    best = np.max([m["eval_return_per_seed"] for m in evals], axis=0)
    rows.append({"variant": name, "params": int(np.asarray(result.flat_params).shape[-1]),
                 "final_eval_mean": float(final.mean()), "final_eval_std": float(final.std()),
                 "best_eval_mean": float(best.mean()), "env_steps": evals[-1]["env_steps"],
                 "wall_s": round(c.wall_s, 1)})
    common.log(rows[-1])
  os.makedirs(a.out, exist_ok=True)
  plot(curves, a, os.path.join(a.out, "parameterization.png"))
  common.write_results(
      "parameterization", "Claim 5: the policy's parameterization at equal budget", rows,
      [f"{a.env}, OpenAI-ES with esjax's defaults (pop {a.population}, sigma 0.05, Adam 0.02, "
       f"centered ranks, mirrored), {a.env_steps:,} env steps per seed, {a.seeds} seeds "
       f"vmapped in one run; evaluation every {a.eval_every} generations over 8 episodes; "
       "final_eval is the last evaluation (mean and std over seeds), best_eval the best "
       "evaluation of each seed, averaged.",
       "Every variant has 2 hidden layers of 32 tanh units; mlp+vbn adds VBN's scale and "
       "offset per unit and drops the hidden biases (a few more parameters)."],
      out_dir=a.out)


def plot(curves, a, path):
  plt = common.pyplot()
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for name, curve in curves.items():
    if curve:
      ax.plot(*zip(*curve), marker="o", markersize=3, label=name)
  ax.set_xlabel("env steps (per seed)")
  ax.set_ylabel(f"evaluation return (mean of {a.seeds} seeds)")
  ax.set_title(f"Claim 5: parameterization, {a.env}")
  ax.legend(fontsize="small")
  common.save_figure(fig, path)


if __name__ == "__main__":
  main()
