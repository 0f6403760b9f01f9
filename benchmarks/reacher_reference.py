"""Reference returns for Brax reacher, to judge what a trained policy's return means.

Brax reacher pays, every step, minus the fingertip's distance to the target and minus
|action|^2, as Gym's Reacher does (Gym's episodes are 50 steps, Brax's 1000). How good a return
is depends on how much torque reaching costs on this physics, so this script measures two
references on the same random targets: doing nothing, and a hand-made controller, the
Jacobian-transpose PD law ``a = clip(kp * J(q)^T (target - tip) - kd * qdot, -1, 1)`` over a
grid of gains (the best of the grid is reported per episode length).

    python -m benchmarks.reacher_reference --lengths 50,200 --episodes 256
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from benchmarks import common

# Link lengths of Brax's reacher.xml (as Gym's): upper arm 0.1, forearm 0.11.
L1, L2 = 0.1, 0.11
GAINS = [(kp, kd) for kp in (2.0, 5.0, 10.0, 20.0, 50.0) for kd in (0.0, 0.05, 0.2)]


def pd_action(obs, kp, kd):
  """Torques pulling the fingertip toward the target. Brax reacher's observation: cos q (2),
  sin q (2), target x, y, qdot (2), tip - target (3)."""
  c0, c1, s0, s1 = obs[0], obs[1], obs[2], obs[3]
  c01, s01 = c0 * c1 - s0 * s1, s0 * c1 + c0 * s1
  jac = jnp.array([[-L1 * s0 - L2 * s01, -L2 * s01], [L1 * c0 + L2 * c01, L2 * c01]])
  return jnp.clip(kp * jac.T @ (-obs[8:10]) - kd * obs[6:8], -1.0, 1.0)


def make_rollout(env, length):
  def rollout(key, kp, kd):
    def step(carry, _):
      state, ret, dist = carry
      state = env.step(state, pd_action(state.obs, kp, kd))
      return (state, ret + state.reward, dist + state.metrics["reward_dist"]), None
    init = (env.reset(key), jnp.zeros(()), jnp.zeros(()))
    (_, ret, dist), _ = jax.lax.scan(step, init, None, length=length)
    return ret, dist
  return jax.jit(jax.vmap(rollout, in_axes=(0, None, None)))


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--lengths", default="50,200", help="episode lengths, comma-separated")
  p.add_argument("--episodes", type=int, default=256)
  p.add_argument("--seed", type=int, default=0)
  a = p.parse_args()
  from brax import envs
  env = envs.get_environment("reacher", backend="generalized")
  keys = jax.random.split(jax.random.key(a.seed), a.episodes)
  rows = []
  for length in [int(x) for x in a.lengths.split(",")]:
    rollout = make_rollout(env, length)
    results = {}
    for g in [(0.0, 0.0)] + GAINS:
      ret, dist = rollout(keys, *g)
      results[g] = float(ret.mean()), float(dist.mean()), float(ret.std())
    best = max(GAINS, key=lambda g: results[g][0])
    for name, g in (("no action", (0.0, 0.0)), ("best Jacobian-transpose PD", best)):
      ret, dist, std = results[g]
      rows.append({"episode_length": length, "policy": name, "kp": g[0], "kd": g[1],
                   "return": round(ret, 2), "return_std": round(std, 2),
                   "distance_part": round(dist, 2), "control_part": round(ret - dist, 2)})
      common.log(rows[-1])
  common.write_results(
      "reacher_reference", "Brax reacher (generalized): reference returns", rows,
      [f"{a.episodes} episodes per row, the same random targets for every policy.",
       "return = distance_part (minus the fingertip-target distance, summed) + control_part "
       "(minus |action|^2, summed).",
       "The PD row is the best of kp in {2, 5, 10, 20, 50} x kd in {0, 0.05, 0.2} by mean "
       "return; stronger gains reach closer but pay more in control than they gain."])


if __name__ == "__main__":
  main()
