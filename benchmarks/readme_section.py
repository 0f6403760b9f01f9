"""Writes every result-derived figure of README.md and docs/*.md from the committed results.

    python -m benchmarks.readme_section           # after running the benchmark scripts
    python -m benchmarks.readme_section --check   # exit 1 naming the pages that are stale

docs/benchmarks.md is generated whole from ``benchmarks/results/*.md``; on every other page
the text between ``<!-- generated: NAME -->`` and ``<!-- /generated -->`` is
``doc_blocks.BLOCKS[NAME]()``. ``tests/docs/test_generated.py`` fails when a page differs.
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import sys

from benchmarks.doc_blocks import BLOCKS, ROOT

MARKER = re.compile(r"(<!-- generated: ([\w-]+) -->)(.*?)(<!-- /generated -->)", re.S)
BENCHMARKS_PAGE = os.path.join("docs", "benchmarks.md")
ORDER = ["physics_limit", "live_steps", "live_steps_default_run", "live_steps_default_run_cached",
         "live_steps_more", "lane_widths", "lane_schedule", "lane_ladders",
         "profile_rollout_hopper", "peers",
         "noise", "scaling", "comm", "cpu_split", "reproducible", "cpu_emitters", "cpu_ynn",
         "cpu_llvm", "compile_stages", "strategies_rl", "strategies_ask_tell", "compile_cache",
         "long_run", "large",
         "large_curves", "presets", "presets_gpu", "physics_limit_gpu", "live_steps_gpu",
         "noise_gpu", "reacher_reference"]
INTRO = """# Benchmarks

`benchmarks/` puts esjax next to the physics limit and its peers, each table written by one
command to `benchmarks/results/` (markdown, CSV and JSON, with the machine, JAX version and
device). The tables below come from a 2-core CPU shared with other jobs: read the ratios within
one table, not the absolute times.
`bash benchmarks/gpu.sh check|limit|peers|humanoid|live|presets` runs the same suite with
GPU-sized settings on a GPU machine (see the script's header); on an H200 its `presets` part
ran on 2026-11-26, and `check`, `live` and `limit`'s tables on 2026-12-04 (the *_gpu tables
below).

Tables of several seeds on an env (`strategies_rl`, `large`'s hopper curves,
`claims/parameterization`) were rerun on 2026-12-05, when each seed began to draw its own
policy weights, as the single run with its seed does (before, every seed started from seed 0's).

| script | what it measures |
| --- | --- |
| `benchmarks/physics_limit.py` | one esjax generation vs bare vmapped Brax physics; first-generation compile and recompiles |
| `benchmarks/live_steps.py` | live env steps/s against bare physics, early and late in training, with and without continuous batching (`--lanes`); the default run's wall time both ways |
| `benchmarks/lane_widths.py` | what one step of vmapped episodes costs by lane width, and by part (physics, policy, the lanes' bookkeeping) |
| `benchmarks/lane_schedule.py` | lane-width schedules replayed on the episodes `live_steps.py` times and a cost per width: the predicted live steps / bare physics of each, and of every width timed |
| `benchmarks/lane_ladders.py` | lane ladders built into the generation and timed against each other the way `live_steps.py` times its variants: live steps / bare physics of each, early and late |
| `benchmarks/peers.py` | esjax vs Brax's ES trainer vs evosax `Open_ES` on hopper at one budget |
| `benchmarks/noise.py` | ask/tell cost of key-derived noise (threefry, rbg) vs a shared noise table |
| `benchmarks/scaling.py` | generation throughput vs population and (forced) device count |
| `benchmarks/profile_rollout.py` | where a rollout's time goes beyond bare physics, one piece at a time |
| `benchmarks/gpu.sh` | all of the above with GPU-sized settings, plus a humanoid run |
| `benchmarks/comm.py` | bytes per mesh axis and time per generation of every `--comm` mode on 4 forced CPU devices |
| `benchmarks/cpu_split.py` | the default run on one CPU device vs esjax's default of one device per core |
| `benchmarks/reproducible.py` | what bit-for-bit layout invariance costs (member chunks, FMA off) |
| `benchmarks/cpu_emitters.py` | XLA CPU settings against their alternatives on default runs, same params?: the fusion emitters (XLA's default) against the legacy ones; with `--setting ynn`, YNNPACK dot fusions off (esjax's default) against XLA's default; with `--setting llvm`, XLA's full LLVM pipeline against its cheaper one |
| `benchmarks/strategies.py` | every strategy on hopper and halfcheetah; ask+tell against evosax |
| `benchmarks/compile_cache.py` | first vs second start with the persistent compilation cache |
| `benchmarks/compile_stages.py` | the compiled step's tracing, lowering and XLA compile, for the chunked loop and by lane widths, before and after a change |
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

`peers.py` and `strategies.py --part ask_tell` also need evosax: `pip install -e ".[bench]"`
(evosax 0.3.2; Brax's ES trainer comes with brax).
`python -m benchmarks.readme_section` rebuilds this page from `benchmarks/results/*.md`, and every
result-derived figure of the README and the other docs pages from the result files
(`tests/docs/test_generated.py` fails when a page is stale). What the
comm-mode numbers mean for choosing `--comm` is in [scaling.md](scaling.md).
"""


FINDINGS = """## What the tables say

- **Physics limit.** {block:physics-findings}, measured on a quiet machine after the rollout
  took the normalizer's mean/std out of its per-step loop. Hopper's cheap spring step makes
  small per-step ops weigh more there than on ant.
- **Compiles.** {block:compile-findings}.
- **Peers.** At an equal budget of 1M live env steps on hopper (pop 256, T=200), final returns:
  {block:peers-findings}. The 1.2x throughput target is missed against Brax: in the second half
  of the run every hopper survives all 200 steps, so both simulate the same steps, both shard
  the population over the host's two CPU devices and both sit at the physics limit; esjax's
  early exit only pays while episodes end early. evosax vmaps its population on one device (it
  does not shard it) and runs behind both (the table).
- **Noise.** A shared noise table (offset drawn from the member's key, so the noise is still
  decided by (seed, generation, index)) {block:noise-findings}; under `vmap` those give the
  same key different bits depending on its place in the batch: tell's chunked rebuild then
  differs from what ask used, which breaks esjax's contract. Not made a config option: at the
  default policy ask+tell is a small share of a generation (the physics-limit bullet), so the
  table would save about that.
- **Scaling (CPU, T=20).** One CPU device runs the generation on one core (CPU seconds =
  wall seconds). {block:scaling-findings}; the fall at large populations is likely cache
  pressure of larger vmapped batches (not profiled), and the split uses both cores with smaller
  per-device batches. No recompilation anywhere. GPU figures: `benchmarks/gpu.sh` (its
  `scaling` and `peers` tables are still unrun; what ran is below).
- **Comm modes (4 forced CPU devices).** {block:comm-findings}. The
  default run moves {block:hlo-bytes} with `returns` (`tests/core/test_hlo_traffic.py`), which
  `--comm auto` keeps for it; `gradient` and `hierarchical` add `4 x params` bytes per
  butterfly round (docs/scaling.md).

## What the newer tables say

- **One device per core.** The default run on the CPU split into 2 devices (esjax's default
  now) against one device: {block:default-run-split}
- **Reproducibility costs nothing measurable.** Against the old whole-slice vmap with FMA on,
  {block:reproducible-findings}; chunks stop at their own last live member, and FMA's share
  is within this machine's noise.
- **XLA CPU's emitters: no clear winner.** `cpu_emitters.md` times each env's default
  config with XLA CPU's fusion emitters (its default) and with its legacy loop emitters, in
  fresh processes: the same params on every env; the legacy emitters ran ant's generations
  faster, hopper's slower. Two such runs on this shared machine did not agree on hopper and
  walker2d, so esjax leaves the process-wide default to XLA.
- **XLA CPU's YNNPACK dots: off.** `cpu_ynn.md` times the default runs of hopper and ant
  without XLA's YNNPACK dot fusions (esjax's default since they made ant's episodes depend
  on the lanes beside them, docs/reproducibility.md) and with them: {block:ynn-findings}.
- **XLA's LLVM pipeline: the full one.** The lanes' narrower widths each compile one more
  copy of the env step, so `cpu_llvm.md` times the default run (60 generations, compile
  included, fresh processes) with XLA's cheaper LLVM pipeline
  (`--xla_llvm_disable_expensive_passes=true`) against its default: {block:llvm-findings}.
  What a width costs to compile is not in LLVM's expensive passes.
- **What a lane width costs to start.** `compile_stages.md` times JAX's three stages of the
  compiled step in fresh processes, for the chunked loop and for `lanes=None` narrowed 0 to 8
  times: {block:compile-stages-findings}. XLA compiles each width's copy of the env step on
  its own (on hopper about 200 of a width's ~300 kernels are Brax's physics step), so the
  compile, not the tracing, is what a width costs now.
- **Strategies.** At 500k env steps per seed (3 seeds, pop 64) {block:strategies-findings};
  tell rebuilds the noise from keys (docs/strategies.md).
- **Long runs stay flat.** {block:long-run-findings}, with no trend. Records stream to
  metrics.jsonl instead of piling up in memory.

## Continuous batching (2-core CPU)

- **The lanes pay early in training and late.** `live_steps.md`: every variant timed from
  the same state in three rounds, a bare physics call timed right before each of its
  generations; a ratio is the median over the rounds of the variant's rate over the rate of
  the bare calls interleaved with it. Early, most members fall long before the chunk's
  longest episode ends, and the lanes drop them. Late, most members run to the cutoff (mean
  episode 835 of 1000), so when the last member has started the survivors still fill most of
  the lanes: the narrowings are seven eighths and three quarters, then halving
  (`--lane-narrowings 8`: 128 lanes narrow to 112, 96, 48, 24, 12, 6, 3, 2), and `lanes=None` on
  CPU means the whole slice up to 128 lanes: a step of 128 lanes costs less per lane than one
  of 64 (`lane_widths.md`), and a queue's second members start when the first end, then run
  narrow after them.
- **Why these widths: the loop replayed.** `lane_schedule.md` replays the lanes' loop step
  by step on the very episodes `live_steps.md` times (hopper's default run, generations 2-7
  and 61-66, each device's slice; a generation waits for its slower device) with a cost per
  width timed on both devices at once, each timing paired with one of 128 lanes right before
  it, so the schedules compare with no timing noise between them: {block:lane-schedule-findings}.
  The replay leaves out all but the physics and rests on one table of costs from a machine
  whose speed drifts, so its rows are read against each other, not against the timings: the
  level of the cost table moves between runs of the benchmark. Early, a few members of a slice run all 1000 steps while the rest fell within a few
  hundred, so a generation's last several hundred steps run narrow, where a CPU env step
  costs about twice as much per env at 8 lanes as at 128 and four times at 2 or 3 (the
  table's costs per width). More
  narrow widths buy some of that back, each one more compiled copy of the env step. Late,
  most members run to the episode's end and the rest fall one by one, so the survivors drift
  down from the whole width; the replay puts steps of a sixteenth at the top (the sixteenths
  row) ahead there. Built and timed against each other (`lane_ladders.md`, the ladders in
  turn from the same state, each generation paired with a bare call):
  {block:lane-ladders-findings}. The gains the replay gave finer ladders did not show when
  timed: the ladder is not what holds the late phase under its bar. The replay also bounds
  what any ladder can do late: every width timed, with nothing but the physics costed,
  replays less than a hundredth over the bar (the findings above). Moving
  survivors between devices, so that a device whose slice holds more
  of the longest episodes does not hold the generation, buys less still early, before the
  collectives it needs inside the loop are paid for: it is not built.
- **Where the bars of issue 26 stand.** Hopper, {block:live-steps-bars}. The median of
  three rounds, each a paired ratio: this machine's speed moves by up to a third within
  minutes (`rounds_wall_s`), and bare calls interleaved with the generations take that drift
  out, but the rounds still spread by a few hundredths. Early, the lanes and a queue of 64
  both pass the bar here, the lanes by about a hundredth, within the rounds' spread; late,
  the whole slice
  sits about two hundredths under its bar and the queue further (its second members start
  when the first end and run narrow after them). Why the early phase stops there: a generation's last
  episodes run narrow (a few of a slice's members run all 1000 steps while the rest fell
  within a few hundred), and a vmapped CPU env step costs more per env the narrower it is
  (`lane_widths.md`: XLA vectorizes across the vmapped axis). The narrowings now go down to
  2 lanes (`--lane-narrowings 8`); every width timed would add about a twelfth early at over
  twice the copies (above), and each width compiles one more copy of the env step, which is
  why lanes stay off by default (below). Why the late phase stops short of its bar: late,
  the lanes hold about 835/1000 of 128 members on average (the mean episode), and a CPU step
  costs more per lane the fewer it holds, while bare physics runs all 128 all the time.
  `lane_widths.md` (by width, each timing paired with one of 128 envs) puts numbers on it:
  on this machine a step of 100 or 104 envs costs what one of 112 does or more, about nine
  tenths of a step of 128, and one of 120 about what one of 128 does; the multiples of 16 run
  cheapest. So the
  hundred or so survivors of a late slice cost nine tenths of the full step wherever they are
  compacted to, which is also why the finer ladders (104 and 120) gained nothing when timed
  here (`lane_ladders.md`) though the replay said they would: its costs per width are timed
  with both devices stepping at once (`lane_schedule.md`), where a step of 104 came out
  cheaper than one device alone gives it. The lanes' own step costs a few hundredths more
  than the episode step it runs (`lane_widths.md`, by part: the end check, write-out and
  refill, there with a member ending every step or two; two timings of the same bare step
  differ by as much), and a generation waits
  for its slower device. Together these leave the late phase a few hundredths short whatever
  the ladder; a queue keeps lanes full but starts members late, and late episodes run long
  (queue_64).
  Walker2d and ant (`live_steps_more.md`, measured the same way): {block:live-steps-more}.
  Walker2d starts like hopper (most members fall early) and its lanes pass the early bar;
  ant's episodes run nearly all 1000 steps from the start, so every variant sits near 1, early
  and late. A round's ratio can pass 1 where the machine drifted between a generation and the
  bare call beside it; the random actions bare physics draws cost it next to nothing
  (`lane_widths.md`: bare without them, about 1.0 of bare).
- **Bits.** The lanes variants and the chunked loop end in the same params on hopper, with the
  new narrowings too (`same_bits_as_*`; tests/invariance/test_bitwise.py's default run in lanes
  on 1, 2 and 4 devices uses `==`), and on ant: with XLA's YNNPACK dot fusions on, ant's
  wide steps handed more dots to that library and 128 lanes ended in other params than 64,
  and with those fusions off (esjax/xla_env.py) ant in 128 lanes ends in the chunked loop's
  params (tests/core/test_lanes.py, `==`). Not on walker2d, where the chunked loop on 2
  devices misses its own 1-device bits (docs/reproducibility.md).
- **The default run: lanes stay off by default.** `live_steps_default_run.md` (60
  generations, compile included, a fresh process each, one round): {block:default-run-lanes}.
  Each narrower width compiles one more copy of the env step, which a 60-generation run does
  not earn back; with no narrowing (one width, no more compile than off) the run was about level
  with off, within what this machine drifts in minutes: not a reason to change the default.
  esjax keeps a compilation cache by default, so a sweep's next seed or a resumed run loads
  its compiled step instead; `live_steps_default_run_cached.md` times that second run:
  {block:default-run-cached}. The cache skips XLA's compile but not JAX's tracing and
  lowering of each width's step, which cost less since the generation and the episode's
  functions are traced once (`compile_stages.md`, above). Lanes stay off by default all the
  same: a new user's first run is a cold one, and so is every changed setting that the
  compiled step depends on.

## What one GPU did (NVIDIA H200, jax 0.11.2, 2026-11-26)

The first lent GPU, 15 minutes of device time in all, went to the presets a CPU cannot finish:
`bash benchmarks/gpu.sh presets` ran `esjax train --preset ant` and `--preset humanoid` with
their exact commands, cut at a shared deadline, and `python -m benchmarks.presets ant humanoid
--recorded DIR --machine-json DIR/machine.json` tabled what came back
([presets_gpu.md](../benchmarks/results/presets_gpu.md), curves under
[presets/](../benchmarks/results/presets/)).

- **Humanoid passed 6000 in under 4 minutes** (claim 7): {block:claim-humanoid}.
  Population 2048, 2×256 tanh, the paper's σ/lr/L2.
- **When cut:** {block:gpu-presets}; population 512 leaves most of the GPU idle.
- **GPU vs CPU, the same run:** the 30-generation black-box check of `benchmarks/gpu_check.py`
  (population 64, `member_chunk` 1) ended with params equal to the CPU run's up to float
  rounding (its printed difference was not kept in a result file).
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

## What the second GPU did (NVIDIA H200, jax 0.11.2, 2026-12-04)

15 minutes of device time again: `bash benchmarks/gpu.sh live`, `check`, and `limit`'s two
tables one at a time ([physics_limit_gpu.md](../benchmarks/results/physics_limit_gpu.md),
[live_steps_gpu.md](../benchmarks/results/live_steps_gpu.md),
[noise_gpu.md](../benchmarks/results/noise_gpu.md)). JAX's default matmul precision was
left as it is (`matmul_precision` in each file's machine line).

- **Physics limit:** {block:physics-limit-gpu}.
- **Continuous batching does not pay on a GPU:** {block:live-steps-gpu}. So lanes stay off
  on a GPU too. What differs between the two runs' params is not traced to its op yet: on the
  CPU the same variants agree (`live_steps.md`), and a GPU picks its dot kernels by shape.
- **Noise:** {block:noise-gpu}. The table rebuilds by slicing, so its failure puts the
  difference in the weighted sum, not in the keys: JAX lets a float32 dot on a recent GPU
  round its inputs to TF32 (10 mantissa bits; JAX's docs, "Matmul precision"), and the
  check allows 1e-4. esjax's noise sums now ask for float32
  (`esjax.perturbations.gaussian.weighted_sum`, which `noise.py` uses too): the update sums
  exactly the noise the members ran with. The CPU params are unchanged (`tests/test_pinned.py`);
  the GPU's check waits for the next lent machine.
- **GPU vs CPU, the same run:** `gpu_check.py` agreed again ("OK", under its 1e-3 bound);
  `check`'s 20-generation hopper smoke run at population 1024 trained and evaluated.
"""


def benchmarks_page() -> str:
  parts = [INTRO]
  for name in ORDER:
    path = os.path.join(ROOT, "benchmarks", "results", f"{name}.md")
    if os.path.exists(path):
      with open(path) as f:
        text = f.read()
      # Each results file opens with a heading of its own level; make it a section here.
      parts.append(re.sub(r"\A#+ ", "## ", text))
  # FINDINGS quotes generated figures as {block:NAME}, so they are typed nowhere.
  parts.append(re.sub(r"\{block:([\w-]+)\}", lambda m: BLOCKS[m.group(1)]().strip(), FINDINGS))
  return "\n".join(p.rstrip("\n") + "\n" for p in parts)


def fill(text: str, page: str = "page") -> str:
  """``text`` with every generated block rewritten; an unknown block name is an error."""
  def block(m):
    name = m.group(2)
    if name not in BLOCKS:
      known = ", ".join(sorted(BLOCKS))
      raise KeyError(f"{page}: unknown generated block {name!r}; known: {known}")
    return m.group(1) + BLOCKS[name]() + m.group(4)
  return MARKER.sub(block, text)


def pages() -> list[str]:
  """The pages with generated figures, relative to the repository root."""
  found = ["README.md"] + sorted(os.path.relpath(p, ROOT)
                                 for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
  return [p for p in found if p != BENCHMARKS_PAGE]


def expected() -> dict[str, str]:
  """Every page as the generator would write it."""
  want = {BENCHMARKS_PAGE: benchmarks_page()}
  for page in pages():
    with open(os.path.join(ROOT, page)) as f:
      want[page] = fill(f.read(), page)
  return want


def stale() -> list[str]:
  out = []
  for page, text in expected().items():
    path = os.path.join(ROOT, page)
    if not os.path.exists(path) or open(path).read() != text:
      out.append(page)
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--check", action="store_true", help="only say which pages are stale")
  args = parser.parse_args(argv)
  if args.check:
    bad = stale()
    for page in bad:
      print(f"{page}: differs from what `python -m benchmarks.readme_section` writes")
    return 1 if bad else 0
  for page, text in expected().items():
    path = os.path.join(ROOT, page)
    with open(path + ".tmp", "w") as f:
      f.write(text)
    os.replace(path + ".tmp", path)
  return 0


if __name__ == "__main__":
  sys.exit(main())
