"""Throughput of one esjax generation against population size and device count.

Each point runs in its own subprocess (``XLA_FLAGS=--xla_force_host_platform_device_count=N``
must be set before JAX starts), with fixed-length episodes (``terminate_when_unhealthy=False``)
so every point simulates exactly pop x T env steps and steps/s compare equal work.

On the 2-core CPU the default keeps episodes short (T=20) and forced CPU devices share the same
two cores: the device sweep there shows the cost of the sharded code path, not a speed-up.
On a GPU host pass ``--platform gpu`` and the real device counts.

    python -m benchmarks.scaling                         # CPU default, ~6-8 min
    python -m benchmarks.scaling --episode-length 1000 --populations 256,1024,4096,16384 \
        --devices 1 --platform gpu                        # one GPU
"""
from __future__ import annotations

import argparse
import json
import os
import time

from benchmarks import common


def worker(a):
  import jax
  from benchmarks.physics_limit import make_fixed_length_env
  import esjax
  from esjax.policies import make_policy
  from esjax.problems.brax import brax_problem
  from esjax.training import train as train_lib

  env = make_fixed_length_env(a.env, a.backend)
  config = esjax.TrainConfig.of(env=a.env, backend=a.backend, population_size=a.population,
                             episode_length=a.episode_length, hidden_sizes=(32, 32),
                             eval_every=0, num_devices=a.devices)
  policy, params = make_policy("mlp", int(env.observation_size), int(env.action_size),
                               config.policy.hidden_sizes, config.policy.activation, jax.random.PRNGKey(0))
  problem = brax_problem(env, policy, a.episode_length)
  s = train_lib.setup(config, problem=problem, initial_params=params)
  state = s.state
  t0 = time.perf_counter()
  state, buf, _ = s.run_generations(state, 1)
  common.block(buf)
  first = time.perf_counter() - t0
  times, cpus = [], []
  with common.CompileCounter() as cc:
    for _ in range(a.generations):
      t0, c0 = time.perf_counter(), time.process_time()
      state, buf, _ = s.run_generations(state, 1)
      common.block(buf)
      times.append(time.perf_counter() - t0)
      cpus.append(time.process_time() - c0)
  t = sorted(times)[len(times) // 2]
  c = sorted(cpus)[len(cpus) // 2]
  steps = a.population * a.episode_length
  print("RESULT " + json.dumps({
      "devices": jax.device_count(), "pop": a.population, "T": a.episode_length,
      "gen_s": t, "steps_per_s": steps / t, "gen_cpu_s": c, "steps_per_cpu_s": steps / c,
      "first_gen_s": first, "recompiles": cc.count,
      "device": jax.devices()[0].device_kind}), flush=True)


def spawn(a, devices: int, population: int):
  args = ["--worker", "--devices", str(devices), "--population", str(population),
          "--episode-length", str(a.episode_length), "--env", a.env, "--backend", a.backend,
          "--generations", str(a.generations)]
  forced = devices if a.platform == "cpu" else None
  return common.spawn("benchmarks.scaling", args, forced)["RESULT"]


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--env", default="hopper")
  p.add_argument("--backend", default="spring")
  p.add_argument("--populations", default="64,256,1024,4096")
  p.add_argument("--devices", default="1,2,4",
                 help="device counts for the device sweep (at --device-population)")
  p.add_argument("--device-population", type=int, default=1024)
  p.add_argument("--episode-length", type=int, default=20)
  p.add_argument("--generations", type=int, default=3)
  p.add_argument("--platform", default="cpu", choices=("cpu", "gpu"))
  p.add_argument("--out", default=None)
  p.add_argument("--name", default="scaling")
  p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  p.add_argument("--population", type=int, default=256, help=argparse.SUPPRESS)
  a = p.parse_args(argv)
  if a.worker:
    a.devices = int(a.devices)
    return worker(a)

  rows = []
  first_dev = int(a.devices.split(",")[0])
  for n in (int(x) for x in a.populations.split(",")):
    rows.append({"sweep": "population", **spawn(a, first_dev, n)})
    common.log(rows[-1])
  for d in (int(x) for x in a.devices.split(",")):
    rows.append({"sweep": "devices", **spawn(a, d, a.device_population)})
    common.log(rows[-1])
  for sweep in ("population", "devices"):
    group = [r for r in rows if r["sweep"] == sweep]
    for r in group:
      r["rel_throughput"] = r["steps_per_s"] / group[0]["steps_per_s"]
      r["rel_cpu_efficiency"] = r["steps_per_cpu_s"] / group[0]["steps_per_cpu_s"]
  cols = ["sweep", "devices", "pop", "T", "gen_s", "steps_per_s", "rel_throughput", "gen_cpu_s",
          "steps_per_cpu_s", "rel_cpu_efficiency", "first_gen_s", "recompiles", "device"]
  notes = [
      f"{a.env}/{a.backend}, MLP 32x32, fixed-length episodes of T={a.episode_length} steps "
      f"(non-terminating env), median of {a.generations} generations after the first; "
      "each row is a fresh subprocess.",
      "rel_throughput: wall steps/s relative to the first row of its sweep (load-sensitive on "
      "a shared machine); steps_per_cpu_s / rel_cpu_efficiency: env steps per process CPU-second "
      "(all threads), the work each step costs whatever the load.",
      "On a CPU, forced host devices split the same physical cores "
      f"({os.cpu_count()} here): the device sweep measures the sharded path's overhead and "
      "XLA's per-device threading, not more hardware.",
  ]
  common.write_results(a.name, "esjax throughput vs population and devices", rows, notes,
                       columns=cols, out_dir=a.out)


if __name__ == "__main__":
  main()
