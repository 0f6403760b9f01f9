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
import json, jax, jax.numpy as jnp, esjax
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
    # gradient mode: the parameter-sized partial sums on top of the returns, in a butterfly
    # of log2(4) = 2 exchanges (core/step.py).
    assert b[f"gradient/10000/{pop}"] - b[f"gradient/100/{pop}"] == 2 * 4 * (10000 - 100)
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


_AXES = """
import json, jax, jax.numpy as jnp, esjax
from esjax.core import hlo
from esjax.training.train import setup
out = {{}}
for comm in ("returns", "gradient", "hierarchical"):
  for dim in {dims}:
    for hosts in {hosts}:
      cfg = esjax.TrainConfig.of(population_size={pop}, generations=1, eval_every=0,
                                 normalize_obs=False, comm=comm, hosts=hosts)
      s = setup(cfg, esjax.black_box(lambda p, k: -jnp.sum(p ** 2)), jnp.zeros(dim))
      out[f"{{comm}}/{{dim}}/{{hosts}}"] = hlo.axis_bytes(hlo.step_traffic(s),
                                                      jax.device_count() // hosts)
print(json.dumps(out))
"""


@pytest.mark.slow  # 20-50 s: the quick tier keeps under 15 minutes
def test_bytes_per_mesh_axis_follow_the_mode():
  """4 devices as 1 x 4 and 2 hosts x 2: the outer (between hosts) link carries O(pop) in the
  returns and hierarchical modes whatever the parameter count; only gradient sends the
  parameter-sized partial sums across hosts. The exchange is exactly core/comm.py's count."""
  from esjax.core import comm
  b = run_all(_AXES.format(dims=(1000, 100000), hosts=(1, 2), pop=64), [4], timeout=300,
              xla_flags=FAST_COMPILE)[4]
  print("(outer, inner) bytes per generation:", b)
  for dim in (1000, 100000):
    for hosts in (1, 2):
      ret = b[f"returns/{dim}/{hosts}"]
      assert ret == ([4 * 64, 0] if hosts == 2 else [0, 4 * 64])  # the gathered returns
      for mode in ("gradient", "hierarchical"):
        want = comm.axis_bytes(mode, (hosts, 4 // hosts), dim, 1)
        assert [x - r for x, r in zip(b[f"{mode}/{dim}/{hosts}"], ret)] == list(want)
  # hierarchical over 2 hosts: the outer link sees the same bytes at 1k and 100k params.
  assert b["hierarchical/1000/2"][0] == b["hierarchical/100000/2"][0] == 4 * 64
  assert b["gradient/100000/2"][0] == 4 * 64 + 4 * 100000  # one round across hosts
  assert b["hierarchical/100000/2"][1] == 4 * 100000  # one round within each host
  assert b["hierarchical/100000/1"][1] == 4 * 64 + 2 * 4 * 100000  # two rounds in 1 host


@pytest.mark.slow  # six forced devices
def test_axes_of_no_power_of_two_add_one_exchange_for_the_devices_outside_the_group():
  """6 devices as 1 x 6, 2 x 3 and 3 x 2: the butterfly over each axis's power-of-two group
  (4 of 6, 2 of 3), then one exchange to the devices outside it; core/comm.py's count."""
  from esjax.core import comm
  b = run_all(_AXES.format(dims=(100000,), hosts=(1, 2, 3), pop=96), [6], timeout=300,
              xla_flags=FAST_COMPILE)[6]
  print("(outer, inner) bytes per generation:", b)
  for hosts in (1, 2, 3):
    ret = b[f"returns/100000/{hosts}"]
    for mode in ("gradient", "hierarchical"):
      want = comm.axis_bytes(mode, (hosts, 6 // hosts), 100000, 1)
      assert [x - r for x, r in zip(b[f"{mode}/100000/{hosts}"], ret)] == list(want)
  assert comm.axis_bytes("hierarchical", (1, 6), 100000, 1) == (0, 3 * 4 * 100000)  # 2 + 1
  assert comm.axis_bytes("gradient", (3, 2), 100000, 1) == (2 * 4 * 100000, 4 * 100000)


def test_axis_bytes_reads_listed_and_iota_groups():
  text = """
  %a = f32[8]{0} all-gather(f32[2]{0} %x), replica_groups={{0,1},{2,3}}, dimensions={0}
  %b = f32[8]{0} all-gather(f32[2]{0} %x), replica_groups=[2,2]<=[2,2]T(1,0), dimensions={0}
  %c = f32[5]{0} collective-permute(f32[5]{0} %y), source_target_pairs={{0,1},{1,0}}
  %d = f32[3]{0} all-reduce(f32[3]{0} %z), replica_groups={}, to_apply=%add
  """
  found = hlo.collectives(text)
  assert [c.groups for c in found] == [((0, 1), (2, 3)), ((0, 2), (1, 3)), ((0, 1), (1, 0)), ()]
  assert hlo.axis_bytes(found, 2) == (32 + 12, 32 + 20)  # {0,2} and "all" cross hosts
