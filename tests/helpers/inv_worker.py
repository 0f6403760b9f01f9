"""One process of the layout-invariance runs of invariance/test_bitwise.py (no pytest inside).

usage: python inv_worker.py OUT.json DEVICES KIND [COORDINATOR NUM_PROCESSES PROCESS_ID]
KIND "brax": the default run (hopper, spring, pop 256, 1000-step episodes) for 10 generations
on every mesh size in LAYOUTS (a comma list, default: all devices), plus, with RESUME=A,B, 5
generations on A devices, a checkpoint, and 5 more resumed on B. KIND "black_box": the same
on a small noisy quadratic; KIND "vbn": on gymnax CartPole with virtual batch norm. LANES=N
(or "auto": lanes=None) runs the episodes in lanes. Writes the final params and the metrics of
each run (and, with VBN, its reference batch).
"""
import json
import os
import sys
import tempfile

out, devices, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           f" --xla_force_host_platform_device_count={devices}")
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from esjax.core import multihost  # noqa: E402

if len(sys.argv) > 4:
  coordinator, n, pid = sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
  multihost.initialize(multihost.DistributedConfig(coordinator, n, pid, init_timeout_s=120,
                                                   heartbeat_s=30, shutdown_timeout_s=30))

import esjax  # noqa: E402

# Equal programs compile once: a process runs several meshes and a resumed run whose HLO
# repeats an earlier one.
jax.config.update("jax_compilation_cache_dir", tempfile.mkdtemp(prefix="esjax-inv-cache-"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

GENS = 10
TIMING = ("wall_s", "steps_per_s")
if kind == "brax":
  BASE = esjax.TrainConfig().replace(generations=GENS)  # the default run, cut to 10 generations
  PROBLEM = {}
elif kind == "vbn":
  BASE = esjax.TrainConfig.of(env="gymnax:CartPole-v1", vbn=True, population_size=16,
                              hidden_sizes=(8, 8), sigma=0.1, learning_rate=0.05,
                              member_chunk=4, eval_every=0, generations=GENS,
                              episode_length=100)
  PROBLEM = {}
else:
  TARGET = jnp.linspace(-1.0, 1.0, 40)
  BASE = esjax.TrainConfig.of(population_size=16, generations=GENS, eval_every=5,
                              eval_episodes=3, normalize_obs=False, sigma=0.1,
                              learning_rate=0.05, seed=3, member_chunk=4)
  PROBLEM = dict(problem=esjax.black_box(
      lambda p, k: -jnp.sum((p - TARGET) ** 2) + 0.01 * jax.random.normal(k)),
      initial_params=jnp.zeros(40))
if os.environ.get("LANES"):
  BASE = BASE.replace(lanes=None if os.environ["LANES"] == "auto" else int(os.environ["LANES"]))


def record(result):
  out = {"params": result.flat_params.tolist(),
         "metrics": [{k: v for k, v in m.items() if k not in TIMING} for m in result.metrics]}
  if result.state.normalizer.vbn_batch is not None:
    out["vbn_batch"] = result.state.normalizer.vbn_batch.tolist()
  return out


runs = {}
layouts = os.environ.get("LAYOUTS")
for n in ([int(x) for x in layouts.split(",")] if layouts else [jax.device_count()]):
  runs[str(n)] = record(esjax.train(BASE.replace(num_devices=n), progress=False, **PROBLEM))
if os.environ.get("RESUME"):
  first, then = (int(x) for x in os.environ["RESUME"].split(","))
  run_dir = os.path.join(tempfile.mkdtemp(prefix="esjax-inv-"), "run")
  # Checkpoint after 5 generations and stop; a new process would resume the same way.
  esjax.train(BASE.replace(num_devices=first, generations=5), out_dir=run_dir, progress=False,
              tensorboard=False, **PROBLEM)
  runs["resumed"] = record(esjax.train(BASE.replace(num_devices=then), out_dir=run_dir,
                                       progress=False, tensorboard=False, resume=True,
                                       **PROBLEM))
runs["devices"] = jax.device_count()
runs["process"] = jax.process_index()
with open(out, "w") as f:
  json.dump(runs, f)
print(f"inv_worker: process {jax.process_index()} done", flush=True)
