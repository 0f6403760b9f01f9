"""Rewrites docs/benchmarks.md from benchmarks/results/*.md (the README links to it).

    python -m benchmarks.readme_section     # after running the benchmark scripts
"""
from __future__ import annotations

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDER = ["physics_limit", "profile_rollout_hopper", "peers", "noise", "scaling", "comm",
         "cpu_split", "reproducible", "strategies_rl", "strategies_ask_tell", "compile_cache",
         "long_run", "large", "large_curves", "presets", "presets_gpu", "reacher_reference"]
INTRO = """# Benchmarks

`benchmarks/` puts esjax next to the physics limit and its peers, each table written by one
command to `benchmarks/results/` (markdown, CSV and JSON, with the machine, JAX version and
device). The tables below come from a 2-core CPU shared with other jobs: read the ratios within
one table, not the absolute times. `bash benchmarks/gpu.sh check|limit|peers|humanoid|presets`
runs the same suite with GPU-sized settings on a GPU machine (see the script's header); its
`presets` part ran on an H200 on 2026-11-26 (the GPU table below).

| script | what it measures |
| --- | --- |
| `benchmarks/physics_limit.py` | one esjax generation vs bare vmapped Brax physics; first-generation compile and recompiles |
| `benchmarks/peers.py` | esjax vs Brax's ES trainer vs evosax `Open_ES` on hopper at one budget |
| `benchmarks/noise.py` | ask/tell cost of key-derived noise (threefry, rbg) vs a shared noise table |
| `benchmarks/scaling.py` | generation throughput vs population and (forced) device count |
| `benchmarks/profile_rollout.py` | where a rollout's time goes beyond bare physics, one piece at a time |
| `benchmarks/gpu.sh` | all of the above with GPU-sized settings, plus a humanoid run |
| `benchmarks/comm.py` | bytes per mesh axis and time per generation of every `--comm` mode on 4 forced CPU devices |
| `benchmarks/cpu_split.py` | the default run on one CPU device vs esjax's default of one device per core |
| `benchmarks/reproducible.py` | what bit-for-bit layout invariance costs (member chunks, FMA off) |
| `benchmarks/strategies.py` | every strategy on hopper and halfcheetah; ask+tell against evosax |
| `benchmarks/compile_cache.py` | first vs second start with the persistent compilation cache |
| `benchmarks/long_run.py` | host memory and time per generation over 100,000 generations |
| `benchmarks/large.py` | full-rank vs low-rank (EGGROLL) perturbations: cost per generation from 10⁴ to 10⁷ parameters, and quality at equal budget |
| `benchmarks/presets.py` | presets trained with their exact command (`--recorded`: runs made on a GPU machine) |
| `benchmarks/reacher_reference.py` | Brax reacher's reference returns: no action and a hand-tuned PD controller |
| `benchmarks/gpu_check.py` | the same tiny run on a GPU and on the host CPU agree |
| `benchmarks/claims/*.py` | the paper's claims (README "The paper's claims, measured"), tables under `benchmarks/results/claims/` |

Timing on a shared machine: each script times its variants round-robin and reports process
CPU seconds (all threads) next to wall seconds; the ratios use CPU seconds, which count the work
done whatever else the machine runs (wall-time ratios between runs minutes apart moved by 2x
here as other jobs came and went).

`peers.py` also needs `pip install evosax` (0.3.2 here; Brax's ES trainer comes with brax).
`python -m benchmarks.readme_section` rebuilds this page from `benchmarks/results/*.md`. What the
comm-mode numbers mean for choosing `--comm` is in [scaling.md](scaling.md).
"""


FINDINGS = """## What the tables say (2-core CPU, 2026-11-23)

- **Physics limit.** At population 256 (T=100, fixed-length episodes) one esjax generation
  costs 1/0.974 of bare vmapped physics on ant and 1/0.949 on hopper (target >= 0.9: met on
  both), measured on a quiet machine after the rollout took the normalizer's mean/std out of
  its per-step loop. An earlier run at load ~4, before that change, gave 0.954 (ant) and 0.85
  (hopper); the two changes (code, load) were not separated. The ES part (ask + tell + Adam) is
  1.5% of a hopper generation; the rollout breakdown puts the policy in esjax's per-member
  while_loop at 1.05x bare physics and the whole esjax rollout (plus observation
  normalization, per-step observation statistics and finiteness checks) at 1.04x (within noise). Hopper's
  spring step is cheap (~10 us of CPU per member-step, ant ~55 us), so small per-step ops
  weigh more there than on ant.
- **Compiles.** The first generation (trace + compile) takes 24-30 s; the timed generations
  after it trigger 0 XLA compilations (counted with `jax.monitoring`), in every script.
- **Peers.** At an equal budget of 1M live env steps on hopper (pop 256, T=200), esjax
  reaches the highest return (576 vs evosax 510 vs Brax 442 on the same deterministic
  evaluation) and the threshold (pop-mean 150) first: 58k live steps vs 82k (evosax) and 112k
  (Brax, coarse). Steady-state throughput per CPU-second: esjax 1.01x Brax and 1.15x evosax:
  the 1.2x target is missed. In the second half of the run every hopper survives all 200
  steps, so every method simulates the same steps and all three sit at the physics limit
  (~85k steps per CPU-second); esjax's early exit only pays while episodes end early. Compile:
  esjax 89 s, evosax 86 s, Brax 229 s.
- **Noise.** A shared noise table (offset drawn from the member's key, so the noise is still
  decided by (seed, generation, index)) is 3.8x-53x faster than threefry normals for ask+tell.
  `rbg` / `unsafe_rbg` keys are 2.4-5x *slower* on CPU and, under `vmap`, give the same key
  different bits depending on its place in the batch: tell's chunked rebuild then differs from
  what ask used, which breaks esjax's contract. Not made a config option: at the default policy
  (~1.5k parameters) ask+tell is ~1.5% of a generation, so the table would save about that.
- **Scaling (CPU, T=20).** One CPU device runs the generation on one core (CPU seconds =
  wall seconds). Env steps per CPU-second peak at population 256 and fall to 0.77x of the
  pop-64 figure at 4096 (likely cache pressure of larger vmapped batches; not profiled). Splitting pop 1024 over 4
  forced CPU devices uses both cores and smaller per-device batches: 3.6x the wall-clock
  throughput of one device (1.8x per CPU-second). No recompilation anywhere. GPU figures:
  `benchmarks/gpu.sh` (only its `presets` part has run, see below).
- **Comm modes (4 forced CPU devices).** Bytes: returns mode always, by 5x (pop 256, 1k
  params) to 3000x (pop 32, 100k params): it moves `4 x pop` bytes, gradient mode adds
  `4 x params`. Time, where sending is a memcpy: gradient mode, 1.3-2.2x faster in every cell
  but the smallest (pop 32, 1k params), because returns mode makes every device regenerate all
  `pop x params` noise values while gradient mode splits that work. Below the break-even link
  bandwidth (0.9-15 MB/s for CPU noise generation here) returns mode is faster as well. The
  default run moves 2,140 B/gen with `returns` and 8,296 B/gen with `gradient` (from its HLO on
  4 devices).

## What the newer tables say (2-core CPU, 2026-11-25)

- **One device per core.** The default run on the CPU split into 2 devices (esjax's default
  now) against one device, one after the other: 218 s vs 355 s from the command's start
  (1.63x), 112 s vs 150 s to an evaluation return of 1000 (1.34x; the first 20 generations
  include the compile), and the same final params, byte for byte.
- **Reproducibility costs nothing measurable.** Chunks of 64 with FMA off against the old
  whole-slice vmap with FMA on: 0.995x the CPU seconds per generation on hopper and 0.77x on ant
  (chunks stop at their own last live member). FMA alone moved hopper +11% and ant -1%, within
  this machine's noise.
- **Strategies.** At 500k env steps per seed (3 seeds, pop 64) `snes` and `sep_cma_es` led on
  hopper (1078, 1079) and `snes` on halfcheetah (555); `open_es` was within one std of the best
  on both, with the smallest spread on hopper. esjax's ask+tell takes 1.1-2.5x evosax's CPU
  time for the same strategy, because tell rebuilds the noise from keys (docs/strategies.md).
- **Long runs stay flat.** 100,000 generations with every output on: RSS 458 -> 460 MB, time
  per generation 2.2-3.0 ms with no trend. Records now stream to metrics.jsonl instead of
  piling up in memory (before the change: 470 -> 516 MB over 55,000 generations).

## What one GPU did (NVIDIA H200, jax 0.11.2, 2026-11-26)

The first lent GPU, 15 minutes of device time in all, went to the presets a CPU cannot finish:
`bash benchmarks/gpu.sh presets` ran `esjax train --preset ant` and `--preset humanoid` with
their exact commands, cut at a shared deadline, and `python -m benchmarks.presets ant humanoid
--recorded DIR --machine-json DIR/machine.json` tabled what came back
([presets_gpu.md](../benchmarks/results/presets_gpu.md), curves under
[presets/](../benchmarks/results/presets/)).

- **Humanoid passed 6000 in under 4 minutes** (claim 7): generation 110, 106M env steps, 187 s
  of training, ~225 s from the command's start; 6222 ± 6 at 142M steps when cut (137 of 500
  generations). Population 2048, 2×256 tanh, the paper's σ/lr/L2; 0.62M env steps/s overall,
  evaluations included.
- **Ant reached 3892** by generation 230 (114M env steps, 207 s), still rising when cut at 238
  of 400; 0.55M env steps/s (population 512 leaves most of the GPU idle).
- **GPU vs CPU, the same run:** the 30-generation black-box check of `benchmarks/gpu_check.py`
  (population 64, `member_chunk` 1) ended with params within 1.5e-7 of the CPU run's.
- **A crash to know of (fixed):** on that machine's image (Python 3.12, jax/jaxlib 0.11.2 with the
  CUDA 13 plugin), `JAX_PLATFORMS=cpu` with 2 or more CPU devices segfaulted inside XLA's CPU
  compile of esjax's step (`preflight.plan`'s AOT compile); with one CPU device it ran. Issue
  23 traced it (in a Python 3.13 chroot, `.ci/py313_userland.sh`) to Shardy's canonicalizer
  (`ManualComputationUnusedInputsPattern`), which crashes on jaxlib 0.11.2 when a shard_map
  over 2+ devices has a zero-element operand; `python -m benchmarks.jax_cpu_crash_repro` shows
  it in a few lines (exit 139 on 0.11.2, 0 on 0.10.2 and 0.12.0.1). The step had several
  (Brax's System's zero-row arrays, a black-box problem's empty normalizer, the scatter index
  of `x.at[:n].set(y)`); it now keeps every empty array out of its shard_map, with the same
  bits, and the CPU split is the default again on every jaxlib.
"""


def main():
  parts = [INTRO]
  for name in ORDER:
    path = os.path.join(ROOT, "benchmarks", "results", f"{name}.md")
    if os.path.exists(path):
      with open(path) as f:
        text = f.read()
      # Each results file opens with a heading of its own level; make it a section here.
      parts.append(re.sub(r"\A#+ ", "## ", text))
  parts.append(FINDINGS)
  page = os.path.join(ROOT, "docs", "benchmarks.md")
  os.makedirs(os.path.dirname(page), exist_ok=True)
  with open(page + ".tmp", "w") as f:
    f.write("\n".join(p.rstrip("\n") + "\n" for p in parts))
  os.replace(page + ".tmp", page)


if __name__ == "__main__":
  main()
