#!/usr/bin/env bash
# The benchmark suite with GPU-sized settings, for a lent GPU machine (see
# /work/shared/device/README.md). UNRUN so far: no GPU was lent when it was written.
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
# Every table lands in $OUT/results (markdown, CSV, JSON, with GPU model and JAX version) and
# the last lines printed are a short summary.
set -uo pipefail
part="${1:-check}"
case "$part" in check|limit|peers|humanoid) ;;
  *) echo "gpu.sh: unknown part '$part'; expected one of: check, limit, peers, humanoid" >&2; exit 2 ;;
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
    # The same tiny black-box run on the GPU and on the host CPU must agree (the noise is
    # key-derived, so only float reduction order may differ).
    cat > /tmp/esjax_check.py <<'EOF'
import sys, json, jax, jax.numpy as jnp, numpy as np, esjax
cfg = esjax.TrainConfig(population_size=64, generations=30, eval_every=0, normalize_obs=False)
f = esjax.black_box(lambda p, k: -jnp.sum((p - 3.0) ** 2))
r = esjax.train(cfg, problem=f, initial_params=jnp.zeros(50), progress=False)
json.dump({"backend": jax.default_backend(), "params": np.asarray(r.flat_params).tolist()},
          open(sys.argv[1], "w"))
EOF
    $PY /tmp/esjax_check.py "$OUT/check_gpu.json" &&
    JAX_PLATFORMS=cpu $PY /tmp/esjax_check.py "$OUT/check_cpu.json" &&
    $PY - "$OUT" <<'EOF'
import json, sys, numpy as np
g = json.load(open(sys.argv[1] + "/check_gpu.json")); c = json.load(open(sys.argv[1] + "/check_cpu.json"))
d = np.abs(np.array(g["params"]) - np.array(c["params"])).max()
print(f"CHECK {g['backend']} vs {c['backend']}: max |params diff| = {d:.2e}", "OK" if d < 1e-3 else "MISMATCH")
EOF
    $PY -m esjax train --env hopper --population-size 1024 --episode-length 1000 --generations 20 \
      --eval-every 10 --out "$OUT/hopper_smoke" 2>&1 | tail -3
    ;;
  limit)
    # One population: each (env, population) costs five compiles of a 1000-step rollout.
    timeout 420 $PY benchmarks/physics_limit.py --populations 4096 --episode-length 1000 \
      --out "$R"
    timeout 150 $PY benchmarks/noise.py --params 10000,100000,1000000 --population 4096 --out "$R"
    ;;
  peers)
    timeout 400 $PY benchmarks/peers.py --population 2048 --episode-length 1000 \
      --budget 30000000 --threshold 1000 --out "$R"
    timeout 180 $PY benchmarks/scaling.py --platform gpu --devices 1 \
      --populations 1024,4096,16384 --episode-length 1000 --device-population 4096 --out "$R"
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
