"""One process of a multi-process (or single-process) ES run on forced CPU devices.

Usage: python mp_worker.py OUT.npz DEVICES [COORDINATOR NUM_PROCESSES PROCESS_ID]
Trains a black-box problem a few generations and saves this process's final params.
Kept importable-free of pytest so the tests can launch it as a plain subprocess.

Environment: GENS, SEEDS, COMM, SIGMA as the config's; DIM the parameter count (50); RUN_DIR (``{process}`` becomes this process's
index: a directory per host), CHECKPOINT_EVERY, RESUME=1; faults at generation DIE_AFTER_GEN on
process DIE_PROCESS: SIGKILL, or with LINK_DOWN=IFNAME that host's network link taken down.
"""
import os
import sys

out, devices = sys.argv[1], int(sys.argv[2])
# FMA off, as esjax sets it when imported first: the bits then match across layouts, so a
# job resumed on another number of hosts continues the same run.
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices} --xla_cpu_max_isa=AVX"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from esjax.core import multihost as distributed  # noqa: E402

if len(sys.argv) > 3:
  coordinator, n, pid = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
  distributed.initialize(distributed.DistributedConfig(coordinator, n, pid, init_timeout_s=60,
                                                       heartbeat_s=5, shutdown_timeout_s=5))

import esjax  # noqa: E402

DIM = int(os.environ.get("DIM", 50))
TARGET = jnp.linspace(-1.0, 1.0, DIM)


def fitness(params, key):
  # A noisy objective, so the per-member rollout keys matter too.
  return -jnp.sum((params - TARGET) ** 2) + 0.01 * jax.random.normal(key)


config = esjax.TrainConfig.of(population_size=16, generations=int(os.environ.get("GENS", 6)),
                           eval_every=0, normalize_obs=False,
                           sigma=float(os.environ.get("SIGMA", 0.1)), learning_rate=0.05,
                           seed=3, num_seeds=int(os.environ.get("SEEDS", 1)),
                           comm=os.environ.get("COMM", "returns"),
                           checkpoint_every=int(os.environ.get("CHECKPOINT_EVERY", 0)))
die = os.environ.get("DIE_AFTER_GEN")  # fault injection: process DIE_PROCESS kills itself
victim = int(os.environ.get("DIE_PROCESS", 1))


link = os.environ.get("LINK_DOWN")


def on_record(rec):
  if die is None or rec["generation"] != int(die) or jax.process_index() != victim:
    return
  import time  # noqa: E402
  if link:  # from inside this host's namespace: the cable is cut, the process lives on
    import subprocess  # noqa: E402
    subprocess.run(["ip", "link", "set", "dev", link, "down"], check=True)
    print(f"worker: process {victim} link down at {time.time():.3f}", flush=True)
    return
  print(f"worker: process {victim} dies at {time.time():.3f}", flush=True)
  os.kill(os.getpid(), 9)


lag = float(os.environ.get("LAG_S", 0))  # process LAG_PROCESS starts training this late
if lag and jax.process_index() == int(os.environ.get("LAG_PROCESS", 1)):
  import time  # noqa: E402
  time.sleep(lag)

with distributed.exit_on_job_failure():
  result = esjax.train(config, problem=esjax.black_box(fitness), initial_params=jnp.zeros(DIM),
                       progress=False, on_record=on_record, resume=bool(os.environ.get("RESUME")),
                       out_dir=os.environ.get("RUN_DIR", "").format(process=jax.process_index())
                       or None)
np.savez(out, params=result.flat_params, returns=[r["pop_return_mean"] for r in result.metrics],
         process=jax.process_index(), processes=jax.process_count(), devices=jax.device_count())
print(f"worker: process {jax.process_index()} of {jax.process_count()} done, "
      f"{jax.device_count()} devices", flush=True)
