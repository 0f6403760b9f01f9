"""A black-box ES run driven from a subprocess by rundir/test_checkpoint.py (no Brax compile).

usage: PYTHONPATH=. python tests/helpers/bb_run.py OUT_DIR {fresh,resume} [GENERATIONS] [CHECKPOINT_EVERY] [SLEEP_S]
Each generation sleeps SLEEP_S on the host so a test can signal or kill it mid-run; the final
flat params go to OUT_DIR/final_params.npy.
"""
import os
import sys
import time

import jax
import numpy as np
import jax.numpy as jnp

import esjax

NUM_PARAMS = 10


def fitness(params, key):
  # Noisy, so the rollout keys matter for exactness too.
  return -jnp.sum((params - 3.0) ** 2) + 0.1 * jax.random.normal(key)


def config(generations=30, checkpoint_every=5):
  return esjax.TrainConfig.of(population_size=16, generations=generations, eval_every=4,
                           eval_episodes=2, normalize_obs=False, sigma=0.1, learning_rate=0.05,
                           generations_per_call=3, checkpoint_every=checkpoint_every)


def main():
  out, mode = sys.argv[1], sys.argv[2]
  gens = int(sys.argv[3]) if len(sys.argv) > 3 else 30
  every = int(sys.argv[4]) if len(sys.argv) > 4 else 5
  sleep = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
  result = esjax.train(config(gens, every), out_dir=out, problem=esjax.black_box(fitness),
                       initial_params=jnp.zeros(NUM_PARAMS), progress=False,
                       on_record=lambda rec: time.sleep(sleep), resume=mode == "resume")
  np.save(os.path.join(out, "final_params.npy"), result.flat_params)
  print(f"finished interrupted={result.interrupted} generations={len(result.metrics)}",
        flush=True)


if __name__ == "__main__":
  main()
