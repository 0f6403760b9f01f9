"""Scalar-only traffic (docs/architecture.md property 2), read from the compiled step's HLO.

The per-generation cross-device bytes of the default ``comm="returns"`` step must not depend
on the parameter count: only population returns and observation sums cross devices. The
``comm="gradient"`` alternative must show the opposite, which proves the counter sees
parameter-sized collectives when they exist.
"""
import pytest

from esjax.core import hlo
from tests.helpers.subproc import FAST_COMPILE, run_all

# The default run's cross-device bytes per generation, read from its HLO on 4 forced CPU
# devices: 2 x 1024 B of returns and step counts + 4 chunks x 23 floats of obs sums (2140 B
# before issue 10, when the obs sums were one psum of 23 floats). The docs quote these
# constants through benchmarks/doc_blocks.py, so they are typed only here.
DEFAULT_RUN_BYTES = 2416
DEFAULT_RUN_DEVICES = 4

_ASYNC_HLO = """
ENTRY %main {
  %ag = f32[16]{0} all-gather(f32[4]{0} %x), channel_id=1, replica_groups={{0,1,2,3}}, dimensions={0}
  %ar = (f32[10]{0}, s32[3,2]{1,0}) all-reduce(f32[10]{0} %a, s32[3,2]{1,0} %b), to_apply=%add
  %ags = (bf16[8]{0}, bf16[32]{0}) all-gather-start(bf16[8]{0} %y), dimensions={0}
  %agd = bf16[32]{0} all-gather-done((bf16[8]{0}, bf16[32]{0}) %ags)
  %ars = f64[5]{0} all-reduce-start(f64[5]{0} %z), to_apply=%add
  %ard = f64[5]{0} all-reduce-done(f64[5]{0} %ars)
  %m = f32[1000]{0} multiply(f32[1000]{0} %p, f32[1000]{0} %q)
}
"""


def test_parser_counts_sync_and_async_collectives_once():
  found = hlo.collectives(_ASYNC_HLO)
  assert [c.op for c in found] == ["all-gather", "all-reduce", "all-gather", "all-reduce"]
  # 16*4 + (10*4 + 6*4) + 32*2 (the gathered result, not the operand) + 5*8; "-done" adds 0.
  assert [c.bytes for c in found] == [64, 64, 64, 40]
  assert hlo.collective_bytes(_ASYNC_HLO) == 232


_BLACK_BOX = """
import json, jax.numpy as jnp, esjax
from esjax.core import hlo
from esjax.training.train import setup
out = {}
for comm in ("returns", "gradient"):
  for dim in (100, 10000):
    for pop in (16, 64):
      cfg = esjax.TrainConfig.of(population_size=pop, generations=1, eval_every=0,
                              normalize_obs=False, comm=comm)
      s = setup(cfg, esjax.black_box(lambda p, k: -jnp.sum(p ** 2)), jnp.zeros(dim))
      out[f"{comm}/{dim}/{pop}"] = hlo.collective_bytes(hlo.step_hlo(s))
print(json.dumps(out))
"""


@pytest.mark.slow  # four forced devices
def test_returns_traffic_is_independent_of_params_gradient_traffic_is_not():
  b = run_all(_BLACK_BOX, [4], timeout=300, xla_flags=FAST_COMPILE)[4]
  print("collective bytes per generation (4 devices):", b)
  for pop in (16, 64):
    # returns mode: the all-gathered population returns, f32 each, whatever the size of theta.
    assert b[f"returns/100/{pop}"] == b[f"returns/10000/{pop}"] == 4 * pop
    # gradient mode: a psum of the parameter-sized vector on top of the returns.
    assert b[f"gradient/10000/{pop}"] - b[f"gradient/100/{pop}"] == 4 * (10000 - 100)
  assert b["returns/100/64"] > b["returns/100/16"]  # O(population): it grows with pop


_BRAX = """
import json, esjax
from esjax.core import hlo
from esjax.training.train import setup
out = {}
for hidden in ((8, 8), (136, 136)):
  cfg = esjax.TrainConfig.of(env="hopper", backend="spring", episode_length=30, population_size=8,
                          hidden_sizes=hidden, generations=1, eval_every=0)
  s = setup(cfg)
  found = hlo.step_traffic(s)
  out[str(hidden[0])] = {"params": int(s.state.es.mean.shape[0]),
                         "obs": s.problem.obs_size,
                         "bytes": sum(c.bytes for c in found),
                         "ops": [[c.op, c.shapes] for c in found]}
# The default run's step (pop 256, chunks of 64); the episode length does not change traffic.
s = setup(esjax.TrainConfig().replace(generations=1, eval_every=0, episode_length=30))
out["default"] = {"bytes": hlo.collective_bytes(hlo.step_hlo(s))}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_brax_policy_100x_larger_moves_the_same_bytes():
  r = run_all(_BRAX, [DEFAULT_RUN_DEVICES], timeout=900, xla_flags=FAST_COMPILE)[DEFAULT_RUN_DEVICES]
  small, large = r["8"], r["136"]
  print(f"hopper, 4 devices, pop 8: policy {small['params']} params -> {small['bytes']} B/gen; "
        f"policy {large['params']} params -> {large['bytes']} B/gen")
  print("collectives:", small["ops"])
  assert large["params"] >= 100 * small["params"]
  assert small["bytes"] == large["bytes"]
  # O(population + observation size), exactly: returns and step counts (4 B x pop each) and
  # one obs-sum triple (count, sum, sum of squares: 2 x obs + 1 floats) per member chunk,
  # gathered in member order (issue 10). Pop 8 on 4 devices: slices of 2, so 4 chunks.
  pop, obs, chunks = 8, small["obs"], 4
  assert small["bytes"] == 4 * pop * 2 + 4 * chunks * (2 * obs + 1)
  assert small["bytes"] < small["params"] * 4

  print("default run (hopper, pop 256, 4 devices):", r["default"]["bytes"], "B/gen")
  assert r["default"]["bytes"] == 4 * 256 * 2 + 4 * (256 // 64) * (2 * obs + 1) == DEFAULT_RUN_BYTES
