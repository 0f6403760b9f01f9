"""The same tiny black-box run on the GPU and on the host CPU must agree: the noise is rebuilt
from keys on whichever device runs it, so only the float reduction order may differ.

    python -m benchmarks.gpu_check run OUT.json        # on the default backend
    JAX_PLATFORMS=cpu python -m benchmarks.gpu_check run OUT_CPU.json
    python -m benchmarks.gpu_check compare OUT.json OUT_CPU.json
"""
from __future__ import annotations

import json
import sys


def run(path: str) -> None:
  import jax
  import jax.numpy as jnp
  import numpy as np

  import esjax
  # member_chunk 1: every member evaluated alone on every layout (one GPU here, one CPU device
  # per core there), so the two runs add in the same order (docs/reproducibility.md).
  cfg = esjax.TrainConfig.of(population_size=64, generations=30, eval_every=0,
                             normalize_obs=False, member_chunk=1)
  f = esjax.black_box(lambda p, k: -jnp.sum((p - 3.0) ** 2))
  r = esjax.train(cfg, problem=f, initial_params=jnp.zeros(50), progress=False)
  with open(path, "w") as out:
    json.dump({"backend": jax.default_backend(), "jax": jax.__version__,
               "device": str(jax.devices()[0]),
               "params": np.asarray(r.flat_params).tolist()}, out)


def compare(a_path: str, b_path: str) -> None:
  import numpy as np
  with open(a_path) as fa, open(b_path) as fb:
    a, b = json.load(fa), json.load(fb)
  d = float(np.abs(np.array(a["params"]) - np.array(b["params"])).max())
  print(f"CHECK {a['backend']} ({a['device']}) vs {b['backend']}: max |params diff| = {d:.2e}",
        "OK" if d < 1e-3 else "MISMATCH")


if __name__ == "__main__":
  if len(sys.argv) == 3 and sys.argv[1] == "run":
    run(sys.argv[2])
  elif len(sys.argv) == 4 and sys.argv[1] == "compare":
    compare(sys.argv[2], sys.argv[3])
  else:
    sys.exit("usage: gpu_check.py run OUT.json | compare A.json B.json")
