#!/usr/bin/env bash
# The benchmark suite with GPU-sized settings, for a lent GPU machine (see
# /work/shared/device/README.md). Run so far, on one H200 with jax 0.11.2: `presets`
# (2026-11-26); `check`, `live`, and `limit`'s two tables one at a time (humanoid at pop 4096;
# noise) on 2026-12-04. `peers` and `humanoid` are unrun. Tables are named *_gpu so they sit
# beside the CPU ones in benchmarks/results/.
#
# Prepare here (network side), once, from the project root -- brax and evosax travel as wheels:
#   bash /work/shared/device/wheels.sh brax==0.14.2 mujoco==4.0.0 mujoco-core==4.0.0 \
#     mujoco-studio==4.0.0 mujoco-mjx==3.17.0 jaxopt ml_collections tensorboardX trimesh flask \
#     flask_cors glfw pyopengl evosax==0.3.2 dotmap
# Then one device call per part (each fits the 10-minute per-command limit), carry [".whl"]:
#   bash benchmarks/gpu.sh check      # install, GPU-vs-CPU correctness check, env compile  (~2 min)
#   bash benchmarks/gpu.sh limit      # physics_limit + noise                                (~6 min)
#   bash benchmarks/gpu.sh peers      # peers + scaling                                      (~9 min)
#   bash benchmarks/gpu.sh humanoid   # esjax humanoid toward 6000, wall time                (<=9 min)
#   bash benchmarks/gpu.sh live       # issue 26's table for humanoid at pop 2048: live steps
#                                     # vs bare physics, lanes off and the GPU default  (<=9 min)
#   bash benchmarks/gpu.sh presets    # GPU-vs-CPU check, then the ant and humanoid presets'
#                                     # exact commands, cut at a 9-minute deadline            (~9 min)
# PRESET_EXTRA adds flags to the preset runs; a dry run on a CPU (without .whl in the tree):
#   PY=python PRESET_EXTRA="--generations 3 --episode-length 20 --population-size 8" \
#     bash benchmarks/gpu.sh presets
# Every table lands in $OUT/results (markdown, CSV, JSON, with GPU model and JAX version) and
# the last lines printed are a short summary.
set -uo pipefail
script_start=$(date +%s)
part="${1:-check}"
case "$part" in check|limit|peers|humanoid|live|presets) ;;
  *) echo "gpu.sh: unknown part '$part'; expected one of: check, limit, peers, humanoid, live, presets" >&2; exit 2 ;;
esac
OUT="${OUT:-/tmp/esjax_gpu_out}"
mkdir -p "$OUT/results"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
PY="${PY:-python3}"
R="$OUT/results"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
$PY -c "import jax; print('jax', jax.__version__, jax.devices())" | tee "$OUT/jax.txt"

case "$part" in
  check)
    $PY -m benchmarks.gpu_check run "$OUT/check_gpu.json" &&
    JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=1 \
      $PY -m benchmarks.gpu_check run "$OUT/check_cpu.json" &&
    $PY -m benchmarks.gpu_check compare "$OUT/check_gpu.json" "$OUT/check_cpu.json"
    $PY -m esjax train --env hopper --population-size 1024 --episode-length 1000 --generations 20 \
      --eval-every 10 --out "$OUT/hopper_smoke" 2>&1 | tail -3
    ;;
  presets)
    # The issue-11 presets left for a GPU, with their exact commands (the output flags only
    # choose where files go; --checkpoint-every 0 saves once, at the end). Each run is cut at a
    # shared deadline and keeps its metrics.jsonl, which is written a line per generation.
    # Only 8 files come back from $OUT: each run's config, metrics and curves, the machine
    # and one log.
    deadline=$(( script_start + ${PRESET_BUDGET_S:-545} ))
    runs=/tmp/esjax_preset_runs; rm -rf "$runs"; mkdir -p "$runs"
    log="$OUT/presets.log"
    # The 8th file: what `python -m benchmarks.presets ant humanoid --recorded DIR
    # --machine-json DIR/machine.json` records these runs with, back on the project's machine.
    $PY -c "import json, sys; from benchmarks import common; m = common.machine_info(); \
m['gpu'] = open(sys.argv[2]).read().strip().splitlines()[-1]; json.dump(m, open(sys.argv[1], 'w'))" \
      "$OUT/machine.json" "$OUT/gpu.txt" > "$runs/machine.log" 2>&1
    cat "$OUT/gpu.txt" "$OUT/jax.txt" "$runs/machine.log" > "$log"; rm -f "$OUT/gpu.txt" "$OUT/jax.txt"
    $PY -m benchmarks.gpu_check run "$runs/check_gpu.json" >> "$log" 2>&1
    # One CPU device: on the GPU image (jax 0.11.2) esjax's step segfaulted in XLA's CPU
    # compile with 2 or more CPU devices (2026-11-26; 1 device ran, docs/reproducibility.md).
    JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=1 \
      $PY -m benchmarks.gpu_check run "$runs/check_cpu.json" >> "$runs/cpu.log" 2>&1 &
    cpu_check=$!
    for spec in ant:240 humanoid:0; do
      name=${spec%%:*}; cap=${spec##*:}
      left=$(( deadline - $(date +%s) )); [ "$cap" -gt 0 ] && [ "$cap" -lt "$left" ] && left=$cap
      [ "$left" -lt 30 ] && { echo "$name: skipped, $left s left" >> "$log"; continue; }
      t0=$(date +%s)
      # shellcheck disable=SC2086  # PRESET_EXTRA is a list of flags
      timeout -s KILL "$left" $PY -m esjax train --preset "$name" --out "$runs/$name" --quiet \
        --no-tensorboard --checkpoint-every 0 ${PRESET_EXTRA:-} > "$runs/$name.log" 2>&1
      echo "$name: exit $? after $(( $(date +%s) - t0 )) s (cap $left s)" >> "$log"
      tail -5 "$runs/$name.log" >> "$log"
      if [ -f "$runs/$name/metrics.jsonl" ]; then
        mkdir -p "$OUT/$name"
        cp "$runs/$name/config.json" "$runs/$name/metrics.jsonl" "$OUT/$name/" 2>/dev/null
        $PY -m esjax plot "$runs/$name" > /dev/null 2>&1 && cp "$runs/$name/curves.png" "$OUT/$name/"
      fi
    done
    wait "$cpu_check"; cat "$runs/cpu.log" >> "$log"
    $PY -m benchmarks.gpu_check compare "$runs/check_gpu.json" "$runs/check_cpu.json" >> "$log" 2>&1
    # The same table `presets.py --recorded` makes back on the project's machine (its copy here
    # lands in this machine's throwaway checkout); only runs with an evaluation can be tabled.
    kept=(); for name in ant humanoid; do
      grep -qs '"eval_return"' "$OUT/$name/metrics.jsonl" && kept+=("$name"); done
    [ ${#kept[@]} -gt 0 ] && $PY -m benchmarks.presets "${kept[@]}" --recorded "$OUT" \
      --machine-json "$OUT/machine.json" >> "$log" 2>&1
    cat "$log"
    ;;
  limit)
    # One population: each (env, population) costs five compiles of a 1000-step rollout.
    timeout 420 $PY -m benchmarks.physics_limit --populations 4096 --episode-length 1000 \
      --name physics_limit_gpu --out "$R"
    timeout 150 $PY -m benchmarks.noise --params 10000,100000,1000000 --population 4096 \
      --name noise_gpu --out "$R"
    ;;
  peers)
    timeout 400 $PY -m benchmarks.peers --population 2048 --episode-length 1000 \
      --budget 30000000 --threshold 1000 --name peers_gpu --out "$R"
    timeout 180 $PY -m benchmarks.scaling --platform gpu --devices 1 \
      --populations 1024,4096,16384 --episode-length 1000 --device-population 4096 \
      --name scaling_gpu --out "$R"
    ;;
  live)
    # Generations 2-7 from scratch; LIVE_EXTRA=--late adds generations 61-66 if the first
    # run shows there is time for 60 more generations and a second phase.
    timeout 540 $PY -m benchmarks.live_steps --envs humanoid --population 2048 \
      --variants off,lanes=None --name live_steps_gpu --out "$R" ${LIVE_EXTRA:-}
    ;;
  humanoid)
    # Toward the paper's 6000 (Brax humanoid's reward differs from MuJoCo's: 5 per healthy
    # step, so 6000 needs forward motion, not just standing). Settings after the paper's
    # Humanoid config (sigma 0.02, lr 0.01, L2 0.005), population sized for one GPU.
    start=$(date +%s)
    timeout 520 $PY -m esjax train --env humanoid --backend spring --population-size 4096 \
      --episode-length 1000 --sigma 0.02 --learning-rate 0.01 --weight-decay 0.005 \
      --hidden-sizes 256,256 --generations 2000 --eval-every 10 --generations-per-call 10 \
      --out "$OUT/humanoid" > "$OUT/humanoid.log" 2>&1
    echo "humanoid exit $? after $(( $(date +%s) - start )) s" | tee -a "$OUT/humanoid.log"
    $PY - "$OUT/humanoid/metrics.jsonl" <<'EOF' | tee "$R/humanoid.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ev = [r for r in rows if "eval_return" in r]
best = max(ev, key=lambda r: r["eval_return"]) if ev else None
hit = next((r for r in ev if r["eval_return"] >= 6000), None)
print(f"humanoid: {len(rows)} generations, {rows[-1]['env_steps']:,} env steps, {rows[-1]['wall_s']:.0f} s")
if best: print(f"best eval {best['eval_return']:.0f} at generation {best['generation']}, {best['wall_s']:.0f} s")
print("reached 6000 at", f"{hit['wall_s']:.0f} s" if hit else "-- not within this run")
EOF
    ;;
esac
echo "== summary ($part)"
for f in "$R"/*.md; do [ -f "$f" ] && { echo "-- $f"; grep '^|' "$f" | head -12; }; done
exit 0  # the summary's last test is not the parts' status: their logs say how each ended
