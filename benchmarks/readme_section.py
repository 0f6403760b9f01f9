"""Rewrites the "## Benchmarks" section at the end of README.md from benchmarks/results/*.md.

    python benchmarks/readme_section.py     # after running the benchmark scripts
"""
from __future__ import annotations

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDER = ["physics_limit", "profile_rollout_hopper", "peers", "noise", "scaling"]
INTRO = """## Benchmarks

`benchmarks/` puts esjax next to the physics limit and its peers, each table written by one
command to `benchmarks/results/` (markdown, CSV and JSON, with the machine, JAX version and
device). The tables below come from a 2-core CPU shared with other jobs: read the ratios within
one table, not the absolute times. `bash benchmarks/gpu.sh check|limit|peers|humanoid` runs the
same suite with GPU-sized settings on a GPU machine (see the script's header).

| script | what it measures |
| --- | --- |
| `benchmarks/physics_limit.py` | one esjax generation vs bare vmapped Brax physics; first-generation compile and recompiles |
| `benchmarks/peers.py` | esjax vs Brax's ES trainer vs evosax `Open_ES` on hopper at one budget |
| `benchmarks/noise.py` | ask/tell cost of key-derived noise (threefry, rbg) vs a shared noise table |
| `benchmarks/scaling.py` | generation throughput vs population and (forced) device count |
| `benchmarks/profile_rollout.py` | where a rollout's time goes beyond bare physics, one piece at a time |
| `benchmarks/gpu.sh` | all of the above with GPU-sized settings, plus a humanoid run |

Timing on a shared machine: each script times its variants round-robin and reports process
CPU seconds (all threads) next to wall seconds; the ratios use CPU seconds, which count the work
done whatever else the machine runs (wall-time ratios between runs minutes apart moved by 2x
here as other jobs came and went).

`python benchmarks/readme_section.py` rebuilds this section from `benchmarks/results/*.md`.
"""


def main():
  parts = [INTRO]
  for name in ORDER:
    path = os.path.join(ROOT, "benchmarks", "results", f"{name}.md")
    if os.path.exists(path):
      with open(path) as f:
        parts.append(f.read().replace("### ", "#### ", 1))
  readme = os.path.join(ROOT, "README.md")
  with open(readme) as f:
    text = f.read()
  head = text.split("\n## Benchmarks\n")[0].rstrip("\n")
  with open(readme + ".tmp", "w") as f:
    f.write(head + "\n\n" + "\n".join(parts))
  os.replace(readme + ".tmp", readme)


if __name__ == "__main__":
  main()
