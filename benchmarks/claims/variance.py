"""Claim 2 of Salimans et al. (2017, slides): the ES gradient estimate's variance does not depend
on the episode length T, while REINFORCE's, a sum of T score-function terms, grows with T.

Both estimators look at the same policy network (an MLP, tanh head) at the same parameter point,
on Brax hopper made non-terminating (``terminate_when_unhealthy=False``), so every episode lasts
exactly T steps:

* ES (OpenAI-ES, antithetic): the deterministic policy at ``theta +- sigma eps``,
  ``g = 1/(2 m sigma) sum_i (F(theta + sigma eps_i) - F(theta - sigma eps_i)) eps_i`` over m
  pairs (n = 2m episodes; both members of a pair share the reset key; raw returns, no rank
  shaping, so the estimator is the plain one the claim is about);
* REINFORCE: the Gaussian policy ``a = mu_theta(s) + std * xi``,
  ``g = 1/n sum_i (R_i - b) grad_theta sum_{t<T} log pi(a_t | s_t)`` over n episodes, with
  ``b = 0`` and with a constant baseline ``b`` = the mean return at that T over all R x n
  REINFORCE episodes of the run. The score is the gradient of the log-probabilities of the
  recorded (obs, action) pairs only: nothing is differentiated through the physics.

One rollout of ``T_max`` steps per episode gives every shorter T at once (the first T steps of a
T_max-step episode are a T-step episode), so one compile serves every T. R independent
estimates (fresh noise, fresh reset keys) of each estimator give, per T:

* ``trcov``: tr Cov(g) = the mean squared deviation of the R estimates from their mean (R - 1
  in the denominator): the raw variance, in (return / parameter)^2 units;
* ``signal2``: ||E g||^2, estimated without bias as ||mean||^2 - trcov / R;
* ``relvar`` = trcov / signal2: the relative variance, i.e. the inverse signal-to-noise ratio of
  one estimate from n episodes. Returns (and so both gradients) grow with T, so raw variances
  are not comparable across T or between the two estimators (which differentiate different
  objectives: the smoothed return of a deterministic policy vs the expected return of a
  stochastic one). The relative variance is scale-free, and ``n * relvar`` is the number of
  episodes an estimate needs for a signal-to-noise ratio of 1: the cost that matters;
* ``trcov_per_return_var`` = trcov / Var(returns at T): the variance per unit of return
  spread, the slide's argument isolated (ES multiplies returns by ``eps``, whose norm does not
  depend on T; REINFORCE by a score whose squared norm grows like T).

    python -m benchmarks.claims.variance            # T = 50..1000, n = 64, R = 32 (~5-10 min)
    python -m benchmarks.claims.variance --quick    # T = 20, 50, tiny n and R

Writes ``benchmarks/results/claims/variance.md`` (+ csv/json) and ``variance.png``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import time

import esjax  # noqa: F401  (first: esjax sets XLA flags before JAX starts)
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from esjax.policies import make_policy

with contextlib.redirect_stdout(io.StringIO()):
  from brax import envs as brax_envs  # noqa: E402

RESULTS = os.path.join(common.RESULTS_DIR, "claims")
ESTIMATORS = ("es", "reinforce", "reinforce_baseline")


def make_rollout(env, policy, t_max: int):
  """(params, key, action_std) -> obs [t_max, O], actions [t_max, A], rewards [t_max]."""

  def rollout(params, key, action_std):
    k_reset, k_act = jax.random.split(key)
    state = env.reset(k_reset)
    xi = jax.random.normal(k_act, (t_max, env.action_size))

    def body(s, x):
      obs = s.obs
      act = policy.apply(params, obs) + action_std * x
      s = env.step(s, act)
      return s, (obs, act, s.reward)

    _, (obs, act, rew) = jax.lax.scan(body, state, xi)
    return obs, act, rew

  return rollout


def build(env, policy, t_max: int, horizons, n: int, sigma: float, action_std: float):
  """Returns ``fn(theta, keys)``: for each key, one independent estimate of each estimator at
  every horizon, from n episodes each: (g_es [H, P], ES returns [n, H], REINFORCE returns
  [n, H], sum_i R_i score_i [H, P], sum_i score_i [H, P]), stacked over the keys."""
  rollout = make_rollout(env, policy, t_max)
  hs = jnp.asarray(horizons)
  m = n // 2

  def scores(theta, obs, act):
    """grad_theta sum_{t<T} log N(act_t; mu_theta(obs_t), std^2) for every T: [H, P]."""
    mu, vjp = jax.vjp(lambda p: jax.vmap(lambda o: policy.apply(p, o))(obs), theta)
    dlogp_dmu = (act - mu) / action_std**2  # [t_max, A]
    mask = (jnp.arange(t_max)[None, :] < hs[:, None]).astype(mu.dtype)  # [H, t_max]
    return jax.vmap(lambda w: vjp(w[:, None] * dlogp_dmu)[0])(mask)

  def one(theta, key):
    k_eps, k_es, k_rf = jax.random.split(key, 3)
    # Every episode of both estimators in one vmapped rollout (one copy of the physics to
    # compile): ES's m pairs theta +- sigma eps (a pair shares its reset key), then
    # REINFORCE's n episodes of the Gaussian policy at theta.
    eps = jax.random.normal(k_eps, (m, theta.shape[0]))
    es_keys = jax.random.split(k_es, m)
    params = jnp.concatenate([theta + sigma * eps, theta - sigma * eps,
                              jnp.broadcast_to(theta, (n, theta.shape[0]))])
    keys = jnp.concatenate([es_keys, es_keys, jax.random.split(k_rf, n)])
    stds = jnp.concatenate([jnp.zeros(2 * m), jnp.full(n, action_std)])
    obs, act, rew = jax.vmap(rollout)(params, keys, stds)
    returns = jnp.cumsum(rew, 1)[:, hs - 1]  # [2m + n, H]
    cp, cm, ret_rf = returns[:m], returns[m:2 * m], returns[2 * m:]
    g_es = jnp.einsum("mh,mp->hp", cp - cm, eps) / (2 * m * sigma)
    ret_es = jnp.concatenate([cp, cm], 0)  # [n, H]
    s = jax.vmap(lambda o, a: scores(theta, o, a))(obs[2 * m:], act[2 * m:])  # [n, H, P]
    # REINFORCE without a baseline here; the baseline version needs the pooled mean return,
    # so it is formed after all repeats: sum_i R_i s_i and sum_i s_i are enough for both.
    sum_rs = jnp.einsum("nh,nhp->hp", ret_rf, s)
    sum_s = s.sum(0)
    return g_es, ret_es, ret_rf, sum_rs, sum_s

  return jax.jit(lambda theta, keys: jax.lax.map(lambda k: one(theta, k), keys))


def stats(g: np.ndarray) -> dict:
  """g: [R, P] independent estimates -> tr Cov, unbiased ||E g||^2, relative variance."""
  r = g.shape[0]
  mean = g.mean(0)
  trcov = float(((g - mean) ** 2).sum() / (r - 1))
  signal2 = float((mean**2).sum() - trcov / r)
  return {"trcov": trcov, "signal2": signal2,
          "relvar": trcov / signal2 if signal2 > 0 else float("nan")}


def slope(xs, ys) -> float:
  pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if y > 0 and math.isfinite(y)]
  if len(pts) < 2:
    return float("nan")
  return float(np.polyfit(*zip(*pts), 1)[0])


def plot(rows, path, a):
  plt = common.pyplot()
  fig, axes = plt.subplots(1, 3, figsize=(14, 4))
  for est, style in zip(ESTIMATORS, ("-o", "-s", "--^")):
    rs = [r for r in rows if r["estimator"] == est]
    ts = [r["T"] for r in rs]
    for ax, key in zip(axes, ("relvar", "trcov_per_return_var", "trcov")):
      ax.plot(ts, [r[key] if r[key] > 0 else np.nan for r in rs], style, label=est)
  titles = (f"relative variance tr Cov / ||E g||^2 (n = {a.episodes})",
            "tr Cov / Var(return)", "raw tr Cov")
  for ax, title in zip(axes, titles):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("episode length T")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
  axes[0].legend(fontsize=8)
  fig.suptitle(f"{a.env}/{a.backend}, MLP {a.hidden}, sigma {a.sigma}, action std "
               f"{a.action_std}, R = {a.repeats} estimates per point", fontsize=9)
  common.save_figure(fig, path)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--env", default="hopper")
  p.add_argument("--backend", default="spring")
  p.add_argument("--horizons", default="50,100,200,500,1000", help="episode lengths T")
  p.add_argument("--episodes", type=int, default=64, help="n: episodes per estimate")
  p.add_argument("--repeats", type=int, default=32, help="R: independent estimates per T")
  p.add_argument("--sigma", type=float, default=0.02, help="ES parameter noise std")
  p.add_argument("--action-std", type=float, default=0.1, help="REINFORCE action noise std")
  p.add_argument("--hidden", default="32,32")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--quick", action="store_true", help="T = 20, 50, tiny n and R")
  p.add_argument("--out", default=RESULTS)
  a = p.parse_args()
  if a.quick:
    a.horizons, a.episodes, a.repeats = "20,50", 8, 6
  horizons = sorted(int(x) for x in a.horizons.split(","))
  hidden = tuple(int(x) for x in a.hidden.split(","))
  if a.episodes % 2:
    p.error("--episodes must be even (antithetic pairs)")

  env = brax_envs.get_environment(a.env, backend=a.backend, terminate_when_unhealthy=False)
  policy, theta = make_policy("mlp", int(env.observation_size), int(env.action_size), hidden,
                              "tanh", jax.random.PRNGKey(a.seed))
  fn = build(env, policy, horizons[-1], horizons, a.episodes, a.sigma, a.action_std)
  keys = jax.random.split(jax.random.PRNGKey(a.seed + 1), a.repeats)
  t0 = time.perf_counter()
  g_es, ret_es, ret_rf, sum_rs, sum_s = (np.asarray(x, np.float64) for x in
                                         common.block(fn(theta, keys)))
  wall = time.perf_counter() - t0
  common.log(f"{a.repeats} x {a.episodes} episodes x 2 estimators, T_max {horizons[-1]}: "
             f"{wall:.1f} s (compile included)")

  n = a.episodes
  rows = _rows(a, horizons, g_es, ret_es, ret_rf, sum_rs, sum_s)
  slopes = {est: {k: slope([r["T"] for r in rows if r["estimator"] == est],
                           [r[k] for r in rows if r["estimator"] == est])
                  for k in ("relvar", "trcov_per_return_var", "trcov")} for est in ESTIMATORS}
  ratio = {est: [r["relvar"] for r in rows if r["estimator"] == est] for est in ESTIMATORS}
  os.makedirs(a.out, exist_ok=True)
  plot(rows, os.path.join(a.out, "variance.png"), a)
  common.write_results(
      "variance", "Claim 2: gradient-estimator variance against episode length T (ES vs "
      "REINFORCE)", rows,
      _notes(a, hidden, theta.shape[0], slopes, wall, horizons),
      out_dir=a.out, extra={"slopes": slopes, "relvar_by_T": ratio, "horizons": horizons,
                            "settings": vars(a) | {"num_params": int(theta.shape[0])},
                            "es_smooth_relvar": (theta.shape[0] + 1) / (n // 2)})


def _rows(a, horizons, g_es, ret_es, ret_rf, sum_rs, sum_s) -> list[dict]:
  """One row per (estimator, T): the spread of the R estimates and of the returns."""
  n = a.episodes
  rows = []
  for h, T in enumerate(horizons):
    b = ret_rf[:, :, h].mean()  # the constant baseline: mean return over all R x n episodes
    per = {"es": (g_es[:, h], ret_es[:, :, h]),
           "reinforce": (sum_rs[:, h] / n, ret_rf[:, :, h]),
           "reinforce_baseline": ((sum_rs[:, h] - b * sum_s[:, h]) / n, ret_rf[:, :, h])}
    for est, (g, ret) in per.items():
      s = stats(g)
      rvar = float(ret.var(ddof=1))
      rows.append({"estimator": est, "T": T, "n": n, "R": a.repeats,
                   "return_mean": float(ret.mean()), "return_std": math.sqrt(rvar),
                   "trcov": s["trcov"], "signal2": s["signal2"], "relvar": s["relvar"],
                   "episodes_for_snr1": n * s["relvar"],
                   "trcov_per_return_var": s["trcov"] / rvar})
      common.log(rows[-1])
  return rows


def _notes(a, hidden, num_params: int, slopes, wall: float, horizons) -> list[str]:
  n = a.episodes
  return [
      f"{a.env}/{a.backend} with terminate_when_unhealthy=False (every episode lasts T "
      f"steps), MLP {hidden} tanh ({num_params} parameters) at its initial point "
      f"(seed {a.seed}), raw observations (no normalizer), for both estimators.",
      f"Each row: R = {a.repeats} independent estimates, each from n = {n} episodes (ES: "
      f"{n // 2} antithetic pairs, sigma {a.sigma}, deterministic policy, raw returns; "
      f"REINFORCE: Gaussian actions, std {a.action_std}, score of the recorded (obs, action) "
      "pairs; reinforce_baseline subtracts the mean return at T over all R x n episodes).",
      "trcov = tr Cov of the R estimates (R - 1 denominator); signal2 = ||mean||^2 - trcov/R "
      "(unbiased ||E g||^2); relvar = trcov / signal2 (nan where signal2 <= 0: the signal is "
      "below the noise floor of R estimates); episodes_for_snr1 = n x relvar; "
      "trcov_per_return_var = trcov / Var(return at T).",
      f"Reference: for a return smooth at the scale sigma, antithetic ES gives g ~ (1/m) "
      f"sum eps eps^T grad F, whose relvar is (P + 1) / m = {(num_params + 1) / (n // 2):.1f}"
      " (P parameters, m pairs) whatever T is; a larger ES relvar means the return is not "
      "smooth at that scale (here: the hopper falls at perturbation-dependent times).",
      "relvar is the comparable measure: both gradients grow with the return scale, and the "
      "two estimators differentiate different objectives (Gaussian-smoothed return of the "
      "deterministic policy vs expected return of the stochastic policy).",
      "Log-log slopes against T (0 = independent of T, 1 = linear): " + "; ".join(
          f"{est}: relvar {v['relvar']:.2f}, trcov/Var(R) {v['trcov_per_return_var']:.2f}, "
          f"trcov {v['trcov']:.2f}" for est, v in slopes.items()) + ".",
      f"Wall time {wall:.0f} s for all rows (one compile, one rollout of T_max = "
      f"{horizons[-1]} steps per episode serves every T).",
  ]


if __name__ == "__main__":
  main()
