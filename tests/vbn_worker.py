"""One process of test_vbn.py's multi-process check (no pytest inside).

usage: python vbn_worker.py OUT.npz DEVICES [COORDINATOR NUM_PROCESSES PROCESS_ID]
Trains CartPole with --vbn for 3 generations on every device of the job and saves this
process's reference batch, final params and population returns.
"""
import os
import sys

out, devices = sys.argv[1], int(sys.argv[2])
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           f" --xla_force_host_platform_device_count={devices}")
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import numpy as np  # noqa: E402

from esjax.parallel import multihost  # noqa: E402

if len(sys.argv) > 3:
  coordinator, n, pid = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
  multihost.initialize(multihost.DistributedConfig(coordinator, n, pid, init_timeout_s=120,
                                                   heartbeat_s=30, shutdown_timeout_s=30))

import esjax  # noqa: E402

config = esjax.TrainConfig.of(env="gymnax:CartPole-v1", vbn=True, population_size=16,
                              hidden_sizes=(8, 8), sigma=0.1, learning_rate=0.05,
                              member_chunk=4, eval_every=0, generations=3, episode_length=100)
with multihost.exit_on_job_failure():
  result = esjax.train(config, progress=False)
np.savez(out, vbn_batch=result.state.normalizer.vbn_batch, params=result.flat_params,
         returns=[r["pop_return_mean"] for r in result.metrics], processes=jax.process_count())
print(f"vbn_worker: process {jax.process_index()} done", flush=True)
