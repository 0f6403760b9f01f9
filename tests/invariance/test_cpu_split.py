"""Issue 13 §1b: a CPU host runs on one XLA device per core by default, and the split never
changes the result: the run uses only as many devices as keep the one-device chunks."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from esjax import xla_env
from esjax.core.step import split_device_count
from tests.helpers.subproc import ROOT

SNIPPET = """
import json, jax, jax.numpy as jnp, numpy as np, esjax
from esjax import xla_env
f = lambda p, k: -jnp.sum((p - 0.5) ** 2) + 0.01 * jax.random.normal(k)
cfg = esjax.TrainConfig.of(population_size=256, generations=3, eval_every=0,
                           normalize_obs=False, sigma=0.1)
auto = esjax.train(cfg, problem=esjax.black_box(f), initial_params=jnp.zeros(20), progress=False)
one = esjax.train(cfg.replace(num_devices=1), problem=esjax.black_box(f),
                  initial_params=jnp.zeros(20), progress=False)
mesh = esjax.setup(cfg, problem=esjax.black_box(f), initial_params=jnp.zeros(20)).mesh
best = esjax.minimize(lambda p, k: jnp.sum(p ** 2), jnp.ones(8), population_size=256,
                      generations=3)
best_one = esjax.minimize(lambda p, k: jnp.sum(p ** 2), jnp.ones(8), population_size=256,
                          generations=3, num_devices=1)
print(json.dumps(dict(devices=jax.device_count(), split=xla_env.cpu_split(), mesh=mesh.size,
                      equal=bool(np.array_equal(auto.flat_params, one.flat_params)),
                      min_equal=bool(np.array_equal(best.mean, best_one.mean) and np.array_equal(best.best_params, best_one.best_params)),
                      cores=len(__import__("os").sched_getaffinity(0)))))
"""


def _run(code, **env_changes):
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "ESJAX_CPU_DEVICES")}
  env.update(JAX_PLATFORMS="cpu", PYTHONPATH=ROOT, **env_changes)
  p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                     capture_output=True, text=True, timeout=600)
  assert p.returncode == 0, p.stderr[-2000:]
  return json.loads(p.stdout.strip().splitlines()[-1])


def test_default_is_one_device_per_core():
  # On every jaxlib: 0.11.2's crash on a split CPU is avoided in the step (issue 23).
  r = _run("import json, os, esjax, jax; "
           "print(json.dumps(dict(n=jax.device_count(), cores=len(os.sched_getaffinity(0)))))")
  assert r["n"] == r["cores"]


@pytest.mark.parametrize("wanted,want", [
    (None, 8),      # one device per core
    ("", 8),
    ("3", 3),       # the user's count
    ("1", 1),       # no split
    ("x", 8),       # malformed: the default, not an error at import
    ("0", 8),
    ("-2", 8),
])
def test_default_cpu_devices(wanted, want, capsys):
  assert xla_env.default_cpu_devices(wanted, 8) == want
  said = capsys.readouterr().err
  if wanted in ("x", "0", "-2"):  # named on stderr, one line
    assert said == f"esjax: ESJAX_CPU_DEVICES='{wanted}' is not a whole number >= 1; " \
                   "using one CPU device per core (8)\n"
  else:
    assert said == ""


@pytest.mark.slow
def test_a_split_run_equals_the_one_device_run():
  r = _run(SNIPPET, ESJAX_CPU_DEVICES="4")  # four devices whatever this machine's cores
  assert (r["devices"], r["split"], r["mesh"]) == (4, 4, 4)
  assert r["equal"] and r["min_equal"]


def test_an_explicit_device_count_turns_the_split_off():
  r = _run("import json, esjax, jax; from esjax import xla_env; "
           "print(json.dumps(dict(n=jax.device_count(), split=xla_env.cpu_split())))",
           XLA_FLAGS="--xla_force_host_platform_device_count=3")
  assert r == {"n": 3, "split": None}


@pytest.mark.parametrize("population,mirrored,chunk,available,want", [
    (256, True, None, 4, 4),    # slices of 64: the one-device chunk
    (256, True, None, 2, 2),
    (192, True, None, 2, 1),    # 2 x 96 would run chunks of 48, one device runs 64
    (192, True, None, 3, 3),    # 3 x 64
    (64, True, None, 4, 1),     # one chunk of 64 on one device: any split changes it
    (64, True, 8, 4, 4),        # an explicit chunk of 8 fits slices of 16
    (12, True, 2, 4, 3),        # 4 x 3 splits a mirrored pair; 3 x 4 does not
    (10, False, 5, 4, 2),
])
def test_split_device_count(population, mirrored, chunk, available, want):
  assert split_device_count(population, mirrored, chunk, available, "cpu") == want
