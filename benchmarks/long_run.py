"""Long runs stay flat: host memory and time per generation over 100,000 generations.

    python -m benchmarks.long_run [--generations 100000] [--window 5000]

A black-box problem (a 100-parameter quadratic, population 16) trained through
``esjax.train`` with every output on: metrics.jsonl, TensorBoard events, checkpoints every
``--checkpoint-every`` generations, evaluation every ``--eval-every``. Every ``--window``
generations the script samples the process's resident memory (``/proc/self/statm``, the
current RSS, not the peak) and the wall time of the window. Flat means: the last window's
RSS and time per generation are within a few percent of the first steady window's.

Writes ``benchmarks/results/long_run.md`` (+ csv/json) and ``long_run.png``.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import jax.numpy as jnp

from benchmarks import common
import esjax


def rss_mb() -> float:
  with open("/proc/self/statm") as f:
    pages = int(f.read().split()[1])
  return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--generations", type=int, default=100_000)
  p.add_argument("--window", type=int, default=5_000)
  p.add_argument("--checkpoint-every", type=int, default=5_000)
  p.add_argument("--eval-every", type=int, default=1_000)
  p.add_argument("--generations-per-call", type=int, default=100)
  p.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
  a = p.parse_args()

  target = jnp.linspace(-1, 1, 100)
  problem = esjax.black_box(lambda x, k: -jnp.sum((x - target) ** 2))
  config = esjax.TrainConfig.of(population_size=16, sigma=0.05, learning_rate=0.01,
                                generations=a.generations, eval_every=a.eval_every,
                                eval_episodes=1, checkpoint_every=a.checkpoint_every,
                                keep_checkpoints=2, normalize_obs=False,
                                generations_per_call=a.generations_per_call)
  samples = []
  clock = {"t": time.perf_counter()}

  def on_record(rec):
    g = rec["generation"]
    if g % a.window == 0:
      now = time.perf_counter()
      samples.append({"generation": g, "rss_mb": rss_mb(),
                      "ms_per_generation": (now - clock["t"]) / a.window * 1e3,
                      "fitness": rec["pop_return_mean"]})
      clock["t"] = now
      common.log(samples[-1])

  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "run")
    esjax.train(config, out_dir=out, problem=problem, initial_params=jnp.zeros(100),
                progress=False, on_record=on_record)
    lines = sum(1 for _ in open(os.path.join(out, "metrics.jsonl")))
  first = samples[1] if len(samples) > 2 else samples[0]  # window 1 includes the compile
  last = samples[-1]
  notes = [
      f"Population 16, 100 parameters, {a.generations_per_call} generations per compiled call, "
      f"metrics.jsonl + TensorBoard on, evaluation every {a.eval_every}, checkpoints every "
      f"{a.checkpoint_every} (2 kept); metrics.jsonl ended with {lines:,} lines.",
      f"RSS {first['rss_mb']:.0f} MB at generation {first['generation']:,} and "
      f"{last['rss_mb']:.0f} MB at {last['generation']:,} "
      f"({last['rss_mb'] / first['rss_mb']:.3f}x); time per generation "
      f"{first['ms_per_generation']:.3f} ms and {last['ms_per_generation']:.3f} ms "
      f"({last['ms_per_generation'] / first['ms_per_generation']:.2f}x).",
      "The first window includes the compile and is left out of the comparison.",
  ]
  common.write_results("long_run", f"{a.generations:,} generations with checkpoints and logs",
                       samples, notes, out_dir=a.out)
  _plot(samples, os.path.join(a.out or common.RESULTS_DIR, "long_run.png"))


def _plot(samples, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  g = [s["generation"] for s in samples]
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
  ax1.plot(g, [s["rss_mb"] for s in samples], marker="o")
  ax1.set_xlabel("generation")
  ax1.set_ylabel("resident memory (MB)")
  ax1.set_ylim(bottom=0)
  ax2.plot(g[1:], [s["ms_per_generation"] for s in samples[1:]], marker="o")
  ax2.set_xlabel("generation")
  ax2.set_ylabel("ms per generation")
  ax2.set_ylim(bottom=0)
  fig.tight_layout()
  fig.savefig(path, dpi=110)


if __name__ == "__main__":
  main()
