"""Where a rollout's time goes beyond bare physics: one piece added at a time.

Variants (vmapped over the population, fixed T, non-terminating env), each adding one thing:
  scan zero        -- bare physics, constant actions (XLA may delete the unused observation)
  scan obs-action  -- actions a trivial function of the observation (it must be computed)
  scan policy      -- esjax's MLP with per-member parameters, in a lax.scan
  while policy     -- the same in a per-member while_loop (esjax's rollout shape, no stats)
  esjax rollout    -- esjax.problems.brax.brax_problem (+ obs normalization and statistics)

    python -m benchmarks.profile_rollout                  # hopper on CPU, ~3 min
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from benchmarks import common
from benchmarks.physics_limit import make_fixed_length_env
from esjax.problems import normalizer as norm_lib
from esjax.policies import make_policy
from esjax.problems.brax import brax_problem


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--env", default="hopper")
  p.add_argument("--backend", default="spring")
  p.add_argument("--population", type=int, default=256)
  p.add_argument("--episode-length", type=int, default=100)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default=None)
  a = p.parse_args(argv)
  env = make_fixed_length_env(a.env, a.backend)
  pop, T, A = a.population, a.episode_length, env.action_size
  policy, params = make_policy("mlp", int(env.observation_size), A, (32, 32), "tanh",
                               jax.random.PRNGKey(0))
  cands = params[None] + 0.05 * jax.random.normal(jax.random.PRNGKey(1), (pop, params.shape[0]))
  keys = jax.random.split(jax.random.PRNGKey(0), pop)

  def scan_ep(act):
    def ep(prm, k):
      s = env.reset(k)

      def body(s, _):
        s = env.step(s, act(prm, s.obs))
        return s, s.reward
      return jax.lax.scan(body, s, None, length=T)[1].sum()
    return jax.jit(jax.vmap(ep))

  def while_ep(prm, k):
    s = env.reset(k)

    def body(c):
      s, t, r = c
      s = env.step(s, policy.apply(prm, s.obs))
      return s, t + 1, r + s.reward
    return jax.lax.while_loop(lambda c: c[1] < T, body, (s, 0, 0.0))[2]

  problem = brax_problem(env, policy, T)
  norm = norm_lib.init(int(env.observation_size))
  variants = [
      ("scan zero", scan_ep(lambda prm, o: jnp.zeros((A,)))),
      ("scan obs-action", scan_ep(lambda prm, o: 0.01 * jnp.tanh(o[:A]))),
      ("scan policy", scan_ep(policy.apply)),
      ("while policy", jax.jit(jax.vmap(while_ep))),
      ("esjax rollout", jax.jit(jax.vmap(lambda prm, k: problem.evaluate(prm, norm, k).ret))),
  ]
  for name, f in variants:
    common.timed(f, cands, keys)  # compile
  t = common.interleaved({name: (lambda f=f: f(cands, keys)) for name, f in variants}, a.repeats)
  base = t["scan zero"]["cpu"]
  rows = [{"variant": name, "cpu_s": t[name]["cpu"], "wall_s": t[name]["wall"],
           "steps_per_cpu_s": pop * T / t[name]["cpu"], "vs_scan_zero": t[name]["cpu"] / base}
          for name, _ in variants]
  notes = [f"{a.env}/{a.backend}, population {pop}, T={T}, non-terminating env, MLP 32x32; "
           f"round-robin medians of {a.repeats} compiled calls; cpu_s = process CPU seconds "
           "(load-robust on a shared machine), vs_scan_zero = cpu_s / the bare scan's."]
  common.write_results(f"profile_rollout_{a.env}", f"Rollout cost breakdown ({a.env})", rows,
                       notes, out_dir=a.out)


if __name__ == "__main__":
  main()
